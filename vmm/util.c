/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int sv_err(struct sv_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int sv_open_file(const char *path, const char *what, uint64_t max, int *fdp, uint64_t *size,
		 struct sv_error *err)
{
	struct stat st;
	int fd, e;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		return sv_err(err, -e, "cannot open %s '%s': %s", what, path, strerror(e));
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return sv_err(err, -e, "cannot stat %s '%s': %s", what, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return sv_err(err, -EINVAL, "%s '%s' is not a regular file", what, path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return sv_err(err, -EFBIG, "%s '%s' is %lld bytes, more than the %llu allowed",
			      what, path, (long long)st.st_size, (unsigned long long)max);
	}
	if (st.st_size == 0) {
		close(fd);
		return sv_err(err, -EINVAL, "%s '%s' is empty", what, path);
	}
	*fdp = fd;
	*size = (uint64_t)st.st_size;
	return 0;
}

int sv_read_full(int fd, void *dst, size_t len, const char *what, const char *path,
		 struct sv_error *err)
{
	uint8_t *p = dst;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			return sv_err(err, -e, "cannot read %s '%s': %s", what, path,
				      n < 0 ? strerror(e) : "file shrank while reading");
		}
		got += (size_t)n;
	}
	return 0;
}

int sv_read_file(const char *path, const char *what, uint64_t max, uint8_t **buf,
		 size_t *len, struct sv_error *err)
{
	uint64_t size;
	uint8_t *p;
	int fd, r;

	r = sv_open_file(path, what, max, &fd, &size, err);
	if (r)
		return r;
	p = malloc((size_t)size);
	if (!p) {
		close(fd);
		return sv_err(err, -ENOMEM, "out of memory reading %s '%s'", what, path);
	}
	r = sv_read_full(fd, p, (size_t)size, what, path, err);
	close(fd);
	if (r) {
		free(p);
		return r;
	}
	*buf = p;
	*len = (size_t)size;
	return 0;
}

int sv_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
