/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: a hostile driver's rings against virtio-blk, through the
 * transport, the virtqueue checks and the request parser. Build:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -Ivmm/include -Ivmm -Idevices tests/fuzz/fuzz_virtio_blk.c devices/virtio_blk.c \
 *     devices/virtio_mmio.c devices/virtqueue.c vmm/guest_mem.c vmm/util.c \
 *     -o build/fuzz/fuzz_virtio_blk -pthread
 *   build/fuzz/fuzz_virtio_blk -max_total_time=60 tests/fuzz/corpus/virtio_blk
 *
 * Input (little-endian), missing bytes read as zero:
 *   [0]      queue size: 1 << (b % 9), or b itself when b >= 0xf0 (not a power of two)
 *   [1]      flags: bit0 use the read-only disk (else the cow disk), bit1 set
 *            VRING_AVAIL_F_NO_INTERRUPT, bit2 fold descriptor addresses into RAM,
 *            bit3 kick a second time, bit4 read config space at [2] & 0x3f
 *   [2..3]   avail->idx
 *   then     the descriptor table (size * 16 bytes) at DESC_GPA
 *   then     the avail ring entries (size * 2 bytes)
 *   then     up to DATA_MAX bytes at DATA_GPA (headers, payloads, indirect tables)
 *
 * Both disks sit on one small unlinked base image; the cow disk's overlay map
 * is cleared between runs, so nothing carries over and nothing persists.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest_mem.h"
#include "virtio_blk.h"
#include "virtio_mmio.h"

#define MEM_SIZE (4ULL << 20)
#define IMG_BYTES (64u * 1024)
#define DESC_GPA 0x1000ULL
#define AVAIL_GPA 0x2000ULL
#define USED_GPA 0x3000ULL
#define DATA_GPA 0x4000ULL
#define DATA_MAX (64u * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_mem g_mem;
static struct virtio_blk g_cow, g_ro;
static struct virtio_mmio g_t;

static void irq_set(void *ctx, uint32_t gsi, int level)
{
	(void)ctx;
	(void)gsi;
	(void)level;
}

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_virtio_blk: %s: %s\n", what, msg);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	struct sv_error err = { 0 };
	struct virtio_blk_opts o = { 0 };
	char path[4096];
	uint8_t img[IMG_BYTES];
	unsigned int i;
	int fd;

	(void)argc;
	(void)argv;
	if (guest_mem__init(&g_mem, MEM_SIZE, &err))
		die("guest memory", err.msg);
	snprintf(path, sizeof(path), "%s/fuzz-virtio-blk-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		die("base image", "mkstemp failed");
	for (i = 0; i < IMG_BYTES; i++)
		img[i] = (uint8_t)(i * 7 + 1);
	if (write(fd, img, sizeof(img)) != (ssize_t)sizeof(img))
		die("base image", "write failed");
	close(fd);
	o.path = path;
	o.serial = "fuzz";
	o.cow = 1;
	if (virtio_blk__open(&g_cow, &o, &err))
		die("cow disk", err.msg);
	o.cow = 0;
	o.read_only = 1;
	if (virtio_blk__open(&g_ro, &o, &err))
		die("read-only disk", err.msg);
	unlink(path);
	return 0;
}

static void wr(uint64_t off, uint32_t v)
{
	virtio_mmio__write(&g_t, off, (const uint8_t *)&v, 4);
}

static void copy_in(uint64_t gpa, const uint8_t **p, size_t *left, size_t n)
{
	size_t k = n < *left ? n : *left;

	memcpy(g_mem.host + gpa, *p, k);
	*p += k;
	*left -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct irq_line irq = { .set = irq_set, .ctx = NULL, .gsi = 5 };
	uint8_t hdr[4] = { 0 };
	const uint8_t *p = data;
	size_t left = size;
	struct virtio_blk *b;
	uint32_t qsize, i;
	uint16_t avail_flags;

	memcpy(hdr, data, size < 4 ? size : 4);
	p += size < 4 ? size : 4;
	left -= size < 4 ? size : 4;
	qsize = hdr[0] >= 0xf0 ? hdr[0] : 1u << (hdr[0] % 9);
	b = (hdr[1] & 1) ? &g_ro : &g_cow;

	/* Fresh RAM (zero pages) and a fresh overlay view every run. */
	madvise(g_mem.host, MEM_SIZE, MADV_DONTNEED);
	memset(g_cow.cow_map, 0, (size_t)(g_cow.capacity + 63) / 64 * 8);

	copy_in(DESC_GPA, &p, &left, (size_t)qsize * 16);
	if (hdr[1] & 4) {
		/* Fold addresses into RAM so more chains reach the device's parser. */
		for (i = 0; i < qsize && i < 256; i++) {
			uint64_t a;

			memcpy(&a, g_mem.host + DESC_GPA + i * 16, 8);
			a %= MEM_SIZE;
			memcpy(g_mem.host + DESC_GPA + i * 16, &a, 8);
		}
	}
	avail_flags = (hdr[1] & 2) ? VRING_AVAIL_F_NO_INTERRUPT : 0;
	memcpy(g_mem.host + AVAIL_GPA, &avail_flags, 2);
	memcpy(g_mem.host + AVAIL_GPA + 2, &hdr[2], 2);
	copy_in(AVAIL_GPA + 4, &p, &left, (size_t)qsize * 2);
	copy_in(DATA_GPA, &p, &left, DATA_MAX);

	if (virtio_mmio__init(&g_t, &virtio_blk_ops, b, &g_mem, irq))
		abort();
	virtio_blk__attach(b, &g_t);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);	/* VERSION_1 */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1u << VIRTIO_RING_F_INDIRECT_DESC);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, qsize);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)DESC_GPA);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)AVAIL_GPA);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)USED_GPA);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	if (hdr[1] & 8)
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	if (hdr[1] & 16) {
		uint8_t cfg[8];
		uint32_t off = hdr[2] & 0x3f, len = 1u << (hdr[3] & 3);

		virtio_mmio__read(&g_t, VIRTIO_MMIO_CONFIG + off, cfg, len);
	}
	wr(VIRTIO_MMIO_STATUS, 0);	/* driver reset: the device's reset path too */
	virtio_mmio__exit(&g_t);
	return 0;
}
