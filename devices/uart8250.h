/* SPDX-License-Identifier: MIT */
/*
 * 16550A-compatible UART (the PC's COM1 at 0x3f8, IRQ 4). Transmission is
 * instant, so THR is always empty and the "transmitter empty" interrupt
 * fires whenever the guest enables it: Linux's 8250 driver then moves
 * output in interrupt-driven batches instead of polling byte by byte.
 */
#ifndef SV_UART8250_H
#define SV_UART8250_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "irq.h"

#define UART8250_COM1_BASE 0x3f8
#define UART8250_COM1_IRQ 4
#define UART8250_NREGS 8
#define UART8250_RX_FIFO 64
#define UART8250_TX_BUF 4096

struct uart8250 {
	pthread_mutex_t lock;
	struct irq_line irq;
	int out_fd;			/* -1: output discarded */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	int thri_pending;		/* THR-empty interrupt latched, cleared by reading IIR */
	int irq_level;
	uint8_t rx[UART8250_RX_FIFO];
	unsigned int rx_head, rx_count;
	uint8_t tx[UART8250_TX_BUF];
	size_t tx_len;
	uint64_t tx_total;		/* bytes the guest sent, for tests and stats */
};

void uart8250__init(struct uart8250 *u, int out_fd, struct irq_line irq);
void uart8250__exit(struct uart8250 *u);

uint8_t uart8250__read(struct uart8250 *u, unsigned int reg);
void uart8250__write(struct uart8250 *u, unsigned int reg, uint8_t val);

/* Host → guest bytes; returns how many fitted in the receive FIFO. */
size_t uart8250__receive(struct uart8250 *u, const uint8_t *buf, size_t len);
size_t uart8250__rx_space(struct uart8250 *u);

/* Pushes buffered guest output to out_fd. */
void uart8250__flush(struct uart8250 *u);

/* I/O bus glue: 8 byte-wide registers. */
struct io_ops;
extern const struct io_ops uart8250_io_ops;

#endif
