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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define SH_ARGV_MAX (64u << 10)		/* bigger code goes through a file */
#define RESP_MAX (16u << 20)		/* runner response frame */
#define KILL_GRACE_MS 5000		/* wait for a killed tree to exit */

extern char **environ;

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

static uint64_t now_ns(void)
{
	return sv_proto_now_ns();
}

static void msleep(unsigned ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- cgroups ---- */

static int write_file(const char *dir, const char *name, const char *val)
{
	char path[PATH_MAX];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
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
static uint64_t cg_key(const char *cg, const char *file, const char *key)
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

static int cg_create(struct agent *a, char prefix, char *out, size_t cap)
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
static void kill_tree(const struct run *r)
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
static void kill_background(const char *cg, pid_t keep)
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

static void cg_remove(const char *cg)
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
static void cg_sweep(struct agent *a)
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

/* ---- environment ---- */

static char *dupn(const uint8_t *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

static void free_env(char **envp)
{
	for (size_t i = 0; envp && envp[i]; i++)
		free(envp[i]);
	free(envp);
}

static int env_set(char **envp, size_t *n, char *entry)
{
	size_t nl;

	if (!entry)
		return -ENOMEM;
	nl = strcspn(entry, "=");
	for (size_t i = 0; i < *n; i++) {
		if (!strncmp(envp[i], entry, nl) && envp[i][nl] == '=') {
			free(envp[i]);
			envp[i] = entry;
			return 0;
		}
	}
	envp[(*n)++] = entry;
	envp[*n] = NULL;
	return 0;
}

/* Defaults, then the EXEC's ENV records (payload still in a->rx) on top. */
static char **build_env(struct agent *a, const uint8_t *payload, size_t len)
{
	char **envp = calloc(SV_PROTO_MAX_ENV + 32, sizeof(char *));
	struct sv_tlv_reader rd;
	struct sv_tlv t;
	size_t n = 0;
	char buf[PATH_MAX + 64];
	const char *path = getenv("PATH");

	if (!envp)
		return NULL;
	if (a->isolation || !path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	snprintf(buf, sizeof(buf), "PATH=%s%s%s", a->bin_dir, a->bin_dir[0] ? ":" : "", path);
	env_set(envp, &n, strdup(buf));
	snprintf(buf, sizeof(buf), "HOME=%s", a->isolation ? "/home/user" : a->data_dir);
	env_set(envp, &n, strdup(buf));
	env_set(envp, &n, strdup("LANG=C.UTF-8"));
	env_set(envp, &n, strdup("TMPDIR=/tmp"));
	env_set(envp, &n, strdup("MPLBACKEND=Agg"));
	env_set(envp, &n, strdup("PYTHONDONTWRITEBYTECODE=1"));
	if (a->isolation) {
		env_set(envp, &n, strdup("USER=user"));
		env_set(envp, &n, strdup("LOGNAME=user"));
	}
	sv_tlv_reader_init(&rd, payload, len);
	while (sv_tlv_next(&rd, &t) > 0)
		if (t.tag == SV_T_ENV && n < SV_PROTO_MAX_ENV + 30)
			env_set(envp, &n, dupn(t.val, t.len));
	for (size_t i = 0; i < n; i++) {
		if (!envp[i]) {
			free_env(envp);
			return NULL;
		}
	}
	return envp;
}

/* ---- process start ---- */

/*
 * Forks a child that joins cg (if any), gets its own session and process
 * group, fds 0..nfds-1 from fds[], drops to the sandbox user and execs argv.
 */
static pid_t spawn(struct agent *a, const char *cg, const int *fds, int nfds, char **argv,
		   char **envp)
{
	pid_t pid = fork();
	int hi[8];

	if (pid != 0)
		return pid;
	/* Child: only async-signal-safe-ish calls, report failures on fd 2. */
	setsid();
	if (cg[0]) {
		char pidbuf[32];

		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		if (write_file(cg, "cgroup.procs", pidbuf) < 0)
			_exit(126);
	}
	{
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			if (write(fd, "0", 1) < 0) {
				/* the OOM killer may spare user code; the cgroup still caps it */
			}
			close(fd);
		}
	}
	for (int i = 0; i < nfds; i++)
		hi[i] = fcntl(fds[i], F_DUPFD, 64);
	for (int i = 0; i < nfds; i++)
		if (hi[i] < 0 || dup2(hi[i], i) < 0)
			_exit(126);
	syscall(SYS_close_range, (unsigned)nfds, ~0u, 0u);
	for (int i = 0; i < nfds; i++)
		fcntl(i, F_SETFD, 0);
	signal(SIGPIPE, SIG_DFL);
	if (chdir(a->data_dir) < 0)
		_exit(126);
	if (a->isolation) {
		if (setgroups(0, NULL) < 0 || setgid(a->gid) < 0 || setuid(a->uid) < 0)
			_exit(126);
		if (setuid(0) == 0)
			_exit(126);
	}
	environ = envp;
	execvp(argv[0], argv);
	dprintf(2, "sandvisor-agent: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int open_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A memfd (or unlinked temp file) holding data, positioned at 0. */
static int data_fd(const uint8_t *data, size_t len)
{
	int fd = memfd_create("sv-data", MFD_CLOEXEC);

	if (fd < 0)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (sv_proto_write_full(fd, data, len, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -EIO;
	}
	fchmod(fd, 0644);
	return fd;
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- output ---- */

static void emit(struct exec_ctx *x, int stream, const uint8_t *buf, size_t n)
{
	uint64_t *count = stream == 1 ? &x->out_bytes : &x->err_bytes;
	uint64_t kept = *count < x->cap ? *count : x->cap;
	size_t k = n;

	*count += n;
	if (kept + n > x->cap) {
		k = (size_t)(x->cap - kept);
		x->flags |= stream == 1 ? SV_RES_STDOUT_TRUNCATED : SV_RES_STDERR_TRUNCATED;
	}
	if (k && !x->broken &&
	    agent_send(x->a, stream == 1 ? SV_MSG_STDOUT : SV_MSG_STDERR, 0, x->id, buf, k) < 0)
		x->broken = true;
}

/* Reads what is there on one output pipe: 1 got data, 0 nothing now, -1 EOF. */
static int pump_one(struct exec_ctx *x, int fd, int stream)
{
	uint8_t buf[SV_PROTO_CHUNK];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n > 0) {
		emit(x, stream, buf, (size_t)n);
		return 1;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		return -1;
	return 0;
}

/*
 * Reads the output pipes until both hit EOF, or (eof_only false) until they
 * have nothing more, or budget_ms passes.
 */
static void drain(struct exec_ctx *x, struct run *r, bool eof_only, int budget_ms)
{
	uint64_t end = now_ns() + (uint64_t)budget_ms * 1000000ull;

	while ((!r->out_eof || !r->err_eof) && now_ns() < end) {
		struct pollfd p[2] = { { .fd = r->out_eof ? -1 : r->out_fd, .events = POLLIN },
				       { .fd = r->err_eof ? -1 : r->err_fd, .events = POLLIN } };
		int wait = eof_only ? (int)((end - now_ns()) / 1000000ull) + 1 : 0;

		if (poll(p, 2, wait) <= 0)
			break;
		if (p[0].revents && pump_one(x, r->out_fd, 1) < 0)
			r->out_eof = true;
		if (p[1].revents && pump_one(x, r->err_fd, 2) < 0)
			r->err_eof = true;
	}
}

/* Collects runner response bytes; sets resp_done when one whole frame is in. */
static void read_resp(struct run *r)
{
	for (;;) {
		size_t want;
		ssize_t n;

		if (r->resp_len >= 4) {
			uint32_t fl = (uint32_t)r->resp[0] | (uint32_t)r->resp[1] << 8 |
				      (uint32_t)r->resp[2] << 16 | (uint32_t)r->resp[3] << 24;

			if (fl > RESP_MAX) {
				r->resp_bad = r->resp_done = true;
				return;
			}
			if (r->resp_len >= 4 + (size_t)fl) {
				r->resp_done = true;
				return;
			}
			want = 4 + (size_t)fl;
		} else {
			want = 4;
		}
		if (r->resp_cap < want + 1) {
			size_t nc = want + 1 < 4096 ? 4096 : want + 1;
			uint8_t *nb = realloc(r->resp, nc);

			if (!nb) {
				r->resp_bad = r->resp_done = true;
				return;
			}
			r->resp = nb;
			r->resp_cap = nc;
		}
		/* Never read past this frame: the next one belongs to the next exec. */
		n = read(r->resp_fd, r->resp + r->resp_len, want - r->resp_len);
		if (n > 0) {
			r->resp_len += (size_t)n;
		} else if (n == 0) {
			r->resp_eof = true;
			return;
		} else {
			if (errno != EAGAIN && errno != EINTR)
				r->resp_eof = true;
			return;
		}
	}
}

static void reap(struct run *r, bool block)
{
	int st;

	if (r->exited || r->pid <= 0)
		return;
	if (waitpid(r->pid, &st, block ? 0 : WNOHANG) == r->pid) {
		r->exited = true;
		r->status = st;
	}
}

/*
 * The event loop of one execution: output, runner request/response, the
 * main process's exit and the deadline. Returns when the process exited or
 * the runner answered.
 */
static void run_loop(struct exec_ctx *x, struct run *r)
{
	uint64_t kill_deadline = 0;

	for (;;) {
		struct pollfd p[5];
		int np = 0, i_out = -1, i_err = -1, i_pid = -1, i_resp = -1, i_req = -1;
		uint64_t now = now_ns(), until;
		int wait;

		reap(r, false);
		if (r->exited || r->resp_done)
			return;
		if (r->resp_eof && r->pidfd < 0) {
			/* Runner closed fd 4: it is on its way out. */
		}
		if (!r->timed_out && now >= x->deadline_ns) {
			r->timed_out = true;
			kill_tree(r);
			kill_deadline = now + KILL_GRACE_MS * 1000000ull;
		}
		if (kill_deadline && now >= kill_deadline) {
			agent_log(x->a, "pid %d did not die after SIGKILL", (int)r->pid);
			return;
		}
		if (!r->out_eof)
			p[i_out = np++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
		if (!r->err_eof)
			p[i_err = np++] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
		if (r->pidfd >= 0)
			p[i_pid = np++] = (struct pollfd){ .fd = r->pidfd, .events = POLLIN };
		if (r->resp_fd >= 0 && !r->resp_eof)
			p[i_resp = np++] = (struct pollfd){ .fd = r->resp_fd, .events = POLLIN };
		if (r->req_fd >= 0 && r->req_off < r->req_len)
			p[i_req = np++] = (struct pollfd){ .fd = r->req_fd, .events = POLLOUT };
		until = kill_deadline ? kill_deadline : x->deadline_ns;
		wait = until > now ? (int)((until - now + 999999) / 1000000) : 0;
		/* Without a pidfd the exit is only seen by polling waitpid. */
		if (r->pidfd < 0 && wait > 20)
			wait = 20;
		if (poll(p, (nfds_t)np, wait) < 0 && errno != EINTR)
			msleep(10);
		if (i_out >= 0 && p[i_out].revents && pump_one(x, r->out_fd, 1) < 0)
			r->out_eof = true;
		if (i_err >= 0 && p[i_err].revents && pump_one(x, r->err_fd, 2) < 0)
			r->err_eof = true;
		if (i_resp >= 0 && p[i_resp].revents)
			read_resp(r);
		if (i_req >= 0 && p[i_req].revents) {
			ssize_t n = write(r->req_fd, r->req + r->req_off, r->req_len - r->req_off);

			if (n > 0)
				r->req_off += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				r->req_off = r->req_len;	/* runner gone: its exit tells */
		}
		if (x->broken && !r->timed_out) {
			/* Nobody is listening any more: stop the code. */
			x->deadline_ns = now;
		}
	}
}

static void set_exit(struct sv_msg_result *res, const struct run *r)
{
	if (!r->exited) {
		res->exit_code = -1;
		res->signal = SIGKILL;
	} else if (WIFEXITED(r->status)) {
		res->exit_code = WEXITSTATUS(r->status);
	} else if (WIFSIGNALED(r->status)) {
		res->exit_code = -1;
		res->signal = (uint32_t)WTERMSIG(r->status);
	}
}

static int send_result(struct exec_ctx *x, struct sv_msg_result *res)
{
	struct sv_tlv_writer w;

	if (x->broken)
		return AGENT_BROKEN;
	res->duration_ms = (now_ns() - x->start_ns) / 1000000ull;
	res->flags |= x->flags;
	res->stdout_bytes = x->out_bytes;
	res->stderr_bytes = x->err_bytes;
	if (res->value_len > SV_PROTO_TEXT_MAX)
		res->value_len = SV_PROTO_TEXT_MAX;
	if (res->error_len > SV_PROTO_TEXT_MAX)
		res->error_len = SV_PROTO_TEXT_MAX;
	sv_tlv_writer_init(&w, x->a->tx, SV_PROTO_MAX_PAYLOAD);
	sv_msg_result_encode(&w, res);
	return agent_send(x->a, SV_MSG_RESULT, 0, x->id, x->a->tx, w.len);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

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

/* ---- runners ---- */

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

static int run_runner(struct exec_ctx *x)
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
