/* SPDX-License-Identifier: MIT */
/*
 * virtio-console with MULTIPORT (virtio 1.x, section 5.3), two ports:
 *
 *   port 0  the guest's console (hvc0): output to console_out_fd, input from
 *           console_in_fd;
 *   port 1  the control port ("sandvisor.ctl", /dev/vport0p1 in the guest): a
 *           byte stream to ctl_fd, one end of a socketpair whose other end
 *           belongs to the embedder (the future guest agent's transport).
 *
 * Queues: 0/1 port 0 rx/tx, 2/3 control rx/tx, 4/5 port 1 rx/tx.
 *
 * Nothing is buffered on the host beyond one guest chain per direction: the
 * port 1 stream is back-pressured both ways (a full socket holds the guest's
 * transmit chain; a guest that posts no receive buffers stops the device
 * reading the socket). Control messages for the guest wait in a small bounded
 * list until it posts control receive buffers.
 *
 * File descriptors are borrowed: the VMM owns and closes them. ctl_fd is
 * switched to O_NONBLOCK; console_in_fd is left alone (it may be a shared
 * terminal) and only read after poll() says it is readable.
 */
#ifndef SV_VIRTIO_CONSOLE_H
#define SV_VIRTIO_CONSOLE_H

#include <pthread.h>
#include <stdint.h>

#include "util.h"
#include "virtio_mmio.h"
#include "virtqueue.h"

#define VIRTIO_CONSOLE_NR_PORTS 2
#define VIRTIO_CONSOLE_NUM_QUEUES 6
#define VIRTIO_CONSOLE_QUEUE_MAX 256
#define VIRTIO_CONSOLE_CTL_NAME "sandvisor.ctl"
#define VIRTIO_CONSOLE_NAME_MAX 64	/* longest port name, bytes */
#define VIRTIO_CONSOLE_CTRL_PENDING 16	/* control messages waiting for guest buffers */
#define VIRTIO_CONSOLE_CTRL_MSG 8	/* sizeof(struct virtio_console_control) */
#define VIRTIO_CONSOLE_CONFIG_LEN 12	/* sizeof(struct virtio_console_config) */

struct virtio_console_opts {
	int console_out_fd;		/* port 0 output; -1: discarded */
	int console_in_fd;		/* port 0 input; -1: none */
	int ctl_fd;			/* port 1 stream; -1: port 1 never opens on the host side */
	const char *ctl_name;		/* port 1 name; NULL: VIRTIO_CONSOLE_CTL_NAME */
};

struct virtio_console_ctrl_msg {
	uint16_t len;
	uint8_t buf[VIRTIO_CONSOLE_CTRL_MSG + VIRTIO_CONSOLE_NAME_MAX];
};

struct virtio_console_port {
	int guest_open;			/* the guest's last PORT_OPEN for this port */
	int rx_held;			/* rx is a popped receive chain waiting for host bytes */
	struct vq_chain rx;
};

struct virtio_console {
	pthread_mutex_t lock;		/* everything below; taken before the transport lock */
	struct virtio_mmio *t;
	int out_fd, in_fd, ctl_fd;
	int ctl_is_sock;		/* send(MSG_NOSIGNAL) rather than writev */
	int wake_fd;			/* eventfd: re-evaluate what the device thread polls */
	char name[VIRTIO_CONSOLE_NAME_MAX];
	uint16_t name_len;
	uint8_t config[VIRTIO_CONSOLE_CONFIG_LEN];	/* immutable after init */

	/* Host-side fd state: survives a device reset. */
	int in_eof;			/* console_in_fd ended or failed */
	int ctl_rd_eof;			/* the embedder closed (or shut down) its end */
	int ctl_wr_dead;		/* writes fail for good: guest output is dropped */

	/* Driver state: dropped on reset. */
	int active;			/* DRIVER_OK seen */
	int multiport;			/* negotiated */
	uint32_t broken;		/* bit q: queue q hit a broken ring */
	uint32_t sig;			/* bit q: used buffers on q not yet signalled */
	struct virtio_console_port port[VIRTIO_CONSOLE_NR_PORTS];
	int tx_held;			/* tx is a port 1 chain partly written to ctl_fd */
	uint64_t tx_off;
	struct vq_chain tx;
	struct vq_chain scratch;	/* chains consumed on the spot (console tx, control) */
	struct virtio_console_ctrl_msg ctrl[VIRTIO_CONSOLE_CTRL_PENDING];
	unsigned int ctrl_head, ctrl_count;

	/* Statistics, for tests and debugging. */
	uint64_t ctrl_dropped;		/* control messages lost to a full pending list */
	uint64_t ctrl_ignored;		/* malformed or unknown guest control messages */

	pthread_t thread;
	int running, stopping;
};

int virtio_console__init(struct virtio_console *c, const struct virtio_console_opts *o,
			 struct sv_error *err);
/* Ties the device to its transport (virtio_mmio__init(t, &virtio_console_ops, c, ...) first). */
void virtio_console__attach(struct virtio_console *c, struct virtio_mmio *t);
/* Starts / stops the device thread doing host-side I/O (console input, ctl_fd). */
int virtio_console__start(struct virtio_console *c, struct sv_error *err);
void virtio_console__stop(struct virtio_console *c);
/* Stops the thread if running; does not close the borrowed fds. */
void virtio_console__exit(struct virtio_console *c);

/* Writes the device's state to fd (for debugging a stall). */
void virtio_console__dump(struct virtio_console *c, int fd);

/*
 * One round of the device thread: poll the host fds for up to timeout_ms
 * (-1: forever) and move what can be moved. For tests and fuzzers that run
 * without the thread; never call it while the thread runs.
 */
void virtio_console__poll_once(struct virtio_console *c, int timeout_ms);

extern const struct virtio_dev_ops virtio_console_ops;

#endif
