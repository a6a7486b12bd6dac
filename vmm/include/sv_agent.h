/* SPDX-License-Identifier: MIT */
/*
 * Host side of the agent protocol (docs/protocol.md): talks to the guest
 * agent over a connected stream fd (the host end of the virtio-console port
 * "sandvisor.ctl", or a socketpair in tests).
 *
 * One request at a time per client; not thread-safe (one client per thread).
 * Every call has a deadline. When it passes, or the stream breaks, the call
 * returns -ETIMEDOUT / -EPIPE / -ECONNRESET / -EPROTO and the client is
 * unusable from then on (every later call fails fast): the caller should
 * kill the VM.
 */
#ifndef SV_AGENT_CLIENT_H
#define SV_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandvisor.h"

struct sv_agent;

struct sv_agent_info {
	uint32_t version;
	uint64_t caps;		/* SV_CAP_* (proto.h): bit 0 = user code is isolated */
	char agent[64];		/* agent name and version */
	char langs[64];		/* "sh,python,node" */
};

/*
 * Takes over fd (sets O_NONBLOCK; does not close it), asks the agent for its
 * HELLO and checks its protocol version. timeout_ms bounds the wait (a guest
 * that is still booting needs its boot time here).
 */
int sv_agent_connect(int fd, int timeout_ms, struct sv_agent **out, struct sv_error *err);
const struct sv_agent_info *sv_agent_get_info(const struct sv_agent *c);
/* Frees the client; the fd stays open (the caller owns it). */
void sv_agent_free(struct sv_agent *c);
/* True once a call failed in a way that leaves the stream unusable. */
bool sv_agent_broken(const struct sv_agent *c);

struct sv_exec_req {
	const char *lang;		/* "sh", "python", "node" */
	const void *code;
	size_t code_len;		/* bytes, up to 16 MiB */
	const void *stdin_data;		/* NULL for none */
	size_t stdin_len;
	const char *const *env;		/* NULL-terminated "NAME=value" list, or NULL */
	const char *session;		/* NULL or "" = one-shot */
	uint32_t timeout_ms;		/* 0 = 30 s */
	uint64_t output_cap;		/* bytes kept per stream; 0 = 1 MiB */
	bool keep_background;		/* leave processes the code started running */
};

/* result flags: the SV_RES_* values of proto.h */
#define SV_EXEC_STDOUT_TRUNCATED 0x01u
#define SV_EXEC_STDERR_TRUNCATED 0x02u
#define SV_EXEC_TIMED_OUT 0x04u
#define SV_EXEC_OOM_KILLED 0x08u
#define SV_EXEC_SESSION_LOST 0x10u
#define SV_EXEC_SESSION_NEW 0x20u
#define SV_EXEC_CODE_ERROR 0x40u

struct sv_exec_result {
	int exit_code;			/* -1 when killed by a signal */
	int signal;			/* 0 if none */
	uint64_t duration_ms;		/* measured in the guest */
	uint32_t flags;			/* SV_EXEC_* */
	uint64_t stdout_bytes;		/* written by the code, including dropped bytes */
	uint64_t stderr_bytes;
	char *value;			/* trailing expression's repr, or NULL (malloc'd) */
	char *error;			/* error text / traceback, or NULL (malloc'd) */
};

/* stream: 1 = stdout, 2 = stderr. Bytes are passed through exactly as the code wrote them. */
typedef void (*sv_output_fn)(void *opaque, int stream, const uint8_t *data, size_t len);

/*
 * Runs code and waits for its result. on_output (may be NULL) sees the output
 * as it arrives. Returns 0 when the code ran (whatever its exit status: see
 * *res), or a negative errno with err filled: the agent refused the request
 * (-EINVAL unknown language / empty code, -EILSEQ, -ENOENT runtime missing,
 * ...) or the connection failed. The host deadline is timeout + 10 s.
 */
int sv_agent_exec(struct sv_agent *c, const struct sv_exec_req *req, sv_output_fn on_output,
		  void *opaque, struct sv_exec_result *res, struct sv_error *err);
void sv_exec_result_free(struct sv_exec_result *res);

/*
 * Files, paths relative to /mnt/data (or absolute under it). timeout_ms
 * bounds each step (inactivity), not the whole transfer. mode 0 = 0644.
 */
int sv_agent_put_fd(struct sv_agent *c, int local_fd, const char *remote, uint32_t mode,
		    int timeout_ms, struct sv_error *err);
int sv_agent_put_path(struct sv_agent *c, const char *local, const char *remote,
		      int timeout_ms, struct sv_error *err);
int sv_agent_get_fd(struct sv_agent *c, const char *remote, int local_fd, int timeout_ms,
		    struct sv_error *err);
/* Writes to local via a temporary file renamed into place on success. */
int sv_agent_get_path(struct sv_agent *c, const char *remote, const char *local,
		      int timeout_ms, struct sv_error *err);

struct sv_dirent {
	char name[256];
	uint64_t size;
	uint32_t type;		/* 1 file, 2 directory, 3 symlink, 0 other */
	uint32_t mode;
	int64_t mtime_ns;
};

/* *ents is malloc'd (free() it), sorted by name. */
int sv_agent_list(struct sv_agent *c, const char *remote, struct sv_dirent **ents, size_t *n,
		  int timeout_ms, struct sv_error *err);
int sv_agent_delete(struct sv_agent *c, const char *remote, bool recursive, int timeout_ms,
		    struct sv_error *err);
int sv_agent_mkdir(struct sv_agent *c, const char *remote, int timeout_ms,
		   struct sv_error *err);
/* Round trip; *rtt_ns (may be NULL) gets the time it took. */
int sv_agent_ping(struct sv_agent *c, int timeout_ms, uint64_t *rtt_ns, struct sv_error *err);
/* Asks the guest to sync and reset; returns once the agent acknowledged. */
int sv_agent_shutdown(struct sv_agent *c, int timeout_ms, struct sv_error *err);

#endif
