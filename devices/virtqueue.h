/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.x, section 2.7), device side. Everything the
 * guest wrote — ring addresses, indices, descriptor addresses, lengths,
 * flags, next links — is checked here before a device sees it: a device
 * receives a chain as host pointers that are known to lie inside guest RAM.
 * A ring the guest has broken makes pop() return -EIO; the transport then
 * sets DEVICE_NEEDS_RESET. Nothing here trusts the guest to terminate.
 */
#ifndef SV_VIRTQUEUE_H
#define SV_VIRTQUEUE_H

#include <stdint.h>

#include "guest_mem.h"

#define VQ_MAX_SIZE 1024	/* largest queue a device offers */
#define VQ_MAX_SEGS 128		/* longest chain a device accepts, after indirect expansion */

struct vq_seg {
	uint8_t *host;		/* inside guest RAM, valid for len bytes */
	uint32_t len;
};

/* One request: device-readable segments first, then device-writable ones. */
struct vq_chain {
	uint16_t head;
	unsigned int n_out, n_in;	/* seg[0..n_out) readable, seg[n_out..n_out+n_in) writable */
	uint64_t out_len, in_len;	/* byte totals */
	struct vq_seg seg[VQ_MAX_SEGS];
};

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size;			/* negotiated, power of two, <= VQ_MAX_SIZE */
	int ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail;		/* next avail index to consume */
	uint16_t used_idx;		/* our copy of used->idx */
};

void virtqueue__reset(struct virtqueue *vq, const struct guest_mem *mem);

/* Checks the three ring areas lie in guest RAM; called when the driver sets QueueReady. */
int virtqueue__check_rings(const struct virtqueue *vq);

/*
 * Takes the next available chain. Returns 1 with *c filled, 0 when the ring
 * is empty, -EIO when the guest broke the ring (bad index, loop, address
 * outside RAM, writable-before-readable, nested indirect, too long).
 */
int virtqueue__pop(struct virtqueue *vq, struct vq_chain *c);

/* Gives back the last popped chain unconsumed (e.g. no room to use it yet). */
void virtqueue__unpop(struct virtqueue *vq);

/* Returns a chain to the guest with `written` bytes placed in its writable part. */
int virtqueue__push(struct virtqueue *vq, uint16_t head, uint32_t written);

/* Reads the guest's avail flags and index and the used index from the rings (for dumps). */
void virtqueue__peek(const struct virtqueue *vq, uint16_t *avail_flags, uint16_t *avail_idx,
		     uint16_t *used_idx);

/* Whether the guest wants an interrupt (VRING_AVAIL_F_NO_INTERRUPT clear). EVENT_IDX is not offered. */
int virtqueue__should_signal(struct virtqueue *vq);

/* Whether anything is available (cheap peek, no validation). */
int virtqueue__has_avail(const struct virtqueue *vq);

/* Copy helpers over a chain's readable / writable segments. */
uint64_t vq_chain__read(const struct vq_chain *c, uint64_t off, void *dst, uint64_t len);
uint64_t vq_chain__write(const struct vq_chain *c, uint64_t off, const void *src, uint64_t len);

#endif
