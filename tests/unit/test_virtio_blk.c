/* SPDX-License-Identifier: MIT */
/*
 * virtio_blk.c through its transport: a driver is played by hand — rings
 * built in guest memory, registers written with virtio_mmio__write(), the
 * queue kicked through QueueNotify — against temporary image files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest_mem.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"

/* register in suites.h */
Suite *virtio_blk_suite(void);

#define IMG_SECTORS 2048u		/* 1 MiB */
#define IMG_BYTES (IMG_SECTORS * 512u)
#define QSIZE 64u
#define DESC_GPA 0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA 0x3000ULL
#define DATA_GPA 0x10000ULL

struct rig {
	struct guest_mem mem;
	struct virtio_mmio t;
	struct virtio_blk b;
	unsigned int irqs;		/* rising edges seen */
	int level;
	uint16_t avail_idx;		/* driver's next avail index */
	uint16_t next_desc;
	uint64_t bump;			/* next free data gpa */
};

static uint8_t img_byte(uint64_t off)
{
	return (uint8_t)(off * 13 + (off >> 9) * 7 + 3);
}

/* A temp image of `bytes` patterned bytes; the path goes in path[]. */
static void make_image(char *path, size_t n, uint64_t bytes)
{
	uint8_t buf[4096];
	uint64_t off;
	int fd;

	snprintf(path, n, "%s/svblk-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	for (off = 0; off < bytes; off += sizeof(buf)) {
		size_t i, len = bytes - off < sizeof(buf) ? (size_t)(bytes - off) : sizeof(buf);

		for (i = 0; i < len; i++)
			buf[i] = img_byte(off + i);
		ck_assert_int_eq(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	}
	close(fd);
}

static uint64_t file_hash(const char *path)
{
	uint64_t h = 1469598103934665603ULL;
	uint8_t buf[4096];
	ssize_t n, i;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			h = (h ^ buf[i]) * 1099511628211ULL;
	close(fd);
	return h;
}

static void irq_rec(void *ctx, uint32_t gsi, int level)
{
	struct rig *r = ctx;

	(void)gsi;
	if (level && !r->level)
		r->irqs++;
	r->level = level;
}

static void wr(struct rig *r, uint64_t off, uint32_t v)
{
	virtio_mmio__write(&r->t, off, (const uint8_t *)&v, 4);
}

static uint32_t rd(struct rig *r, uint64_t off)
{
	uint32_t v;

	virtio_mmio__read(&r->t, off, (uint8_t *)&v, 4);
	return v;
}

static void *gp(struct rig *r, uint64_t gpa)
{
	return r->mem.host + gpa;
}

/* Plays the driver's side of initialisation (virtio 1.x, 3.1.1). */
static void driver_init(struct rig *r)
{
	uint32_t f0, f1;

	wr(r, VIRTIO_MMIO_STATUS, 0);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f0 = rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f1 = rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
	ck_assert_uint_eq(f1 & 1, 1);		/* VERSION_1 */
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, f0);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(r, VIRTIO_MMIO_DRIVER_FEATURES, f1);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK);
	ck_assert(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	wr(r, VIRTIO_MMIO_QUEUE_SEL, 0);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_BLK_QUEUE_MAX);
	wr(r, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(r, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC_GPA);
	wr(r, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(r, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL_GPA);
	wr(r, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
	wr(r, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED_GPA);
	wr(r, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
	wr(r, VIRTIO_MMIO_QUEUE_READY, 1);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_QUEUE_READY), 1);
	wr(r, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
}

static struct rig *rig_open(const struct virtio_blk_opts *o)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct sv_error err = { 0 };
	struct irq_line irq;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(guest_mem__init(&r->mem, 64ULL << 20, &err), 0);
	ck_assert_msg(virtio_blk__open(&r->b, o, &err) == 0, "open: %s", err.msg);
	irq = (struct irq_line){ .set = irq_rec, .ctx = r, .gsi = 5 };
	ck_assert_int_eq(virtio_mmio__init(&r->t, &virtio_blk_ops, &r->b, &r->mem, irq), 0);
	virtio_blk__attach(&r->b, &r->t);
	r->bump = DATA_GPA;
	driver_init(r);
	return r;
}

static void rig_close(struct rig *r)
{
	virtio_mmio__exit(&r->t);
	virtio_blk__close(&r->b);
	guest_mem__exit(&r->mem);
	free(r);
}

static uint64_t galloc(struct rig *r, uint64_t len)
{
	uint64_t g = r->bump;

	r->bump = (r->bump + len + 15) & ~15ULL;
	ck_assert_uint_lt(r->bump, 60ULL << 20);
	return g;
}

struct dseg {
	uint64_t gpa;
	uint32_t len;
	int write;
};

/* Writes a chain of n descriptors and publishes it (no kick); returns its head. */
static uint16_t post(struct rig *r, const struct dseg *s, unsigned int n)
{
	uint8_t *desc = gp(r, DESC_GPA), *avail = gp(r, AVAIL_GPA);
	uint16_t head = r->next_desc, idx;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t me = (uint16_t)((head + i) % QSIZE), nx = (uint16_t)((head + i + 1) % QSIZE);
		uint16_t fl = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					 (i + 1 < n ? VRING_DESC_F_NEXT : 0));

		memcpy(desc + me * 16, &s[i].gpa, 8);
		memcpy(desc + me * 16 + 8, &s[i].len, 4);
		memcpy(desc + me * 16 + 12, &fl, 2);
		memcpy(desc + me * 16 + 14, &nx, 2);
	}
	r->next_desc = (uint16_t)((head + n) % QSIZE);
	memcpy(avail + 4 + (r->avail_idx % QSIZE) * 2, &head, 2);
	r->avail_idx++;
	idx = r->avail_idx;
	memcpy(avail + 2, &idx, 2);
	return head;
}

static void kick(struct rig *r)
{
	wr(r, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(struct rig *r)
{
	uint16_t v;

	memcpy(&v, (uint8_t *)gp(r, USED_GPA) + 2, 2);
	return v;
}

static void used_elem(struct rig *r, uint16_t i, uint32_t *id, uint32_t *len)
{
	uint8_t *e = (uint8_t *)gp(r, USED_GPA) + 4 + (i % QSIZE) * 8;

	memcpy(id, e, 4);
	memcpy(len, e + 4, 4);
}

static uint64_t put_hdr(struct rig *r, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .ioprio = 0, .sector = sector };
	uint64_t g = galloc(r, sizeof(h));

	memcpy(gp(r, g), &h, sizeof(h));
	return g;
}

/*
 * One request as Linux lays it out (header, data, status), kicked and
 * completed. buf is the data to write (OUT) or receives the data read (IN).
 * Returns the status byte; *used_len gets the used element's length.
 */
static uint8_t req(struct rig *r, uint32_t type, uint64_t sector, void *buf, uint32_t len,
		   uint32_t *used_len)
{
	int in = type != VIRTIO_BLK_T_OUT;
	struct dseg s[3];
	uint64_t data = galloc(r, len ? len : 1), st = galloc(r, 1);
	uint16_t before = used_idx(r), head;
	unsigned int n = 0;
	uint32_t id, ulen;

	*(uint8_t *)gp(r, st) = 0xee;
	s[n++] = (struct dseg){ put_hdr(r, type, sector), 16, 0 };
	if (len) {
		if (!in)
			memcpy(gp(r, data), buf, len);
		s[n++] = (struct dseg){ data, len, in };
	}
	s[n++] = (struct dseg){ st, 1, 1 };
	head = post(r, s, n);
	kick(r);
	ck_assert_uint_eq(used_idx(r), (uint16_t)(before + 1));
	used_elem(r, before, &id, &ulen);
	ck_assert_uint_eq(id, head);
	if (used_len)
		*used_len = ulen;
	if (len && in)
		memcpy(buf, gp(r, data), len);
	return *(uint8_t *)gp(r, st);
}

static char g_path[256];

static void setup_image(void)
{
	make_image(g_path, sizeof(g_path), IMG_BYTES);
}

static void teardown_image(void)
{
	unlink(g_path);
}

static struct rig *rig_default(int ro, int cow, const char *serial)
{
	struct virtio_blk_opts o = { .path = g_path, .read_only = ro, .cow = cow, .serial = serial };

	return rig_open(&o);
}

START_TEST(config_and_features)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint64_t cap;
	uint32_t v, f0;

	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	virtio_mmio__read(&r->t, VIRTIO_MMIO_CONFIG, (uint8_t *)&cap, 8);
	ck_assert_uint_eq(cap, IMG_SECTORS);
	virtio_mmio__read(&r->t, VIRTIO_MMIO_CONFIG + 12, (uint8_t *)&v, 4);	/* seg_max */
	ck_assert_uint_eq(v, VQ_MAX_SEGS - 2);
	virtio_mmio__read(&r->t, VIRTIO_MMIO_CONFIG + 20, (uint8_t *)&v, 4);	/* blk_size */
	ck_assert_uint_eq(v, 512);
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	f0 = rd(r, VIRTIO_MMIO_DEVICE_FEATURES);
	ck_assert(f0 & (1u << VIRTIO_BLK_F_FLUSH));
	ck_assert(f0 & (1u << VIRTIO_BLK_F_SEG_MAX));
	ck_assert(!(f0 & (1u << VIRTIO_BLK_F_RO)));
	ck_assert(!(f0 & (1u << VIRTIO_RING_F_EVENT_IDX)));
	ck_assert(!(f0 & (1u << VIRTIO_BLK_F_MQ)));
	/* Config writes are ignored. */
	v = 0;
	virtio_mmio__write(&r->t, VIRTIO_MMIO_CONFIG, (const uint8_t *)&v, 4);
	virtio_mmio__read(&r->t, VIRTIO_MMIO_CONFIG, (uint8_t *)&cap, 8);
	ck_assert_uint_eq(cap, IMG_SECTORS);
	rig_close(r);

	r = rig_default(1, 0, NULL);
	wr(r, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ck_assert(rd(r, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_BLK_F_RO));
	rig_close(r);
}
END_TEST

START_TEST(write_then_read)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint8_t out[4096], in[4096], file[4096];
	unsigned int irqs, i;
	uint32_t ulen;
	int fd;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i ^ 0x5a);
	irqs = r->irqs;
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, 100, out, sizeof(out), &ulen), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, 1);			/* only the status byte is written */
	ck_assert_uint_gt(r->irqs, irqs);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_VRING, 1);
	wr(r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	memset(in, 0, sizeof(in));
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 100, in, sizeof(in), &ulen), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, sizeof(in) + 1);
	ck_assert_mem_eq(in, out, sizeof(out));
	/* The neighbours are untouched. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 99, in, 512, &ulen), VIRTIO_BLK_S_OK);
	for (i = 0; i < 512; i++)
		ck_assert_uint_eq(in[i], img_byte(99 * 512 + i));
	/* The bytes reached the file. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &ulen), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, 1);
	fd = open(g_path, O_RDONLY);
	ck_assert_int_eq(pread(fd, file, sizeof(file), 100 * 512), (ssize_t)sizeof(file));
	close(fd);
	ck_assert_mem_eq(file, out, sizeof(out));
	/* First and last sectors are reachable. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 0, in, 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(in[0], img_byte(0));
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, out, 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, IMG_SECTORS - 2, in, 1024, NULL), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(in + 512, out, 512);
	ck_assert_uint_eq(in[0], img_byte((IMG_SECTORS - 2) * 512));
	ck_assert_uint_eq(r->b.errors, 0);
	rig_close(r);
}
END_TEST

START_TEST(get_id)
{
	struct rig *r = rig_default(0, 0, "sandbox-disk-7");
	uint8_t id[VIRTIO_BLK_ID_BYTES + 4];
	uint8_t want[VIRTIO_BLK_ID_BYTES] = "sandbox-disk-7";	/* zero-padded */
	const char *base = strrchr(g_path, '/') + 1;
	uint32_t ulen;

	memset(id, 0xcc, sizeof(id));
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, &ulen),
			  VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, VIRTIO_BLK_ID_BYTES + 1);
	ck_assert_mem_eq(id, want, VIRTIO_BLK_ID_BYTES);
	rig_close(r);

	/* Default: the file's name. */
	r = rig_default(0, 0, NULL);
	memset(id, 0xcc, sizeof(id));
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, NULL),
			  VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(id, base, strlen(base));
	ck_assert_uint_eq(id[strlen(base)], 0);
	/* A short buffer gets what fits. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_GET_ID, 0, id, 4, &ulen), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(ulen, 5);
	ck_assert_mem_eq(id, base, 4);
	rig_close(r);
}
END_TEST

START_TEST(read_only_refuses_writes)
{
	uint64_t before = file_hash(g_path);
	struct rig *r = rig_default(1, 0, NULL);
	uint8_t buf[1024];

	memset(buf, 0x77, sizeof(buf));
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, 4, buf, sizeof(buf), NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 4, buf, sizeof(buf), NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(buf[0], img_byte(4 * 512));
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	rig_close(r);
	ck_assert_uint_eq(file_hash(g_path), before);
}
END_TEST

START_TEST(cow_private_writes)
{
	uint64_t before = file_hash(g_path);
	struct rig *a = rig_default(0, 1, NULL), *b = rig_default(0, 1, NULL);
	uint8_t w[3 * 512], rbuf[8 * 512];
	unsigned int i;

	/* The guest sees a writable disk. */
	wr(a, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ck_assert(!(rd(a, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_BLK_F_RO)));
	memset(w, 0xab, sizeof(w));
	ck_assert_uint_eq(req(a, VIRTIO_BLK_T_OUT, 10, w, sizeof(w), NULL), VIRTIO_BLK_S_OK);
	memset(w, 0xcd, 512);
	ck_assert_uint_eq(req(a, VIRTIO_BLK_T_OUT, 14, w, 512, NULL), VIRTIO_BLK_S_OK);
	/* Sectors 8..15: base, base, ov, ov, ov, base, ov, base. */
	ck_assert_uint_eq(req(a, VIRTIO_BLK_T_IN, 8, rbuf, sizeof(rbuf), NULL), VIRTIO_BLK_S_OK);
	for (i = 0; i < sizeof(rbuf); i++) {
		unsigned int s = 8 + i / 512;
		uint8_t want = s >= 10 && s <= 12 ? 0xab : s == 14 ? 0xcd : img_byte(8 * 512 + i);

		ck_assert_msg(rbuf[i] == want, "byte %u: %#x, want %#x", i, rbuf[i], want);
	}
	ck_assert_uint_eq(req(a, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	/* The other VM on the same base sees the base. */
	ck_assert_uint_eq(req(b, VIRTIO_BLK_T_IN, 8, rbuf, sizeof(rbuf), NULL), VIRTIO_BLK_S_OK);
	for (i = 0; i < sizeof(rbuf); i++)
		ck_assert_uint_eq(rbuf[i], img_byte(8 * 512 + i));
	/* Overwriting an overlay sector again works too. */
	memset(w, 0x11, 512);
	ck_assert_uint_eq(req(a, VIRTIO_BLK_T_OUT, 11, w, 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(req(a, VIRTIO_BLK_T_IN, 11, rbuf, 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(rbuf[0], 0x11);
	ck_assert_uint_eq(rbuf[511], 0x11);
	rig_close(a);
	rig_close(b);
	ck_assert_uint_eq(file_hash(g_path), before);
}
END_TEST

/* Runs across bitmap words: every third sector of 200 written, then read back whole. */
START_TEST(cow_runs_across_words)
{
	struct rig *r = rig_default(0, 1, NULL);
	static uint8_t buf[200 * 512];
	uint8_t w[512];
	unsigned int s, i;

	for (s = 60; s < 260; s += 3) {
		memset(w, (int)(s & 0xff) | 1, sizeof(w));
		ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, s, w, 512, NULL), VIRTIO_BLK_S_OK);
	}
	/* And a long overlay run crossing two word boundaries. */
	memset(buf, 0xfe, 150 * 512);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, 400, buf, 150 * 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 60, buf, sizeof(buf), NULL), VIRTIO_BLK_S_OK);
	for (i = 0; i < sizeof(buf); i++) {
		s = 60 + i / 512;
		ck_assert_uint_eq(buf[i], (s - 60) % 3 ? img_byte((uint64_t)s * 512 + i % 512)
						       : (uint8_t)((s & 0xff) | 1));
	}
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 390, buf, 170 * 512, NULL), VIRTIO_BLK_S_OK);
	for (i = 0; i < 170 * 512; i++) {
		s = 390 + i / 512;
		ck_assert_uint_eq(buf[i], s >= 400 && s < 550 ? 0xfe
							      : img_byte((uint64_t)s * 512 + i % 512));
	}
	rig_close(r);
}
END_TEST

START_TEST(bad_requests)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint64_t before = file_hash(g_path);
	uint8_t buf[1024];
	uint32_t ulen;

	memset(buf, 0x42, sizeof(buf));
	/* Out of range, and sector + length wrapping around. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, IMG_SECTORS, buf, 512, &ulen), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(ulen, 1);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, buf, 1024, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, buf, 1024, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, buf, 512, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 1ULL << 55, buf, 512, NULL), VIRTIO_BLK_S_IOERR);
	/* Not whole sectors. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 0, buf, 511, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_OUT, 0, buf, 513, NULL), VIRTIO_BLK_S_IOERR);
	/* Unknown types, including discard (not offered) and the legacy SCSI command. */
	ck_assert_uint_eq(req(r, 3, 0, NULL, 0, &ulen), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(ulen, 1);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_DISCARD, 0, buf, 16, NULL), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_SCSI_CMD, 0, buf, 64, NULL), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(req(r, 0xffffffffu, 0, buf, 512, NULL), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(r->b.errors, 12);
	rig_close(r);
	ck_assert_uint_eq(file_hash(g_path), before);
}
END_TEST

/* Chains that cannot be parsed as requests are answered (or at least returned), never fatal. */
START_TEST(malformed_chains)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint64_t hdr = put_hdr(r, VIRTIO_BLK_T_IN, 0), st = galloc(r, 1), data = galloc(r, 512);
	struct dseg s[3];
	uint32_t id, len;
	uint16_t head;

	/* No writable byte at all: returned with length 0. */
	s[0] = (struct dseg){ hdr, 16, 0 };
	s[1] = (struct dseg){ data, 512, 0 };
	head = post(r, s, 2);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 1);
	used_elem(r, 0, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 0);

	/* A header shorter than 16 bytes: IOERR. */
	*(uint8_t *)gp(r, st) = 0xee;
	s[0] = (struct dseg){ hdr, 8, 0 };
	s[1] = (struct dseg){ st, 1, 1 };
	head = post(r, s, 2);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 2);
	used_elem(r, 1, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(*(uint8_t *)gp(r, st), VIRTIO_BLK_S_IOERR);

	/* Only a status byte. */
	*(uint8_t *)gp(r, st) = 0xee;
	head = post(r, &s[1], 1);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 3);
	used_elem(r, 2, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(*(uint8_t *)gp(r, st), VIRTIO_BLK_S_IOERR);

	/* The device still works. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	rig_close(r);
}
END_TEST

/* Header split 3+13, data in 128-byte pieces, the status byte sharing the last piece. */
START_TEST(many_small_segments)
{
	struct rig *r = rig_default(0, 0, NULL);
	struct dseg s[QSIZE];
	uint8_t out[4096], got[4096];
	uint64_t hdr, data;
	unsigned int n, i;
	uint32_t id, len;
	uint16_t head;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 31 + 7);
	/* Write: hdr(3) hdr(13) 32 x data(128) | status(1). */
	hdr = put_hdr(r, VIRTIO_BLK_T_OUT, 33);
	n = 0;
	s[n++] = (struct dseg){ hdr, 3, 0 };
	s[n++] = (struct dseg){ hdr + 3, 13, 0 };
	data = galloc(r, sizeof(out));
	memcpy(gp(r, data), out, sizeof(out));
	for (i = 0; i < sizeof(out) / 128; i++)
		s[n++] = (struct dseg){ data + i * 128, 128, 0 };
	s[n++] = (struct dseg){ galloc(r, 1), 1, 1 };
	head = post(r, s, n);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 1);
	used_elem(r, 0, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(*(uint8_t *)gp(r, s[n - 1].gpa), VIRTIO_BLK_S_OK);

	/* Read: hdr(16) | 31 x data(128), then 128 bytes of data plus the status in one piece. */
	hdr = put_hdr(r, VIRTIO_BLK_T_IN, 33);
	data = galloc(r, sizeof(got) + 1);
	memset(gp(r, data), 0, sizeof(got) + 1);
	n = 0;
	s[n++] = (struct dseg){ hdr, 16, 0 };
	for (i = 0; i < sizeof(got) / 128 - 1; i++)
		s[n++] = (struct dseg){ data + i * 128, 128, 1 };
	s[n++] = (struct dseg){ data + i * 128, 129, 1 };
	head = post(r, s, n);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 2);
	used_elem(r, 1, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, sizeof(got) + 1);
	ck_assert_uint_eq(*(uint8_t *)gp(r, data + sizeof(got)), VIRTIO_BLK_S_OK);
	memcpy(got, gp(r, data), sizeof(got));
	ck_assert_mem_eq(got, out, sizeof(out));
	rig_close(r);
}
END_TEST

/* An indirect table of n descriptors: hdr(16), n - 2 data pieces of 512, status(1). */
static uint16_t post_indirect(struct rig *r, uint32_t type, uint64_t sector, unsigned int n,
			      uint64_t *data, uint64_t *st)
{
	uint64_t table = galloc(r, (uint64_t)n * 16), hdr = put_hdr(r, type, sector);
	uint8_t *t = gp(r, table), *desc = gp(r, DESC_GPA);
	struct dseg s = { table, n * 16, 0 };
	uint16_t fl = VRING_DESC_F_INDIRECT, head;
	unsigned int i;

	*data = galloc(r, (uint64_t)(n - 2) * 512);
	*st = galloc(r, 1);
	*(uint8_t *)gp(r, *st) = 0xee;
	for (i = 0; i < n; i++) {
		uint64_t addr = i == 0 ? hdr : i == n - 1 ? *st : *data + (i - 1) * 512ULL;
		uint32_t len = i == 0 ? 16 : i == n - 1 ? 1 : 512;
		uint16_t f = (uint16_t)((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
					(i && type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0) |
					(i == n - 1 ? VRING_DESC_F_WRITE : 0));
		uint16_t nx = (uint16_t)(i + 1);

		memcpy(t + i * 16, &addr, 8);
		memcpy(t + i * 16 + 8, &len, 4);
		memcpy(t + i * 16 + 12, &f, 2);
		memcpy(t + i * 16 + 14, &nx, 2);
	}
	head = post(r, &s, 1);
	memcpy(desc + head * 16 + 12, &fl, 2);
	return head;
}

/* The layout Linux uses with VIRTIO_RING_F_INDIRECT_DESC, up to seg_max data segments. */
START_TEST(indirect_table)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint64_t data, st;
	uint32_t id, len;
	uint16_t head;
	unsigned int i;

	head = post_indirect(r, VIRTIO_BLK_T_IN, 7, 3, &data, &st);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 1);
	used_elem(r, 0, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 513);
	ck_assert_uint_eq(*(uint8_t *)gp(r, st), VIRTIO_BLK_S_OK);
	for (i = 0; i < 512; i++)
		ck_assert_uint_eq(((uint8_t *)gp(r, data))[i], img_byte(7 * 512 + i));

	/* seg_max data segments: the longest chain the device accepts. */
	head = post_indirect(r, VIRTIO_BLK_T_OUT, 500, VIRTIO_BLK_SEG_MAX + 2, &data, &st);
	memset(gp(r, data), 0x3c, VIRTIO_BLK_SEG_MAX * 512);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 2);
	used_elem(r, 1, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(*(uint8_t *)gp(r, st), VIRTIO_BLK_S_OK);
	head = post_indirect(r, VIRTIO_BLK_T_IN, 500, VIRTIO_BLK_SEG_MAX + 2, &data, &st);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 3);
	used_elem(r, 2, &id, &len);
	ck_assert_uint_eq(id, head);
	ck_assert_uint_eq(len, VIRTIO_BLK_SEG_MAX * 512 + 1);
	ck_assert_uint_eq(*(uint8_t *)gp(r, st), VIRTIO_BLK_S_OK);
	for (i = 0; i < VIRTIO_BLK_SEG_MAX * 512; i++)
		ck_assert_uint_eq(((uint8_t *)gp(r, data))[i], 0x3c);

	/* One more is a broken ring. */
	post_indirect(r, VIRTIO_BLK_T_IN, 0, VQ_MAX_SEGS + 1, &data, &st);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 3);
	ck_assert(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	rig_close(r);
}
END_TEST

START_TEST(batch_one_interrupt)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint64_t st[3];
	uint16_t heads[3];
	unsigned int i, irqs;

	for (i = 0; i < 3; i++) {
		struct dseg s[3];

		st[i] = galloc(r, 1);
		s[0] = (struct dseg){ put_hdr(r, VIRTIO_BLK_T_IN, i), 16, 0 };
		s[1] = (struct dseg){ galloc(r, 512), 512, 1 };
		s[2] = (struct dseg){ st[i], 1, 1 };
		heads[i] = post(r, s, 3);
	}
	irqs = r->irqs;
	kick(r);
	ck_assert_uint_eq(used_idx(r), 3);
	ck_assert_uint_eq(r->irqs, irqs + 1);
	/* The guest's handler acknowledges: the line drops, so a new interrupt would show. */
	wr(r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_int_eq(r->level, 0);
	for (i = 0; i < 3; i++) {
		uint32_t id, len;

		used_elem(r, (uint16_t)i, &id, &len);
		ck_assert_uint_eq(id, heads[i]);
		ck_assert_uint_eq(len, 513);
		ck_assert_uint_eq(*(uint8_t *)gp(r, st[i]), VIRTIO_BLK_S_OK);
	}
	/* A kick with nothing new: no used entries, no interrupt. */
	kick(r);
	ck_assert_uint_eq(used_idx(r), 3);
	ck_assert_uint_eq(r->irqs, irqs + 1);
	/* VRING_AVAIL_F_NO_INTERRUPT is honoured. */
	*(uint16_t *)gp(r, AVAIL_GPA) = VRING_AVAIL_F_NO_INTERRUPT;
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(r->irqs, irqs + 1);
	ck_assert_int_eq(r->level, 0);
	rig_close(r);
}
END_TEST

/*
 * The interrupt line is level-triggered and follows InterruptStatus: it
 * stays high until the driver acknowledges every bit, so an interrupt
 * raised while another is being handled cannot be lost.
 */
START_TEST(irq_line_is_level)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint8_t buf[512];
	unsigned int irqs = r->irqs;

	ck_assert_int_eq(r->level, 0);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 1, buf, 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(r->level, 1);
	ck_assert_uint_eq(r->irqs, irqs + 1);
	/* A second completion before the ACK: the line simply stays high. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 2, buf, 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(r->level, 1);
	/* Acknowledging a bit that is not set changes nothing. */
	wr(r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	ck_assert_int_eq(r->level, 1);
	wr(r, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_int_eq(r->level, 0);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* The next completion raises it again: a new edge for the IO-APIC. */
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, 3, buf, 512, NULL), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(r->level, 1);
	ck_assert_uint_eq(r->irqs, irqs + 2);
	/* A driver reset clears InterruptStatus and with it the line. */
	wr(r, VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(r->level, 0);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	rig_close(r);
}
END_TEST

/* The ring wraps: more requests than the queue has entries. */
START_TEST(ring_wraps)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint8_t buf[512];
	unsigned int i;

	for (i = 0; i < 3 * QSIZE + 5; i++) {
		ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, i % IMG_SECTORS, buf, 512, NULL),
				  VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(buf[3], img_byte((uint64_t)(i % IMG_SECTORS) * 512 + 3));
		r->bump = DATA_GPA;	/* reuse the data area */
	}
	rig_close(r);
}
END_TEST

START_TEST(looping_chain_needs_reset)
{
	struct rig *r = rig_default(0, 0, NULL);
	uint8_t *desc = gp(r, DESC_GPA);
	struct dseg s[2] = { { put_hdr(r, VIRTIO_BLK_T_IN, 0), 16, 0 }, { galloc(r, 1), 1, 1 } };
	uint16_t head, nx;
	unsigned int irqs = r->irqs;

	head = post(r, s, 2);
	/* Point the second descriptor back at the first, with NEXT set. */
	nx = head;
	memcpy(desc + ((head + 1) % QSIZE) * 16 + 14, &nx, 2);
	nx = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;
	memcpy(desc + ((head + 1) % QSIZE) * 16 + 12, &nx, 2);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 0);
	ck_assert_uint_eq(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET,
			  VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_uint_gt(r->irqs, irqs);
	ck_assert(rd(r, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
	/* Further kicks are ignored until the driver resets... */
	kick(r);
	ck_assert_uint_eq(used_idx(r), 0);
	/* ...after which the device works again. */
	memset(gp(r, AVAIL_GPA), 0, 0x1000);
	memset(gp(r, USED_GPA), 0, 0x1000);
	r->avail_idx = 0;
	r->next_desc = 0;
	driver_init(r);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL), VIRTIO_BLK_S_OK);
	rig_close(r);
}
END_TEST

/* Descriptors pointing outside guest RAM break the ring the same way. */
START_TEST(outside_ram_needs_reset)
{
	struct rig *r = rig_default(0, 0, NULL);
	struct dseg s[3] = {
		{ put_hdr(r, VIRTIO_BLK_T_IN, 0), 16, 0 },
		{ (64ULL << 20) - 256, 512, 1 },	/* straddles the end of RAM */
		{ galloc(r, 1), 1, 1 },
	};

	post(r, s, 3);
	kick(r);
	ck_assert_uint_eq(used_idx(r), 0);
	ck_assert(rd(r, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	rig_close(r);
}
END_TEST

/* Someone truncates the image under a running VM: reads past the new end fail cleanly. */
START_TEST(image_shrinks)
{
	struct rig *r = rig_default(1, 0, NULL);
	uint8_t buf[1024];

	ck_assert_int_eq(truncate(g_path, IMG_BYTES / 2), 0);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, IMG_SECTORS / 2 - 1, buf, 1024, NULL),
			  VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(r, VIRTIO_BLK_T_IN, IMG_SECTORS / 2 - 2, buf, 1024, NULL),
			  VIRTIO_BLK_S_OK);
	rig_close(r);
}
END_TEST

static void open_fails(const struct virtio_blk_opts *o, int code, const char *needle)
{
	struct virtio_blk b;
	struct sv_error err = { 0 };
	int r = virtio_blk__open(&b, o, &err);

	ck_assert_int_eq(r, code);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.msg, needle), "'%s' does not mention '%s'", err.msg, needle);
	ck_assert_int_eq(b.fd, -1);
	virtio_blk__close(&b);	/* harmless after a failed open */
}

START_TEST(open_errors)
{
	char path[300];
	struct virtio_blk_opts o = { 0 };
	struct virtio_blk b;
	struct sv_error err = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s.missing", g_path);
	o.path = path;
	open_fails(&o, -ENOENT, "does not exist");
	o.path = "/tmp";
	o.read_only = 1;
	open_fails(&o, -EINVAL, "directory");
	o.read_only = 0;
	o.path = "";
	open_fails(&o, -EINVAL, "no path");

	/* Not a multiple of 512. */
	o.path = g_path;
	ck_assert_int_eq(truncate(g_path, IMG_BYTES + 100), 0);
	open_fails(&o, -EINVAL, "not a multiple of the 512-byte sector");
	open_fails(&o, -EINVAL, "truncate -s 1049088");
	/* Empty. */
	ck_assert_int_eq(truncate(g_path, 0), 0);
	open_fails(&o, -EINVAL, "is empty");
	ck_assert_int_eq(truncate(g_path, IMG_BYTES), 0);

	/* Serial too long. */
	o.serial = "123456789012345678901";
	open_fails(&o, -EINVAL, "at most 20");
	o.serial = "12345678901234567890";	/* exactly 20 is fine */
	ck_assert_int_eq(virtio_blk__open(&b, &o, &err), 0);
	ck_assert_mem_eq(b.serial, o.serial, 20);

	/* A second writer is refused; readers and cow users too while it writes. */
	o.serial = NULL;
	{
		struct virtio_blk b2;

		open_fails(&o, -EBUSY, "in use");
		o.cow = 1;
		open_fails(&o, -EBUSY, "in use");
		o.cow = 0;
		virtio_blk__close(&b);
		virtio_blk__close(&b);	/* twice is harmless */
		o.cow = 1;
		ck_assert_int_eq(virtio_blk__open(&b, &o, &err), 0);
		ck_assert_int_eq(virtio_blk__open(&b2, &o, &err), 0);	/* cow users share */
		o.cow = 0;
		open_fails(&o, -EBUSY, "in use");
		virtio_blk__close(&b);
		virtio_blk__close(&b2);
	}

	/* Cannot open for writing: suggest ',ro'. Root ignores modes, a running binary does not. */
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(g_path, 0444), 0);
		o.path = g_path;
	} else {
		o.path = "/proc/self/exe";
	}
	fd = open(o.path, O_RDWR);
	if (fd >= 0)
		close(fd);	/* this host lets us write it: nothing to test */
	else
		open_fails(&o, -errno, ",ro");
	chmod(g_path, 0644);
}
END_TEST

START_TEST(open_block_device_or_not)
{
	struct virtio_blk_opts o = { .path = "/dev/null", .read_only = 1 };

	open_fails(&o, -EINVAL, "not a regular file or block device");
}
END_TEST

START_TEST(cow_overlay_in_tmpdir)
{
	char dir[] = "/tmp/svblk-dir-XXXXXX";
	struct virtio_blk_opts o = { .path = g_path, .cow = 1 };
	const char *env = getenv("TMPDIR");
	char *old = env ? strdup(env) : NULL;
	struct virtio_blk b;
	struct sv_error err = { 0 };

	/* Each test runs in its own process (CK_FORK), or the fixture recreates g_path. */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("TMPDIR", dir, 1);
	ck_assert_msg(virtio_blk__open(&b, &o, &err) == 0, "%s", err.msg);
	ck_assert_int_ge(b.overlay_fd, 0);
	ck_assert_ptr_nonnull(b.cow_map);
	virtio_blk__close(&b);
	ck_assert_int_eq(rmdir(dir), 0);	/* nothing left behind */
	setenv("TMPDIR", "/nonexistent-sandvisor", 1);
	open_fails(&o, -ENOENT, "overlay");
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
}
END_TEST

Suite *virtio_blk_suite(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup_image, teardown_image);
	tcase_add_test(tc, config_and_features);
	tcase_add_test(tc, write_then_read);
	tcase_add_test(tc, get_id);
	tcase_add_test(tc, read_only_refuses_writes);
	tcase_add_test(tc, cow_private_writes);
	tcase_add_test(tc, cow_runs_across_words);
	tcase_add_test(tc, bad_requests);
	tcase_add_test(tc, malformed_chains);
	tcase_add_test(tc, many_small_segments);
	tcase_add_test(tc, indirect_table);
	tcase_add_test(tc, irq_line_is_level);
	tcase_add_test(tc, batch_one_interrupt);
	tcase_add_test(tc, ring_wraps);
	tcase_add_test(tc, looping_chain_needs_reset);
	tcase_add_test(tc, outside_ram_needs_reset);
	tcase_add_test(tc, image_shrinks);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, open_block_device_or_not);
	tcase_add_test(tc, cow_overlay_in_tmpdir);
	suite_add_tcase(s, tc);
	return s;
}
