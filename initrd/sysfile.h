/* SPDX-License-Identifier: MIT */
/* Writing a value to a sysfs/procfs/cgroupfs file: shared by init and the agent. */
#ifndef SV_SYSFILE_H
#define SV_SYSFILE_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* One write of val to path: 0 or -errno (these files take a value per write). */
static inline int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

#endif
