/* SPDX-License-Identifier: MIT */
/*
 * EXEC's cgroups: one per execution or session under the agent's cgroup
 * root, and killing what runs in them (the process group stands in without
 * isolation). See exec.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_internal.h"
#include "sysfile.h"

int write_file(const char *dir, const char *name, const char *val)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return write_str(path, val);
}

static int read_file(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

/* Value of "key N" in a flat-keyed cgroup file, 0 if absent. */
uint64_t cg_key(const char *cg, const char *file, const char *key)
{
	char buf[1024], *p;
	size_t kl = strlen(key);

	if (!cg[0] || read_file(cg, file, buf, sizeof(buf)) < 0)
		return 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, kl) && p[kl] == ' ')
			return strtoull(p + kl + 1, NULL, 10);
	return 0;
}

int cg_create(struct agent *a, char prefix, char *out, size_t cap)
{
	out[0] = 0;
	if (!a->isolation || !a->cg_root[0])
		return 0;
	for (int tries = 0; tries < 1000; tries++) {
		snprintf(out, cap, "%s/%c%u", a->cg_root, prefix, ++a->cg_seq);
		if (mkdir(out, 0755) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	agent_log(a, "cannot create cgroup %s: %s", out, strerror(errno));
	out[0] = 0;
	return -errno;
}

/* Kills every process of the tree: the cgroup if there is one, else the process group. */
void kill_tree(const struct run *r)
{
	if (r->cg[0]) {
		if (write_file(r->cg, "cgroup.kill", "1") == 0)
			return;
		/* Kernels before 5.14: kill what cgroup.procs lists, a few rounds. */
		for (int round = 0; round < 10; round++) {
			char buf[8192], *p;

			if (read_file(r->cg, "cgroup.procs", buf, sizeof(buf)) < 0 || !buf[0])
				break;
			for (p = buf; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
				kill((pid_t)atoi(p), SIGKILL);
		}
	}
	if (r->pid > 0)
		kill(-r->pid, SIGKILL);
}

/* Without cgroups: kill the members of the runner's process group but the runner. */
static void kill_pgrp_except(pid_t pgrp)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[300], buf[512], *rp;
		pid_t pid = (pid_t)atoi(e->d_name);
		int fd, pg = 0;
		ssize_t n;

		if (pid <= 0 || pid == pgrp)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* "pid (comm) state ppid pgrp ...": comm may hold spaces and parens. */
		rp = strrchr(buf, ')');
		if (rp && sscanf(rp + 1, " %*c %*d %d", &pg) == 1 && pg == pgrp)
			kill(pid, SIGKILL);
	}
	closedir(d);
}

/* Kills what the execution left in a session's cgroup, sparing the runner. */
void kill_background(const char *cg, pid_t keep)
{
	char buf[8192], *p;

	if (!cg[0]) {
		kill_pgrp_except(keep);
		return;
	}
	write_file(cg, "cgroup.freeze", "1");
	for (int i = 0; i < 50 && cg_key(cg, "cgroup.events", "frozen") != 1; i++)
		msleep(2);
	if (read_file(cg, "cgroup.procs", buf, sizeof(buf)) == 0) {
		for (p = buf; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
			pid_t pid = (pid_t)atoi(p);

			if (pid > 0 && pid != keep)
				kill(pid, SIGKILL);
		}
	}
	write_file(cg, "cgroup.freeze", "0");
}

void cg_remove(const char *cg)
{
	if (!cg[0])
		return;
	for (int i = 0; i < 200; i++) {
		if (rmdir(cg) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			break;
		msleep(5);
	}
}

/* Removes cgroups of earlier executions whose kept background processes have ended. */
void cg_sweep(struct agent *a)
{
	DIR *d;
	struct dirent *e;

	if (!a->isolation || !a->cg_root[0] || !(d = opendir(a->cg_root)))
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];

		if (e->d_name[0] != 'x')
			continue;
		snprintf(path, sizeof(path), "%s/%s", a->cg_root, e->d_name);
		rmdir(path);
	}
	closedir(d);
}

/* At start: a previous agent's executions (it crashed) are killed and removed. */
void agent_cgroups_reset(struct agent *a)
{
	DIR *d;
	struct dirent *e;

	if (!a->isolation || !a->cg_root[0] || !(d = opendir(a->cg_root)))
		return;
	while ((e = readdir(d))) {
		struct run r = { .pid = 0 };

		if (e->d_name[0] != 'x' && e->d_name[0] != 's')
			continue;
		snprintf(r.cg, sizeof(r.cg), "%s/%s", a->cg_root, e->d_name);
		kill_tree(&r);
		cg_remove(r.cg);
	}
	closedir(d);
}
