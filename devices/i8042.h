/* SPDX-License-Identifier: MIT */
/*
 * Just enough of the PC keyboard controller for its one job here: the
 * guest resets the machine by writing 0xFE to port 0x64 (reboot=k). That is
 * how a guest without ACPI ends the VM, for reboot, power-off and panic.
 */
#ifndef SV_I8042_H
#define SV_I8042_H

#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_CMD_RESET 0xfe

struct i8042 {
	void (*reset)(void *ctx);	/* called on a reset command, from a vCPU thread */
	void *ctx;
};

struct io_ops;
/* Register at I8042_DATA_PORT with length 5 (0x60..0x64). */
extern const struct io_ops i8042_io_ops;

#endif
