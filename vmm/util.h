/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the VMM: error reporting, clocks, file reading. */
#ifndef SV_UTIL_H
#define SV_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sandvisor.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KIB(x) ((uint64_t)(x) << 10)
#define MIB(x) ((uint64_t)(x) << 20)
#define GIB(x) ((uint64_t)(x) << 30)

/* Fills err (if non-NULL) and returns code, so callers can `return sv_err(...)`. */
int sv_err(struct sv_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline uint64_t sv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Reads a whole regular file into a fresh malloc'd buffer. max bounds the
 * size so a huge or endless file cannot exhaust host memory.
 */
int sv_read_file(const char *path, const char *what, uint64_t max, uint8_t **buf,
		 size_t *len, struct sv_error *err);

/* Opens a non-empty regular file of at most max bytes for reading. */
int sv_open_file(const char *path, const char *what, uint64_t max, int *fd, uint64_t *size,
		 struct sv_error *err);

/* Reads exactly len bytes (what/path name the file in the error). */
int sv_read_full(int fd, void *dst, size_t len, const char *what, const char *path,
		 struct sv_error *err);

/* Writes all of buf to fd, retrying on EINTR / short writes. */
int sv_write_all(int fd, const void *buf, size_t len);

#endif
