/* SPDX-License-Identifier: MIT */
/* devices/uart8250.c: the guest's serial console, driven register by register. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "iobus.h"
#include "suites.h"
#include "uart8250.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4,
       LSR = 5, MSR = 6, SCR = 7 };

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

/* Records every level change the UART asks for. */
struct irq_rec {
	int n;
	int level[64];
	uint32_t gsi;
};

static void irq_rec_set(void *ctx, uint32_t gsi, int level)
{
	struct irq_rec *r = ctx;

	if (r->n < 64)
		r->level[r->n++] = level;
	r->gsi = gsi;
}

static int irq_now(const struct irq_rec *r)
{
	return r->n ? r->level[r->n - 1] : 0;
}

struct fixture {
	struct uart8250 u;
	struct irq_rec irq;
	int rd, wr;
};

static void setup(struct fixture *f)
{
	int p[2];

	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	f->rd = p[0];
	f->wr = p[1];
	uart8250__init(&f->u, f->wr,
		       (struct irq_line){ irq_rec_set, &f->irq, UART8250_COM1_IRQ });
}

static void teardown(struct fixture *f)
{
	uart8250__exit(&f->u);
	close(f->rd);
	close(f->wr);
}

/* Everything currently in the pipe, NUL-terminated. */
static size_t drain(struct fixture *f, char *buf, size_t cap)
{
	size_t got = 0;

	for (;;) {
		ssize_t n = read(f->rd, buf + got, cap - 1 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

static void put(struct fixture *f, const char *s)
{
	while (*s)
		uart8250__write(&f->u, THR, (uint8_t)*s++);
}

START_TEST(output_reaches_fd)
{
	struct fixture f;
	char buf[64];

	setup(&f);
	put(&f, "hello");
	uart8250__flush(&f.u);
	ck_assert_uint_eq(drain(&f, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "hello");
	ck_assert_uint_eq(f.u.tx_total, 5);
	/* The driver's IER write at the end of a console write also pushes output out. */
	put(&f, "abc");
	uart8250__write(&f.u, IER, 0);
	ck_assert_uint_eq(drain(&f, buf, sizeof(buf)), 3);
	ck_assert_str_eq(buf, "abc");
	/* Nothing is sent twice. */
	uart8250__flush(&f.u);
	ck_assert_uint_eq(drain(&f, buf, sizeof(buf)), 0);
	teardown(&f);
}
END_TEST

START_TEST(full_buffer_flushes_itself)
{
	struct fixture f;
	static char buf[UART8250_TX_BUF * 2];
	unsigned int i;
	size_t n;

	setup(&f);
	for (i = 0; i < UART8250_TX_BUF + 10; i++)
		uart8250__write(&f.u, THR, (uint8_t)('a' + i % 26));
	n = drain(&f, buf, sizeof(buf));
	ck_assert_uint_eq(n, UART8250_TX_BUF);
	ck_assert_uint_eq(buf[26], 'a');
	uart8250__flush(&f.u);
	ck_assert_uint_eq(drain(&f, buf, sizeof(buf)), 10);
	teardown(&f);
}
END_TEST

START_TEST(discarded_output)
{
	struct uart8250 u;

	uart8250__init(&u, -1, (struct irq_line){ 0 });
	uart8250__write(&u, THR, 'x');
	uart8250__flush(&u);
	ck_assert_uint_eq(u.tx_total, 1);
	ck_assert_uint_eq(u.tx_len, 0);
	uart8250__exit(&u);
}
END_TEST

START_TEST(lsr_always_ready)
{
	struct fixture f;

	setup(&f);
	ck_assert_uint_eq(uart8250__read(&f.u, LSR), LSR_THRE | LSR_TEMT);
	put(&f, "xyz");
	ck_assert_uint_eq(uart8250__read(&f.u, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
	uart8250__receive(&f.u, (const uint8_t *)"q", 1);
	ck_assert_uint_eq(uart8250__read(&f.u, LSR), LSR_THRE | LSR_TEMT | LSR_DR);
	teardown(&f);
}
END_TEST

START_TEST(thri_interrupt)
{
	struct fixture f;

	setup(&f);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x01);
	ck_assert_int_eq(f.irq.n, 0);
	uart8250__write(&f.u, IER, 0x02);
	ck_assert_int_eq(irq_now(&f.irq), 1);
	ck_assert_uint_eq(f.irq.gsi, UART8250_COM1_IRQ);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x02);
	/* Reading IIR acknowledged it. */
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x01);
	ck_assert_int_eq(irq_now(&f.irq), 0);
	ck_assert_int_eq(f.irq.n, 2);
	/* Each byte sent empties THR again and re-arms it. */
	put(&f, "x");
	ck_assert_int_eq(irq_now(&f.irq), 1);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x02);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x01);
	/* Disabling THRI drops a pending interrupt. */
	put(&f, "y");
	ck_assert_int_eq(irq_now(&f.irq), 1);
	uart8250__write(&f.u, IER, 0);
	ck_assert_int_eq(irq_now(&f.irq), 0);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x01);
	teardown(&f);
}
END_TEST

START_TEST(thri_with_fifo)
{
	struct fixture f;

	setup(&f);
	uart8250__write(&f.u, FCR, 0x01);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0xc1);
	uart8250__write(&f.u, IER, 0x02);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0xc2);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0xc1);
	teardown(&f);
}
END_TEST

START_TEST(loopback)
{
	struct fixture f;
	char buf[8];

	setup(&f);
	uart8250__write(&f.u, MCR, 0x10);
	ck_assert_uint_eq(uart8250__read(&f.u, MSR), 0x00);
	put(&f, "A");
	ck_assert_uint_eq(uart8250__read(&f.u, LSR) & LSR_DR, LSR_DR);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 'A');
	ck_assert_uint_eq(uart8250__read(&f.u, LSR) & LSR_DR, 0);
	uart8250__flush(&f.u);
	ck_assert_uint_eq(drain(&f, buf, sizeof(buf)), 0);	/* not sent out */
	ck_assert_uint_eq(f.u.tx_total, 0);
	/* MSR mirrors MCR: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
	uart8250__write(&f.u, MCR, 0x10 | 0x01);
	ck_assert_uint_eq(uart8250__read(&f.u, MSR), 0x20);
	uart8250__write(&f.u, MCR, 0x10 | 0x02);
	ck_assert_uint_eq(uart8250__read(&f.u, MSR), 0x10);
	uart8250__write(&f.u, MCR, 0x10 | 0x04);
	ck_assert_uint_eq(uart8250__read(&f.u, MSR), 0x40);
	uart8250__write(&f.u, MCR, 0x10 | 0x08);
	ck_assert_uint_eq(uart8250__read(&f.u, MSR), 0x80);
	uart8250__write(&f.u, MCR, 0x1f);
	ck_assert_uint_eq(uart8250__read(&f.u, MSR), 0xf0);
	ck_assert_uint_eq(uart8250__read(&f.u, MCR), 0x1f);
	/* Out of loopback: carrier, DSR and CTS, so the driver sees a live line. */
	uart8250__write(&f.u, MCR, 0x0b);
	ck_assert_uint_eq(uart8250__read(&f.u, MSR), 0xb0);
	put(&f, "B");
	uart8250__flush(&f.u);
	ck_assert_uint_eq(drain(&f, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "B");
	teardown(&f);
}
END_TEST

START_TEST(dlab)
{
	struct fixture f;

	setup(&f);
	uart8250__write(&f.u, IER, 0x05);
	uart8250__write(&f.u, LCR, 0x83);
	uart8250__write(&f.u, DLL, 0x0c);
	uart8250__write(&f.u, DLM, 0x01);
	ck_assert_uint_eq(uart8250__read(&f.u, DLL), 0x0c);
	ck_assert_uint_eq(uart8250__read(&f.u, DLM), 0x01);
	ck_assert_uint_eq(f.u.tx_total, 0);		/* the divisor write sent nothing */
	uart8250__write(&f.u, LCR, 0x03);
	ck_assert_uint_eq(uart8250__read(&f.u, LCR), 0x03);
	ck_assert_uint_eq(uart8250__read(&f.u, IER), 0x05);	/* IER was not overwritten */
	ck_assert_uint_eq(f.u.dll, 0x0c);
	ck_assert_uint_eq(f.u.dlm, 0x01);
	uart8250__receive(&f.u, (const uint8_t *)"z", 1);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 'z');
	teardown(&f);
}
END_TEST

START_TEST(receive)
{
	struct fixture f;
	uint8_t in[100];
	unsigned int i;

	setup(&f);
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i + 1);
	ck_assert_uint_eq(uart8250__read(&f.u, LSR) & LSR_DR, 0);
	ck_assert_uint_eq(uart8250__rx_space(&f.u), UART8250_RX_FIFO);
	ck_assert_uint_eq(uart8250__receive(&f.u, in, sizeof(in)), UART8250_RX_FIFO);
	ck_assert_uint_eq(uart8250__rx_space(&f.u), 0);
	ck_assert_uint_eq(uart8250__receive(&f.u, in, 1), 0);
	ck_assert_uint_eq(uart8250__read(&f.u, LSR) & LSR_DR, LSR_DR);
	ck_assert_int_eq(f.irq.n, 0);			/* RDI not enabled yet */
	uart8250__write(&f.u, IER, 0x01);
	ck_assert_int_eq(irq_now(&f.irq), 1);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x04);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x04);	/* level: stays until drained */
	for (i = 0; i < UART8250_RX_FIFO; i++)
		ck_assert_uint_eq(uart8250__read(&f.u, RBR), i + 1);
	ck_assert_uint_eq(uart8250__read(&f.u, LSR) & LSR_DR, 0);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x01);
	ck_assert_int_eq(irq_now(&f.irq), 0);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 0);	/* empty FIFO */
	/* With RDI enabled, arriving data raises the line at once; wrap-around keeps order. */
	ck_assert_uint_eq(uart8250__receive(&f.u, in + 64, 3), 3);
	ck_assert_int_eq(irq_now(&f.irq), 1);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 65);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 66);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 67);
	ck_assert_int_eq(irq_now(&f.irq), 0);
	teardown(&f);
}
END_TEST

START_TEST(rdi_outranks_thri)
{
	struct fixture f;

	setup(&f);
	uart8250__write(&f.u, IER, 0x03);
	uart8250__receive(&f.u, (const uint8_t *)"k", 1);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x04);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 'k');
	/* The THRE interrupt was not lost behind the receive one. */
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x02);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0x01);
	teardown(&f);
}
END_TEST

START_TEST(fcr_clear_rx)
{
	struct fixture f;

	setup(&f);
	uart8250__write(&f.u, IER, 0x01);
	ck_assert_uint_eq(uart8250__receive(&f.u, (const uint8_t *)"0123456789", 10), 10);
	ck_assert_int_eq(irq_now(&f.irq), 1);
	uart8250__write(&f.u, FCR, 0x07);
	ck_assert_uint_eq(uart8250__read(&f.u, LSR) & LSR_DR, 0);
	ck_assert_uint_eq(uart8250__rx_space(&f.u), UART8250_RX_FIFO);
	ck_assert_int_eq(irq_now(&f.irq), 0);
	ck_assert_uint_eq(uart8250__read(&f.u, RBR), 0);
	ck_assert_uint_eq(uart8250__read(&f.u, IIR), 0xc1);
	teardown(&f);
}
END_TEST

START_TEST(scratch_and_io_glue)
{
	struct fixture f;
	struct iobus bus = { 0 };
	uint8_t d[4];
	char buf[8];

	setup(&f);
	ck_assert_int_eq(iobus__register(&bus, UART8250_COM1_BASE, UART8250_NREGS,
					 &uart8250_io_ops, &f.u, NULL), 0);
	d[0] = 0x5a;
	ck_assert_int_eq(iobus__access(&bus, UART8250_COM1_BASE + SCR, d, 1, 1), 1);
	ck_assert_uint_eq(uart8250__read(&f.u, SCR), 0x5a);
	d[0] = 'Q';
	ck_assert_int_eq(iobus__access(&bus, UART8250_COM1_BASE + THR, d, 1, 1), 1);
	uart8250__flush(&f.u);
	ck_assert_uint_eq(drain(&f, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "Q");
	/* A 2-byte read at LSR returns LSR then MSR. */
	ck_assert_int_eq(iobus__access(&bus, UART8250_COM1_BASE + LSR, d, 2, 0), 1);
	ck_assert_uint_eq(d[0], LSR_THRE | LSR_TEMT);
	ck_assert_uint_eq(d[1], 0xb0);
	teardown(&f);
}
END_TEST

Suite *uart8250_suite(void)
{
	Suite *s = suite_create("uart8250");
	TCase *tc = tcase_create("regs");

	tcase_add_test(tc, output_reaches_fd);
	tcase_add_test(tc, full_buffer_flushes_itself);
	tcase_add_test(tc, discarded_output);
	tcase_add_test(tc, lsr_always_ready);
	tcase_add_test(tc, thri_interrupt);
	tcase_add_test(tc, thri_with_fifo);
	tcase_add_test(tc, loopback);
	tcase_add_test(tc, dlab);
	tcase_add_test(tc, receive);
	tcase_add_test(tc, rdi_outranks_thri);
	tcase_add_test(tc, fcr_clear_rx);
	tcase_add_test(tc, scratch_and_io_glue);
	suite_add_tcase(s, tc);
	return s;
}
