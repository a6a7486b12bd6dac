/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.x, section 5.2) over a raw image: a regular file or a
 * block device. One request queue; requests are served synchronously on the
 * vCPU thread that notified, with preadv/pwritev straight into and out of
 * guest memory (no bounce buffers).
 *
 * Three modes:
 *   read-write  the image is opened O_RDWR and the guest writes it;
 *   read-only   VIRTIO_BLK_F_RO is offered and writes fail with IOERR;
 *   cow         the image is opened read-only and never written; the guest
 *               sees a writable disk whose writes land in a private, sparse,
 *               unlinked overlay file in $TMPDIR (gone when the VMM exits), so
 *               many VMs can share one base image without seeing each other.
 *               An in-memory bitmap, one bit per 512-byte sector, says which
 *               sectors live in the overlay: it costs (image bytes) / 512 / 8
 *               bytes of host memory, i.e. 256 KiB per GiB of disk (64 MiB for
 *               a 256 GiB image), allocated at open.
 *
 * Lifetime: virtio_blk__open(), then virtio_mmio__init(&t, &virtio_blk_ops, b,
 * ...) and virtio_blk__attach(b, &t); virtio_blk__close() after the transport
 * is gone.
 */
#ifndef SV_VIRTIO_BLK_H
#define SV_VIRTIO_BLK_H

#include <pthread.h>
#include <stdint.h>

#include <linux/virtio_blk.h>

#include "util.h"
#include "virtio_mmio.h"
#include "virtqueue.h"

#define VIRTIO_BLK_SECTOR 512u
#define VIRTIO_BLK_QUEUE_MAX 256
/* Data segments per request: the chain also holds the header and the status byte. */
#define VIRTIO_BLK_SEG_MAX (VQ_MAX_SEGS - 2)

struct virtio_blk_opts {
	const char *path;		/* raw image (regular file or block device) */
	int read_only;			/* the guest cannot write (wins over cow) */
	int cow;			/* writes go to a private overlay; path is never written */
	const char *serial;		/* GET_ID answer, <= VIRTIO_BLK_ID_BYTES; NULL = file name */
};

struct virtio_blk {
	pthread_mutex_t lock;		/* queue processing and the overlay bitmap */
	struct virtio_mmio *transport;	/* set by virtio_blk__attach() */
	int fd;				/* the image (the base, read-only, in cow mode) */
	int overlay_fd;			/* cow: the private overlay; -1 otherwise */
	uint64_t *cow_map;		/* cow: bit set = sector lives in the overlay */
	uint64_t capacity;		/* in 512-byte sectors */
	int read_only, cow;
	char serial[VIRTIO_BLK_ID_BYTES];	/* zero-padded, not NUL-terminated when full */
	struct virtio_blk_config config;	/* little-endian, as the guest reads it */
	struct vq_chain chain;		/* scratch for the request being served */
	/* Counters, for tests and stats (under lock). */
	uint64_t reqs, errors;
};

/* Opens the image. On failure err says why and nothing is left open. */
int virtio_blk__open(struct virtio_blk *b, const struct virtio_blk_opts *o, struct sv_error *err);
/* Frees everything; harmless to call twice or after a failed open. */
void virtio_blk__close(struct virtio_blk *b);

/* Connects the device to its transport (already initialised with b as dev). */
void virtio_blk__attach(struct virtio_blk *b, struct virtio_mmio *t);

extern const struct virtio_dev_ops virtio_blk_ops;

#endif
