/* SPDX-License-Identifier: MIT */
#include "virtio_mmio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "iobus.h"

#define MMIO_MAGIC 0x74726976	/* "virt" */
#define MMIO_VERSION 2
#define MMIO_VENDOR 0x53565356	/* "SVSV" */
#define VERSION_1 (1ULL << VIRTIO_F_VERSION_1_BIT)

int virtio_mmio__init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
		      const struct guest_mem *mem, struct irq_line irq)
{
	unsigned int i;

	if (ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    ops->queue_max == 0 || ops->queue_max > VQ_MAX_SIZE ||
	    (ops->queue_max & (ops->queue_max - 1)) ||
	    ops->config_len > VIRTIO_MMIO_WINDOW - VIRTIO_MMIO_CONFIG)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->ops = ops;
	t->dev = dev;
	t->mem = mem;
	t->irq = irq;
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtqueue__reset(&t->vq[i], mem);
	return 0;
}

void virtio_mmio__exit(struct virtio_mmio *t)
{
	pthread_mutex_destroy(&t->lock);
}

static uint64_t offered(const struct virtio_mmio *t)
{
	return t->ops->features(t->dev) | VERSION_1;
}

/*
 * The line is level-triggered and mirrors InterruptStatus: high while any
 * bit is set, lowered by the ACK that clears the last one. Called with the
 * transport lock held, so line and register never disagree.
 *
 * Why not an edge pulse per interrupt (what this was first): two threads
 * (a vCPU pushing TX buffers, the console's device thread pushing RX ones)
 * pulsing one pin overlap, 1 1 0 0, and KVM's IO-APIC coalesces the second
 * raise into the first. If the guest's handler ran between the first raise
 * and the second thread's InterruptStatus update, the second interrupt was
 * lost for good and that queue would stall. (Found by reading, while hunting
 * an intermittent stall that turned out to live in the nested test rig.) A
 * level line cannot lose an interrupt that way, and it also survives the
 * guest masking the pin (an edge while masked is dropped by KVM).
 */
static void update_irq_locked(struct virtio_mmio *t)
{
	int level = t->interrupt_status != 0;

	if (level != t->irq_level) {
		t->irq_level = level;
		irq_line__set(&t->irq, level);
	}
}

static void reset_locked(struct virtio_mmio *t)
{
	unsigned int i;

	t->status = 0;
	t->drv_features = 0;
	t->dev_features_sel = t->drv_features_sel = 0;
	t->queue_sel = 0;
	t->interrupt_status = 0;
	update_irq_locked(t);
	for (i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		virtqueue__reset(&t->vq[i], t->mem);
}

static struct virtqueue *sel_vq(struct virtio_mmio *t)
{
	return t->queue_sel < t->ops->num_queues ? &t->vq[t->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_mmio *t, uint64_t off)
{
	struct virtqueue *vq = sel_vq(t);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE: return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION: return MMIO_VERSION;
	case VIRTIO_MMIO_DEVICE_ID: return t->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID: return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->dev_features_sel > 1)
			return 0;
		return (uint32_t)(offered(t) >> (32 * t->dev_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX: return vq ? t->ops->queue_max : 0;
	case VIRTIO_MMIO_QUEUE_READY: return vq ? (uint32_t)vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS: return t->interrupt_status;
	case VIRTIO_MMIO_STATUS: return t->status;
	case VIRTIO_MMIO_CONFIG_GENERATION: return t->config_generation;
	default: return 0;
	}
}

static int features_ok(const struct virtio_mmio *t)
{
	return (t->drv_features & VERSION_1) && !(t->drv_features & ~offered(t));
}

/* What a register write asks of the device, done after the transport lock is dropped. */
struct followup {
	int notify_q;		/* -1: none */
	int reset, activate;
};

static void reg_write(struct virtio_mmio *t, uint64_t off, uint32_t v, struct followup *f)
{
	struct virtqueue *vq = sel_vq(t);
	/*
	 * A live queue is the device's: without VIRTIO_F_RING_RESET the driver
	 * changes queues only after resetting the device (Linux does exactly
	 * that), so after DRIVER_OK queue writes are ignored.
	 */
	int live = (t->status & VIRTIO_CONFIG_S_DRIVER_OK) != 0;
	int can_config = vq && !vq->ready && !live;

	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL: t->dev_features_sel = v; break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL: t->drv_features_sel = v; break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		/* Features are fixed once FEATURES_OK is set. */
		if (t->drv_features_sel <= 1 && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
			unsigned int sh = 32 * t->drv_features_sel;

			t->drv_features = (t->drv_features & ~(0xffffffffULL << sh)) | ((uint64_t)v << sh);
		}
		break;
	case VIRTIO_MMIO_QUEUE_SEL: t->queue_sel = v; break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (can_config)
			vq->size = v <= t->ops->queue_max ? (uint16_t)v : 0;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		if (can_config) vq->desc_gpa = (vq->desc_gpa & ~0xffffffffULL) | v;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (can_config) vq->desc_gpa = (vq->desc_gpa & 0xffffffffULL) | ((uint64_t)v << 32);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		if (can_config) vq->avail_gpa = (vq->avail_gpa & ~0xffffffffULL) | v;
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (can_config) vq->avail_gpa = (vq->avail_gpa & 0xffffffffULL) | ((uint64_t)v << 32);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		if (can_config) vq->used_gpa = (vq->used_gpa & ~0xffffffffULL) | v;
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (can_config) vq->used_gpa = (vq->used_gpa & 0xffffffffULL) | ((uint64_t)v << 32);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!vq || live)
			break;
		if (v == 0) {
			vq->ready = 0;
		} else if (!vq->ready) {
			if (virtqueue__check_rings(vq) == 0) {
				vq->ready = 1;
				vq->last_avail = vq->used_idx = 0;
			} else {
				t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
			}
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		if (v < t->ops->num_queues && (t->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		    !(t->status & VIRTIO_CONFIG_S_NEEDS_RESET) && t->vq[v].ready)
			f->notify_q = (int)v;
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		t->interrupt_status &= ~v;
		update_irq_locked(t);
		break;
	case VIRTIO_MMIO_STATUS:
		if (v == 0) {
			reset_locked(t);
			f->reset = 1;
			break;
		}
		if ((v & VIRTIO_CONFIG_S_FEATURES_OK) && !(t->status & VIRTIO_CONFIG_S_FEATURES_OK) &&
		    !features_ok(t))
			v &= ~(uint32_t)VIRTIO_CONFIG_S_FEATURES_OK;	/* refused: driver reads it back */
		if ((v & VIRTIO_CONFIG_S_DRIVER_OK) && !(t->status & VIRTIO_CONFIG_S_DRIVER_OK)) {
			if (!(v & VIRTIO_CONFIG_S_FEATURES_OK))
				v |= VIRTIO_CONFIG_S_NEEDS_RESET;
			else if (!(t->status & VIRTIO_CONFIG_S_NEEDS_RESET))
				f->activate = 1;
		}
		t->status = v | (t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
		break;
	default:
		break;
	}
}

void virtio_mmio__read(struct virtio_mmio *t, uint64_t off, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;

		if (c < t->ops->config_len && len <= t->ops->config_len - c && t->ops->config_read) {
			pthread_mutex_lock(&t->lock);
			t->ops->config_read(t->dev, (uint32_t)c, data, len);
			pthread_mutex_unlock(&t->lock);
		}
		return;
	}
	/* Registers are 32 bits wide and aligned; anything else reads as zero. */
	if (len != 4 || (off & 3))
		return;
	pthread_mutex_lock(&t->lock);
	{
		uint32_t v = reg_read(t, off);

		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio__write(struct virtio_mmio *t, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct followup f = { .notify_q = -1 };
	uint64_t features;
	uint32_t v;

	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;

		if (c < t->ops->config_len && len <= t->ops->config_len - c && t->ops->config_write) {
			pthread_mutex_lock(&t->lock);
			t->ops->config_write(t->dev, (uint32_t)c, data, len);
			pthread_mutex_unlock(&t->lock);
		}
		return;
	}
	if (len != 4 || (off & 3))
		return;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&t->lock);
	reg_write(t, off, v, &f);
	features = t->drv_features;
	pthread_mutex_unlock(&t->lock);
	/*
	 * Device callbacks run outside the transport lock: devices take their
	 * own lock and call back into signal_used(), so the order is always
	 * device lock, then transport lock.
	 */
	if (f.reset && t->ops->reset)
		t->ops->reset(t->dev);
	if (f.activate && t->ops->activate && t->ops->activate(t->dev, features) < 0)
		virtio_mmio__needs_reset(t);
	if (f.notify_q >= 0 && t->ops->notify)
		t->ops->notify(t->dev, (unsigned int)f.notify_q);
}

void virtio_mmio__signal_used(struct virtio_mmio *t, unsigned int q)
{
	int want;

	pthread_mutex_lock(&t->lock);
	want = q < t->ops->num_queues && virtqueue__should_signal(&t->vq[q]);
	if (want) {
		t->interrupt_status |= VIRTIO_MMIO_INT_VRING;
		update_irq_locked(t);
	}
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio__signal_config(struct virtio_mmio *t)
{
	pthread_mutex_lock(&t->lock);
	t->config_generation++;
	t->interrupt_status |= VIRTIO_MMIO_INT_CONFIG;
	update_irq_locked(t);
	pthread_mutex_unlock(&t->lock);
}

void virtio_mmio__needs_reset(struct virtio_mmio *t)
{
	int live;

	pthread_mutex_lock(&t->lock);
	/* After a driver reset the report is stale: it must not outlive the reset. */
	live = (t->status & VIRTIO_CONFIG_S_DRIVER_OK) != 0;
	if (live) {
		t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		t->interrupt_status |= VIRTIO_MMIO_INT_CONFIG;
		update_irq_locked(t);
	}
	pthread_mutex_unlock(&t->lock);
}

int virtio_mmio__active(struct virtio_mmio *t)
{
	int a;

	pthread_mutex_lock(&t->lock);
	a = (t->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(t->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	pthread_mutex_unlock(&t->lock);
	return a;
}

static void io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	virtio_mmio__read(opaque, off, data, len);
}

static void io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	virtio_mmio__write(opaque, off, data, len);
}

const struct io_ops virtio_mmio_io_ops = { .read = io_read, .write = io_write };

void virtio_mmio__dump(struct virtio_mmio *t, int fd)
{
	unsigned int i;

	pthread_mutex_lock(&t->lock);
	dprintf(fd, "  transport: status %#x isr %#x line %d features %#llx\n", t->status,
		t->interrupt_status, t->irq_level, (unsigned long long)t->drv_features);
	for (i = 0; i < t->ops->num_queues; i++) {
		const struct virtqueue *vq = &t->vq[i];
		uint16_t avail_flags = 0, avail_idx = 0, used_idx = 0;

		if (!vq->ready)
			continue;
		virtqueue__peek(vq, &avail_flags, &avail_idx, &used_idx);
		dprintf(fd, "  q%u: size %u avail idx %u flags %#x, device consumed %u, used idx %u "
			"(guest sees %u)\n", i, vq->size, avail_idx, avail_flags, vq->last_avail,
			vq->used_idx, used_idx);
	}
	pthread_mutex_unlock(&t->lock);
}
