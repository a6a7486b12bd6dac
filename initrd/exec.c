/* SPDX-License-Identifier: MIT */
/*
 * EXEC: receive the code, run it (sh directly, python/node through a session
 * runner, docs/runner-protocol.md), stream its output, enforce the limits and
 * report the RESULT.
 *
 * Every execution's processes live in a cgroup under /sys/fs/cgroup/user
 * (memory.max, pids.max set by init), so cgroup.kill ends the whole tree, even
 * processes that left the process group. Without isolation (tests on a
 * host) the process group stands in for the cgroup.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec_internal.h"

#define SH_ARGV_MAX (64u << 10)		/* bigger code goes through a file */

/* ---- sh ---- */

static int run_sh(struct exec_ctx *x)
{
	struct agent *a = x->a;
	struct sv_msg_result res = { 0 };
	struct run r = { .pidfd = -1, .req_fd = -1, .resp_fd = -1 };
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, fds[4], nfds = 3, ret;
	int in_fd = -1, code_fd = -1;
	char *argv[4] = { "/bin/sh", "-c", (char *)x->code, NULL };
	char err_text[256] = "";

	if (x->m.code_len >= SH_ARGV_MAX || memchr(x->code, 0, x->m.code_len)) {
		code_fd = data_fd(x->code, x->m.code_len);
		if (code_fd < 0)
			return agent_error(a, x->id, EIO, "cannot stage the code: %s",
					   strerror(-code_fd));
		argv[1] = "/proc/self/fd/3";
		argv[2] = NULL;
	}
	in_fd = x->m.stdin_len ? data_fd(x->in, x->m.stdin_len)
			       : open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		ret = agent_error(a, x->id, EMFILE, "cannot set up the process: %s",
				  strerror(errno));
		goto out;
	}
	cg_create(a, 'x', r.cg, sizeof(r.cg));
	fds[0] = in_fd;
	fds[1] = out[1];
	fds[2] = err[1];
	if (code_fd >= 0)
		fds[nfds++] = code_fd;
	x->start_ns = now_ns();
	x->deadline_ns = x->start_ns + x->m.timeout_ms * 1000000ull;
	r.pid = spawn(a, r.cg, fds, nfds, argv, x->envp);
	if (r.pid < 0) {
		ret = agent_error(a, x->id, errno, "fork failed: %s", strerror(errno));
		goto out;
	}
	close_fd(&out[1]);
	close_fd(&err[1]);
	r.out_fd = out[0];
	r.err_fd = err[0];
	nonblock(r.out_fd);
	nonblock(r.err_fd);
	r.pidfd = open_pidfd(r.pid);

	run_loop(x, &r);
	if (!(x->m.flags & SV_EXEC_KEEP_BACKGROUND) || r.timed_out) {
		kill_tree(&r);
		drain(x, &r, true, 1000);
	} else {
		/* Kept processes may hold the pipes open: take what is there now. */
		drain(x, &r, false, 200);
	}
	reap(&r, true);
	set_exit(&res, &r);
	if (r.timed_out) {
		res.flags |= SV_RES_TIMED_OUT;
		snprintf(err_text, sizeof(err_text), "timed out after %llu ms",
			 (unsigned long long)x->m.timeout_ms);
	}
	if (cg_key(r.cg, "memory.events", "oom_kill") > 0)
		res.flags |= SV_RES_OOM_KILLED;
	if (err_text[0]) {
		res.error = (const uint8_t *)err_text;
		res.error_len = (uint32_t)strlen(err_text);
	}
	ret = send_result(x, &res);
	if (!(x->m.flags & SV_EXEC_KEEP_BACKGROUND) || r.timed_out)
		cg_remove(r.cg);
out:
	close_fd(&r.pidfd);
	close_fd(&out[0]);
	close_fd(&out[1]);
	close_fd(&err[0]);
	close_fd(&err[1]);
	close_fd(&in_fd);
	close_fd(&code_fd);
	return ret;
}

/* ---- request ---- */

/* Receives a CODE or STDIN stream of exactly len bytes into a new buffer. */
static int recv_stream(struct agent *a, uint32_t id, uint16_t type, uint64_t len,
		       uint8_t **out)
{
	uint8_t *buf = malloc(len + 1);
	uint64_t got = 0;

	*out = NULL;
	if (!buf) {
		a->discard_id = id;
		return agent_error(a, id, ENOMEM, "out of memory for %llu bytes of %s",
				   (unsigned long long)len, sv_proto_type_name(type));
	}
	for (;;) {
		int r = agent_recv_data(a, id, type);

		if (r == AGENT_BROKEN) {
			free(buf);
			return AGENT_BROKEN;
		}
		if (r == 0) {
			free(buf);
			return agent_error(a, id, EPROTO, "EXEC: expected %s frames, got %s",
					   sv_proto_type_name(type),
					   sv_proto_type_name(a->hdr.type));
		}
		if (a->hdr.len > len - got) {
			free(buf);
			a->discard_id = id;
			if (a->hdr.flags & SV_FRAME_END && type == SV_MSG_STDIN)
				a->discard_id = 0;
			return agent_error(a, id, EPROTO, "EXEC: more %s bytes than announced (%llu)",
					   sv_proto_type_name(type), (unsigned long long)len);
		}
		memcpy(buf + got, a->rx, a->hdr.len);
		got += a->hdr.len;
		if (a->hdr.flags & SV_FRAME_END)
			break;
	}
	if (got != len) {
		free(buf);
		a->discard_id = id;
		return agent_error(a, id, EPROTO, "EXEC: %s had %llu bytes, %llu announced",
				   sv_proto_type_name(type), (unsigned long long)got,
				   (unsigned long long)len);
	}
	buf[len] = 0;
	*out = buf;
	return 1;
}

int agent_exec(struct agent *a, const struct sv_frame_hdr *h)
{
	struct exec_ctx x = { .a = a, .id = h->id };
	bool runner;
	size_t bad;
	int r;

	r = sv_msg_exec_decode(a->rx, h->len, &x.m);
	if (r < 0) {
		a->discard_id = h->id;
		return agent_error(a, h->id, -r, "malformed EXEC: %s%s", strerror(-r),
				   r == -EINVAL ? " (language, sizes or env entries)" : "");
	}
	runner = !strcmp(x.m.lang, "python") || !strcmp(x.m.lang, "node");
	if (!runner && strcmp(x.m.lang, "sh")) {
		a->discard_id = h->id;
		return agent_error(a, h->id, EINVAL, "unknown language '%s' (sh, python, node)",
				   x.m.lang);
	}
	if (x.m.code_len == 0) {
		a->discard_id = h->id;
		return agent_error(a, h->id, EINVAL, "empty code");
	}
	if (x.m.timeout_ms == 0)
		x.m.timeout_ms = SV_PROTO_DEFAULT_TIMEOUT_MS;
	if (x.m.timeout_ms > 24ull * 3600 * 1000)
		x.m.timeout_ms = 24ull * 3600 * 1000;
	x.cap = x.m.output_cap ? x.m.output_cap : SV_PROTO_DEFAULT_OUTPUT_CAP;
	x.envp = build_env(a, a->rx, h->len);
	if (!x.envp) {
		a->discard_id = h->id;
		return agent_error(a, h->id, ENOMEM, "out of memory for the environment");
	}
	r = recv_stream(a, h->id, SV_MSG_CODE, x.m.code_len, &x.code);
	if (r == 1 && x.m.stdin_len)
		r = recv_stream(a, h->id, SV_MSG_STDIN, x.m.stdin_len, &x.in);
	if (r != 1)
		goto out;
	cg_sweep(a);
	if (runner && !utf8_valid(x.code, x.m.code_len, &bad)) {
		r = agent_error(a, h->id, EILSEQ, "%s code is not valid UTF-8 (at byte %zu)",
				x.m.lang, bad);
		goto out;
	}
	r = runner ? run_runner(&x) : run_sh(&x);
out:
	free(x.code);
	free(x.in);
	free_env(x.envp);
	return r;
}
