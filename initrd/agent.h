/* SPDX-License-Identifier: MIT */
/*
 * The guest agent: state shared by agent.c (loop), exec.c with session.c,
 * proc.c and cgroup.c (EXEC; their own shared parts in exec_internal.h) and
 * files.c (files).
 */
#ifndef SV_AGENT_H
#define SV_AGENT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define AGENT_NAME "sandvisor-agent 0.1"
#define AGENT_MAX_SESSIONS 16
#define AGENT_PATH_MAX 1024		/* configured directories (leaves room to append) */
#define SANDBOX_UID 1000
#define SANDBOX_GID 1000

/* Returned by request handlers when the port is unusable (desync, EOF, write failure). */
#define AGENT_BROKEN (-1000)

struct session {
	bool used;
	char name[SV_PROTO_SESSION_MAX + 1];
	char lang[SV_PROTO_LANG_MAX + 1];
	pid_t pid;		/* the runner */
	int pidfd;
	int req_fd;		/* runner's fd 3 (we write) */
	int resp_fd;		/* runner's fd 4 (we read) */
	int out_fd, err_fd;	/* runner's stdout/stderr (we read) */
	char cg[PATH_MAX];	/* its cgroup, "" without isolation */
	uint64_t next_id;
	uint64_t last_used_ns;
	unsigned execs;		/* executions run by this runner */
};

struct agent {
	int fd;				/* control port */
	char port[AGENT_PATH_MAX];		/* "" when given --fd (cannot reopen) */
	bool isolation;
	bool debug;
	int data_fd;			/* O_PATH of the data directory */
	char data_dir[AGENT_PATH_MAX];
	char runtimes[AGENT_PATH_MAX];	/* <lang>/runner.{py,js} */
	char bin_dir[AGENT_PATH_MAX];		/* interpreters; put first in PATH ("" = none) */
	char cg_root[AGENT_PATH_MAX];		/* "" without isolation */
	uid_t uid;
	gid_t gid;
	unsigned cg_seq;
	uint32_t discard_id;		/* drop data frames of this rejected request */
	bool pending;			/* rx/hdr hold a frame not yet dispatched */
	bool eof;			/* the port read EOF or a write failed */
	bool desync;			/* a bad header: frame boundaries are lost */
	struct sv_frame_hdr hdr;
	uint8_t *rx;			/* SV_PROTO_MAX_PAYLOAD */
	uint8_t *tx;			/* SV_PROTO_MAX_PAYLOAD */
	struct session sessions[AGENT_MAX_SESSIONS];
};

/* agent.c */
void agent_log(const struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int agent_send(struct agent *a, uint16_t type, uint16_t flags, uint32_t id, const void *p,
	       size_t len);
/* Sends ERROR(errnum, message) for id; returns 0 or AGENT_BROKEN. */
int agent_error(struct agent *a, uint32_t id, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
int agent_ok(struct agent *a, uint32_t id);
/*
 * Receives the next data frame of request id with the given type into a->rx.
 * 1: got it (a->hdr); 0: a different frame arrived (left pending, the
 * request should fail); AGENT_BROKEN: the port is unusable.
 */
int agent_recv_data(struct agent *a, uint32_t id, uint16_t type);

/* exec.c, session.c, cgroup.c */
int agent_exec(struct agent *a, const struct sv_frame_hdr *h);
void agent_sessions_reset(struct agent *a);
void agent_cgroups_reset(struct agent *a);
/* Languages with a runner present, comma-separated (for HELLO). */
void agent_langs(const struct agent *a, char *out, size_t cap);

/* files.c */
int agent_put_file(struct agent *a, const struct sv_frame_hdr *h);
int agent_get_file(struct agent *a, const struct sv_frame_hdr *h);
int agent_list(struct agent *a, const struct sv_frame_hdr *h);
int agent_delete(struct agent *a, const struct sv_frame_hdr *h);
int agent_mkdir(struct agent *a, const struct sv_frame_hdr *h);

/* json.c: the runner protocol's JSON (docs/runner-protocol.md) */
bool utf8_valid(const uint8_t *s, size_t n, size_t *bad_off);
/* Appends s as a JSON string literal (with quotes) to out; returns bytes written. */
size_t json_quote(char *out, const uint8_t *s, size_t n);
size_t json_quote_len(const uint8_t *s, size_t n);

struct runner_resp {
	int64_t id;
	bool ok;
	char *value;		/* malloc'd or NULL */
	size_t value_len;
	char *error;
	size_t error_len;
};
/* 0 or -EBADMSG; frees nothing on failure (fields stay NULL). */
int runner_resp_parse(const char *js, size_t n, struct runner_resp *r);
void runner_resp_free(struct runner_resp *r);

#endif
