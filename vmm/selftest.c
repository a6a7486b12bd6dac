/* SPDX-License-Identifier: MIT */
/*
 * Does this host's KVM really run guests? Some do not (kvm-pvm opens and
 * answers every ioctl, then fails at the guest's first exception). The test
 * guest enters long mode the way Linux does, executes UD2, and its #UD
 * handler, found through the guest's own IDT, writes a byte to a port.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "boot.h"
#include "vm.h"
#include "x86.h"

#define ST_CODE_ADDR 0x10000ULL
#define ST_UD_HANDLER (ST_CODE_ADDR + 0x30)
#define ST_PF_HANDLER (ST_CODE_ADDR + 0x40)
#define ST_BAD_HANDLER (ST_CODE_ADDR + 0x50)
#define ST_VECTORS 32
#define ST_UD_VECTOR 6
#define ST_PF_VECTOR 14
#define ST_MEM MIB(64)
/*
 * Generous: on hardware KVM the guest's 32 MiB memset takes a few ms. Where
 * KVM emulates guest kernel code instruction by instruction (kvm-pvm running
 * a non-PVM guest: measured here at ~1 us per byte of `rep stosb`, ~30 s for
 * this test), it cannot finish, and Linux would crawl the same way (its
 * clear_bss alone takes seconds). Inside the nested QEMU-TCG rig this test
 * fails too; it is meant for deciding where to run, on the host.
 */
#define ST_TIMEOUT_MS 2000

/*
 * Assembled from (AT&T syntax), at ST_CODE_ADDR:
 *   0x00: ud2                          # #UD: the handler skips it, IRETQ
 *         movabs 0x8000000000, %rax    # unmapped: #PF, the handler skips it
 *         mov $0x1000000, %edi; mov $0x2000000, %ecx; xor %eax, %eax
 *         rep stosb                    # 32 MiB of ordinary guest work
 *         mov $0x4f, %al; out %al, $0xf4; 1: hlt; jmp 1b
 *   0x30: addq $2, (%rsp); iretq
 *   0x40: add $8, %rsp; addq $10, (%rsp); iretq    # drop the error code
 *   0x50: mov $1, %al; out %al, $0xf4; 2: hlt; jmp 2b
 * Exceptions with and without an error code, delivered through the guest's
 * own IDT and returned from, then plain work at native speed.
 */
static const uint8_t st_code[] = {
	0x0f, 0x0b, 0x48, 0xa1, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00,
	0xbf, 0x00, 0x00, 0x00, 0x01, 0xb9, 0x00, 0x00, 0x00, 0x02, 0x31, 0xc0,
	0xf3, 0xaa, 0xb0, SELFTEST_PASS, 0xe6, SELFTEST_PORT, 0xf4, 0xeb, 0xfd, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x48, 0x83, 0x04, 0x24, 0x02, 0x48, 0xcf, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x48, 0x83, 0xc4, 0x08, 0x48, 0x83, 0x04, 0x24,
	0x0a, 0x48, 0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0xb0, 0x01, 0xe6, SELFTEST_PORT,
	0xf4, 0xeb, 0xfd,
};

static void port_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct sv_vm *vm = opaque;

	(void)off;
	(void)len;
	if (data[0] == SELFTEST_PASS)
		vm__request_exit(vm, SV_EXIT_SELFTEST_PASS, 0, 0, "#UD and #PF through the guest IDT, then 32 MiB rep stosb");
	else
		vm__request_exit(vm, SV_EXIT_INTERNAL_ERROR, 0, data[0],
				 "guest took the wrong exception");
}

static const struct io_ops selftest_ops = { .write = port_write };

static void idt_gate(uint8_t *idt, unsigned int vec, uint64_t handler)
{
	uint8_t *g = idt + vec * 16;

	memset(g, 0, 16);
	g[0] = (uint8_t)handler;
	g[1] = (uint8_t)(handler >> 8);
	g[2] = BOOT_CS_SELECTOR;
	g[5] = 0x8e;	/* present, DPL 0, 64-bit interrupt gate */
	g[6] = (uint8_t)(handler >> 16);
	g[7] = (uint8_t)(handler >> 24);
}

static int setup_guest(struct sv_vm *vm, struct sv_error *err)
{
	uint8_t *code = guest_mem__ptr(&vm->mem, ST_CODE_ADDR, sizeof(st_code));
	uint8_t *idt = guest_mem__ptr(&vm->mem, BOOT_IDT_ADDR, ST_VECTORS * 16);
	struct kvm_sregs s;
	unsigned int v;
	int r;

	if (!code || !idt)
		return sv_err(err, -ENOSPC, "self-test memory too small");
	memcpy(code, st_code, sizeof(st_code));
	for (v = 0; v < ST_VECTORS; v++)
		idt_gate(idt, v, v == ST_UD_VECTOR ? ST_UD_HANDLER :
				 v == ST_PF_VECTOR ? ST_PF_HANDLER : ST_BAD_HANDLER);
	r = x86__setup_page_tables(&vm->mem, err);
	if (!r)
		r = x86__setup_gdt(&vm->mem, err);
	if (!r)
		r = iobus__register(&vm->pio, SELFTEST_PORT, 1, &selftest_ops, vm, err);
	if (!r)
		r = vm__create_vcpus(vm, ST_CODE_ADDR, err);
	if (r)
		return r;
	/* The IDT the boot path leaves empty: point it at ours. */
	if (ioctl(vm->vcpu[0].fd, KVM_GET_SREGS, &s) < 0)
		return sv_err(err, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	s.idt.base = BOOT_IDT_ADDR;
	s.idt.limit = ST_VECTORS * 16 - 1;
	if (ioctl(vm->vcpu[0].fd, KVM_SET_SREGS, &s) < 0)
		return sv_err(err, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	return 0;
}

int sv_selftest(const char *kvm_path, char *msg, size_t msglen)
{
	struct sv_error err = { 0 };
	struct sv_exit ex;
	struct sv_vm *vm = NULL;
	int r;

	r = vm__create_base(&vm, kvm_path ? kvm_path : "/dev/kvm", ST_MEM, 1, -1, &err);
	if (!r) {
		vm->timeout_ms = ST_TIMEOUT_MS;
		r = setup_guest(vm, &err);
	}
	if (!r)
		r = sv_vm_run(vm, &ex, &err);
	sv_vm_destroy(vm);
	if (r) {
		snprintf(msg, msglen, "%s", err.msg);
		return r;
	}
	if (ex.reason == SV_EXIT_SELFTEST_PASS) {
		snprintf(msg, msglen, "KVM runs guests: %s", ex.msg);
		return 1;
	}
	if (ex.reason == SV_EXIT_TIMEOUT) {
		snprintf(msg, msglen,
			 "KVM cannot run a standard guest here: the test guest did not finish 32 MiB of work in %d ms (this KVM emulates instead of running guest code)",
			 ST_TIMEOUT_MS);
		return 0;
	}
	snprintf(msg, msglen, "KVM cannot run a standard guest here: %s", ex.msg);
	return 0;
}
