/* SPDX-License-Identifier: MIT */
/* Building, running and tearing down a VM. */
#include "vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot.h"
#include "mptable.h"
#include "x86.h"

/* KVM needs three pages for VMX's real-mode TSS and an identity map page; in the MMIO hole. */
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define KVM_TSS_ADDR 0xfffbd000ULL

/*
 * reboot=k: reset through the i8042, which ends the VM. panic_warm: a panic's
 * reset is marked warm at 0x472, so we can tell a panic from a reboot.
 * panic=-1: reset at once on panic instead of spinning.
 */
#define VMM_CMDLINE "reboot=k,panic_warm panic=-1"
#define SERIAL_CONSOLE " console=ttyS0"
/* hvc0 once virtio is up; earlycon on the UART until then (no replayed duplicates). */
#define VIRTIO_CONSOLE " console=hvc0 earlycon=uart8250,io,0x3f8"
#define DEVICE_ARGS_MAX 1024

void vm__request_exit(struct sv_vm *vm, enum sv_exit_reason reason, int cpu, uint64_t detail,
		      const char *fmt, ...)
{
	va_list ap;
	uint64_t one = 1;

	pthread_mutex_lock(&vm->lock);
	if (!vm->exit_set) {
		vm->exit_set = 1;
		vm->exit.reason = reason;
		vm->exit.cpu = cpu;
		vm->exit.detail = detail;
		va_start(ap, fmt);
		vsnprintf(vm->exit.msg, sizeof(vm->exit.msg), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&vm->lock);
	atomic_store(&vm->stopping, 1);
	(void)!write(vm->wake_fd, &one, sizeof(one));
}

static void irq_set(void *ctx, uint32_t gsi, int level)
{
	struct sv_vm *vm = ctx;
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

static void kbc_reset(void *ctx)
{
	struct sv_vm *vm = ctx;
	const uint16_t *mode = guest_mem__ptr(&vm->mem, BOOT_RESET_MODE_ADDR, 2);

	/* reboot=k,panic_warm: the kernel marks a panic's reset as a warm one. */
	if (mode && *mode == BOOT_RESET_MODE_WARM)
		vm__request_exit(vm, SV_EXIT_PANIC, -1, 0, "guest kernel panicked");
	else
		vm__request_exit(vm, SV_EXIT_RESET, -1, 0, "guest reset (reboot or power-off)");
}

static int map_memory(struct sv_vm *vm, struct sv_error *err)
{
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = vm->mem.low_size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->mem.host,
	};

	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return sv_err(err, -errno, "KVM_SET_USER_MEMORY_REGION failed: %s", strerror(errno));
	if (guest_mem__high_size(&vm->mem)) {
		r.slot = 1;
		r.guest_phys_addr = GUEST_HIGH_START;
		r.memory_size = guest_mem__high_size(&vm->mem);
		r.userspace_addr = (uint64_t)(uintptr_t)(vm->mem.host + vm->mem.low_size);
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			return sv_err(err, -errno, "KVM_SET_USER_MEMORY_REGION (high) failed: %s",
				      strerror(errno));
	}
	return 0;
}

static void *map_memory_thread(void *arg)
{
	struct sv_vm *vm = arg;

	vm->memslot_rc = map_memory(vm, &vm->memslot_err);
	vm->timing.memory_ready = sv_now_ns();
	return NULL;
}

/* Waits for the memslot thread; returns its result. */
static int memslot_join(struct sv_vm *vm, struct sv_error *err)
{
	if (vm->memslot_pending) {
		pthread_join(vm->memslot_thread, NULL);
		vm->memslot_pending = 0;
		if (vm->memslot_rc)
			return sv_err(err, vm->memslot_rc, "%s", vm->memslot_err.msg);
	}
	return vm->memslot_rc;
}

int vm__create_base(struct sv_vm **out, const char *kvm_path, uint64_t mem_bytes,
		    unsigned int cpus, int console_out_fd, struct sv_error *err)
{
	struct sv_vm *vm;
	uint64_t ident = KVM_IDENTITY_MAP_ADDR;
	int r;

	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return sv_err(err, -ENOMEM, "out of memory");
	vm->timing.create_start = sv_now_ns();
	vm->vm_fd = -1;
	vm->wake_fd = -1;
	vm->kvm.fd = -1;
	vm->console_in_fd = -1;
	vm->ctl_host_fd = vm->ctl_dev_fd = -1;
	vm->ncpus = cpus;
	for (unsigned int i = 0; i < SV_MAX_CPUS; i++)
		vm->vcpu[i].fd = -1;
	vm->kick_signal = SIGUSR1;
	pthread_mutex_init(&vm->lock, NULL);
	uart8250__init(&vm->uart, console_out_fd,
		       (struct irq_line){ irq_set, vm, UART8250_COM1_IRQ });
	vm->kbc = (struct i8042){ kbc_reset, vm };
	*out = vm;

	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->wake_fd < 0)
		return sv_err(err, -errno, "eventfd: %s", strerror(errno));
	r = kvm__open(&vm->kvm, kvm_path, err);
	if (r)
		return r;
	if ((int)cpus > vm->kvm.max_vcpus)
		return sv_err(err, -EINVAL, "%u vCPUs asked for; this host's KVM allows %d",
			      cpus, vm->kvm.max_vcpus);
	vm->vm_fd = ioctl(vm->kvm.fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return sv_err(err, -errno, "KVM_CREATE_VM failed: %s", strerror(errno));
	/* RAM first: its registration is the slowest step and overlaps everything after it. */
	r = guest_mem__init(&vm->mem, mem_bytes, err);
	if (r)
		return r;
	r = pthread_create(&vm->memslot_thread, NULL, map_memory_thread, vm);
	if (r)
		return sv_err(err, -r, "cannot start a thread: %s", strerror(r));
	vm->memslot_pending = 1;
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0)
		return sv_err(err, -errno, "KVM_SET_TSS_ADDR failed: %s", strerror(errno));
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0)
		return sv_err(err, -errno, "KVM_SET_IDENTITY_MAP_ADDR failed: %s", strerror(errno));
	/* PIC + IO-APIC + LAPICs in the kernel; no PIT: kvmclock and TSC-deadline replace it. */
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return sv_err(err, -errno, "KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
	vm->timing.kvm_ready = sv_now_ns();

	r = iobus__register(&vm->pio, UART8250_COM1_BASE, UART8250_NREGS, &uart8250_io_ops,
			    &vm->uart, err);
	if (!r)
		r = iobus__register(&vm->pio, I8042_DATA_PORT, 5, &i8042_io_ops, &vm->kbc, err);
	return r;
}

int vm__create_vcpus(struct sv_vm *vm, uint64_t entry, struct sv_error *err)
{
	unsigned int i;
	int r;

	r = memslot_join(vm, err);
	if (r)
		return r;
	for (i = 0; i < vm->ncpus; i++) {
		struct vcpu *v = &vm->vcpu[i];
		void *run;

		v->vm = vm;
		v->id = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0) {
			v->fd = -1;
			return sv_err(err, -errno, "KVM_CREATE_VCPU %u failed: %s", i, strerror(errno));
		}
		run = mmap(NULL, (size_t)vm->kvm.run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			   v->fd, 0);
		if (run == MAP_FAILED)
			return sv_err(err, -errno, "cannot map vCPU %u's kvm_run: %s", i,
				      strerror(errno));
		v->run = run;
		r = x86__setup_vcpu(v->fd, vm->kvm.cpuid, i, vm->ncpus, entry, BOOT_PARAMS_ADDR,
				    err);
		if (r)
			return r;
	}
	return 0;
}

/* What sv_vm_create reads and checks before it touches KVM. */
struct boot_inputs {
	uint8_t *kernel;
	size_t kernel_len;
	struct kernel_info ki;
	int initrd_fd;
	uint64_t initrd_size;
};

static int read_inputs(const struct sv_vm_config *cfg, struct boot_inputs *in,
		       struct sv_error *err)
{
	uint64_t size;
	void *p;
	int fd, r;

	in->initrd_fd = -1;
	/* Mapped, not read: the page cache's copy is parsed and copied into the guest directly. */
	r = sv_open_file(cfg->kernel_path, "kernel", BOOT_KERNEL_MAX_BYTES, &fd, &size, err);
	if (r)
		return r;
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return sv_err(err, -errno, "cannot map kernel '%s': %s", cfg->kernel_path,
			      strerror(errno));
	in->kernel = p;
	in->kernel_len = (size_t)size;
	r = boot__parse_kernel(in->kernel, in->kernel_len, &in->ki, err);
	if (r) {
		char why[SV_ERROR_MAX];

		snprintf(why, sizeof(why), "%s", err ? err->msg : "");
		return sv_err(err, r, "kernel '%s': %s", cfg->kernel_path, why);
	}
	if (cfg->initrd_path)
		r = sv_open_file(cfg->initrd_path, "initrd", BOOT_INITRD_MAX_BYTES, &in->initrd_fd,
				 &in->initrd_size, err);
	return r;
}

static void free_inputs(struct boot_inputs *in)
{
	if (in->kernel)
		munmap(in->kernel, in->kernel_len);
	if (in->initrd_fd >= 0)
		close(in->initrd_fd);
}

static int load_linux(struct sv_vm *vm, const struct sv_vm_config *cfg,
		      const struct boot_inputs *in, struct sv_error *err)
{
	const struct kernel_info *ki = &in->ki;
	struct boot_layout bl;
	char devargs[DEVICE_ARGS_MAX] = "";
	size_t cl_len;
	char *cmdline = NULL;
	int r;

	r = vm__create_devices(vm, cfg, devargs, sizeof(devargs), err);
	if (r)
		return r;
	cl_len = strlen(VMM_CMDLINE) + strlen(VIRTIO_CONSOLE) + strlen(devargs) + 2 +
		 (cfg->cmdline ? strlen(cfg->cmdline) : 0);
	cmdline = malloc(cl_len);
	if (!cmdline)
		return sv_err(err, -ENOMEM, "out of memory");
	snprintf(cmdline, cl_len, "%s%s%s%s%s", VMM_CMDLINE,
		 cfg->console == SV_CONSOLE_VIRTIO ? VIRTIO_CONSOLE : SERIAL_CONSOLE, devargs,
		 cfg->cmdline ? " " : "", cfg->cmdline ? cfg->cmdline : "");
	r = boot__check_cmdline(cmdline, ki, err);
	if (!r)
		r = boot__load_kernel(&vm->mem, in->kernel, in->kernel_len, ki, &bl, err);
	if (!r && in->initrd_fd >= 0) {
		uint64_t max = ki->kind == KERNEL_BZIMAGE ? ki->bz.hdr.initrd_addr_max : 0x7fffffff;
		void *dst;

		/* Placed by its size first, then read straight into guest RAM: no copy. */
		r = boot__place_initrd(&vm->mem, bl.kernel_end, max, in->initrd_size,
				       &bl.initrd_addr, err);
		dst = r ? NULL : guest_mem__ptr(&vm->mem, bl.initrd_addr, in->initrd_size);
		if (!r && !dst)
			r = sv_err(err, -ENOSPC, "initrd does not fit in guest memory");
		if (!r)
			guest_mem__prefault(&vm->mem, bl.initrd_addr, in->initrd_size);
		if (!r)
			r = sv_read_full(in->initrd_fd, dst, in->initrd_size, "initrd",
					 cfg->initrd_path, err);
		bl.initrd_size = in->initrd_size;
	}
	if (!r)
		r = boot__write_params(&vm->mem, ki, &bl, cmdline, err);
	if (!r)
		r = x86__setup_page_tables(&vm->mem, err);
	if (!r)
		r = x86__setup_gdt(&vm->mem, err);
	if (!r)
		r = mptable__write(&vm->mem, vm->ncpus, VIRTIO_LEVEL_PINS, err);
	if (!r)
		r = vm__create_vcpus(vm, bl.entry, err);
	free(cmdline);
	return r;
}

static int check_config(const struct sv_vm_config *cfg, uint64_t mem, unsigned int cpus,
			struct sv_error *err)
{
	if (!cfg->kernel_path || !*cfg->kernel_path)
		return sv_err(err, -EINVAL, "no kernel given");
	if (mem < MIB(SV_MIN_MEM_MIB) || mem > MIB(SV_MAX_MEM_MIB))
		return sv_err(err, -EINVAL, "guest memory must be between %llu MiB and %llu GiB",
			      SV_MIN_MEM_MIB, SV_MAX_MEM_MIB >> 10);
	if (mem % MIB(1))
		return sv_err(err, -EINVAL, "guest memory must be a whole number of MiB");
	if (cpus < 1 || cpus > SV_MAX_CPUS)
		return sv_err(err, -EINVAL, "vCPU count must be between 1 and %u", SV_MAX_CPUS);
	return 0;
}

void sv_vm_config_init(struct sv_vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->console_out_fd = -1;
	cfg->console_in_fd = -1;
	cfg->ctl_fd = -1;
}

int sv_vm_create(const struct sv_vm_config *cfg, struct sv_vm **out, struct sv_error *err)
{
	uint64_t mem = cfg->mem_bytes ? cfg->mem_bytes : MIB(256);
	unsigned int cpus = cfg->cpus ? cfg->cpus : 1;
	struct boot_inputs in = { .initrd_fd = -1 };
	struct sv_vm *vm = NULL;
	int r;

	*out = NULL;
	r = check_config(cfg, mem, cpus, err);
	/* Bad files are reported before KVM is touched, so the message is about them. */
	if (!r)
		r = read_inputs(cfg, &in, err);
	if (r) {
		free_inputs(&in);
		return r;
	}
	r = vm__create_base(&vm, cfg->kvm_path ? cfg->kvm_path : "/dev/kvm", mem, cpus,
			    cfg->console_out_fd, err);
	if (!r) {
		/* With a virtio console, input goes to hvc0, not the UART. */
		vm->console_in_fd = cfg->console == SV_CONSOLE_VIRTIO ? -1 : cfg->console_in_fd;
		vm->timeout_ms = cfg->timeout_ms;
		if (cfg->kick_signal)
			vm->kick_signal = cfg->kick_signal;
		r = load_linux(vm, cfg, &in, err);
	}
	free_inputs(&in);
	if (r) {
		sv_vm_destroy(vm);
		return r;
	}
	vm->timing.kernel_loaded = sv_now_ns();
	*out = vm;
	return 0;
}

static void kick_handler(int sig)
{
	(void)sig;
}

static int install_kick_handler(int sig, struct sv_error *err)
{
	struct sigaction sa, old;

	if (sigaction(sig, NULL, &old) < 0)
		return sv_err(err, -errno, "sigaction: %s", strerror(errno));
	if (old.sa_handler == kick_handler)
		return 0;
	if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)
		return sv_err(err, -EBUSY,
			      "signal %d already has a handler; pick another kick_signal", sig);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) < 0)
		return sv_err(err, -errno, "sigaction: %s", strerror(errno));
	return 0;
}

static void pump_console_input(struct sv_vm *vm, int *in_open)
{
	uint8_t buf[UART8250_RX_FIFO];
	size_t space = uart8250__rx_space(&vm->uart);
	ssize_t n;

	if (!space)
		return;
	n = read(vm->console_in_fd, buf, space);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*in_open = 0;	/* EOF or error: stop listening, keep the guest running */
		return;
	}
	uart8250__receive(&vm->uart, buf, (size_t)n);
}

/*
 * Called from the run loop. Asks every vCPU whether it is halted with
 * interrupts off; when all are, the guest has powered off.
 */
static void halt_probe(struct sv_vm *vm, uint64_t now, uint64_t *next_probe)
{
	unsigned int i, halted = 0, answered = 0;

	for (i = 0; i < vm->ncpus; i++) {
		int s = atomic_load(&vm->vcpu[i].probe);

		answered += s == PROBE_HALTED || s == PROBE_RUNNING;
		halted += s == PROBE_HALTED;
	}
	if (answered == vm->ncpus) {
		if (halted == vm->ncpus) {
			vm__request_exit(vm, SV_EXIT_POWEROFF, -1, 0,
					 "guest halted every CPU with interrupts off (power-off)");
			return;
		}
		for (i = 0; i < vm->ncpus; i++)
			atomic_store(&vm->vcpu[i].probe, PROBE_IDLE);
	}
	if (now < *next_probe)
		return;
	*next_probe = now + HALT_PROBE_INTERVAL_MS * 1000000ULL;
	for (i = 0; i < vm->ncpus; i++) {
		int idle = PROBE_IDLE;

		if (atomic_compare_exchange_strong(&vm->vcpu[i].probe, &idle, PROBE_ASKED))
			pthread_kill(vm->vcpu[i].thread, vm->kick_signal);
	}
}

static void wait_for_exit(struct sv_vm *vm)
{
	uint64_t deadline = vm->timeout_ms ? sv_now_ns() + vm->timeout_ms * 1000000ULL : 0;
	uint64_t next_probe = sv_now_ns() + HALT_PROBE_INTERVAL_MS * 1000000ULL;
	int in_open = vm->console_in_fd >= 0;

	while (!atomic_load(&vm->stopping)) {
		struct pollfd p[2] = { { vm->wake_fd, POLLIN, 0 }, { vm->console_in_fd, POLLIN, 0 } };
		int want_in = in_open && uart8250__rx_space(&vm->uart) > 0;
		int timeout = HALT_PROBE_INTERVAL_MS;
		uint64_t drain;

		if (in_open && !want_in)
			timeout = 10;	/* guest has not drained its FIFO yet; look again soon */
		halt_probe(vm, sv_now_ns(), &next_probe);
		if (atomic_load(&vm->stopping))
			break;
		if (deadline) {
			uint64_t now = sv_now_ns();
			int left;

			if (now >= deadline) {
				vm__request_exit(vm, SV_EXIT_TIMEOUT, -1, vm->timeout_ms,
						 "guest still running after %u ms", vm->timeout_ms);
				break;
			}
			left = (int)((deadline - now) / 1000000ULL) + 1;
			if (left < timeout)
				timeout = left;
		}
		if (poll(p, want_in ? 2 : 1, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN)
			(void)!read(vm->wake_fd, &drain, sizeof(drain));
		if (want_in && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			pump_console_input(vm, &in_open);
	}
}

int sv_vm_run(struct sv_vm *vm, struct sv_exit *exit, struct sv_error *err)
{
	sigset_t block, old;
	unsigned int i;
	int r = 0;

	memset(exit, 0, sizeof(*exit));
	r = install_kick_handler(vm->kick_signal, err);
	if (!r)
		r = vm__start_devices(vm, err);
	if (r)
		return r;
	/* vCPU threads inherit a mask with the kick signal blocked outside KVM_RUN. */
	sigemptyset(&block);
	sigaddset(&block, vm->kick_signal);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < vm->ncpus; i++) {
		r = pthread_create(&vm->vcpu[i].thread, NULL, vcpu__thread, &vm->vcpu[i]);
		if (r) {
			vm__request_exit(vm, SV_EXIT_INTERNAL_ERROR, -1, 0,
					 "cannot start vCPU thread: %s", strerror(r));
			r = sv_err(err, -r, "cannot start vCPU thread: %s", strerror(r));
			break;
		}
		vm->vcpu[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	if (!r)
		wait_for_exit(vm);
	atomic_store(&vm->stopping, 1);
	for (i = 0; i < vm->ncpus; i++)
		if (vm->vcpu[i].started)
			pthread_kill(vm->vcpu[i].thread, vm->kick_signal);
	for (i = 0; i < vm->ncpus; i++) {
		if (vm->vcpu[i].started)
			pthread_join(vm->vcpu[i].thread, NULL);
		vm->vcpu[i].started = 0;
	}
	vm__stop_devices(vm);
	uart8250__flush(&vm->uart);
	pthread_mutex_lock(&vm->lock);
	*exit = vm->exit;
	pthread_mutex_unlock(&vm->lock);
	return r;
}

void sv_vm_stop(struct sv_vm *vm)
{
	vm__request_exit(vm, SV_EXIT_STOPPED, -1, 0, "stopped by the host");
}

void sv_vm_timing(const struct sv_vm *vm, struct sv_timing *t)
{
	*t = vm->timing;
}

void sv_vm_destroy(struct sv_vm *vm)
{
	unsigned int i;

	if (!vm)
		return;
	memslot_join(vm, NULL);
	for (i = 0; i < vm->ncpus; i++) {
		if (vm->vcpu[i].run)
			munmap(vm->vcpu[i].run, (size_t)vm->kvm.run_size);
		if (vm->vcpu[i].fd >= 0)
			close(vm->vcpu[i].fd);
	}
	vm__destroy_devices(vm);
	uart8250__exit(&vm->uart);
	guest_mem__exit(&vm->mem);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	kvm__close(&vm->kvm);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

void sv_vm_dump(struct sv_vm *vm, int fd)
{
	unsigned int i;

	for (i = 0; i < vm->ncpus; i++) {
		struct kvm_regs r;
		struct kvm_sregs s;
		struct kvm_mp_state mp = { 0 };

		if (vm->vcpu[i].fd < 0 || ioctl(vm->vcpu[i].fd, KVM_GET_REGS, &r) < 0 ||
		    ioctl(vm->vcpu[i].fd, KVM_GET_SREGS, &s) < 0)
			continue;
		ioctl(vm->vcpu[i].fd, KVM_GET_MP_STATE, &mp);
		dprintf(fd, "vcpu%u: exits io %llu mmio %llu intr %llu\n", i,
			(unsigned long long)vm->vcpu[i].n_io, (unsigned long long)vm->vcpu[i].n_mmio,
			(unsigned long long)vm->vcpu[i].n_intr);
		dprintf(fd, "vcpu%u: mp_state %u rip %#llx rsp %#llx rflags %#llx cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx\n",
			i, mp.mp_state, (unsigned long long)r.rip, (unsigned long long)r.rsp,
			(unsigned long long)r.rflags, (unsigned long long)s.cr0,
			(unsigned long long)s.cr3, (unsigned long long)s.cr4,
			(unsigned long long)s.efer);
		/* Linux never points CR3 outside RAM: if it is, something below us broke the vCPU. */
		if ((s.cr0 & X86_CR0_PG) && !guest_mem__ptr(&vm->mem, s.cr3 & 0x000ffffffffff000ULL, 4096))
			dprintf(fd, "vcpu%u: CR3 is outside guest RAM: the vCPU state is corrupt\n", i);
	}
	dprintf(fd, "uart: %llu bytes sent by the guest\n", (unsigned long long)vm->uart.tx_total);
	for (i = 0; i < vm->nvirtio; i++) {
		dprintf(fd, "virtio%u: mmio %#llx gsi %u\n", i, (unsigned long long)vm->virtio[i].base,
			vm->virtio[i].gsi);
		virtio_mmio__dump(&vm->virtio[i].t, fd);
	}
	if (vm->has_console)
		virtio_console__dump(&vm->console, fd);
}

const char *sv_exit_reason_name(enum sv_exit_reason r)
{
	switch (r) {
	case SV_EXIT_NONE: return "none";
	case SV_EXIT_RESET: return "reset";
	case SV_EXIT_POWEROFF: return "poweroff";
	case SV_EXIT_PANIC: return "panic";
	case SV_EXIT_TRIPLE_FAULT: return "triple-fault";
	case SV_EXIT_INTERNAL_ERROR: return "internal-error";
	case SV_EXIT_SELFTEST_PASS: return "selftest-pass";
	case SV_EXIT_STOPPED: return "stopped";
	case SV_EXIT_TIMEOUT: return "timeout";
	}
	return "unknown";
}
