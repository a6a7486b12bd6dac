/* SPDX-License-Identifier: MIT */
/*
 * EXEC internals, shared by the files that run code (overview in exec.c):
 * exec.c (the request, sh), session.c (python/node runner sessions),
 * proc.c (environment, processes, output, RESULT) and cgroup.c (cgroups,
 * killing trees). The rest of the agent sees only agent.h.
 */
#ifndef SV_EXEC_INTERNAL_H
#define SV_EXEC_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

struct exec_ctx {
	struct agent *a;
	uint32_t id;
	struct sv_msg_exec m;
	uint8_t *code;
	uint8_t *in;
	char **envp;
	uint64_t cap;
	uint64_t out_bytes, err_bytes;
	uint64_t flags;			/* SV_RES_* */
	uint64_t start_ns, deadline_ns;
	bool broken;			/* the port failed: stop sending */
};

/* One running process (sh or runner) and the pipes we watch. */
struct run {
	pid_t pid;
	int pidfd;
	int out_fd, err_fd;
	bool out_eof, err_eof;
	char cg[PATH_MAX];		/* cgroup to kill, "" to use the process group */
	bool exited;
	int status;
	bool timed_out;
	/* runner only */
	int req_fd;
	const char *req;
	size_t req_len, req_off;
	int resp_fd;
	uint8_t *resp;
	size_t resp_len, resp_cap;
	bool resp_done, resp_eof, resp_bad;
};

static inline uint64_t now_ns(void)
{
	return sv_proto_now_ns();
}

static inline void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

static inline void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* cgroup.c */
int write_file(const char *dir, const char *name, const char *val);
uint64_t cg_key(const char *cg, const char *file, const char *key);
int cg_create(struct agent *a, char prefix, char *out, size_t cap);
void kill_tree(const struct run *r);
void kill_background(const char *cg, pid_t keep);
void cg_remove(const char *cg);
void cg_sweep(struct agent *a);

/* proc.c */
void free_env(char **envp);
char **build_env(struct agent *a, const uint8_t *payload, size_t len);
pid_t spawn(struct agent *a, const char *cg, const int *fds, int nfds, char **argv,
	    char **envp);
int open_pidfd(pid_t pid);
int data_fd(const uint8_t *data, size_t len);
void nonblock(int fd);
void drain(struct exec_ctx *x, struct run *r, bool eof_only, int budget_ms);
void reap(struct run *r, bool block);
void run_loop(struct exec_ctx *x, struct run *r);
void set_exit(struct sv_msg_result *res, const struct run *r);
int send_result(struct exec_ctx *x, struct sv_msg_result *res);

/* session.c */
int run_runner(struct exec_ctx *x);

#endif
