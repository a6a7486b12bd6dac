/* SPDX-License-Identifier: MIT */
/* /dev/kvm: opening it, the API version, and the capabilities we rely on. */
#ifndef SV_KVM_H
#define SV_KVM_H

#include <linux/kvm.h>

#include "util.h"

struct kvm_sys {
	int fd;
	int run_size;			/* KVM_GET_VCPU_MMAP_SIZE */
	int max_vcpus;
	struct kvm_cpuid2 *cpuid;	/* KVM_GET_SUPPORTED_CPUID, malloc'd */
};

int kvm__open(struct kvm_sys *k, const char *path, struct sv_error *err);
void kvm__close(struct kvm_sys *k);

#endif
