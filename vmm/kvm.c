/* SPDX-License-Identifier: MIT */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const struct {
	int cap;
	const char *name;
	const char *why;
} required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel interrupt controllers" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest memory from our mapping" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "KVM_GET_SUPPORTED_CPUID" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "VMX's real-mode TSS" },
	{ KVM_CAP_TSC_DEADLINE_TIMER, "KVM_CAP_TSC_DEADLINE_TIMER",
	  "a LAPIC timer that needs no PIT to calibrate" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR",
	  "keeping VMX's identity map out of guest RAM" },
};

#define MAX_CPUID_ENTRIES 256

int kvm__open(struct kvm_sys *k, const char *path, struct sv_error *err)
{
	unsigned int i;
	int v, e;

	memset(k, 0, sizeof(*k));
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		e = errno;
		if (e == ENOENT)
			return sv_err(err, -e,
				      "%s does not exist: this host has no KVM (load kvm-intel or kvm-amd, or run inside the test rig: tests/rig/rig)",
				      path);
		if (e == EACCES || e == EPERM)
			return sv_err(err, -e,
				      "no permission to open %s: add your user to the 'kvm' group or run as root",
				      path);
		return sv_err(err, -e, "cannot open %s: %s", path, strerror(e));
	}
	v = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (v < 0) {
		e = errno;
		kvm__close(k);
		return sv_err(err, -ENODEV, "%s is not a KVM device (KVM_GET_API_VERSION: %s)",
			      path, strerror(e));
	}
	if (v != KVM_API_VERSION) {
		kvm__close(k);
		return sv_err(err, -ENOTSUP, "%s speaks KVM API version %d; sandvisor needs %d",
			      path, v, KVM_API_VERSION);
	}
	for (i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (ioctl(k->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			kvm__close(k);
			return sv_err(err, -ENOTSUP, "%s lacks %s (needed for %s)", path,
				      required_caps[i].name, required_caps[i].why);
		}
	}
	k->run_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size < (int)sizeof(struct kvm_run)) {
		kvm__close(k);
		return sv_err(err, -EIO, "KVM_GET_VCPU_MMAP_SIZE returned %d", k->run_size);
	}
	k->max_vcpus = ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = ioctl(k->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4;	/* the documented minimum when the cap is absent */

	k->cpuid = calloc(1, sizeof(*k->cpuid) + MAX_CPUID_ENTRIES * sizeof(k->cpuid->entries[0]));
	if (!k->cpuid) {
		kvm__close(k);
		return sv_err(err, -ENOMEM, "out of memory");
	}
	k->cpuid->nent = MAX_CPUID_ENTRIES;
	if (ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, k->cpuid) < 0) {
		e = errno;
		kvm__close(k);
		return sv_err(err, -e, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(e));
	}
	return 0;
}

void kvm__close(struct kvm_sys *k)
{
	free(k->cpuid);
	k->cpuid = NULL;
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}
