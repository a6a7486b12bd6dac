/* SPDX-License-Identifier: MIT */
/*
 * virtio-console, MULTIPORT. See virtio_console.h for the ports and queues.
 *
 * Who does what (the notify-path decision):
 *
 *  - Guest → host queues are drained on the notifying vCPU's thread, inside
 *    its MMIO exit. Linux's hvc console and its control-message sender both
 *    busy-wait until the device hands the buffer back, so answering within
 *    the exit means the guest never spins, and we save a thread hop per
 *    write. This never blocks on the control port: ctl_fd is non-blocking,
 *    and a write that would block leaves the chain held and hands the rest to
 *    the device thread (POLLOUT). Console output is written like the UART's:
 *    a blocking console_out_fd can stall the vCPU, as it would with the UART.
 *  - Control messages to the guest are plain memory copies, so they are also
 *    delivered on the vCPU thread (in reply to a control message, or when the
 *    guest posts control receive buffers).
 *  - Host → guest bytes (console_in_fd, ctl_fd) are read only by the device
 *    thread, and only while the port's receive queue holds a buffer and the
 *    guest has the port open (Linux discards data for a closed port). A
 *    receive-queue kick wakes the thread through an eventfd, and only when it
 *    was out of buffers: in the steady state a kick costs no syscall.
 *
 * Locking: c->lock, then the transport lock. Queue operations take the
 * transport lock too (q_pop/q_push): the transport rewrites a virtqueue under
 * its own lock (reset, QueueReady, QueueNum), so without it a guest racing a
 * reset against host input could change vq->size to 0 under a pop.
 */
#include "virtio_console.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>

enum { Q_RX0 = 0, Q_TX0 = 1, Q_CRX = 2, Q_CTX = 3, Q_RX1 = 4, Q_TX1 = 5 };

#define RX_READ_MAX 65536	/* bytes per read into one receive chain */

static unsigned int rx_queue(unsigned int port)
{
	return port ? Q_RX1 : Q_RX0;
}

static void wake(struct virtio_console *c)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: the thread will wake anyway. */
	if (c->wake_fd >= 0 && write(c->wake_fd, &one, sizeof(one)) < 0) {
		/* nothing to do */
	}
}

static void broken(struct virtio_console *c, unsigned int q)
{
	c->broken |= 1u << q;
	virtio_mmio__needs_reset(c->t);
}

/* Whether queue q may be used now. */
static int q_usable(const struct virtio_console *c, unsigned int q)
{
	return c->active && c->t && !(c->broken & (1u << q)) && (c->multiport || q < 2);
}

/* Pops a chain: 1 got one, 0 none (empty, or the ring broke and the queue is now dead). */
static int q_pop(struct virtio_console *c, unsigned int q, struct vq_chain *ch)
{
	int r;

	if (!q_usable(c, q))
		return 0;
	pthread_mutex_lock(&c->t->lock);
	r = virtqueue__pop(&c->t->vq[q], ch);
	pthread_mutex_unlock(&c->t->lock);
	if (r < 0) {
		broken(c, q);
		return 0;
	}
	return r;
}

static void q_push(struct virtio_console *c, unsigned int q, uint16_t head, uint32_t len)
{
	int r;

	if (!q_usable(c, q))
		return;
	pthread_mutex_lock(&c->t->lock);
	r = virtqueue__push(&c->t->vq[q], head, len);
	pthread_mutex_unlock(&c->t->lock);
	/*
	 * push fails only when the queue is no longer ready: the driver reset or
	 * disabled it while we held a chain. Its choice, not a broken ring, so
	 * no NEEDS_RESET (which, set between the transport's reset and ours,
	 * would stick to the freshly reset device).
	 */
	if (r == 0)
		c->sig |= 1u << q;
}

static void signal_pending(struct virtio_console *c)
{
	unsigned int q;

	for (q = 0; c->sig; q++) {
		if (c->sig & (1u << q)) {
			c->sig &= ~(1u << q);
			virtio_mmio__signal_used(c->t, q);
		}
	}
}

/* ---- control messages ---- */

static void ctrl_queue(struct virtio_console *c, uint32_t id, uint16_t event, uint16_t value,
		       const char *name, uint16_t name_len)
{
	struct virtio_console_ctrl_msg *m;
	struct virtio_console_control cc;

	if (!c->multiport || !c->active)
		return;
	if (c->ctrl_count == VIRTIO_CONSOLE_CTRL_PENDING) {
		/* Only a guest that never posts control buffers gets here. */
		c->ctrl_dropped++;
		return;
	}
	m = &c->ctrl[(c->ctrl_head + c->ctrl_count) % VIRTIO_CONSOLE_CTRL_PENDING];
	c->ctrl_count++;
	cc.id = htole32(id);
	cc.event = htole16(event);
	cc.value = htole16(value);
	memcpy(m->buf, &cc, sizeof(cc));
	if (name_len)
		memcpy(m->buf + sizeof(cc), name, name_len);	/* no NUL: the length says it */
	m->len = (uint16_t)(sizeof(cc) + name_len);
}

static void ctrl_deliver(struct virtio_console *c)
{
	struct vq_chain *ch = &c->scratch;

	while (c->ctrl_count && q_pop(c, Q_CRX, ch)) {
		const struct virtio_console_ctrl_msg *m = &c->ctrl[c->ctrl_head];
		uint64_t n = vq_chain__write(ch, 0, m->buf, m->len);

		q_push(c, Q_CRX, ch->head, (uint32_t)n);
		c->ctrl_head = (c->ctrl_head + 1) % VIRTIO_CONSOLE_CTRL_PENDING;
		c->ctrl_count--;
	}
}

static int ctl_host_open(const struct virtio_console *c)
{
	return c->ctl_fd >= 0 && !c->ctl_rd_eof;
}

/* One message from the guest; every field is guest-controlled. */
static void ctrl_handle(struct virtio_console *c, const uint8_t *raw)
{
	struct virtio_console_control cc;
	uint32_t id;
	uint16_t event, value;

	memcpy(&cc, raw, sizeof(cc));
	id = le32toh(cc.id);
	event = le16toh(cc.event);
	value = le16toh(cc.value);
	switch (event) {
	case VIRTIO_CONSOLE_DEVICE_READY:
		/* The id is VIRTIO_CONSOLE_BAD_ID here; value 0 means the driver failed. */
		if (value != 1)
			return;
		ctrl_queue(c, 0, VIRTIO_CONSOLE_PORT_ADD, 0, NULL, 0);
		ctrl_queue(c, 1, VIRTIO_CONSOLE_PORT_ADD, 0, NULL, 0);
		return;
	case VIRTIO_CONSOLE_PORT_READY:
		if (id >= VIRTIO_CONSOLE_NR_PORTS) {
			c->ctrl_ignored++;
			return;
		}
		if (value != 1)
			return;		/* the guest could not set the port up */
		if (id == 0) {
			ctrl_queue(c, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL, 0);
			ctrl_queue(c, 0, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
		} else {
			ctrl_queue(c, 1, VIRTIO_CONSOLE_PORT_NAME, 0, c->name, c->name_len);
			if (ctl_host_open(c))
				ctrl_queue(c, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL, 0);
		}
		return;
	case VIRTIO_CONSOLE_PORT_OPEN:
		if (id >= VIRTIO_CONSOLE_NR_PORTS) {
			c->ctrl_ignored++;
			return;
		}
		c->port[id].guest_open = value != 0;
		if (value)
			wake(c);	/* the thread may now read host input for it */
		return;
	default:
		c->ctrl_ignored++;	/* host-to-guest events, RESIZE, unknown */
		return;
	}
}

static void ctrl_tx(struct virtio_console *c)
{
	struct vq_chain *ch = &c->scratch;

	while (q_pop(c, Q_CTX, ch)) {
		uint8_t raw[VIRTIO_CONSOLE_CTRL_MSG];

		if (vq_chain__read(ch, 0, raw, sizeof(raw)) == sizeof(raw))
			ctrl_handle(c, raw);
		else
			c->ctrl_ignored++;	/* shorter than a message */
		q_push(c, Q_CTX, ch->head, 0);
	}
	ctrl_deliver(c);
}

/* ---- port 0 output ---- */

static void console_tx(struct virtio_console *c)
{
	struct vq_chain *ch = &c->scratch;

	while (q_pop(c, Q_TX0, ch)) {
		unsigned int i;

		/* A dead reader loses output, not the VM. */
		for (i = 0; i < ch->n_out && c->out_fd >= 0; i++)
			if (sv_write_all(c->out_fd, ch->seg[i].host, ch->seg[i].len) < 0)
				break;
		q_push(c, Q_TX0, ch->head, 0);
	}
}

/* ---- port 1 output: guest → ctl_fd, back-pressured ---- */

/* Writes the held chain from tx_off on. 0: all written (or dropped), -EAGAIN: socket full. */
static int ctl_send(struct virtio_console *c)
{
	while (c->tx_off < c->tx.out_len) {
		struct iovec iov[VQ_MAX_SEGS];
		uint64_t off = c->tx_off;
		unsigned int i, n = 0;
		ssize_t w;

		if (c->ctl_fd < 0 || c->ctl_wr_dead) {
			c->tx_off = c->tx.out_len;	/* nobody listens: drop */
			break;
		}
		for (i = 0; i < c->tx.n_out; i++) {
			const struct vq_seg *s = &c->tx.seg[i];

			if (off >= s->len) {
				off -= s->len;
				continue;
			}
			iov[n].iov_base = s->host + off;
			iov[n].iov_len = s->len - off;
			n++;
			off = 0;
		}
		if (c->ctl_is_sock) {
			struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };

			w = sendmsg(c->ctl_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			w = writev(c->ctl_fd, iov, (int)n);
		}
		if (w > 0) {
			c->tx_off += (uint64_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return -EAGAIN;
		} else {
			c->ctl_wr_dead = 1;	/* EPIPE and friends: later output is dropped */
		}
	}
	return 0;
}

static void ctl_tx(struct virtio_console *c)
{
	while (q_usable(c, Q_TX1)) {
		if (!c->tx_held) {
			if (!q_pop(c, Q_TX1, &c->tx))
				return;
			c->tx_held = 1;
			c->tx_off = 0;
		}
		/* Socket full: keep the chain; the guest gets no used buffer and its writes block. */
		if (ctl_send(c) == -EAGAIN)
			return;
		c->tx_held = 0;
		q_push(c, Q_TX1, c->tx.head, 0);
	}
}

/* ---- host → guest ---- */

/* Whether port p holds a receive chain to fill (popping one if needed). */
static int rx_ready(struct virtio_console *c, unsigned int p)
{
	struct virtio_console_port *port = &c->port[p];
	unsigned int q = rx_queue(p);

	if (!q_usable(c, q) || !port->guest_open)
		return 0;
	while (!port->rx_held) {
		if (!q_pop(c, q, &port->rx))
			return 0;
		if (port->rx.n_in)
			port->rx_held = 1;
		else
			q_push(c, q, port->rx.head, 0);	/* nothing writable: give it back empty */
	}
	return 1;
}

/* Reads fd into port p's held chain. 1 data, 0 nothing yet, -1 end of input (EOF or error). */
static int rx_fill(struct virtio_console *c, unsigned int p, int fd)
{
	struct virtio_console_port *port = &c->port[p];
	struct iovec iov[VQ_MAX_SEGS];
	uint64_t room = RX_READ_MAX;
	unsigned int i, n = 0;
	ssize_t r;

	for (i = port->rx.n_out; i < port->rx.n_out + port->rx.n_in && room; i++) {
		uint64_t len = port->rx.seg[i].len < room ? port->rx.seg[i].len : room;

		iov[n].iov_base = port->rx.seg[i].host;
		iov[n].iov_len = len;
		room -= len;
		n++;
	}
	do
		r = readv(fd, iov, (int)n);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r <= 0)
		return -1;
	port->rx_held = 0;
	q_push(c, rx_queue(p), port->rx.head, (uint32_t)r);
	return 1;
}

static void ctl_rx(struct virtio_console *c)
{
	if (c->ctl_rd_eof || !rx_ready(c, 1))
		return;
	if (rx_fill(c, 1, c->ctl_fd) < 0) {
		/* The embedder closed its end: tell the guest, whose reads then see EOF. */
		c->ctl_rd_eof = 1;
		ctrl_queue(c, 1, VIRTIO_CONSOLE_PORT_OPEN, 0, NULL, 0);
		ctrl_deliver(c);
	}
}

static void console_rx(struct virtio_console *c)
{
	if (c->in_eof || !rx_ready(c, 0))
		return;
	if (rx_fill(c, 0, c->in_fd) < 0)
		c->in_eof = 1;
}

void virtio_console__poll_once(struct virtio_console *c, int timeout_ms)
{
	struct pollfd pfd[3];
	int n = 0, i_in = -1, i_ctl = -1;
	short ev = 0;

	pfd[n].fd = c->wake_fd;
	pfd[n++].events = POLLIN;
	pthread_mutex_lock(&c->lock);
	if (c->in_fd >= 0 && !c->in_eof && rx_ready(c, 0)) {
		i_in = n;
		pfd[n].fd = c->in_fd;
		pfd[n++].events = POLLIN;
	}
	if (c->ctl_fd >= 0) {
		if (!c->ctl_rd_eof && rx_ready(c, 1))
			ev |= POLLIN;
		if (c->tx_held && !c->ctl_wr_dead)
			ev |= POLLOUT;
	}
	/* With no events, poll would still report POLLHUP forever: leave the fd out. */
	if (ev) {
		i_ctl = n;
		pfd[n].fd = c->ctl_fd;
		pfd[n++].events = ev;
	}
	signal_pending(c);
	pthread_mutex_unlock(&c->lock);

	if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
		return;
	if (pfd[0].revents) {
		uint64_t v;

		if (read(c->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: someone else drained it */
		}
	}
	pthread_mutex_lock(&c->lock);
	/* Any event, even POLLNVAL, ends in a read that makes progress or marks EOF: no spinning. */
	if (i_in >= 0 && pfd[i_in].revents)
		console_rx(c);
	if (i_ctl >= 0 && (pfd[i_ctl].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
		ctl_rx(c);
	if (i_ctl >= 0 && (pfd[i_ctl].revents & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)))
		ctl_tx(c);
	signal_pending(c);
	pthread_mutex_unlock(&c->lock);
}

static void *device_thread(void *arg)
{
	struct virtio_console *c = arg;

	for (;;) {
		int stop;

		pthread_mutex_lock(&c->lock);
		stop = c->stopping;
		pthread_mutex_unlock(&c->lock);
		if (stop)
			break;
		virtio_console__poll_once(c, -1);
	}
	return NULL;
}

/* ---- transport callbacks ---- */

static uint64_t con_features(void *dev)
{
	(void)dev;
	return 1ULL << VIRTIO_CONSOLE_F_MULTIPORT;
}

/* Runs under the transport lock: reads only the immutable config, no device lock. */
static void con_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	const struct virtio_console *c = dev;

	memcpy(data, c->config + off, len);
}

static int con_activate(void *dev, uint64_t features)
{
	struct virtio_console *c = dev;

	pthread_mutex_lock(&c->lock);
	/* DRIVER_OK can be cleared and set again without a reset: keep what we have. */
	if (!c->active) {
		c->active = 1;
		c->multiport = !!(features & (1ULL << VIRTIO_CONSOLE_F_MULTIPORT));
		if (!c->multiport)
			c->port[0].guest_open = 1;	/* no control queue: the console just is */
	}
	pthread_mutex_unlock(&c->lock);
	wake(c);
	return 0;
}

static void con_notify(void *dev, unsigned int q)
{
	struct virtio_console *c = dev;
	int held;

	pthread_mutex_lock(&c->lock);
	switch (q) {
	case Q_RX0:
		/* Only a thread that ran dry of buffers, with input to give, needs telling. */
		if (!c->port[0].rx_held && c->in_fd >= 0 && !c->in_eof)
			wake(c);
		break;
	case Q_RX1:
		if (!c->port[1].rx_held && ctl_host_open(c))
			wake(c);
		break;
	case Q_TX0:
		console_tx(c);
		break;
	case Q_CRX:
		ctrl_deliver(c);
		break;
	case Q_CTX:
		ctrl_tx(c);
		break;
	case Q_TX1:
		held = c->tx_held;
		ctl_tx(c);
		if (c->tx_held && !held)
			wake(c);	/* socket full: the thread waits for POLLOUT */
		break;
	default:
		break;
	}
	signal_pending(c);
	pthread_mutex_unlock(&c->lock);
}

static void con_reset(void *dev)
{
	struct virtio_console *c = dev;

	pthread_mutex_lock(&c->lock);
	/* Held chains belong to the old rings; a half-sent tx chain is lost with them. */
	c->active = 0;
	c->multiport = 0;
	c->broken = 0;
	c->sig = 0;
	memset(c->port, 0, sizeof(c->port));
	c->tx_held = 0;
	c->tx_off = 0;
	c->ctrl_head = c->ctrl_count = 0;
	pthread_mutex_unlock(&c->lock);
	wake(c);
}

const struct virtio_dev_ops virtio_console_ops = {
	.device_id = VIRTIO_ID_CONSOLE,
	.num_queues = VIRTIO_CONSOLE_NUM_QUEUES,
	.queue_max = VIRTIO_CONSOLE_QUEUE_MAX,
	.config_len = VIRTIO_CONSOLE_CONFIG_LEN,
	.features = con_features,
	.config_read = con_config_read,
	.activate = con_activate,
	.notify = con_notify,
	.reset = con_reset,
};

/* ---- life cycle ---- */

int virtio_console__init(struct virtio_console *c, const struct virtio_console_opts *o,
			 struct sv_error *err)
{
	const char *name = o->ctl_name ? o->ctl_name : VIRTIO_CONSOLE_CTL_NAME;
	struct virtio_console_config cfg;
	size_t nlen = strlen(name);
	int e;

	_Static_assert(sizeof(struct virtio_console_control) == VIRTIO_CONSOLE_CTRL_MSG,
		       "control message size");
	_Static_assert(sizeof(struct virtio_console_config) == VIRTIO_CONSOLE_CONFIG_LEN,
		       "config size");
	memset(c, 0, sizeof(*c));
	c->wake_fd = -1;
	if (nlen == 0 || nlen > VIRTIO_CONSOLE_NAME_MAX)
		return sv_err(err, -EINVAL, "virtio-console port name must be 1 to %d bytes, not %zu",
			      VIRTIO_CONSOLE_NAME_MAX, nlen);
	memcpy(c->name, name, nlen);
	c->name_len = (uint16_t)nlen;
	c->out_fd = o->console_out_fd;
	c->in_fd = o->console_in_fd;
	c->ctl_fd = o->ctl_fd;
	if (c->ctl_fd >= 0) {
		struct stat st;
		int fl = fcntl(c->ctl_fd, F_GETFL);

		if (fl < 0 || fcntl(c->ctl_fd, F_SETFL, fl | O_NONBLOCK) < 0 || fstat(c->ctl_fd, &st) < 0) {
			e = errno;
			return sv_err(err, -e, "virtio-console control fd %d: %s", c->ctl_fd, strerror(e));
		}
		c->ctl_is_sock = S_ISSOCK(st.st_mode);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_nr_ports = htole32(VIRTIO_CONSOLE_NR_PORTS);
	memcpy(c->config, &cfg, sizeof(cfg));
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		e = errno;
		return sv_err(err, -e, "virtio-console: eventfd: %s", strerror(e));
	}
	pthread_mutex_init(&c->lock, NULL);
	return 0;
}

void virtio_console__attach(struct virtio_console *c, struct virtio_mmio *t)
{
	pthread_mutex_lock(&c->lock);
	c->t = t;
	pthread_mutex_unlock(&c->lock);
}

int virtio_console__start(struct virtio_console *c, struct sv_error *err)
{
	sigset_t all, old;
	int r;

	if (c->running)
		return 0;
	/* The thread takes no signals: the VMM's kick signal is for vCPU threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&c->thread, NULL, device_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return sv_err(err, -r, "virtio-console: cannot start device thread: %s", strerror(r));
	c->running = 1;
	return 0;
}

void virtio_console__stop(struct virtio_console *c)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_mutex_unlock(&c->lock);
	wake(c);
	pthread_join(c->thread, NULL);
	c->running = 0;
	c->stopping = 0;
}

void virtio_console__dump(struct virtio_console *c, int fd)
{
	unsigned int p;

	pthread_mutex_lock(&c->lock);
	dprintf(fd, "  console: active %d multiport %d broken %#x sig %#x ctl_fd %d rd_eof %d "
		"wr_dead %d in_eof %d\n", c->active, c->multiport, c->broken, c->sig, c->ctl_fd,
		c->ctl_rd_eof, c->ctl_wr_dead, c->in_eof);
	for (p = 0; p < VIRTIO_CONSOLE_NR_PORTS; p++)
		dprintf(fd, "  port%u: guest_open %d rx_held %d\n", p, c->port[p].guest_open,
			c->port[p].rx_held);
	dprintf(fd, "  ctl tx: held %d, %llu of %llu bytes sent; control: %u queued, %llu dropped, "
		"%llu ignored\n", c->tx_held, (unsigned long long)(c->tx_held ? c->tx_off : 0),
		(unsigned long long)(c->tx_held ? c->tx.out_len : 0), c->ctrl_count,
		(unsigned long long)c->ctrl_dropped, (unsigned long long)c->ctrl_ignored);
	pthread_mutex_unlock(&c->lock);
}

void virtio_console__exit(struct virtio_console *c)
{
	if (c->wake_fd < 0)
		return;		/* init failed or already exited */
	virtio_console__stop(c);
	close(c->wake_fd);
	c->wake_fd = -1;
	pthread_mutex_destroy(&c->lock);
}
