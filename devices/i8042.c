/* SPDX-License-Identifier: MIT */
#include "i8042.h"

#include "iobus.h"

static void io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	(void)len;
	/* Status 0: output buffer empty, input buffer empty, so kb_wait() succeeds at once. */
	data[0] = 0;
}

static void io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	const struct i8042 *kbc = opaque;

	if (len == 1 && off == I8042_CMD_PORT - I8042_DATA_PORT && data[0] == I8042_CMD_RESET &&
	    kbc->reset)
		kbc->reset(kbc->ctx);
}

const struct io_ops i8042_io_ops = { .read = io_read, .write = io_write };
