/* SPDX-License-Identifier: MIT */
/* The sandvisor command line. Only this file exits the process. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sandvisor.h"


static const char usage_text[] =
	"usage: sandvisor <command> [options]\n"
	"\n"
	"commands:\n"
	"  run        run code (python, node, sh) in a new sandbox: see 'sandvisor run --help'\n"
	"  boot       boot a Linux kernel in a new VM and wait for it to end\n"
	"  selftest   check that this host's /dev/kvm can run a standard guest\n"
	"  help       show this text\n"
	"\n"
	"boot options:\n"
	"  --kernel FILE     bzImage or ELF vmlinux (required)\n"
	"  --initrd FILE     initial ramdisk (cpio, optionally compressed)\n"
	"  --mem SIZE        guest RAM, e.g. 256M, 1G (default 256M; 32M..64G)\n"
	"  --cpus N          vCPUs, 1..16 (default 1)\n"
	"  --cmdline TEXT    appended to the VMM's own kernel arguments\n"
	"                    (" "console=ttyS0 reboot=k,panic_warm panic=-1" ")\n"
	"  --timeout T       stop the guest after T seconds, or e.g. 500ms (exit status 6)\n"
	"  --timing          print host-side setup times (ms since main()) to stderr\n"
	"  --debug           print vCPU registers to stderr when the guest ends\n"
	"  --kvm PATH        KVM device (default /dev/kvm)\n"
	"  --disk PATH[,ro][,cow][,serial=ID]\n"
	"                    raw disk image as virtio-blk (/dev/vda, vdb, ... in order);\n"
	"                    ro: read-only; cow: writes go to a private overlay, the file\n"
	"                    is never written (many VMs can share one image); repeatable\n"
	"  --console serial|virtio\n"
	"                    the guest console: ttyS0 (default) or hvc0 (virtio-console)\n"
	"  --ctl-fd N        connect the guest's 'sandvisor.ctl' port (a virtio-console\n"
	"                    port) to inherited stream socket N\n"
	"\n"
	"The guest's serial console (ttyS0) is this process's stdin and stdout.\n"
	"\n"
	"exit status:\n"
	"  0 guest rebooted or powered off   1 VMM error (bad input, KVM failure)\n"
	"  2 usage error                     3 guest kernel panic\n"
	"  4 guest triple fault              5 KVM could not run the guest\n"
	"  6 --timeout reached               7 selftest: KVM cannot run guests here\n";

uint64_t cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sandvisor: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'sandvisor help' for usage.\n");
	return EXIT_USAGE;
}

int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* PATH[,ro][,cow][,serial=ID]: the options are split off in place. */
int parse_disk(char *arg, struct sv_disk *d)
{
	char *opt = strchr(arg, ',');

	memset(d, 0, sizeof(*d));
	d->path = arg;
	if (opt)
		*opt++ = '\0';
	if (!*arg)
		return -EINVAL;
	while (opt) {
		char *next = strchr(opt, ',');

		if (next)
			*next++ = '\0';
		if (!strcmp(opt, "ro"))
			d->read_only = 1;
		else if (!strcmp(opt, "cow"))
			d->cow = 1;
		else if (!strncmp(opt, "serial=", 7) && opt[7] && strlen(opt + 7) <= 20)
			d->serial = opt + 7;
		else
			return -EINVAL;
		opt = next;
	}
	return d->read_only && d->cow ? -EINVAL : 0;
}

static int exit_status(const struct sv_exit *ex)
{
	switch (ex->reason) {
	case SV_EXIT_RESET:
	case SV_EXIT_POWEROFF:
	case SV_EXIT_STOPPED:
		return EXIT_GUEST_OK;
	case SV_EXIT_PANIC:
		return EXIT_GUEST_PANIC;
	case SV_EXIT_TRIPLE_FAULT:
		return EXIT_GUEST_TRIPLE_FAULT;
	case SV_EXIT_TIMEOUT:
		return EXIT_TIMEOUT;
	default:
		return EXIT_KVM_ERROR;
	}
}

static void print_timing(const struct sv_timing *t, uint64_t main_entry)
{
	double base = (double)main_entry;

#define MS(x) ((x) ? ((double)(x) - base) / 1e6 : -1.0)
	fprintf(stderr,
		"sandvisor: timing (ms since main): create_start %.3f kvm_ready %.3f memory_ready %.3f kernel_loaded %.3f first_run %.3f\n",
		MS(t->create_start), MS(t->kvm_ready), MS(t->memory_ready), MS(t->kernel_loaded),
		MS(t->first_run));
#undef MS
}

/* "30" (seconds), "1500ms", "2s": 1 ms .. 1 day. */
int parse_timeout(const char *s, uint32_t *ms)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		;
	else if (!*end || !strcmp(end, "s"))
		v = v > 86400 ? 86400001 : v * 1000;
	else
		return -EINVAL;
	if (v == 0 || v > 86400000)
		return -EINVAL;
	*ms = (uint32_t)v;
	return 0;
}

static int cmd_boot(int argc, char **argv, uint64_t main_entry)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "cmdline", required_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "timing", no_argument, NULL, 'T' },
		{ "kvm", required_argument, NULL, 'K' },
		{ "disk", required_argument, NULL, 'd' },
		{ "console", required_argument, NULL, 'C' },
		{ "ctl-fd", required_argument, NULL, 'F' },
		{ "debug", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sv_vm_config cfg;
	struct sv_error err = { 0 };
	struct sv_exit ex;
	struct sv_timing t;
	struct sv_vm *vm;
	unsigned long v;
	int timing = 0, debug = 0, c, r;

	sv_vm_config_init(&cfg);
	cfg.console_out_fd = STDOUT_FILENO;
	cfg.console_in_fd = STDIN_FILENO;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': cfg.kernel_path = optarg; break;
		case 'i': cfg.initrd_path = optarg; break;
		case 'a': cfg.cmdline = optarg; break;
		case 'K': cfg.kvm_path = optarg; break;
		case 'T': timing = 1; break;
		case 'D': debug = 1; break;
		case 'm':
			if (sv_parse_size(optarg, &cfg.mem_bytes) < 0)
				return usage_error("--mem '%s' is not a size like 256M or 1G", optarg);
			if (cfg.mem_bytes < (SV_MIN_MEM_MIB << 20) || cfg.mem_bytes > (SV_MAX_MEM_MIB << 20))
				return usage_error("--mem %s is out of range: use 32M to 64G", optarg);
			break;
		case 'c':
			if (parse_uint(optarg, SV_MAX_CPUS, &v) < 0 || v == 0)
				return usage_error("--cpus '%s' must be a whole number from 1 to 16", optarg);
			cfg.cpus = (unsigned int)v;
			break;
		case 't':
			if (parse_timeout(optarg, &cfg.timeout_ms) < 0)
				return usage_error("--timeout '%s' must be 1..86400 seconds (or e.g. 500ms)", optarg);
			break;
		case 'd':
			if (cfg.ndisks == SV_MAX_DISKS)
				return usage_error("at most %d --disk options", SV_MAX_DISKS);
			if (parse_disk(optarg, &cfg.disks[cfg.ndisks]) < 0)
				return usage_error("--disk '%s': expected PATH[,ro][,cow][,serial=ID]", optarg);
			cfg.ndisks++;
			break;
		case 'C':
			if (!strcmp(optarg, "serial"))
				cfg.console = SV_CONSOLE_SERIAL;
			else if (!strcmp(optarg, "virtio"))
				cfg.console = SV_CONSOLE_VIRTIO;
			else
				return usage_error("--console '%s': use 'serial' or 'virtio'", optarg);
			break;
		case 'F':
			if (parse_uint(optarg, 1u << 20, &v) < 0)
				return usage_error("--ctl-fd '%s' is not a file descriptor number", optarg);
			cfg.ctl_mode = SV_CTL_FD;
			cfg.ctl_fd = (int)v;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage_error("%s", "bad option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!cfg.kernel_path)
		return usage_error("%s", "boot needs --kernel FILE (a bzImage or vmlinux)");

	r = sv_vm_create(&cfg, &vm, &err);
	if (r) {
		fprintf(stderr, "sandvisor: %s\n", err.msg);
		return EXIT_VMM_ERROR;
	}
	r = sv_vm_run(vm, &ex, &err);
	sv_vm_timing(vm, &t);
	if (debug)
		sv_vm_dump(vm, STDERR_FILENO);
	sv_vm_destroy(vm);
	if (timing)
		print_timing(&t, main_entry);
	if (r) {
		fprintf(stderr, "sandvisor: %s\n", err.msg);
		return EXIT_VMM_ERROR;
	}
	if (ex.reason != SV_EXIT_RESET && ex.reason != SV_EXIT_POWEROFF)
		fprintf(stderr, "sandvisor: guest ended: %s: %s\n", sv_exit_reason_name(ex.reason),
			ex.msg);
	return exit_status(&ex);
}

static int cmd_selftest(int argc, char **argv)
{
	const char *kvm = argc > 2 && !strcmp(argv[1], "--kvm") ? argv[2] : NULL;
	char msg[SV_ERROR_MAX];
	int r;

	if (argc > 1 && !kvm)
		return usage_error("selftest takes only --kvm PATH, not '%s'", argv[1]);
	r = sv_selftest(kvm, msg, sizeof(msg));
	if (r < 0) {
		fprintf(stderr, "sandvisor: %s\n", msg);
		return EXIT_VMM_ERROR;
	}
	printf("%s\n", msg);
	return r == 1 ? 0 : EXIT_SELFTEST_FAIL;
}

int main(int argc, char **argv)
{
	uint64_t main_entry = cli_now_ns();

	/* A closed console reader must not kill the VMM mid-run. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		return usage_error("%s", "no command given");
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "boot"))
		return cmd_boot(argc - 1, argv + 1, main_entry);
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(argv[1], "selftest"))
		return cmd_selftest(argc - 1, argv + 1);
	return usage_error("unknown command '%s'", argv[1]);
}
