/* SPDX-License-Identifier: MIT */
/* The VM object: everything one guest owns. Internal to the library. */
#ifndef SV_VM_H
#define SV_VM_H

#include <pthread.h>
#include <stdatomic.h>

#include "guest_mem.h"
#include "i8042.h"
#include "iobus.h"
#include "kvm.h"
#include "sandvisor.h"
#include "uart8250.h"
#include "virtio_blk.h"
#include "virtio_console.h"
#include "virtio_mmio.h"

/* Port a test guest writes to; only the self-test VM maps it. */
#define SELFTEST_PORT 0xf4
#define SELFTEST_PASS 0x4f

struct sv_vm;

struct vcpu {
	struct sv_vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	int started;
	atomic_int probe;		/* halt probe: see enum probe_state */
	uint64_t n_io, n_mmio, n_intr, n_other;	/* exit counters, for --debug */
};

/*
 * A guest without ACPI powers off by halting every CPU with interrupts
 * disabled, which KVM's in-kernel LAPIC swallows. The run loop probes for
 * that state now and then: each vCPU thread, kicked out of KVM_RUN, answers.
 */
enum probe_state { PROBE_IDLE = 0, PROBE_ASKED, PROBE_HALTED, PROBE_RUNNING };
#define HALT_PROBE_INTERVAL_MS 100

/* virtio-mmio windows: one page each from here, IO-APIC pins from VIRTIO_GSI_BASE. */
#define VIRTIO_MMIO_BASE 0xd0000000ULL
#define VIRTIO_MMIO_STRIDE 0x1000ULL
#define VIRTIO_GSI_BASE 5
#define VM_MAX_VIRTIO (SV_MAX_DISKS + 1)
/* virtio-mmio interrupts are level-triggered (see virtio_mmio.c): the MP table says so. */
#define VIRTIO_LEVEL_PINS (((1u << VM_MAX_VIRTIO) - 1) << VIRTIO_GSI_BASE)

struct virtio_slot {
	struct virtio_mmio t;
	uint64_t base;
	uint32_t gsi;
};

struct sv_vm {
	struct kvm_sys kvm;
	int vm_fd;
	/*
	 * Registering guest RAM with KVM can take milliseconds (the memslot
	 * update waits for an SRCU grace period); it runs on this thread while
	 * the kernel and initrd are copied in, and vm__create_vcpus() joins it.
	 */
	pthread_t memslot_thread;
	int memslot_pending;
	int memslot_rc;
	struct sv_error memslot_err;
	struct guest_mem mem;
	struct iobus pio, mmio;
	struct uart8250 uart;
	struct i8042 kbc;
	unsigned int ncpus;
	struct vcpu vcpu[SV_MAX_CPUS];
	int console_in_fd;
	int kick_signal;
	uint32_t timeout_ms;
	int wake_fd;			/* eventfd: wakes sv_vm_run's loop */
	atomic_int stopping;
	pthread_mutex_t lock;		/* guards exit */
	struct sv_exit exit;
	int exit_set;
	struct sv_timing timing;

	struct virtio_slot virtio[VM_MAX_VIRTIO];
	unsigned int nvirtio;
	struct virtio_blk disk[SV_MAX_DISKS];
	unsigned int ndisks;
	struct virtio_console console;
	int has_console;
	int console_started;
	int ctl_host_fd;		/* SV_CTL_SOCKETPAIR: the embedder's end */
	int ctl_dev_fd;			/* the device's end (owned here unless SV_CTL_FD) */
};

/* Records why the VM ends (first caller wins) and wakes the run loop. */
void vm__request_exit(struct sv_vm *vm, enum sv_exit_reason reason, int cpu, uint64_t detail,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* KVM + memory + irqchip + base devices, no guest code yet. */
int vm__create_base(struct sv_vm **out, const char *kvm_path, uint64_t mem_bytes,
		    unsigned int cpus, int console_out_fd, struct sv_error *err);
/* Creates and configures the vCPUs; the BSP starts at entry in long mode. */
int vm__create_vcpus(struct sv_vm *vm, uint64_t entry, struct sv_error *err);

void *vcpu__thread(void *arg);

/* virtio devices from the config; appends their virtio_mmio.device= arguments to args. */
int vm__create_devices(struct sv_vm *vm, const struct sv_vm_config *cfg, char *args,
		       size_t args_len, struct sv_error *err);
int vm__start_devices(struct sv_vm *vm, struct sv_error *err);
void vm__stop_devices(struct sv_vm *vm);
void vm__destroy_devices(struct sv_vm *vm);

#endif
