/* SPDX-License-Identifier: MIT */
#include "uart8250.h"

#include <string.h>

#include "iobus.h"
#include "util.h"

enum {
	REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_MASK 0x0f
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_ON 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

void uart8250__init(struct uart8250 *u, int out_fd, struct irq_line irq)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->out_fd = out_fd;
	u->irq = irq;
	u->mcr = MCR_OUT2;
}

void uart8250__exit(struct uart8250 *u)
{
	uart8250__flush(u);
	pthread_mutex_destroy(&u->lock);
}

static void flush_locked(struct uart8250 *u)
{
	if (u->tx_len && u->out_fd >= 0)
		(void)sv_write_all(u->out_fd, u->tx, u->tx_len);	/* a dead reader loses output, not the VM */
	u->tx_len = 0;
}

void uart8250__flush(struct uart8250 *u)
{
	pthread_mutex_lock(&u->lock);
	flush_locked(u);
	pthread_mutex_unlock(&u->lock);
}

/* Highest-priority pending, enabled source, as IIR reports it. */
static uint8_t pending_iir(const struct uart8250 *u)
{
	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI;
	if ((u->ier & IER_THRI) && u->thri_pending)
		return IIR_THRI;
	return IIR_NONE;
}

static void update_irq(struct uart8250 *u)
{
	int level = pending_iir(u) != IIR_NONE;

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line__set(&u->irq, level);
	}
}

static void transmit(struct uart8250 *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP) {
		/* Loopback: what is sent is received (the driver's probe checks this). */
		if (u->rx_count < UART8250_RX_FIFO) {
			u->rx[(u->rx_head + u->rx_count) % UART8250_RX_FIFO] = c;
			u->rx_count++;
		}
		return;
	}
	u->tx[u->tx_len++] = c;
	u->tx_total++;
	if (u->tx_len == sizeof(u->tx))
		flush_locked(u);
}

static uint8_t msr_value(const struct uart8250 *u)
{
	uint8_t m = 0;

	if (!(u->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (u->mcr & MCR_DTR)
		m |= MSR_DSR;
	if (u->mcr & MCR_RTS)
		m |= MSR_CTS;
	if (u->mcr & MCR_OUT1)
		m |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

uint8_t uart8250__read(struct uart8250 *u, unsigned int reg)
{
	uint8_t v = 0xff;

	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB) {
			v = u->dll;
		} else if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART8250_RX_FIFO;
			u->rx_count--;
		} else {
			v = 0;
		}
		break;
	case REG_IER:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case REG_IIR_FCR:
		v = pending_iir(u);
		if (v == IIR_THRI)
			u->thri_pending = 0;	/* reading IIR acknowledges THRE */
		if (u->fcr & FCR_ENABLE)
			v |= IIR_FIFO_ON;
		break;
	case REG_LCR:
		v = u->lcr;
		break;
	case REG_MCR:
		v = u->mcr;
		break;
	case REG_LSR:
		v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
		break;
	case REG_MSR:
		v = msr_value(u);
		break;
	case REG_SCR:
		v = u->scr;
		break;
	default:
		break;
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return v;
}

void uart8250__write(struct uart8250 *u, unsigned int reg, uint8_t val)
{
	pthread_mutex_lock(&u->lock);
	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = val;
		} else {
			transmit(u, val);
			/* Sent at once, so THR is empty again: re-arm the THRE interrupt. */
			u->thri_pending = 1;
		}
		break;
	case REG_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = val;
		} else {
			uint8_t old = u->ier;

			u->ier = val & IER_MASK;
			if (!(old & IER_THRI) && (u->ier & IER_THRI))
				u->thri_pending = 1;
			/*
			 * The driver touches IER at the end of every console write and
			 * when its transmit queue drains: the natural moment to flush.
			 */
			flush_locked(u);
		}
		break;
	case REG_IIR_FCR:
		u->fcr = val & 0xc9;
		if (val & FCR_CLEAR_RX)
			u->rx_count = 0;
		break;
	case REG_LCR:
		u->lcr = val;
		break;
	case REG_MCR:
		u->mcr = val & 0x1f;
		break;
	case REG_SCR:
		u->scr = val;
		break;
	default:
		break;	/* LSR and MSR are read-only */
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

size_t uart8250__rx_space(struct uart8250 *u)
{
	size_t s;

	pthread_mutex_lock(&u->lock);
	s = UART8250_RX_FIFO - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return s;
}

size_t uart8250__receive(struct uart8250 *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (n < len && u->rx_count < UART8250_RX_FIFO) {
		u->rx[(u->rx_head + u->rx_count) % UART8250_RX_FIFO] = buf[n++];
		u->rx_count++;
	}
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

static void io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len && off + i < UART8250_NREGS; i++)
		data[i] = uart8250__read(opaque, (unsigned int)(off + i));
}

static void io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len && off + i < UART8250_NREGS; i++)
		uart8250__write(opaque, (unsigned int)(off + i), data[i]);
}

const struct io_ops uart8250_io_ops = { .read = io_read, .write = io_write };
