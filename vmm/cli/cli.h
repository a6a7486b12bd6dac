/* SPDX-License-Identifier: MIT */
/* Shared by the CLI's commands (not part of the library). */
#ifndef SV_CLI_H
#define SV_CLI_H

#include <stdint.h>

enum {
	EXIT_GUEST_OK = 0,
	EXIT_VMM_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_GUEST_PANIC = 3,
	EXIT_GUEST_TRIPLE_FAULT = 4,
	EXIT_KVM_ERROR = 5,
	EXIT_TIMEOUT = 6,
	EXIT_SELFTEST_FAIL = 7,
	/* `run`: the code's own status, else these (as timeout(1) and docker run do). */
	EXIT_RUN_TIMEOUT = 124,
	EXIT_RUN_SANDBOX_ERROR = 125,
};

__attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...);
int parse_uint(const char *s, unsigned long max, unsigned long *out);
int parse_timeout(const char *s, uint32_t *ms);
uint64_t cli_now_ns(void);

struct sv_disk;
int parse_disk(char *arg, struct sv_disk *d);

int cmd_run(int argc, char **argv);

#endif
