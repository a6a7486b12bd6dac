/* SPDX-License-Identifier: MIT */
/*
 * PID 1 of the boot-test initrd. It prints a marker line and what the tests
 * check, then ends the VM the way the kernel command line asks:
 *   sv.test=reboot (default)  reboot(2) RESTART: the VMM sees an i8042 reset
 *   sv.test=poweroff          reboot(2) POWER_OFF: every CPU halts
 *   sv.test=panic             PID 1 exits, the kernel panics
 *   sv.test=hang              sleeps forever (for the VMM's --timeout)
 *   sv.test=flood             prints FLOOD_LINES numbered lines, then reboots
 *   sv.test=dmesg             prints the kernel log (for boot timelines with quiet), reboots
 * Static, no libc tricks: it must run on the bare kernel.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/klog.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#define FLOOD_LINES 1024	/* 64 KiB: every byte is a trapped port write */

static void read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (!f)
		return;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static int count_cpus(void)
{
	char buf[256];

	/* "0-1" or "0": online CPUs as the kernel sees them. */
	read_file("/sys/devices/system/cpu/online", buf, sizeof(buf));
	if (buf[0] == '\0')
		return (int)sysconf(_SC_NPROCESSORS_ONLN);
	{
		int lo = 0, hi = 0;

		if (sscanf(buf, "%d-%d", &lo, &hi) == 2)
			return hi - lo + 1;
	}
	return 1;
}

int main(void)
{
	char cmdline[2048], mode[32] = "reboot", uptime[64];
	const char *p;
	struct timespec ts;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	read_file("/proc/cmdline", cmdline, sizeof(cmdline));
	p = strstr(cmdline, "sv.test=");
	if (p)
		sscanf(p + 8, "%31[a-z]", mode);
	read_file("/proc/uptime", uptime, sizeof(uptime));
	clock_gettime(CLOCK_BOOTTIME, &ts);

	printf("SANDVISOR-TEST-INIT: up mode=%s cpus=%d boottime_ms=%ld\n", mode, count_cpus(),
	       (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	fflush(stdout);

	if (!strcmp(mode, "panic"))
		return 1;	/* PID 1 exiting: "Attempted to kill init!" */
	if (!strcmp(mode, "flood")) {
		int i;

		for (i = 0; i < FLOOD_LINES; i++)
			printf("flood %05d 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS\n", i);
		printf("SANDVISOR-TEST-INIT: flood done\n");
		fflush(stdout);
	}
	if (!strcmp(mode, "dmesg")) {
		static char log[1 << 20];
		int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, log, sizeof(log));

		if (n > 0)
			fwrite(log, 1, (size_t)n, stdout);
		fflush(stdout);
	}
	if (!strcmp(mode, "hang"))
		for (;;)
			pause();
	sync();
	reboot(!strcmp(mode, "poweroff") ? RB_POWER_OFF : RB_AUTOBOOT);
	printf("SANDVISOR-TEST-INIT: reboot(2) returned\n");
	return 2;
}
