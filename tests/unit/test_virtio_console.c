/* SPDX-License-Identifier: MIT */
/*
 * virtio_console.c through the real virtio-mmio transport: the test plays
 * the guest driver, building split rings by hand in guest memory and
 * poking the registers, with a pipe for console output and a socketpair for
 * the control port.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <linux/virtio_config.h>
#include <linux/virtio_console.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest_mem.h"
#include "virtio_console.h"
#include "virtio_mmio.h"

Suite *virtio_console_suite(void);	/* register in suites.h */

#define QSIZE 64		/* descriptors per queue */
#define SLOTS 16		/* chains in flight per queue; chain k uses descriptors 4k..4k+3 */
#define SLOT_BYTES 4096
#define TQ_BASE(q) (0x100000ULL + (uint64_t)(q) * 0x40000)
#define TQ_DESC(q) TQ_BASE(q)
#define TQ_AVAIL(q) (TQ_BASE(q) + 0x1000)
#define TQ_USED(q) (TQ_BASE(q) + 0x2000)
#define SLOT_GPA(q, k) (TQ_BASE(q) + 0x10000 + (uint64_t)(k) * SLOT_BYTES)
#define MULTIPORT (1u << VIRTIO_CONSOLE_F_MULTIPORT)

struct tq {
	uint16_t avail_idx;	/* next avail index the "driver" publishes */
	uint16_t used_seen;	/* used entries the "driver" consumed */
};

struct rig {
	struct guest_mem m;
	struct virtio_mmio t;
	struct virtio_console c;
	int irqs;
	int out[2];		/* console output pipe */
	int sp[2];		/* sp[0] the device's ctl_fd, sp[1] the embedder's end */
	struct tq q[VIRTIO_CONSOLE_NUM_QUEUES];
};

struct msg {
	uint32_t id;
	uint16_t event, value;
	uint32_t len;
	char name[VIRTIO_CONSOLE_NAME_MAX + 1];
};

static void rec_irq(void *ctx, uint32_t gsi, int level)
{
	struct rig *r = ctx;

	(void)gsi;
	if (level)
		__atomic_fetch_add(&r->irqs, 1, __ATOMIC_SEQ_CST);
}

static uint8_t *gp(struct rig *r, uint64_t gpa)
{
	uint8_t *p = guest_mem__ptr(&r->m, gpa, 1);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void w32(struct rig *r, uint64_t off, uint32_t v)
{
	virtio_mmio__write(&r->t, off, (const uint8_t *)&v, 4);
}

static uint32_t r32(struct rig *r, uint64_t off)
{
	uint32_t v;

	virtio_mmio__read(&r->t, off, (uint8_t *)&v, 4);
	return v;
}

static void setup_queue(struct rig *r, unsigned int q)
{
	memset(gp(r, TQ_BASE(q)), 0, 0x3000);
	memset(&r->q[q], 0, sizeof(r->q[q]));
	w32(r, VIRTIO_MMIO_QUEUE_SEL, q);
	ck_assert_uint_eq(r32(r, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_CONSOLE_QUEUE_MAX);
	w32(r, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	w32(r, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)TQ_DESC(q));
	w32(r, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	w32(r, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)TQ_AVAIL(q));
	w32(r, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	w32(r, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)TQ_USED(q));
	w32(r, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	w32(r, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(r32(r, VIRTIO_MMIO_QUEUE_READY), 1);
}

/* The driver's side of initialisation (virtio 1.x, 3.1.1). */
static void drv_init(struct rig *r, uint32_t features_lo)
{
	unsigned int q, nq = (features_lo & MULTIPORT) ? VIRTIO_CONSOLE_NUM_QUEUES : 2;
	uint32_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	w32(r, VIRTIO_MMIO_STATUS, 0);
	w32(r, VIRTIO_MMIO_STATUS, st);
	w32(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ck_assert_uint_eq(r32(r, VIRTIO_MMIO_DEVICE_FEATURES) & MULTIPORT, MULTIPORT);
	w32(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	w32(r, VIRTIO_MMIO_DRIVER_FEATURES, features_lo);
	w32(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	w32(r, VIRTIO_MMIO_DRIVER_FEATURES, 1);	/* VERSION_1 = bit 32 */
	st |= VIRTIO_CONFIG_S_FEATURES_OK;
	w32(r, VIRTIO_MMIO_STATUS, st);
	ck_assert_uint_eq(r32(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK,
			  VIRTIO_CONFIG_S_FEATURES_OK);
	for (q = 0; q < nq; q++)
		setup_queue(r, q);
	w32(r, VIRTIO_MMIO_STATUS, st | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert_uint_eq(r32(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static struct rig *rig_new(int with_ctl, int thread)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct virtio_console_opts o = { .console_in_fd = -1, .ctl_fd = -1 };
	struct irq_line irq;
	struct sv_error err = { 0 };

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(guest_mem__init(&r->m, MIB(64), &err), 0);
	ck_assert_int_eq(pipe2(r->out, O_CLOEXEC), 0);
	r->sp[0] = r->sp[1] = -1;
	if (with_ctl) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->sp), 0);
		o.ctl_fd = r->sp[0];
	}
	o.console_out_fd = r->out[1];
	ck_assert_int_eq(virtio_console__init(&r->c, &o, &err), 0);
	irq.set = rec_irq;
	irq.ctx = r;
	irq.gsi = 5;
	ck_assert_int_eq(virtio_mmio__init(&r->t, &virtio_console_ops, &r->c, &r->m, irq), 0);
	virtio_console__attach(&r->c, &r->t);
	if (thread)
		ck_assert_int_eq(virtio_console__start(&r->c, &err), 0);
	return r;
}

static void rig_free(struct rig *r)
{
	virtio_console__exit(&r->c);
	virtio_mmio__exit(&r->t);
	guest_mem__exit(&r->m);
	close(r->out[0]);
	close(r->out[1]);
	if (r->sp[0] >= 0)
		close(r->sp[0]);
	if (r->sp[1] >= 0)
		close(r->sp[1]);
	free(r);
}

static void put_desc(struct rig *r, unsigned int q, uint16_t i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = gp(r, TQ_DESC(q) + (uint64_t)i * 16);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Publishes descriptor `head` on the avail ring (no kick). */
static void publish(struct rig *r, unsigned int q, uint16_t head)
{
	uint8_t *avail = gp(r, TQ_AVAIL(q));
	uint16_t idx = r->q[q].avail_idx;

	memcpy(avail + 4 + (idx % QSIZE) * 2, &head, 2);
	idx++;
	__atomic_store_n((uint16_t *)(avail + 2), idx, __ATOMIC_RELEASE);
	r->q[q].avail_idx = idx;
}

static void kick(struct rig *r, unsigned int q)
{
	w32(r, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/*
 * Posts a one-descriptor chain in the next slot, copying data (if any) in
 * first: the device thread may pop the chain as soon as it is published.
 * Returns the slot's buffer.
 */
static uint8_t *post(struct rig *r, unsigned int q, uint32_t len, int writable, const void *data)
{
	unsigned int k = r->q[q].avail_idx % SLOTS;
	uint8_t *b = gp(r, SLOT_GPA(q, k));

	if (data)
		memcpy(b, data, len);
	put_desc(r, q, (uint16_t)(k * 4), SLOT_GPA(q, k), len, writable ? VRING_DESC_F_WRITE : 0, 0);
	publish(r, q, (uint16_t)(k * 4));
	return b;
}

static uint16_t used_idx(struct rig *r, unsigned int q)
{
	return __atomic_load_n((uint16_t *)gp(r, TQ_USED(q) + 2), __ATOMIC_ACQUIRE);
}

static void used_elem(struct rig *r, unsigned int q, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint8_t *e = gp(r, TQ_USED(q) + 4 + (uint64_t)(i % QSIZE) * 8);

	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Waits until used->idx reaches target; returns whether it did within ms. */
static int wait_used(struct rig *r, unsigned int q, uint16_t target, int ms)
{
	while ((int16_t)(used_idx(r, q) - target) < 0) {
		if (ms-- <= 0)
			return 0;
		sleep_ms(1);
	}
	return 1;
}

static void send_ctrl(struct rig *r, uint32_t id, uint16_t event, uint16_t value)
{
	uint8_t b[8];
	uint16_t before;

	memcpy(b, &id, 4);
	memcpy(b + 4, &event, 2);
	memcpy(b + 6, &value, 2);
	post(r, 3, 8, 0, b);
	before = r->q[3].avail_idx;
	kick(r, 3);
	/* Control messages are handled on the kicking thread: done when the kick returns. */
	ck_assert_uint_eq(used_idx(r, 3), before);
}

static void post_ctrl_rx(struct rig *r, unsigned int n)
{
	while (n--)
		post(r, 2, SLOT_BYTES, 1, NULL);
	kick(r, 2);
}

/* Collects control messages the device has written since the last call. */
static unsigned int read_ctrl(struct rig *r, struct msg *out, unsigned int max)
{
	unsigned int n = 0;

	while (r->q[2].used_seen != used_idx(r, 2) && n < max) {
		uint32_t id, len;
		uint8_t *b;
		struct msg *m = &out[n++];

		used_elem(r, 2, r->q[2].used_seen++, &id, &len);
		ck_assert_uint_eq(id % 4, 0);
		b = gp(r, SLOT_GPA(2, id / 4));
		ck_assert_uint_ge(len, 8);
		ck_assert_uint_le(len, 8 + VIRTIO_CONSOLE_NAME_MAX);
		memset(m, 0, sizeof(*m));
		memcpy(&m->id, b, 4);
		memcpy(&m->event, b + 4, 2);
		memcpy(&m->value, b + 6, 2);
		m->len = len;
		memcpy(m->name, b + 8, len - 8);
	}
	return n;
}

static void assert_msg(const struct msg *m, uint32_t id, uint16_t event, uint16_t value)
{
	ck_assert_uint_eq(m->id, id);
	ck_assert_uint_eq(m->event, event);
	ck_assert_uint_eq(m->value, value);
}

static uint32_t status(struct rig *r)
{
	return r32(r, VIRTIO_MMIO_STATUS);
}

/* DEVICE_READY, both PORT_READYs, and the guest opening port 1: what Linux does at probe. */
static void handshake(struct rig *r)
{
	struct msg m[8];

	post_ctrl_rx(r, 8);
	send_ctrl(r, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 2);
	send_ctrl(r, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	send_ctrl(r, 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
	send_ctrl(r, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	send_ctrl(r, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 4);
}

static void fill(uint8_t *p, size_t off, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((off + i) * 131 + ((off + i) >> 12));
}

static int check_fill(const uint8_t *p, size_t off, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (uint8_t)((off + i) * 131 + ((off + i) >> 12)))
			return 0;
	return 1;
}

START_TEST(registers_and_config)
{
	struct rig *r = rig_new(1, 0);
	uint32_t v;

	ck_assert_uint_eq(r32(r, VIRTIO_MMIO_DEVICE_ID), 3);
	virtio_mmio__read(&r->t, VIRTIO_MMIO_CONFIG + 4, (uint8_t *)&v, 4);
	ck_assert_uint_eq(v, 2);	/* max_nr_ports */
	virtio_mmio__read(&r->t, VIRTIO_MMIO_CONFIG, (uint8_t *)&v, 4);
	ck_assert_uint_eq(v, 0);	/* cols, rows */
	rig_free(r);
}
END_TEST

START_TEST(device_ready_adds_two_ports)
{
	struct rig *r = rig_new(1, 0);
	struct msg m[4];
	int irqs;

	drv_init(r, MULTIPORT);
	post_ctrl_rx(r, 4);
	irqs = r->irqs;
	send_ctrl(r, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 4), 2);
	assert_msg(&m[0], 0, VIRTIO_CONSOLE_PORT_ADD, 0);
	assert_msg(&m[1], 1, VIRTIO_CONSOLE_PORT_ADD, 0);
	ck_assert_int_gt(r->irqs, irqs);
	/* A failed driver (value 0) gets nothing. */
	send_ctrl(r, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 0);
	ck_assert_uint_eq(read_ctrl(r, m, 4), 0);
	rig_free(r);
}
END_TEST

START_TEST(port_ready_replies)
{
	struct rig *r = rig_new(1, 0);
	struct msg m[4];

	drv_init(r, MULTIPORT);
	post_ctrl_rx(r, 8);
	send_ctrl(r, 0, VIRTIO_CONSOLE_PORT_READY, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 4), 2);
	assert_msg(&m[0], 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	assert_msg(&m[1], 0, VIRTIO_CONSOLE_PORT_OPEN, 1);
	send_ctrl(r, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 4), 2);
	assert_msg(&m[0], 1, VIRTIO_CONSOLE_PORT_NAME, 0);
	ck_assert_uint_eq(m[0].len, 8 + strlen("sandvisor.ctl"));
	ck_assert_str_eq(m[0].name, "sandvisor.ctl");
	assert_msg(&m[1], 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	rig_free(r);
}
END_TEST

START_TEST(control_messages_wait_for_buffers)
{
	struct rig *r = rig_new(1, 0);
	struct msg m[32];
	unsigned int i;

	drv_init(r, MULTIPORT);
	send_ctrl(r, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ck_assert_uint_eq(r->c.ctrl_count, 2);
	post_ctrl_rx(r, 1);
	ck_assert_uint_eq(used_idx(r, 2), 1);
	ck_assert_uint_eq(r->c.ctrl_count, 1);
	post_ctrl_rx(r, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 4), 2);
	assert_msg(&m[0], 0, VIRTIO_CONSOLE_PORT_ADD, 0);
	assert_msg(&m[1], 1, VIRTIO_CONSOLE_PORT_ADD, 0);
	/* The list is bounded: a guest that never posts buffers loses replies, not host memory. */
	for (i = 0; i < 12; i++)
		send_ctrl(r, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ck_assert_uint_eq(r->c.ctrl_count, VIRTIO_CONSOLE_CTRL_PENDING);
	ck_assert_uint_eq(r->c.ctrl_dropped, 24 - VIRTIO_CONSOLE_CTRL_PENDING);
	post_ctrl_rx(r, 8);
	post_ctrl_rx(r, 8);
	ck_assert_uint_eq(read_ctrl(r, m, 32), VIRTIO_CONSOLE_CTRL_PENDING);
	ck_assert_uint_eq(r->c.ctrl_count, 0);
	rig_free(r);
}
END_TEST

START_TEST(console_output_reaches_fd)
{
	struct rig *r = rig_new(1, 0);
	char buf[64] = { 0 };

	drv_init(r, MULTIPORT);
	/* Two readable descriptors in one chain. */
	memcpy(gp(r, SLOT_GPA(1, 0)), "hello ", 6);
	memcpy(gp(r, SLOT_GPA(1, 1)), "world\n", 6);
	put_desc(r, 1, 0, SLOT_GPA(1, 0), 6, VRING_DESC_F_NEXT, 1);
	put_desc(r, 1, 1, SLOT_GPA(1, 1), 6, 0, 0);
	publish(r, 1, 0);
	kick(r, 1);
	ck_assert_uint_eq(used_idx(r, 1), 1);
	ck_assert_int_eq(read(r->out[0], buf, sizeof(buf) - 1), 12);
	ck_assert_str_eq(buf, "hello world\n");
	rig_free(r);
}
END_TEST

START_TEST(control_port_tx_reaches_peer)
{
	struct rig *r = rig_new(1, 0);
	char buf[64] = { 0 };

	drv_init(r, MULTIPORT);
	post(r, 5, 5, 0, "ping\n");
	kick(r, 5);
	ck_assert_uint_eq(used_idx(r, 5), 1);	/* written on the vCPU thread, no device thread */
	ck_assert_int_eq(read(r->sp[1], buf, sizeof(buf) - 1), 5);
	ck_assert_str_eq(buf, "ping\n");
	rig_free(r);
}
END_TEST

START_TEST(control_port_rx_reaches_guest)
{
	struct rig *r = rig_new(1, 1);
	uint32_t id, len;
	struct msg m[8];

	drv_init(r, MULTIPORT);
	post_ctrl_rx(r, 8);
	send_ctrl(r, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	send_ctrl(r, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 4);
	/* Until the guest opens the port its data would be discarded: the device must not read. */
	post(r, 4, SLOT_BYTES, 1, NULL);
	kick(r, 4);
	ck_assert_int_eq(write(r->sp[1], "pong", 4), 4);
	sleep_ms(50);
	ck_assert_uint_eq(used_idx(r, 4), 0);
	send_ctrl(r, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert(wait_used(r, 4, 1, 2000));
	used_elem(r, 4, 0, &id, &len);
	ck_assert_uint_eq(id, 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_int_eq(memcmp(gp(r, SLOT_GPA(4, 0)), "pong", 4), 0);
	rig_free(r);
}
END_TEST

START_TEST(tx_backpressure_holds_chains)
{
	struct rig *r = rig_new(1, 1);
	int small = 4096;
	unsigned int i;
	size_t got = 0, total = SLOTS * SLOT_BYTES;
	uint8_t *rx = malloc(total);
	static uint8_t chunk[SLOT_BYTES];
	uint16_t stalled;

	ck_assert_int_eq(setsockopt(r->sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	drv_init(r, MULTIPORT);
	for (i = 0; i < SLOTS; i++) {
		fill(chunk, i * SLOT_BYTES, SLOT_BYTES);
		post(r, 5, SLOT_BYTES, 0, chunk);
	}
	kick(r, 5);
	sleep_ms(100);
	stalled = used_idx(r, 5);
	ck_assert_uint_lt(stalled, SLOTS);	/* the peer is not reading: chains are held */
	sleep_ms(100);
	ck_assert_uint_eq(used_idx(r, 5), stalled);
	pthread_mutex_lock(&r->c.lock);
	ck_assert_int_eq(r->c.tx_held, 1);
	pthread_mutex_unlock(&r->c.lock);
	/* The peer drains: the device thread resumes on POLLOUT. */
	while (got < total) {
		ssize_t n = read(r->sp[1], rx + got, total - got);

		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	ck_assert(check_fill(rx, 0, total));
	ck_assert(wait_used(r, 5, SLOTS, 2000));
	free(rx);
	rig_free(r);
}
END_TEST

START_TEST(rx_backpressure_stops_reading)
{
	struct rig *r = rig_new(1, 1);
	static uint8_t chunk[4096];
	size_t sent = 0;
	uint32_t id, len;

	drv_init(r, MULTIPORT);
	handshake(r);
	ck_assert_int_eq(fcntl(r->sp[1], F_SETFL, O_NONBLOCK), 0);
	/* No receive buffers: the embedder's writes must run into EAGAIN. */
	for (;;) {
		ssize_t n;

		fill(chunk, sent, sizeof(chunk));
		n = write(r->sp[1], chunk, sizeof(chunk));
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			break;
		}
		sent += (size_t)n;
		ck_assert_uint_lt(sent, MIB(16));
	}
	sleep_ms(50);
	ck_assert_uint_eq(used_idx(r, 4), 0);
	post(r, 4, SLOT_BYTES, 1, NULL);
	kick(r, 4);
	ck_assert(wait_used(r, 4, 1, 2000));
	used_elem(r, 4, 0, &id, &len);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, SLOT_BYTES);
	ck_assert(check_fill(gp(r, SLOT_GPA(4, 0)), 0, len));
	rig_free(r);
}
END_TEST

struct writer {
	int fd;
	size_t len;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	static uint8_t buf[8192];
	size_t off = 0;

	while (off < w->len) {
		size_t n = w->len - off < sizeof(buf) ? w->len - off : sizeof(buf);
		ssize_t k;

		fill(buf, off, n);
		k = write(w->fd, buf, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return (void *)1;
		off += (size_t)k;
	}
	return NULL;
}

/* 1 MiB embedder → device → guest rx → guest echoes on tx → device → embedder. */
START_TEST(stream_round_trip_1mib)
{
	struct rig *r = rig_new(1, 1);
	const size_t total = MIB(1);
	uint8_t *back = malloc(total);
	size_t got = 0;
	struct writer w;
	pthread_t th;
	void *res;
	unsigned int i;
	int spins = 0;

	drv_init(r, MULTIPORT);
	handshake(r);
	for (i = 0; i < SLOTS; i++)
		post(r, 4, SLOT_BYTES, 1, NULL);
	kick(r, 4);
	w.fd = r->sp[1];
	w.len = total;
	ck_assert_int_eq(pthread_create(&th, NULL, writer_main, &w), 0);
	while (got < total) {
		int progress = 0;
		ssize_t n;

		/* The guest: echo each filled rx buffer if a tx slot is free, then re-post it. */
		while (r->q[4].used_seen != used_idx(r, 4) &&
		       (uint16_t)(r->q[5].avail_idx - used_idx(r, 5)) < SLOTS) {
			uint32_t id, len;

			used_elem(r, 4, r->q[4].used_seen++, &id, &len);
			ck_assert_uint_le(len, SLOT_BYTES);
			post(r, 5, len, 0, gp(r, SLOT_GPA(4, id / 4)));
			post(r, 4, SLOT_BYTES, 1, NULL);
			kick(r, 5);
			kick(r, 4);
			progress = 1;
		}
		n = recv(r->sp[1], back + got, total - got, MSG_DONTWAIT);
		if (n > 0) {
			got += (size_t)n;
			progress = 1;
		}
		if (!progress) {
			ck_assert_int_lt(++spins, 20000);
			usleep(200);
		}
	}
	ck_assert_int_eq(pthread_join(th, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert(check_fill(back, 0, total));
	free(back);
	rig_free(r);
}
END_TEST

START_TEST(malformed_control_ignored)
{
	struct rig *r = rig_new(1, 0);
	struct msg m[8];
	uint8_t big[64];
	uint16_t before;

	drv_init(r, MULTIPORT);
	post_ctrl_rx(r, 8);
	/* Short: 4 bytes. */
	post(r, 3, 4, 0, "\0\0\0");
	kick(r, 3);
	/* Empty chain (zero-length descriptor). */
	post(r, 3, 0, 0, NULL);
	kick(r, 3);
	/* Write-only chain: nothing readable. */
	post(r, 3, 8, 1, NULL);
	kick(r, 3);
	ck_assert_uint_eq(used_idx(r, 3), 3);
	send_ctrl(r, 0, 99, 1);				/* unknown event */
	send_ctrl(r, 0, VIRTIO_CONSOLE_RESIZE, 1);	/* host-to-guest event */
	send_ctrl(r, 7, VIRTIO_CONSOLE_PORT_READY, 1);	/* port out of range */
	send_ctrl(r, 0xffffffffu, VIRTIO_CONSOLE_PORT_READY, 1);
	send_ctrl(r, 2, VIRTIO_CONSOLE_PORT_OPEN, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 0);
	ck_assert_uint_eq(r->c.ctrl_ignored, 8);
	ck_assert_uint_eq(status(r) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	/* A long message is fine: the first 8 bytes count. */
	memset(big, 0xee, sizeof(big));
	memcpy(big, &(uint32_t){ VIRTIO_CONSOLE_BAD_ID }, 4);
	memcpy(big + 4, &(uint16_t){ VIRTIO_CONSOLE_DEVICE_READY }, 2);
	memcpy(big + 6, &(uint16_t){ 1 }, 2);
	post(r, 3, sizeof(big), 0, big);
	before = r->q[3].avail_idx;
	kick(r, 3);
	ck_assert_uint_eq(used_idx(r, 3), before);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 2);
	rig_free(r);
}
END_TEST

START_TEST(looping_chain_needs_reset)
{
	struct rig *r = rig_new(1, 1);
	char buf[8];

	drv_init(r, MULTIPORT);
	put_desc(r, 5, 0, SLOT_GPA(5, 0), 16, VRING_DESC_F_NEXT, 0);	/* next = itself */
	publish(r, 5, 0);
	kick(r, 5);
	ck_assert_uint_eq(status(r) & VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_uint_eq(used_idx(r, 5), 0);
	ck_assert_uint_eq(r32(r, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG,
			  VIRTIO_MMIO_INT_CONFIG);
	/* Same on the control queue, and on a receive queue the device thread pops. */
	drv_init(r, MULTIPORT);
	put_desc(r, 3, 0, SLOT_GPA(3, 0), 8, VRING_DESC_F_NEXT, 1);
	put_desc(r, 3, 1, SLOT_GPA(3, 1), 8, VRING_DESC_F_NEXT, 0);
	publish(r, 3, 0);
	kick(r, 3);
	ck_assert_uint_eq(status(r) & VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_CONFIG_S_NEEDS_RESET);
	drv_init(r, MULTIPORT);
	handshake(r);
	put_desc(r, 4, 0, SLOT_GPA(4, 0), 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
	publish(r, 4, 0);
	kick(r, 4);
	{
		int ms = 2000;

		while (!(status(r) & VIRTIO_CONFIG_S_NEEDS_RESET) && ms--)
			sleep_ms(1);
	}
	ck_assert_uint_eq(status(r) & VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_CONFIG_S_NEEDS_RESET);
	/* After a reset the device works again, with the same fds. */
	drv_init(r, MULTIPORT);
	post(r, 5, 3, 0, "ok\n");
	kick(r, 5);
	ck_assert_uint_eq(used_idx(r, 5), 1);
	ck_assert_int_eq(read(r->sp[1], buf, sizeof(buf)), 3);
	rig_free(r);
}
END_TEST

START_TEST(reset_drops_pending_state)
{
	struct rig *r = rig_new(1, 0);
	struct msg m[8];
	int small = 4096;
	unsigned int i;

	ck_assert_int_eq(setsockopt(r->sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	drv_init(r, MULTIPORT);
	send_ctrl(r, VIRTIO_CONSOLE_BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
	ck_assert_uint_eq(r->c.ctrl_count, 2);
	for (i = 0; i < SLOTS; i++)
		post(r, 5, SLOT_BYTES, 0, NULL);
	kick(r, 5);
	ck_assert_int_eq(r->c.tx_held, 1);
	drv_init(r, MULTIPORT);		/* writes status 0 first */
	ck_assert_uint_eq(r->c.ctrl_count, 0);
	ck_assert_int_eq(r->c.tx_held, 0);
	post_ctrl_rx(r, 4);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 0);
	ck_assert_int_eq(r->c.ctl_fd, r->sp[0]);
	rig_free(r);
}
END_TEST

/*
 * A live queue belongs to the device: after DRIVER_OK the transport ignores
 * QueueReady=0 (without RING_RESET a driver resets the device instead), so
 * the held chain is still delivered and nothing is reported broken.
 */
START_TEST(unready_queue_is_not_broken)
{
	struct rig *r = rig_new(1, 1);
	int held = 0, ms = 2000;

	drv_init(r, MULTIPORT);
	handshake(r);
	post(r, 4, SLOT_BYTES, 1, NULL);
	kick(r, 4);
	while (!held && ms--) {
		pthread_mutex_lock(&r->c.lock);
		held = r->c.port[1].rx_held;
		pthread_mutex_unlock(&r->c.lock);
		if (!held)
			sleep_ms(1);
	}
	ck_assert(held);
	w32(r, VIRTIO_MMIO_QUEUE_SEL, 4);
	w32(r, VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_int_eq(write(r->sp[1], "late", 4), 4);
	for (ms = 2000; used_idx(r, 4) == 0 && ms--;)
		sleep_ms(1);
	ck_assert_uint_eq(used_idx(r, 4), 1);
	ck_assert_uint_eq(status(r) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	rig_free(r);
}
END_TEST

START_TEST(peer_close_sends_port_close)
{
	struct rig *r = rig_new(1, 1);
	struct msg m[8];
	int ms = 2000;

	drv_init(r, MULTIPORT);
	handshake(r);
	post(r, 4, SLOT_BYTES, 1, NULL);
	kick(r, 4);
	close(r->sp[1]);
	r->sp[1] = -1;
	while (used_idx(r, 2) == r->q[2].used_seen && ms--)
		sleep_ms(1);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 1);
	assert_msg(&m[0], 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
	ck_assert_uint_eq(used_idx(r, 4), 0);
	/* A later PORT_READY (guest re-probe) names the port but does not open it. */
	send_ctrl(r, 1, VIRTIO_CONSOLE_PORT_READY, 1);
	ck_assert_uint_eq(read_ctrl(r, m, 8), 1);
	assert_msg(&m[0], 1, VIRTIO_CONSOLE_PORT_NAME, 0);
	/* Guest output to a closed peer is dropped, not fatal, and does not block. */
	post(r, 5, 100, 0, NULL);
	kick(r, 5);
	ck_assert_uint_eq(used_idx(r, 5), 1);
	rig_free(r);
}
END_TEST

START_TEST(without_multiport)
{
	struct rig *r = rig_new(1, 0);
	char buf[8] = { 0 };

	drv_init(r, 0);
	post(r, 1, 3, 0, "hi\n");
	kick(r, 1);
	ck_assert_uint_eq(used_idx(r, 1), 1);
	ck_assert_int_eq(read(r->out[0], buf, sizeof(buf) - 1), 3);
	ck_assert_str_eq(buf, "hi\n");
	ck_assert_uint_eq(status(r) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	rig_free(r);
}
END_TEST

START_TEST(bad_name_rejected)
{
	struct virtio_console c;
	struct virtio_console_opts o = { .console_out_fd = -1, .console_in_fd = -1, .ctl_fd = -1,
					 .ctl_name = "" };
	struct sv_error err = { 0 };

	ck_assert_int_eq(virtio_console__init(&c, &o, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "name"));
	virtio_console__exit(&c);	/* safe after a failed init */
}
END_TEST

Suite *virtio_console_suite(void)
{
	Suite *s = suite_create("virtio_console");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, registers_and_config);
	tcase_add_test(tc, device_ready_adds_two_ports);
	tcase_add_test(tc, port_ready_replies);
	tcase_add_test(tc, control_messages_wait_for_buffers);
	tcase_add_test(tc, console_output_reaches_fd);
	tcase_add_test(tc, control_port_tx_reaches_peer);
	tcase_add_test(tc, control_port_rx_reaches_guest);
	tcase_add_test(tc, tx_backpressure_holds_chains);
	tcase_add_test(tc, rx_backpressure_stops_reading);
	tcase_add_test(tc, stream_round_trip_1mib);
	tcase_add_test(tc, malformed_control_ignored);
	tcase_add_test(tc, looping_chain_needs_reset);
	tcase_add_test(tc, reset_drops_pending_state);
	tcase_add_test(tc, unready_queue_is_not_broken);
	tcase_add_test(tc, peer_close_sends_port_close);
	tcase_add_test(tc, without_multiport);
	tcase_add_test(tc, bad_name_rejected);
	suite_add_tcase(s, tc);
	return s;
}
