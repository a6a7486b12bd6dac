/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for virtio_console.c behind the real virtio-mmio
 * transport. The input is a hostile guest: its first bytes pick the
 * negotiated features, the queue sizes and a script of kicks and host-side
 * events; the rest is raw guest memory holding the rings, descriptors,
 * control messages and data. No device thread: host-side I/O runs through
 * virtio_console__poll_once(c, 0) on this thread, so a run is deterministic.
 *
 * Input: [flags][qsize x6][nops][ops ...][guest memory image ...]
 *   flags bit 0: negotiate MULTIPORT; bit 1: offer bogus features (refused).
 *   qsize: 1 << (b % 9) entries; bit 7 set: leave the queue disabled.
 *   op >> 6 == 0: kick queue op % 6
 *           == 1: advance avail->idx of queue op % 6 by ((op >> 3) & 7) + 1, kick
 *           == 2: embedder writes ((op & 31) + 1) * 64 bytes to the control
 *                 port (bit 5 clear) or console input (bit 5 set), poll once
 *           == 3: 0xff resets and re-initialises the driver; 0xfe the embedder
 *                 shuts its end for writing (EOF), 0xfd closes it (EPIPE),
 *                 0xfc closes console input; 0xf0 + q un-readies queue q;
 *                 otherwise the embedder drains what the guest sent; then
 *                 poll once
 * The sockets and pipes are fresh per input, with a small send buffer so
 * that the guest fills the control socket easily.
 * The rings are packed from guest address 0 in queue order, each queue's
 * desc table (16-aligned), avail ring, used ring (4-aligned) back to back for
 * its size (ring_layout()), so small queues give small inputs.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>

#include "guest_mem.h"
#include "virtio_console.h"
#include "virtio_mmio.h"

#define MEM_SIZE (1u << 20)
#define IMAGE_MAX (128u << 10)
#define HDR 8
#define MAX_OPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_env {
	int ready;
	struct guest_mem m;
	int null_fd;
	int sp[2];		/* per input: sp[0] ctl_fd, sp[1] the embedder */
	int in[2];		/* per input: console input pipe */
};

static struct fuzz_env env;

struct ring_addrs {
	uint32_t desc, avail, used;
};

static void ring_layout(const uint8_t *hdr, struct ring_addrs *ra)
{
	uint32_t off = 0;
	unsigned int q;

	for (q = 0; q < VIRTIO_CONSOLE_NUM_QUEUES; q++) {
		uint32_t n = 1u << (hdr[1 + q] % 9);

		ra[q].desc = (off + 15) & ~15u;
		ra[q].avail = ra[q].desc + 16 * n;
		ra[q].used = (ra[q].avail + 6 + 2 * n + 3) & ~3u;
		off = ra[q].used + 6 + 8 * n;
	}
}

static void no_irq(void *ctx, uint32_t gsi, int level)
{
	(void)ctx;
	(void)gsi;
	(void)level;
}

static void env_init(void)
{
	struct sv_error err;

	if (env.ready)
		return;
	if (guest_mem__init(&env.m, MEM_SIZE, &err))
		abort();
	env.null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (env.null_fd < 0)
		abort();
	env.ready = 1;
}

static void fds_open(void)
{
	int small = 4096;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, env.sp) ||
	    pipe2(env.in, O_NONBLOCK | O_CLOEXEC) ||
	    setsockopt(env.sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)))
		abort();
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void drain(int fd)
{
	static uint8_t buf[65536];

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		;
}

static void w32(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio__write(t, off, (const uint8_t *)&v, 4);
}

static void drv_init(struct virtio_mmio *t, const uint8_t *hdr, const struct ring_addrs *ra)
{
	uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	unsigned int q;

	w32(t, VIRTIO_MMIO_STATUS, 0);
	w32(t, VIRTIO_MMIO_STATUS, st);
	w32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(t, VIRTIO_MMIO_DRIVER_FEATURES, (hdr[0] & 2) ? 0xffffffffu :
	    (hdr[0] & 1) ? 1u << VIRTIO_CONSOLE_F_MULTIPORT : 0);
	w32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(t, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	w32(t, VIRTIO_MMIO_STATUS, st);
	for (q = 0; q < VIRTIO_CONSOLE_NUM_QUEUES; q++) {
		if (hdr[1 + q] & 0x80)
			continue;
		w32(t, VIRTIO_MMIO_QUEUE_SEL, q);
		w32(t, VIRTIO_MMIO_QUEUE_NUM, 1u << (hdr[1 + q] % 9));
		w32(t, VIRTIO_MMIO_QUEUE_DESC_LOW, ra[q].desc);
		w32(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, ra[q].avail);
		w32(t, VIRTIO_MMIO_QUEUE_USED_LOW, ra[q].used);
		w32(t, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	w32(t, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void bump_avail(const struct ring_addrs *ra, unsigned int q, unsigned int by)
{
	uint8_t *idx = guest_mem__ptr(&env.m, ra[q].avail + 2, 2);
	uint16_t v;

	memcpy(&v, idx, 2);
	v = (uint16_t)(v + by);
	memcpy(idx, &v, 2);
}

static void host_write(int fd, size_t n, int sock)
{
	static uint8_t buf[2048];
	ssize_t r;

	if (fd < 0)
		return;
	memset(buf, 'x', n);
	/* No SIGPIPE after our own shutdown(): a SIGPIPE must only ever mean a device bug. */
	r = sock ? send(fd, buf, n, MSG_NOSIGNAL) : write(fd, buf, n);
	(void)r;	/* full: the guest is not reading, which is its right */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_console_opts o;
	struct virtio_console c;
	struct virtio_mmio t;
	struct irq_line irq = { .set = no_irq };
	struct sv_error err;
	const uint8_t *ops, *img;
	size_t nops, img_len, i;
	uint8_t cfg[VIRTIO_CONSOLE_CONFIG_LEN];
	struct ring_addrs ra[VIRTIO_CONSOLE_NUM_QUEUES];

	if (size < HDR)
		return 0;
	env_init();
	fds_open();
	ring_layout(data, ra);
	nops = data[7] % (MAX_OPS + 1);
	if (nops > size - HDR)
		nops = size - HDR;
	ops = data + HDR;
	img = ops + nops;
	img_len = size - HDR - nops;
	if (img_len > IMAGE_MAX)
		img_len = IMAGE_MAX;
	memset(env.m.host, 0, IMAGE_MAX);
	memcpy(env.m.host, img, img_len);

	o.console_out_fd = env.null_fd;
	o.console_in_fd = env.in[0];
	o.ctl_fd = env.sp[0];
	o.ctl_name = NULL;
	if (virtio_console__init(&c, &o, &err))
		abort();
	if (virtio_mmio__init(&t, &virtio_console_ops, &c, &env.m, irq))
		abort();
	virtio_console__attach(&c, &t);
	virtio_mmio__read(&t, VIRTIO_MMIO_CONFIG + (data[0] >> 4) % VIRTIO_CONSOLE_CONFIG_LEN, cfg, 1);
	drv_init(&t, data, ra);

	for (i = 0; i < nops; i++) {
		uint8_t op = ops[i];
		unsigned int q = op % VIRTIO_CONSOLE_NUM_QUEUES;

		switch (op >> 6) {
		case 0:
			w32(&t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
			break;
		case 1:
			bump_avail(ra, q, ((op >> 3) & 7) + 1u);
			w32(&t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
			break;
		case 2:
			if (op & 32)
				host_write(env.in[1], ((op & 31) + 1u) * 64, 0);
			else
				host_write(env.sp[1], ((op & 31) + 1u) * 64, 1);
			virtio_console__poll_once(&c, 0);
			break;
		default:
			if (op == 0xff) {
				drv_init(&t, data, ra);
				break;
			}
			if (op == 0xfe && env.sp[1] >= 0)
				shutdown(env.sp[1], SHUT_WR);
			else if (op == 0xfd)
				close_fd(&env.sp[1]);
			else if (op == 0xfc)
				close_fd(&env.in[1]);
			else if (op >= 0xf0 && op < 0xf0 + VIRTIO_CONSOLE_NUM_QUEUES) {
				w32(&t, VIRTIO_MMIO_QUEUE_SEL, op - 0xf0u);
				w32(&t, VIRTIO_MMIO_QUEUE_READY, 0);
			} else
				drain(env.sp[1]);
			virtio_console__poll_once(&c, 0);
			break;
		}
	}

	virtio_console__exit(&c);
	virtio_mmio__exit(&t);
	close_fd(&env.sp[0]);
	close_fd(&env.sp[1]);
	close_fd(&env.in[0]);
	close_fd(&env.in[1]);
	return 0;
}
