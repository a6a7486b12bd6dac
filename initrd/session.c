/* SPDX-License-Identifier: MIT */
/*
 * EXEC for python and node: a runner per session (or one-shot) that takes
 * the code as a request on its fd 3 and answers on fd 4
 * (docs/runner-protocol.md). See exec.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_internal.h"

static const char *runner_script(const char *lang)
{
	return !strcmp(lang, "python") ? "python/runner.py" : "node/runner.js";
}

static const char *runner_interp(const char *lang)
{
	return !strcmp(lang, "python") ? "python3" : "node";
}

void agent_langs(const struct agent *a, char *out, size_t cap)
{
	static const char *const langs[] = { "python", "node" };
	size_t n = (size_t)snprintf(out, cap, "sh");

	for (size_t i = 0; i < 2 && n < cap; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", a->runtimes, runner_script(langs[i]));
		if (access(path, R_OK) == 0)
			n += (size_t)snprintf(out + n, cap - n, ",%s", langs[i]);
	}
}

static void session_destroy(struct session *s)
{
	struct run r = { .pid = s->pid };

	if (!s->used)
		return;
	snprintf(r.cg, sizeof(r.cg), "%s", s->cg);
	kill_tree(&r);
	close_fd(&s->req_fd);
	close_fd(&s->resp_fd);
	close_fd(&s->out_fd);
	close_fd(&s->err_fd);
	close_fd(&s->pidfd);
	if (s->pid > 0)
		waitpid(s->pid, NULL, 0);
	cg_remove(s->cg);
	memset(s, 0, sizeof(*s));
}

void agent_sessions_reset(struct agent *a)
{
	for (int i = 0; i < AGENT_MAX_SESSIONS; i++)
		session_destroy(&a->sessions[i]);
}

static int session_start(struct exec_ctx *x, struct session *s, char *why, size_t why_cap)
{
	struct agent *a = x->a;
	int p_out[2] = { -1, -1 }, p_err[2] = { -1, -1 }, p_req[2] = { -1, -1 },
	    p_resp[2] = { -1, -1 };
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC), fds[5];
	char script[PATH_MAX];
	char *argv[3];

	memset(s, 0, sizeof(*s));
	s->req_fd = s->resp_fd = s->out_fd = s->err_fd = s->pidfd = -1;
	snprintf(script, sizeof(script), "%s/%s", a->runtimes, runner_script(x->m.lang));
	if (access(script, R_OK) != 0) {
		snprintf(why, why_cap, "the %s runtime is not installed (no %s)", x->m.lang,
			 script);
		close_fd(&null_fd);
		return -ENOENT;
	}
	if (null_fd < 0 || pipe2(p_out, O_CLOEXEC) < 0 || pipe2(p_err, O_CLOEXEC) < 0 ||
	    pipe2(p_req, O_CLOEXEC) < 0 || pipe2(p_resp, O_CLOEXEC) < 0) {
		snprintf(why, why_cap, "cannot create pipes: %s", strerror(errno));
		goto fail;
	}
	cg_create(a, 's', s->cg, sizeof(s->cg));
	fds[0] = null_fd;
	fds[1] = p_out[1];
	fds[2] = p_err[1];
	fds[3] = p_req[0];
	fds[4] = p_resp[1];
	argv[0] = (char *)runner_interp(x->m.lang);
	argv[1] = script;
	argv[2] = NULL;
	s->pid = spawn(a, s->cg, fds, 5, argv, x->envp);
	if (s->pid < 0) {
		snprintf(why, why_cap, "fork failed: %s", strerror(errno));
		goto fail;
	}
	s->used = true;
	s->pidfd = open_pidfd(s->pid);
	s->out_fd = p_out[0];
	s->err_fd = p_err[0];
	s->req_fd = p_req[1];
	s->resp_fd = p_resp[0];
	nonblock(s->out_fd);
	nonblock(s->err_fd);
	nonblock(s->req_fd);
	nonblock(s->resp_fd);
	snprintf(s->name, sizeof(s->name), "%s", x->m.session);
	snprintf(s->lang, sizeof(s->lang), "%s", x->m.lang);
	s->next_id = 1;
	close(p_out[1]);
	close(p_err[1]);
	close(p_req[0]);
	close(p_resp[1]);
	close(null_fd);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&p_out[i]);
		close_fd(&p_err[i]);
		close_fd(&p_req[i]);
		close_fd(&p_resp[i]);
	}
	close_fd(&null_fd);
	cg_remove(s->cg);
	s->cg[0] = 0;
	return -EAGAIN;
}

static bool session_alive(struct session *s)
{
	int st;

	return s->used && waitpid(s->pid, &st, WNOHANG) == 0;
}

/* Finds the session's runner, or a free slot (evicting the least recently used). */
static struct session *session_slot(struct agent *a, const char *name, const char *lang,
				    bool *found)
{
	struct session *lru = NULL;

	*found = false;
	if (name[0]) {
		for (int i = 0; i < AGENT_MAX_SESSIONS; i++) {
			struct session *s = &a->sessions[i];

			if (s->used && !strcmp(s->name, name) && !strcmp(s->lang, lang)) {
				if (session_alive(s)) {
					*found = true;
					return s;
				}
				session_destroy(s);
				return s;
			}
		}
	}
	for (int i = 0; i < AGENT_MAX_SESSIONS; i++) {
		struct session *s = &a->sessions[i];

		if (!s->used)
			return s;
		if (!lru || s->last_used_ns < lru->last_used_ns)
			lru = s;
	}
	session_destroy(lru);
	return lru;
}

static char *build_request(uint64_t id, const struct exec_ctx *x, size_t *len)
{
	bool stdin_ok = x->m.stdin_len && utf8_valid(x->in, x->m.stdin_len, NULL);
	size_t cap = 64 + json_quote_len(x->code, x->m.code_len) +
		     (stdin_ok ? json_quote_len(x->in, x->m.stdin_len) : 4);
	char *buf = malloc(cap + 4), *p;

	if (!buf)
		return NULL;
	p = buf + 4;
	p += sprintf(p, "{\"id\":%llu,\"code\":", (unsigned long long)id);
	p += json_quote(p, x->code, x->m.code_len);
	p += sprintf(p, ",\"stdin\":");
	if (stdin_ok)
		p += json_quote(p, x->in, x->m.stdin_len);
	else
		p += sprintf(p, "null");
	*p++ = '}';
	*len = (size_t)(p - buf);
	for (int i = 0; i < 4; i++)
		buf[i] = (char)(((*len - 4) >> (8 * i)) & 0xff);
	return buf;
}

int run_runner(struct exec_ctx *x)
{
	struct agent *a = x->a;
	struct sv_msg_result res = { 0 };
	struct run r = { .pidfd = -1, .req_fd = -1, .resp_fd = -1 };
	struct runner_resp rr = { 0 };
	struct session *s, tmp;
	bool one_shot = x->m.session[0] == 0, found;
	char why[PATH_MAX + 128] = "";
	uint64_t oom_before, rid;
	char *req;
	size_t req_len;
	int ret;

	if (one_shot) {
		s = &tmp;
		found = false;
	} else {
		s = session_slot(a, x->m.session, x->m.lang, &found);
	}
	if (!found) {
		ret = session_start(x, s, why, sizeof(why));
		if (ret < 0)
			return agent_error(a, x->id, -ret, "%s", why);
		x->flags |= SV_RES_SESSION_NEW;
	}
	s->last_used_ns = now_ns();
	rid = s->next_id++;
	req = build_request(rid, x, &req_len);
	if (!req) {
		if (one_shot)
			session_destroy(s);
		return agent_error(a, x->id, ENOMEM, "out of memory building the request");
	}
	oom_before = cg_key(s->cg, "memory.events", "oom_kill");
	r.pid = s->pid;
	r.pidfd = s->pidfd;
	r.out_fd = s->out_fd;
	r.err_fd = s->err_fd;
	r.req_fd = s->req_fd;
	r.req = req;
	r.req_len = req_len;
	r.resp_fd = s->resp_fd;
	snprintf(r.cg, sizeof(r.cg), "%s", s->cg);
	x->start_ns = now_ns();
	x->deadline_ns = x->start_ns + x->m.timeout_ms * 1000000ull;

	run_loop(x, &r);
	free(req);
	if (r.resp_done && !r.resp_bad) {
		size_t jl = r.resp_len - 4;

		r.resp[r.resp_len] = 0;
		if (runner_resp_parse((const char *)r.resp + 4, jl, &rr) < 0 ||
		    rr.id != (int64_t)rid)
			r.resp_bad = true;
	}
	if (r.resp_done && !r.resp_bad) {
		/* The runner flushed its output before answering: take it. */
		drain(x, &r, false, 1000);
		res.exit_code = rr.ok ? 0 : 1;
		if (!rr.ok)
			res.flags |= SV_RES_CODE_ERROR;
		if (rr.value) {
			res.value = (const uint8_t *)rr.value;
			res.value_len = (uint32_t)(rr.value_len < UINT32_MAX ? rr.value_len : 0);
		}
		if (rr.error) {
			res.error = (const uint8_t *)rr.error;
			res.error_len = (uint32_t)(rr.error_len < UINT32_MAX ? rr.error_len : 0);
		}
		if (!(x->m.flags & SV_EXEC_KEEP_BACKGROUND) && !one_shot)
			kill_background(s->cg, s->pid);
	} else {
		/* The runner died, timed out or talked nonsense: it is gone. */
		if (r.resp_bad)
			snprintf(why, sizeof(why), "the %s runner sent a malformed response",
				 x->m.lang);
		else if (r.timed_out)
			snprintf(why, sizeof(why), "timed out after %llu ms",
				 (unsigned long long)x->m.timeout_ms);
		kill_tree(&r);
		drain(x, &r, true, 1000);
		reap(&r, true);
		set_exit(&res, &r);
		if (r.resp_bad && res.exit_code == 0)
			res.exit_code = 1;
		if (!one_shot)
			res.flags |= SV_RES_SESSION_LOST;
		if (r.timed_out)
			res.flags |= SV_RES_TIMED_OUT;
		if (!why[0] && r.exited && WIFEXITED(r.status))
			snprintf(why, sizeof(why), "the %s runner exited with status %d",
				 x->m.lang, WEXITSTATUS(r.status));
		else if (!why[0] && r.exited && WIFSIGNALED(r.status))
			snprintf(why, sizeof(why), "the %s runner was killed by signal %d",
				 x->m.lang, WTERMSIG(r.status));
		if (why[0]) {
			res.error = (const uint8_t *)why;
			res.error_len = (uint32_t)strlen(why);
		}
		if (s->pid == r.pid && r.exited)
			s->pid = 0;	/* already reaped */
	}
	if (cg_key(s->cg, "memory.events", "oom_kill") > oom_before)
		res.flags |= SV_RES_OOM_KILLED;
	ret = send_result(x, &res);
	runner_resp_free(&rr);
	free(r.resp);
	if (one_shot || (res.flags & SV_RES_SESSION_LOST))
		session_destroy(s);
	else
		s->execs++;
	return ret;
}
