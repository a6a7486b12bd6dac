/* SPDX-License-Identifier: MIT */
/*
 * EXEC's processes: the environment, starting a process (sh or a runner),
 * pumping its output to the host, the event loop of one execution and the
 * RESULT. See exec.c.
 */
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
#include <unistd.h>

#include "exec_internal.h"

#define RESP_MAX (16u << 20)		/* runner response frame */
#define KILL_GRACE_MS 5000		/* wait for a killed tree to exit */

extern char **environ;

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

void free_env(char **envp)
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
char **build_env(struct agent *a, const uint8_t *payload, size_t len)
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
pid_t spawn(struct agent *a, const char *cg, const int *fds, int nfds, char **argv,
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

int open_pidfd(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A memfd (or unlinked temp file) holding data, positioned at 0. */
int data_fd(const uint8_t *data, size_t len)
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

void nonblock(int fd)
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
void drain(struct exec_ctx *x, struct run *r, bool eof_only, int budget_ms)
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

void reap(struct run *r, bool block)
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
void run_loop(struct exec_ctx *x, struct run *r)
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

void set_exit(struct sv_msg_result *res, const struct run *r)
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

int send_result(struct exec_ctx *x, struct sv_msg_result *res)
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
