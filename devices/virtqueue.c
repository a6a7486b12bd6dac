/* SPDX-License-Identifier: MIT */
#include "virtqueue.h"

#include <errno.h>
#include <string.h>

#include <linux/virtio_ring.h>

/* Ring area sizes for a queue of n entries (split layout, no event idx). */
#define DESC_BYTES(n) ((uint64_t)(n) * 16)
#define AVAIL_BYTES(n) (4 + (uint64_t)(n) * 2 + 2)
#define USED_BYTES(n) (4 + (uint64_t)(n) * 8 + 2)

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

void virtqueue__reset(struct virtqueue *vq, const struct guest_mem *mem)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
}

int virtqueue__check_rings(const struct virtqueue *vq)
{
	if (vq->size == 0 || vq->size > VQ_MAX_SIZE || (vq->size & (vq->size - 1)))
		return -EINVAL;
	if ((vq->desc_gpa & 15) || (vq->avail_gpa & 1) || (vq->used_gpa & 3))
		return -EINVAL;
	if (!guest_mem__ptr(vq->mem, vq->desc_gpa, DESC_BYTES(vq->size)) ||
	    !guest_mem__ptr(vq->mem, vq->avail_gpa, AVAIL_BYTES(vq->size)) ||
	    !guest_mem__ptr(vq->mem, vq->used_gpa, USED_BYTES(vq->size)))
		return -EFAULT;
	return 0;
}

/*
 * The transport rewrites a queue's size and addresses under its own lock
 * (QueueReady=0 then QueueNum, a driver reset), which a device serving the
 * queue does not hold. So every entry point reads them once, into a view, and
 * checks and uses only that: a guest racing its own vCPUs then gets -EIO or a
 * request on a ring it is tearing down, never an unchecked pointer or a
 * division by zero.
 */
struct vq_view {
	uint32_t size;
	uint64_t desc, avail, used;
};

/* 1 with *v filled, 0 when the queue is not ready, -EIO for a size that cannot be. */
static int view(const struct virtqueue *vq, struct vq_view *v)
{
	if (!__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE))
		return 0;
	v->size = __atomic_load_n(&vq->size, __ATOMIC_RELAXED);
	v->desc = __atomic_load_n(&vq->desc_gpa, __ATOMIC_RELAXED);
	v->avail = __atomic_load_n(&vq->avail_gpa, __ATOMIC_RELAXED);
	v->used = __atomic_load_n(&vq->used_gpa, __ATOMIC_RELAXED);
	if (v->size == 0 || v->size > VQ_MAX_SIZE || (v->size & (v->size - 1)))
		return -EIO;
	return 1;
}

static uint16_t load16(const void *p)
{
	uint16_t v;

	__atomic_load((const uint16_t *)p, &v, __ATOMIC_ACQUIRE);
	return v;
}

int virtqueue__has_avail(const struct virtqueue *vq)
{
	const uint8_t *avail;
	struct vq_view v;

	if (view(vq, &v) != 1)
		return 0;
	avail = guest_mem__ptr(vq->mem, v.avail, AVAIL_BYTES(v.size));
	return avail && load16(avail + 2) != vq->last_avail;
}

/* Reads descriptor i of a table of n entries, once: the guest may change it under us. */
static void read_desc(const uint8_t *table, uint16_t i, struct desc *d)
{
	memcpy(&d->addr, table + (uint64_t)i * 16, 8);
	memcpy(&d->len, table + (uint64_t)i * 16 + 8, 4);
	memcpy(&d->flags, table + (uint64_t)i * 16 + 12, 2);
	memcpy(&d->next, table + (uint64_t)i * 16 + 14, 2);
}

static int walk_chain(const struct virtqueue *vq, const struct vq_view *v, uint16_t head,
		      struct vq_chain *c)
{
	const uint8_t *table = guest_mem__ptr(vq->mem, v->desc, DESC_BYTES(v->size));
	uint32_t tsize = v->size, steps = 0;
	uint16_t i = head;
	int indirect = 0;

	if (!table || head >= v->size)
		return -EIO;
	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	for (;;) {
		struct desc d;

		if (++steps > tsize)
			return -EIO;	/* more links than entries: the chain loops */
		read_desc(table, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* One level only, not mid-chain, a whole number of descriptors. */
			if (indirect || (d.flags & VRING_DESC_F_NEXT) || steps > 1 ||
			    d.len == 0 || d.len % 16 || d.len / 16 > VQ_MAX_SIZE)
				return -EIO;
			table = guest_mem__ptr(vq->mem, d.addr, d.len);
			if (!table)
				return -EIO;
			tsize = d.len / 16;
			indirect = 1;
			steps = 0;
			i = 0;
			continue;
		}
		if (d.len) {
			uint8_t *host = guest_mem__ptr(vq->mem, d.addr, d.len);
			struct vq_seg *s;

			if (!host || c->n_out + c->n_in == VQ_MAX_SEGS)
				return -EIO;
			s = &c->seg[c->n_out + c->n_in];
			s->host = host;
			s->len = d.len;
			if (d.flags & VRING_DESC_F_WRITE) {
				c->n_in++;
				c->in_len += d.len;
			} else {
				if (c->n_in)
					return -EIO;	/* readable after writable */
				c->n_out++;
				c->out_len += d.len;
			}
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= tsize)
			return -EIO;
		i = d.next;
	}
}

int virtqueue__pop(struct virtqueue *vq, struct vq_chain *c)
{
	const uint8_t *avail;
	struct vq_view v;
	uint16_t idx, head;
	int r;

	r = view(vq, &v);
	if (r <= 0)
		return r;
	avail = guest_mem__ptr(vq->mem, v.avail, AVAIL_BYTES(v.size));
	if (!avail)
		return -EIO;
	idx = load16(avail + 2);
	if (idx == vq->last_avail)
		return 0;
	if ((uint16_t)(idx - vq->last_avail) > v.size)
		return -EIO;	/* the guest claims more entries than the ring holds */
	memcpy(&head, avail + 4 + (uint64_t)(vq->last_avail % v.size) * 2, 2);
	r = walk_chain(vq, &v, head, c);
	if (r)
		return r;
	vq->last_avail++;
	return 1;
}

void virtqueue__unpop(struct virtqueue *vq)
{
	vq->last_avail--;
}

int virtqueue__push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct vq_view v;
	uint8_t *used, *elem;
	uint32_t id = head;

	if (view(vq, &v) != 1)
		return -EIO;
	used = guest_mem__ptr(vq->mem, v.used, USED_BYTES(v.size));
	if (!used)
		return -EIO;
	elem = used + 4 + (uint64_t)(vq->used_idx % v.size) * 8;
	memcpy(elem, &id, 4);
	memcpy(elem + 4, &written, 4);
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store((uint16_t *)(used + 2), &vq->used_idx, __ATOMIC_RELEASE);
	return 0;
}

void virtqueue__peek(const struct virtqueue *vq, uint16_t *avail_flags, uint16_t *avail_idx,
		     uint16_t *used_idx)
{
	const uint8_t *avail = NULL, *used = NULL;
	struct vq_view v;

	if (view(vq, &v) == 1) {
		avail = guest_mem__ptr(vq->mem, v.avail, AVAIL_BYTES(v.size));
		used = guest_mem__ptr(vq->mem, v.used, USED_BYTES(v.size));
	}
	*avail_flags = avail ? load16(avail) : 0;
	*avail_idx = avail ? load16(avail + 2) : 0;
	*used_idx = used ? load16(used + 2) : 0;
}

int virtqueue__should_signal(struct virtqueue *vq)
{
	const uint8_t *avail = NULL;
	struct vq_view v;

	if (view(vq, &v) == 1)
		avail = guest_mem__ptr(vq->mem, v.avail, AVAIL_BYTES(v.size));
	/* Order our used->idx store before reading the driver's flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return !avail || !(load16(avail) & VRING_AVAIL_F_NO_INTERRUPT);
}

/* Copies between buf and segments [first, first+count) of a chain, from byte off on. */
static uint64_t chain_copy(const struct vq_chain *c, unsigned int first, unsigned int count,
			   uint64_t off, uint8_t *buf, uint64_t len, int to_guest)
{
	uint64_t done = 0;
	unsigned int i;

	for (i = first; i < first + count && done < len; i++) {
		const struct vq_seg *s = &c->seg[i];
		uint64_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		if (to_guest)
			memcpy(s->host + off, buf + done, n);
		else
			memcpy(buf + done, s->host + off, n);
		done += n;
		off = 0;
	}
	return done;
}

uint64_t vq_chain__read(const struct vq_chain *c, uint64_t off, void *dst, uint64_t len)
{
	return chain_copy(c, 0, c->n_out, off, dst, len, 0);
}

uint64_t vq_chain__write(const struct vq_chain *c, uint64_t off, const void *src, uint64_t len)
{
	/* The buffer is only read from in this direction. */
	return chain_copy(c, c->n_out, c->n_in, off, (uint8_t *)(uintptr_t)src, len, 1);
}
