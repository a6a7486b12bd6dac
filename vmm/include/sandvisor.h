/* SPDX-License-Identifier: MIT */
/*
 * sandvisor — a minimal KVM hypervisor for code sandboxes.
 *
 * The embedding API. One `struct sv_vm` owns everything about one guest
 * (KVM file descriptors, guest memory, devices, vCPU threads); a process may
 * hold several. Functions return 0 or a negative errno and, where they take
 * a `struct sv_error *`, fill it with a message fit to show a user.
 *
 * Process-wide side effect: the library installs an empty handler for
 * SV_KICK_SIGNAL (SIGUSR1 unless the embedder changes it in the config) so
 * that vCPU threads can be interrupted out of KVM_RUN.
 */
#ifndef SANDVISOR_H
#define SANDVISOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SV_ERROR_MAX 512

struct sv_error {
	int code;		/* negative errno, 0 when no error */
	char msg[SV_ERROR_MAX];
};

/* Limits, also enforced by the CLI's argument parser. */
#define SV_MIN_MEM_MIB 32ULL
#define SV_MAX_MEM_MIB (64ULL * 1024)
#define SV_MAX_CPUS 16u
#define SV_CMDLINE_MAX 2048u	/* boot protocol's cmdline_size for 6.x kernels */

#define SV_MAX_DISKS 6

struct sv_disk {
	const char *path;		/* raw image file */
	int read_only;			/* the guest cannot write */
	int cow;			/* writes go to a private overlay; the file is never written */
	const char *serial;		/* GET_ID serial; NULL = from the file name */
};

enum sv_console_kind {
	SV_CONSOLE_SERIAL = 0,		/* ttyS0 (8250 UART) is the console */
	SV_CONSOLE_VIRTIO,		/* hvc0 (virtio-console port 0); the UART only for early boot */
};

enum sv_ctl_mode {
	SV_CTL_NONE = 0,		/* no control port */
	SV_CTL_SOCKETPAIR,		/* the library makes a socket pair; see sv_vm_control_fd() */
	SV_CTL_FD,			/* use ctl_fd, a connected stream socket the caller owns */
};

/* Call sv_vm_config_init() first: it sets the defaults (and -1 for unused fds). */
struct sv_vm_config {
	const char *kernel_path;	/* bzImage or ELF vmlinux (required) */
	const char *initrd_path;	/* optional */
	const char *cmdline;		/* appended after the VMM's own arguments; NULL = none */
	uint64_t mem_bytes;		/* guest RAM; 0 = 256 MiB */
	unsigned int cpus;		/* 0 = 1 */
	int console_out_fd;		/* console output goes here; -1 = discarded */
	int console_in_fd;		/* console input comes from here; -1 = none */
	enum sv_console_kind console;
	struct sv_disk disks[SV_MAX_DISKS];	/* guest sees /dev/vda, /dev/vdb, ... in order */
	unsigned int ndisks;
	enum sv_ctl_mode ctl_mode;	/* the "sandvisor.ctl" virtio-console port */
	int ctl_fd;			/* for SV_CTL_FD */
	const char *kvm_path;		/* NULL = "/dev/kvm" */
	int kick_signal;		/* 0 = SIGUSR1 */
	uint32_t timeout_ms;		/* 0 = none; else the run ends with SV_EXIT_TIMEOUT */
};

void sv_vm_config_init(struct sv_vm_config *cfg);

enum sv_exit_reason {
	SV_EXIT_NONE = 0,
	SV_EXIT_RESET,		/* guest reboot (i8042 reset line) */
	SV_EXIT_POWEROFF,	/* guest power-off: with no ACPI, every vCPU halted with IRQs off */
	SV_EXIT_PANIC,		/* guest kernel panicked (panic_warm marker at 0x472) */
	SV_EXIT_TRIPLE_FAULT,	/* KVM_EXIT_SHUTDOWN */
	SV_EXIT_INTERNAL_ERROR,	/* KVM could not run the guest (emulation failure, bad state) */
	SV_EXIT_SELFTEST_PASS,	/* only from sv_selftest() guests */
	SV_EXIT_STOPPED,	/* sv_vm_stop() was called */
	SV_EXIT_TIMEOUT,	/* config.timeout_ms passed */
};

struct sv_exit {
	enum sv_exit_reason reason;
	int cpu;			/* vCPU that ended the run */
	uint64_t detail;		/* KVM exit reason / suberror where relevant */
	char msg[SV_ERROR_MAX];
};

/* Timestamps in CLOCK_MONOTONIC nanoseconds, 0 where not reached. */
struct sv_timing {
	uint64_t create_start;		/* sv_vm_create entered */
	uint64_t kvm_ready;		/* /dev/kvm opened, VM + irqchip created */
	uint64_t memory_ready;		/* guest memory mapped */
	uint64_t kernel_loaded;		/* kernel + initrd + boot params written */
	uint64_t first_run;		/* first KVM_RUN issued by vCPU 0 */
};

struct sv_vm;

/* Create a VM ready to run; nothing runs until sv_vm_run(). */
int sv_vm_create(const struct sv_vm_config *cfg, struct sv_vm **out, struct sv_error *err);

/* Start the vCPUs and block until the guest ends (or sv_vm_stop()). */
int sv_vm_run(struct sv_vm *vm, struct sv_exit *exit, struct sv_error *err);

/* Ask a running VM to stop; safe from any thread. */
void sv_vm_stop(struct sv_vm *vm);

void sv_vm_timing(const struct sv_vm *vm, struct sv_timing *t);

/*
 * The host end of the control port's byte stream (SV_CTL_SOCKETPAIR), or -1.
 * Owned by the VM: valid until sv_vm_destroy(). Reading and writing it is
 * how an embedder talks to the guest agent; the guest sees back-pressure
 * when the host does not read, and vice versa.
 */
int sv_vm_control_fd(const struct sv_vm *vm);

/* Writes each vCPU's registers and the devices' state to fd, for debugging a stuck guest. */
void sv_vm_dump(struct sv_vm *vm, int fd);

void sv_vm_destroy(struct sv_vm *vm);

/*
 * Runs a tiny guest that takes an exception through its own IDT and reports
 * back through an I/O port. Returns 1 when this host's KVM runs standard
 * guests, 0 when it does not (msg says why), negative errno on setup failure.
 */
int sv_selftest(const char *kvm_path, char *msg, size_t msglen);

const char *sv_exit_reason_name(enum sv_exit_reason r);

/* Parses "256M", "1G", "512MiB", "1048576K"; a bare number means MiB. 0 or -EINVAL/-ERANGE. */
int sv_parse_size(const char *s, uint64_t *out);

/*
 * Sandboxes: a VM booted with the sandvisor initrd (PID 1 + agent) and the
 * runtime image, with the agent connected over the control port. Code runs
 * through the sv_agent_* calls of sv_agent.h on sv_sandbox_agent().
 */
struct sv_sandbox_config {
	const char *kernel_path;	/* required */
	const char *initrd_path;	/* the sandvisor initrd (required) */
	const char *runtime_image;	/* read-only runtime disk (/dev/vda); NULL = sh only */
	struct sv_disk disks[SV_MAX_DISKS - 1];	/* more disks, after the runtime image */
	unsigned int ndisks;
	uint64_t mem_bytes;		/* 0 = 512 MiB */
	unsigned int cpus;		/* 0 = 1 */
	int console_out_fd;		/* guest console (hvc0), -1 = discarded */
	uint32_t boot_timeout_ms;	/* until the agent says hello; 0 = 120 s */
	const char *cmdline;		/* extra kernel arguments, or NULL */
	const char *kvm_path;		/* NULL = /dev/kvm */
};

struct sv_sandbox;
struct sv_agent;

void sv_sandbox_config_init(struct sv_sandbox_config *cfg);
int sv_sandbox_start(const struct sv_sandbox_config *cfg, struct sv_sandbox **out,
		     struct sv_error *err);
struct sv_agent *sv_sandbox_agent(struct sv_sandbox *sb);
/* Milliseconds from sv_sandbox_start() to the agent's hello. */
double sv_sandbox_boot_ms(const struct sv_sandbox *sb);
/* sv_vm_dump() of the sandbox's VM. */
void sv_sandbox_dump(struct sv_sandbox *sb, int fd);
/*
 * Asks the guest to shut down and waits for the VM to end (killing it if the
 * agent does not answer within timeout_ms); then frees everything. ex (may
 * be NULL) gets how the VM ended.
 */
int sv_sandbox_stop(struct sv_sandbox *sb, int timeout_ms, struct sv_exit *ex,
		    struct sv_error *err);

#ifdef __cplusplus
}
#endif

#include "sv_agent.h"
#endif
