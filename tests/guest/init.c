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
 *   sv.test=blkbench          O_DIRECT sequential read, then write + fdatasync, of /dev/vda
 *                             (needs a disk of at least 2 x BENCH_BYTES), prints "BENCH blk ..."
 *   sv.test=ctlbench          round trips and bulk writes over the "sandvisor.ctl" port
 *                             against bench/ctl_peer.py (protocol there), prints "BENCH ctl ..."
 * Static, no libc tricks: it must run on the bare kernel.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/klog.h>
#include <sys/reboot.h>
#include <time.h>
#include <unistd.h>

#define FLOOD_LINES 1024	/* 64 KiB: every byte is a trapped port write */

/* Benchmarks (bench/devices). The ctl numbers must match bench/ctl_peer.py. */
#define BENCH_BYTES (64u << 20)	/* per direction, blk and ctl bulk */
#define BLK_BLOCK (1u << 20)	/* one O_DIRECT read(2)/write(2) */
#define CTL_MSG 64		/* round-trip message size */
#define CTL_RTTS 2000		/* timed round trips (after CTL_WARMUP untimed ones) */
#define CTL_WARMUP 50
#define CTL_CHUNK (64u << 10)	/* bulk write(2) size; the driver takes <= 32 KiB a call */

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

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Sequential O_DIRECT read of [0, BENCH_BYTES), then write of [BENCH_BYTES, 2 x BENCH_BYTES). */
static void blk_bench(void)
{
	void *buf = NULL;
	double t0, rd, wr;
	unsigned int off;
	int fd;

	if (posix_memalign(&buf, 4096, BLK_BLOCK)) {
		printf("BENCH blk error=posix_memalign\n");
		return;
	}
	memset(buf, 0xa5, BLK_BLOCK);
	fd = open("/dev/vda", O_RDWR | O_DIRECT);
	if (fd < 0) {
		printf("BENCH blk error=open_/dev/vda_%d\n", errno);
		free(buf);
		return;
	}
	t0 = now_s();
	for (off = 0; off < BENCH_BYTES; off += BLK_BLOCK)
		if (pread(fd, buf, BLK_BLOCK, off) != (ssize_t)BLK_BLOCK) {
			printf("BENCH blk error=read_at_%u_%d\n", off, errno);
			goto out;
		}
	rd = now_s() - t0;
	t0 = now_s();
	for (off = 0; off < BENCH_BYTES; off += BLK_BLOCK)
		if (pwrite(fd, buf, BLK_BLOCK, (off_t)BENCH_BYTES + off) != (ssize_t)BLK_BLOCK) {
			printf("BENCH blk error=write_at_%u_%d\n", off, errno);
			goto out;
		}
	if (fdatasync(fd)) {
		printf("BENCH blk error=fdatasync_%d\n", errno);
		goto out;
	}
	wr = now_s() - t0;
	printf("BENCH blk read_MBps=%.1f write_MBps=%.1f bytes=%u block=%u read_s=%.3f write_s=%.3f\n",
	       BENCH_BYTES / rd / 1e6, BENCH_BYTES / wr / 1e6, BENCH_BYTES, BLK_BLOCK, rd, wr);
out:
	close(fd);
	free(buf);
}

/* Opens /dev/vportNpM of the virtio-console port named NAME. */
static int open_port(const char *name)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int fd = -1;

	if (!d)
		return -1;
	while (fd < 0 && (e = readdir(d))) {
		char path[300], got[64];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		read_file(path, got, sizeof(got));
		got[strcspn(got, "\n")] = '\0';
		if (strcmp(got, name))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", e->d_name);
		fd = open(path, O_RDWR);
	}
	closedir(d);
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, char *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Against bench/ctl_peer.py: the host sends one byte (go) once it is attached;
 * then CTL_WARMUP + CTL_RTTS round trips of CTL_MSG bytes (the host echoes);
 * then BENCH_BYTES guest -> host (the host discards them) and one byte back
 * (ack) once the host has read them all, so the bulk time covers delivery.
 */
static void ctl_bench(void)
{
	static double rtt[CTL_RTTS];
	static char chunk[CTL_CHUNK];
	char msg[CTL_MSG], back[CTL_MSG], go;
	double t0, bulk;
	unsigned int i, sent;
	int fd = open_port("sandvisor.ctl");

	if (fd < 0) {
		printf("BENCH ctl error=no_port\n");
		return;
	}
	if (read_all(fd, &go, 1)) {
		printf("BENCH ctl error=no_go_byte\n");
		goto out;
	}
	for (i = 0; i < CTL_MSG; i++)
		msg[i] = (char)('a' + i % 26);
	for (i = 0; i < CTL_WARMUP + CTL_RTTS; i++) {
		t0 = now_s();
		msg[0] = (char)i;
		if (write_all(fd, msg, CTL_MSG) || read_all(fd, back, CTL_MSG) ||
		    memcmp(msg, back, CTL_MSG)) {
			printf("BENCH ctl error=round_trip_%u\n", i);
			goto out;
		}
		if (i >= CTL_WARMUP)
			rtt[i - CTL_WARMUP] = (now_s() - t0) * 1e6;
	}
	qsort(rtt, CTL_RTTS, sizeof(rtt[0]), cmp_double);
	memset(chunk, 0x5a, sizeof(chunk));
	t0 = now_s();
	for (sent = 0; sent < BENCH_BYTES; sent += CTL_CHUNK)
		if (write_all(fd, chunk, CTL_CHUNK)) {
			printf("BENCH ctl error=bulk_write_%u\n", sent);
			goto out;
		}
	if (read_all(fd, &go, 1)) {
		printf("BENCH ctl error=no_ack\n");
		goto out;
	}
	bulk = now_s() - t0;
	printf("BENCH ctl rtt_us_median=%.1f rtt_us_p90=%.1f MBps=%.1f msg=%u rtts=%u bytes=%u bulk_s=%.3f\n",
	       rtt[CTL_RTTS / 2], rtt[CTL_RTTS * 9 / 10], BENCH_BYTES / bulk / 1e6, CTL_MSG,
	       CTL_RTTS, BENCH_BYTES, bulk);
out:
	close(fd);
}

/*
 * With console=hvc0 the kernel may find no console for PID 1's fds 0-2: the
 * virtio-console port is added by a control message handled on a workqueue,
 * possibly after the kernel tried /dev/console. Then open it ourselves,
 * waiting up to ~2 s for hvc0 to appear.
 */
static void setup_console(void)
{
	int fd = -1, i;

	if (fcntl(1, F_GETFD) >= 0)
		return;
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	for (i = 0; i < 200 && fd < 0; i++) {
		fd = open("/dev/console", O_RDWR | O_NOCTTY);
		if (fd < 0)
			usleep(10000);
	}
	if (fd < 0)
		return;
	for (i = 0; i < 3; i++)
		dup2(fd, i);
	if (fd > 2)
		close(fd);
}

int main(void)
{
	char cmdline[2048], mode[32] = "reboot", uptime[64];
	const char *p;
	struct timespec ts;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	setup_console();
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
	if (!strcmp(mode, "blkbench") || !strcmp(mode, "ctlbench")) {
		if (access("/dev/null", F_OK))
			mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		if (!strcmp(mode, "blkbench"))
			blk_bench();
		else
			ctl_bench();
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
