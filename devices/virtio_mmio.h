/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport, version 2 ("modern") register layout (virtio 1.x,
 * section 4.2.2). The transport owns the registers, feature negotiation,
 * device status and the virtqueues' configuration; the device behind it
 * (console, block, ...) sees only its queues, its config space and
 * notifications, never an address. The VMM maps the register window on its
 * MMIO bus and announces it on the kernel command line
 * (virtio_mmio.device=<size>@<base>:<irq>).
 */
#ifndef SV_VIRTIO_MMIO_H
#define SV_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdint.h>

#include "guest_mem.h"
#include "irq.h"
#include "virtqueue.h"

#define VIRTIO_MMIO_WINDOW 0x200
#define VIRTIO_MMIO_MAX_QUEUES 8
#define VIRTIO_F_VERSION_1_BIT 32

struct virtio_mmio;

struct virtio_dev_ops {
	uint32_t device_id;		/* VIRTIO_ID_* */
	unsigned int num_queues;
	uint16_t queue_max;		/* largest size offered, power of two */
	uint32_t config_len;		/* bytes of device config space */
	/* Device feature bits (VERSION_1 is added by the transport). */
	uint64_t (*features)(void *dev);
	/* Config space access; off + len <= config_len is guaranteed. Called with the
	 * transport lock held: must not call back into the transport. */
	void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
	/* The driver set DRIVER_OK: queues are configured, features final. */
	int (*activate)(void *dev, uint64_t features);
	/* The guest notified queue q (called on the notifying vCPU's thread). */
	void (*notify)(void *dev, unsigned int q);
	/* Device reset by the driver: drop in-flight state. activate, notify and reset
	 * run without the transport lock; a device may call signal_used() from them. */
	void (*reset)(void *dev);
};

struct virtio_mmio {
	pthread_mutex_t lock;		/* registers and queue configuration */
	const struct virtio_dev_ops *ops;
	void *dev;
	const struct guest_mem *mem;
	struct irq_line irq;		/* level: high while interrupt_status != 0 */
	int irq_level;			/* what the line was last set to */
	uint32_t status;
	uint32_t dev_features_sel, drv_features_sel;
	uint64_t drv_features;
	uint32_t queue_sel;
	uint32_t interrupt_status;
	uint32_t config_generation;
	struct virtqueue vq[VIRTIO_MMIO_MAX_QUEUES];
};

int virtio_mmio__init(struct virtio_mmio *t, const struct virtio_dev_ops *ops, void *dev,
		      const struct guest_mem *mem, struct irq_line irq);
void virtio_mmio__exit(struct virtio_mmio *t);

/* Register access (offset within the window). */
void virtio_mmio__read(struct virtio_mmio *t, uint64_t off, uint8_t *data, uint32_t len);
void virtio_mmio__write(struct virtio_mmio *t, uint64_t off, const uint8_t *data, uint32_t len);

/* The device used buffers on queue q: interrupt the guest if it wants that. */
void virtio_mmio__signal_used(struct virtio_mmio *t, unsigned int q);
/* The device's config space changed. */
void virtio_mmio__signal_config(struct virtio_mmio *t);
/*
 * The guest broke a ring or a request badly enough that the device cannot
 * go on: set DEVICE_NEEDS_RESET and tell the driver. The VMM keeps running.
 */
void virtio_mmio__needs_reset(struct virtio_mmio *t);

/* Whether the driver has set DRIVER_OK and not reset since. */
int virtio_mmio__active(struct virtio_mmio *t);

/* Writes the registers and each live queue's indices to fd (for debugging a stall). */
void virtio_mmio__dump(struct virtio_mmio *t, int fd);

struct io_ops;
extern const struct io_ops virtio_mmio_io_ops;

#endif
