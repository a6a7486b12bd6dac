/* SPDX-License-Identifier: MIT */
/*
 * agent_drive: runs the guest agent natively over a socketpair and drives it
 * with the host library (vmm/agent_client.c). Used by
 * tests/integration/agent_native.sh; handy for poking the agent by hand.
 *
 *   agent_drive AGENT [AGENT ARGS...] -- CMD ARGS... [-- CMD ARGS...]...
 *   agent_drive --connect UNIX_SOCKET -- CMD ...   (e.g. QEMU's chardev of the port)
 *
 * The agent gets "--fd 3" appended. Commands, run in order on one connection:
 *   exec LANG CODE [--session S] [--timeout MS] [--cap BYTES] [--keep-bg]
 *        [--stdin TEXT] [--code-file F] [--env N=V] [--out F] [--err F] [--result F]
 *        stdout/stderr of the code go to --out/--err (default: ours); the result
 *        (key=value lines) to --result (default: our stdout, after the output)
 *   put LOCAL REMOTE | get REMOTE LOCAL | list [REMOTE] | rm REMOTE [-r] | mkdir REMOTE
 *   ping | shutdown | info
 *   raw-badheader   (send garbage; expect ERROR id 0 + a new HELLO; reconnect)
 *   raw-badtlv      (an EXEC with a truncated TLV; expect ERROR with its id)
 * A refused request prints "ERROR <errno name> <message>" and the run goes on.
 * Exit status: 0, or 2 if the connection broke.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sv_agent.h"
#include "proto.h"
#include "util.h"

#define TIMEOUT_MS 20000

struct outs {
	int out, err;
};

static void on_output(void *opaque, int stream, const uint8_t *data, size_t len)
{
	struct outs *o = opaque;

	sv_write_all(stream == 1 ? o->out : o->err, data, len);
}

static const char *flag_names(uint32_t f, char *buf, size_t cap)
{
	static const char *const names[] = { "stdout_truncated", "stderr_truncated", "timed_out",
					     "oom_killed", "session_lost", "session_new",
					     "code_error" };
	size_t n = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
		if (f & (1u << i))
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "", names[i]);
	return buf;
}

static int open_out(const char *path, int dflt)
{
	int fd;

	if (!path)
		return dflt;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

static void report_error(FILE *f, const struct sv_error *e)
{
	fprintf(f, "ERROR %s %s\n", strerrorname_np(-e->code) ? strerrorname_np(-e->code) : "?",
		e->msg);
	fflush(f);
}

static char *slurp(const char *path, size_t *len)
{
	uint8_t *buf;

	if (sv_read_file(path, "code file", 64ull << 20, &buf, len, NULL) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(1);
	}
	return (char *)buf;
}

static int cmd_exec(struct sv_agent *c, int argc, char **argv)
{
	struct sv_exec_req req = { 0 };
	struct sv_exec_result res;
	struct sv_error err = { 0 };
	const char *env[64] = { 0 }, *out_p = NULL, *err_p = NULL, *res_p = NULL;
	char *code_buf = NULL, flags[256];
	struct outs o;
	size_t nenv = 0;
	FILE *rf;
	int r;

	if (argc < 3) {
		fprintf(stderr, "exec LANG CODE [options]\n");
		exit(1);
	}
	req.lang = argv[1];
	req.code = argv[2];
	req.code_len = strlen(argv[2]);
	for (int i = 3; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--keep-bg")) {
			req.keep_background = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "%s needs a value\n", a);
			exit(1);
		}
		i++;
		if (!strcmp(a, "--session"))
			req.session = v;
		else if (!strcmp(a, "--timeout"))
			req.timeout_ms = (uint32_t)atoi(v);
		else if (!strcmp(a, "--cap"))
			req.output_cap = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--stdin"))
			req.stdin_data = v, req.stdin_len = strlen(v);
		else if (!strcmp(a, "--code-file"))
			req.code = code_buf = slurp(v, &req.code_len);
		else if (!strcmp(a, "--env") && nenv < 63)
			env[nenv++] = v;
		else if (!strcmp(a, "--out"))
			out_p = v;
		else if (!strcmp(a, "--err"))
			err_p = v;
		else if (!strcmp(a, "--result"))
			res_p = v;
		else {
			fprintf(stderr, "unknown exec option %s\n", a);
			exit(1);
		}
	}
	if (nenv)
		req.env = env;
	o.out = open_out(out_p, 1);
	o.err = open_out(err_p, 2);
	rf = res_p ? fopen(res_p, "w") : stdout;
	if (!rf) {
		perror(res_p);
		exit(1);
	}
	r = sv_agent_exec(c, &req, on_output, &o, &res, &err);
	if (r < 0) {
		report_error(rf, &err);
	} else {
		fprintf(rf, "exit=%d\nsignal=%d\nflags=%s\nduration_ms=%llu\nstdout_bytes=%llu\n"
			"stderr_bytes=%llu\n", res.exit_code, res.signal,
			flag_names(res.flags, flags, sizeof(flags)),
			(unsigned long long)res.duration_ms, (unsigned long long)res.stdout_bytes,
			(unsigned long long)res.stderr_bytes);
		if (res.value)
			fprintf(rf, "value=%s\n", res.value);
		if (res.error)
			fprintf(rf, "error=%s\n", res.error);
		sv_exec_result_free(&res);
	}
	if (o.out != 1)
		close(o.out);
	if (o.err != 2)
		close(o.err);
	if (rf != stdout)
		fclose(rf);
	else
		fflush(stdout);
	free(code_buf);
	return r;
}

static int raw_badheader(int fd, struct sv_agent **c)
{
	static const char junk[] = "this is not a frame header at all, but text";
	struct sv_error err = { 0 };
	int r;

	sv_write_all(fd, junk, sizeof(junk));
	/* The agent answers ERROR(0), drops input for 200 ms, then says HELLO(0). */
	sv_agent_free(*c);
	*c = NULL;
	usleep(300000);
	r = sv_agent_connect(fd, TIMEOUT_MS, c, &err);
	if (r < 0) {
		report_error(stdout, &err);
		return r;
	}
	printf("resynced\n");
	return 0;
}

static int raw_badtlv(int fd)
{
	uint8_t payload[] = { SV_T_LANG, 0, 200, 0, 0, 0, 's', 'h' };	/* claims 200 bytes */
	uint8_t buf[SV_PROTO_MAX_PAYLOAD];
	struct sv_frame_hdr h;
	struct sv_msg_error m;
	uint64_t deadline = sv_now_ns() + 5000000000ull;
	int r;

	r = sv_proto_send(fd, SV_MSG_EXEC, 0, 777, payload, sizeof(payload), deadline);
	/* Data frames for the rejected request must be dropped silently. */
	if (r == 0)
		r = sv_proto_send(fd, SV_MSG_CODE, SV_FRAME_END, 777, "echo no", 7, deadline);
	if (r == 0)
		r = sv_proto_recv(fd, &h, buf, deadline);
	if (r < 0) {
		printf("ERROR raw-badtlv: %s\n", strerror(-r));
		return r;
	}
	if (h.type == SV_MSG_ERROR && h.id == 777 && sv_msg_error_decode(buf, h.len, &m) == 0)
		printf("ERROR %s %s\n", strerrorname_np((int)m.errnum), m.message);
	else
		printf("unexpected %s id=%u\n", sv_proto_type_name(h.type), h.id);
	return 0;
}

static int run_cmd(struct sv_agent **cp, int fd, int argc, char **argv)
{
	struct sv_agent *c = *cp;
	struct sv_error err = { 0 };
	const char *cmd = argv[0];
	int r = 0;

	if (!strcmp(cmd, "exec"))
		return cmd_exec(c, argc, argv);
	if (!strcmp(cmd, "put") && argc == 3) {
		r = sv_agent_put_path(c, argv[1], argv[2], TIMEOUT_MS, &err);
	} else if (!strcmp(cmd, "get") && argc == 3) {
		r = sv_agent_get_path(c, argv[1], argv[2], TIMEOUT_MS, &err);
	} else if (!strcmp(cmd, "list") && argc <= 2) {
		struct sv_dirent *e;
		size_t n;

		r = sv_agent_list(c, argc == 2 ? argv[1] : "", &e, &n, TIMEOUT_MS, &err);
		for (size_t i = 0; r == 0 && i < n; i++)
			printf("%s %s %llu %o\n", e[i].type == 2 ? "d" : e[i].type == 1 ? "f" :
				e[i].type == 3 ? "l" : "?", e[i].name,
				(unsigned long long)e[i].size, e[i].mode);
		if (r == 0)
			free(e);
	} else if (!strcmp(cmd, "rm") && (argc == 2 || argc == 3)) {
		r = sv_agent_delete(c, argv[1], argc == 3 && !strcmp(argv[2], "-r"), TIMEOUT_MS,
				    &err);
	} else if (!strcmp(cmd, "mkdir") && argc == 2) {
		r = sv_agent_mkdir(c, argv[1], TIMEOUT_MS, &err);
	} else if (!strcmp(cmd, "ping")) {
		uint64_t rtt;

		r = sv_agent_ping(c, TIMEOUT_MS, &rtt, &err);
		if (r == 0)
			printf("pong %llu us\n", (unsigned long long)(rtt / 1000));
	} else if (!strcmp(cmd, "shutdown")) {
		r = sv_agent_shutdown(c, TIMEOUT_MS, &err);
	} else if (!strcmp(cmd, "info")) {
		const struct sv_agent_info *i = sv_agent_get_info(c);

		printf("version=%u caps=%#llx agent=%s langs=%s\n", i->version,
		       (unsigned long long)i->caps, i->agent, i->langs);
	} else if (!strcmp(cmd, "raw-badheader")) {
		return raw_badheader(fd, cp);
	} else if (!strcmp(cmd, "raw-badtlv")) {
		return raw_badtlv(fd);
	} else {
		fprintf(stderr, "unknown command '%s' (or wrong arguments)\n", cmd);
		exit(1);
	}
	if (r < 0)
		report_error(stdout, &err);
	else if (strcmp(cmd, "list") && strcmp(cmd, "ping") && strcmp(cmd, "info"))
		printf("OK\n");
	fflush(stdout);
	return r;
}

int main(int argc, char **argv)
{
	struct sv_agent *c = NULL;
	struct sv_error err = { 0 };
	char **aargv;
	int sp[2], sep, status, broke = 0;
	pid_t pid;

	for (sep = 1; sep < argc && strcmp(argv[sep], "--"); sep++)
		;
	if (sep < 2 || sep >= argc) {
		fprintf(stderr, "usage: agent_drive AGENT [ARGS...] -- CMD ARGS... [-- CMD...]\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[1], "--connect") && sep == 3) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		sp[0] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2]);
		if (connect(sp[0], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror(argv[2]);
			return 1;
		}
		pid = -1;
		goto connected;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		perror("socketpair");
		return 1;
	}
	aargv = calloc((size_t)sep + 3, sizeof(char *));
	for (int i = 1; i < sep; i++)
		aargv[i - 1] = argv[i];
	aargv[sep - 1] = "--fd";
	aargv[sep] = "3";
	pid = fork();
	if (pid == 0) {
		dup2(sp[1], 3);
		execv(aargv[0], aargv);
		perror(aargv[0]);
		_exit(127);
	}
	close(sp[1]);
connected:
	if (sv_agent_connect(sp[0], pid < 0 ? 120000 : TIMEOUT_MS, &c, &err) < 0) {
		fprintf(stderr, "connect: %s\n", err.msg);
		if (pid > 0)
			kill(pid, SIGKILL);
		return 2;
	}
	for (int i = sep; i < argc;) {
		int j = i + 1, r;

		while (j < argc && strcmp(argv[j], "--"))
			j++;
		if (j == i + 1) {
			i = j;
			continue;
		}
		argv[j < argc ? j : argc] = NULL;
		r = run_cmd(&c, sp[0], j - i - 1, argv + i + 1);
		if (!c || sv_agent_broken(c) ||
		    (r < 0 && (r == -ETIMEDOUT || r == -EPIPE || r == -ECONNRESET))) {
			fprintf(stderr, "agent connection broke\n");
			broke = 1;
			break;
		}
		i = j;
	}
	sv_agent_free(c);
	close(sp[0]);
	if (pid < 0)
		return broke ? 2 : 0;
	/* EOF on its fd makes the agent exit. */
	for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(50000);
	if (waitpid(pid, &status, WNOHANG) == 0) {
		fprintf(stderr, "agent did not exit on EOF\n");
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return 3;
	}
	return broke ? 2 : 0;
}
