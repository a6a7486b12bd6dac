/* SPDX-License-Identifier: MIT */
/* The VM's virtio devices: placement on the MMIO bus, IRQs, command line, lifetime. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vm.h"

static void irq_set(void *ctx, uint32_t gsi, int level)
{
	struct sv_vm *vm = ctx;
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

static int add_slot(struct sv_vm *vm, const struct virtio_dev_ops *ops, void *dev,
		    struct virtio_mmio **out, char *args, size_t args_len, struct sv_error *err)
{
	struct virtio_slot *s;
	size_t used = strlen(args);
	int r;

	if (vm->nvirtio == VM_MAX_VIRTIO)
		return sv_err(err, -ENOSPC, "too many virtio devices");
	s = &vm->virtio[vm->nvirtio];
	s->base = VIRTIO_MMIO_BASE + vm->nvirtio * VIRTIO_MMIO_STRIDE;
	s->gsi = VIRTIO_GSI_BASE + vm->nvirtio;
	r = virtio_mmio__init(&s->t, ops, dev, &vm->mem, (struct irq_line){ irq_set, vm, s->gsi });
	if (r)
		return sv_err(err, r, "virtio transport setup failed");
	vm->nvirtio++;
	r = iobus__register(&vm->mmio, s->base, VIRTIO_MMIO_WINDOW, &virtio_mmio_io_ops, &s->t, err);
	if (r)
		return r;
	if (snprintf(args + used, args_len - used, " virtio_mmio.device=%u@%#llx:%u",
		     (unsigned int)VIRTIO_MMIO_WINDOW, (unsigned long long)s->base, s->gsi) >=
	    (int)(args_len - used))
		return sv_err(err, -E2BIG, "kernel command line too long for the devices");
	*out = &s->t;
	return 0;
}

static int make_ctl(struct sv_vm *vm, const struct sv_vm_config *cfg, struct sv_error *err)
{
	int sv[2];

	vm->ctl_host_fd = vm->ctl_dev_fd = -1;
	if (cfg->ctl_mode == SV_CTL_FD) {
		if (cfg->ctl_fd < 0)
			return sv_err(err, -EBADF, "control port: no file descriptor given");
		vm->ctl_dev_fd = fcntl(cfg->ctl_fd, F_DUPFD_CLOEXEC, 3);
		if (vm->ctl_dev_fd < 0)
			return sv_err(err, -errno, "control port fd %d: %s", cfg->ctl_fd, strerror(errno));
	} else if (cfg->ctl_mode == SV_CTL_SOCKETPAIR) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return sv_err(err, -errno, "socketpair: %s", strerror(errno));
		vm->ctl_host_fd = sv[0];
		vm->ctl_dev_fd = sv[1];
	}
	return 0;
}

int vm__create_devices(struct sv_vm *vm, const struct sv_vm_config *cfg, char *args,
		       size_t args_len, struct sv_error *err)
{
	struct virtio_mmio *t;
	unsigned int i;
	int r;

	if (cfg->ndisks > SV_MAX_DISKS)
		return sv_err(err, -EINVAL, "at most %d disks", SV_MAX_DISKS);
	/* The console first, so its IRQ and window do not move with the number of disks. */
	if (cfg->console == SV_CONSOLE_VIRTIO || cfg->ctl_mode != SV_CTL_NONE) {
		struct virtio_console_opts o = {
			.console_out_fd = cfg->console == SV_CONSOLE_VIRTIO ? cfg->console_out_fd : -1,
			.console_in_fd = cfg->console == SV_CONSOLE_VIRTIO ? cfg->console_in_fd : -1,
			.ctl_name = "sandvisor.ctl",
		};

		r = make_ctl(vm, cfg, err);
		if (r)
			return r;
		o.ctl_fd = vm->ctl_dev_fd;
		r = virtio_console__init(&vm->console, &o, err);
		if (r)
			return r;
		vm->has_console = 1;
		r = add_slot(vm, &virtio_console_ops, &vm->console, &t, args, args_len, err);
		if (r)
			return r;
		virtio_console__attach(&vm->console, t);
	}
	for (i = 0; i < cfg->ndisks; i++) {
		struct virtio_blk_opts o = {
			.path = cfg->disks[i].path, .read_only = cfg->disks[i].read_only,
			.cow = cfg->disks[i].cow, .serial = cfg->disks[i].serial,
		};

		r = virtio_blk__open(&vm->disk[i], &o, err);
		if (r)
			return r;
		vm->ndisks++;
		r = add_slot(vm, &virtio_blk_ops, &vm->disk[i], &t, args, args_len, err);
		if (r)
			return r;
		virtio_blk__attach(&vm->disk[i], t);
	}
	return 0;
}

int vm__start_devices(struct sv_vm *vm, struct sv_error *err)
{
	int r;

	if (!vm->has_console || vm->console_started)
		return 0;
	r = virtio_console__start(&vm->console, err);
	if (!r)
		vm->console_started = 1;
	return r;
}

void vm__stop_devices(struct sv_vm *vm)
{
	if (vm->console_started)
		virtio_console__stop(&vm->console);
	vm->console_started = 0;
}

void vm__destroy_devices(struct sv_vm *vm)
{
	unsigned int i;

	vm__stop_devices(vm);
	if (vm->has_console)
		virtio_console__exit(&vm->console);
	vm->has_console = 0;
	for (i = 0; i < vm->ndisks; i++)
		virtio_blk__close(&vm->disk[i]);
	vm->ndisks = 0;
	for (i = 0; i < vm->nvirtio; i++)
		virtio_mmio__exit(&vm->virtio[i].t);
	vm->nvirtio = 0;
	if (vm->ctl_dev_fd >= 0)
		close(vm->ctl_dev_fd);
	if (vm->ctl_host_fd >= 0)
		close(vm->ctl_host_fd);
	vm->ctl_dev_fd = vm->ctl_host_fd = -1;
}

int sv_vm_control_fd(const struct sv_vm *vm)
{
	return vm->ctl_host_fd;
}
