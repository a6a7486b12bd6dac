/* SPDX-License-Identifier: MIT */
/* One thread per vCPU: KVM_RUN and the exits it hands back to us. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vm.h"

#define X86_RFLAGS_IF 0x200ULL

static int set_run_signal_mask(struct vcpu *v)
{
	struct {
		struct kvm_signal_mask hdr;
		uint8_t set[8];	/* the kernel's sigset is 64 bits on x86-64 */
	} m;
	sigset_t cur;

	/* Inside KVM_RUN the kick signal is deliverable; everywhere else it stays blocked. */
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	sigdelset(&cur, v->vm->kick_signal);
	m.hdr.len = 8;
	memcpy(m.set, &cur, 8);
	return ioctl(v->fd, KVM_SET_SIGNAL_MASK, &m);
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t off = run->io.data_offset;
	uint64_t bytes = (uint64_t)run->io.size * run->io.count;
	uint8_t *data;
	uint32_t i;

	if (run->io.size == 0 || run->io.size > 4 || off > (uint64_t)v->vm->kvm.run_size ||
	    bytes > (uint64_t)v->vm->kvm.run_size - off)
		return;
	data = (uint8_t *)run + off;
	for (i = 0; i < run->io.count; i++, data += run->io.size)
		iobus__access(&v->vm->pio, run->io.port, data, run->io.size,
			      run->io.direction == KVM_EXIT_IO_OUT);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data))
		return;
	iobus__access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
		      run->mmio.is_write);
}

/* Returns 0 to keep running, 1 when the VM ends. */
static int handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct sv_vm *vm = v->vm;
	int cpu = (int)v->id;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		v->n_io++;
		handle_io(v);
		return 0;
	case KVM_EXIT_MMIO:
		v->n_mmio++;
		handle_mmio(v);
		return 0;
	case KVM_EXIT_INTR:
		v->n_intr++;
		return 0;
	case KVM_EXIT_SHUTDOWN:
		vm__request_exit(vm, SV_EXIT_TRIPLE_FAULT, cpu, 0,
				 "vCPU %d triple-faulted (KVM_EXIT_SHUTDOWN)", cpu);
		return 1;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
			vm__request_exit(vm, SV_EXIT_PANIC, cpu, run->system_event.type,
					 "guest reported a crash");
		else
			vm__request_exit(vm, SV_EXIT_RESET, cpu, run->system_event.type,
					 "guest system event %u", run->system_event.type);
		return 1;
	case KVM_EXIT_FAIL_ENTRY:
		vm__request_exit(vm, SV_EXIT_INTERNAL_ERROR, cpu,
				 run->fail_entry.hardware_entry_failure_reason,
				 "KVM could not enter vCPU %d (hardware reason %#llx)", cpu,
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return 1;
	case KVM_EXIT_INTERNAL_ERROR:
		vm__request_exit(vm, SV_EXIT_INTERNAL_ERROR, cpu, run->internal.suberror,
				 "KVM internal error on vCPU %d (suberror %u%s)", cpu,
				 run->internal.suberror,
				 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ?
				 ": instruction emulation failed" : "");
		return 1;
	default:
		vm__request_exit(vm, SV_EXIT_INTERNAL_ERROR, cpu, run->exit_reason,
				 "unexpected KVM exit %u on vCPU %d", run->exit_reason, cpu);
		return 1;
	}
}

static void answer_probe(struct vcpu *v)
{
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	int halted = 0;
	uint64_t one = 1;

	if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0 && mp.mp_state == KVM_MP_STATE_HALTED &&
	    ioctl(v->fd, KVM_GET_REGS, &regs) == 0 && !(regs.rflags & X86_RFLAGS_IF))
		halted = 1;
	atomic_store(&v->probe, halted ? PROBE_HALTED : PROBE_RUNNING);
	(void)!write(v->vm->wake_fd, &one, sizeof(one));
}

/*
 * KVM_RUN returned EINTR because the kick signal became pending while it ran.
 * Back outside, the signal is blocked again, so it would stay pending and
 * make every following KVM_RUN return at once: consume it here.
 */
static void eat_kicks(int sig)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	while (sigtimedwait(&set, NULL, &zero) == sig)
		;
}

void *vcpu__thread(void *arg)
{
	struct vcpu *v = arg;
	struct sv_vm *vm = v->vm;

	if (set_run_signal_mask(v) < 0) {
		vm__request_exit(vm, SV_EXIT_INTERNAL_ERROR, (int)v->id, 0,
				 "KVM_SET_SIGNAL_MASK failed: %s", strerror(errno));
		return NULL;
	}
	if (v->id == 0)
		vm->timing.first_run = sv_now_ns();
	while (!atomic_load(&vm->stopping)) {
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->n_intr++;
				eat_kicks(vm->kick_signal);
				/* Kicked: to stop (the loop condition) or to answer a probe. */
				if (atomic_load(&v->probe) == PROBE_ASKED)
					answer_probe(v);
				continue;
			}
			vm__request_exit(vm, SV_EXIT_INTERNAL_ERROR, (int)v->id, 0,
					 "KVM_RUN failed on vCPU %u: %s", v->id, strerror(errno));
			break;
		}
		if (handle_exit(v))
			break;
	}
	return NULL;
}
