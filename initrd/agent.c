/* SPDX-License-Identifier: MIT */
/*
 * The guest agent: reads requests from the control port (docs/protocol.md)
 * and answers them, one at a time. It must survive anything the host or user
 * code does: bad frames get ERROR replies, a desynchronised stream is dropped
 * and the port reopened, and user code runs in other processes (exec.c).
 *
 * Usage:
 *   sandvisor-agent [--port /dev/vportNpM | --fd N] [--no-isolation]
 *                   [--data-dir DIR] [--runtimes DIR] [--bin-dir DIR] [--cgroup DIR]
 *                   [--debug]
 * With no --port/--fd it finds the port named "sandvisor.ctl" in sysfs.
 * Defaults (the guest): --data-dir /mnt/data, --runtimes $SV_RT/runtimes,
 * --bin-dir $SV_RT/bin (SV_RT from init, default /opt/sandvisor), --cgroup
 * /sys/fs/cgroup/user. --no-isolation (tests on a host): no uid switch, no
 * cgroups (process groups instead), no OOM protection.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

#define PORT_NAME "sandvisor.ctl"

void agent_log(const struct agent *a, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	(void)a;
	n = snprintf(buf, sizeof(buf), "sandvisor-agent: ");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from init and agent do not interleave. */
	n = (int)strlen(buf);
	if (n < (int)sizeof(buf) - 1)
		buf[n++] = '\n';
	if (write(2, buf, (size_t)n) < 0) {
		/* nowhere else to report it */
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int agent_send(struct agent *a, uint16_t type, uint16_t flags, uint32_t id, const void *p,
	       size_t len)
{
	int r;

	if (a->fd < 0)
		return AGENT_BROKEN;
	if (a->debug)
		agent_log(a, "-> %s id=%u len=%zu flags=%#x", sv_proto_type_name(type), id, len,
			  flags);
	r = sv_proto_send(a->fd, type, flags, id, p, len, 0);
	if (r < 0) {
		agent_log(a, "write to the control port failed: %s", strerror(-r));
		a->eof = true;
		return AGENT_BROKEN;
	}
	return 0;
}

int agent_error(struct agent *a, uint32_t id, int errnum, const char *fmt, ...)
{
	struct sv_msg_error m = { .errnum = (uint32_t)errnum };
	struct sv_tlv_writer w;
	uint8_t buf[SV_PROTO_MSG_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m.message, sizeof(m.message), fmt, ap);
	va_end(ap);
	if (a->debug)
		agent_log(a, "error id=%u: %s", id, m.message);
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_msg_error_encode(&w, &m);
	return agent_send(a, SV_MSG_ERROR, 0, id, buf, w.len);
}

int agent_ok(struct agent *a, uint32_t id)
{
	return agent_send(a, SV_MSG_OK, 0, id, NULL, 0);
}

static bool is_data_type(uint16_t t)
{
	return t == SV_MSG_CODE || t == SV_MSG_STDIN || t == SV_MSG_FILE_DATA;
}

/* Reads one frame into a->hdr / a->rx: 0, or AGENT_BROKEN with a->eof / a->desync set. */
static int recv_frame(struct agent *a)
{
	int r = sv_proto_recv(a->fd, &a->hdr, a->rx, 0);

	if (r == 0) {
		if (a->debug)
			agent_log(a, "<- %s id=%u len=%u flags=%#x",
				  sv_proto_type_name(a->hdr.type), a->hdr.id, a->hdr.len,
				  a->hdr.flags);
		return 0;
	}
	if (r == -EPROTO || r == -EMSGSIZE) {
		agent_log(a, "bad frame header (%s): stream out of sync",
			  r == -EPROTO ? "magic/version" : "length");
		a->desync = true;
	} else {
		if (r != -EPIPE)
			agent_log(a, "read from the control port failed: %s", strerror(-r));
		a->eof = true;
	}
	return AGENT_BROKEN;
}

int agent_recv_data(struct agent *a, uint32_t id, uint16_t type)
{
	if (recv_frame(a) < 0)
		return AGENT_BROKEN;
	if (a->hdr.id == id && a->hdr.type == type)
		return 1;
	a->pending = true;
	return 0;
}

static int open_port(struct agent *a)
{
	for (unsigned tries = 0;; tries++) {
		a->fd = open(a->port, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (a->fd >= 0)
			return 0;
		if (tries % 50 == 0)
			agent_log(a, "cannot open %s: %s (retrying)", a->port, strerror(errno));
		sleep_ms(100);
	}
}

/* Finds /dev/<port> for the virtio-console port named PORT_NAME. */
static int find_port(char *out, size_t cap)
{
	DIR *d = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	int ret = -ENOENT;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[PATH_MAX], name[64] = "";
		ssize_t n;
		int fd;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = 0;
		name[strcspn(name, "\n")] = 0;
		if (!strcmp(name, PORT_NAME)) {
			snprintf(out, cap, "/dev/%s", e->d_name);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

static void send_hello(struct agent *a, uint32_t id)
{
	struct sv_msg_hello m = { .version = SV_PROTO_VERSION };
	struct sv_tlv_writer w;
	uint8_t buf[256];

	m.caps = a->isolation ? SV_CAP_ISOLATION : 0;
	snprintf(m.agent, sizeof(m.agent), "%s", AGENT_NAME);
	agent_langs(a, m.langs, sizeof(m.langs));
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_msg_hello_encode(&w, &m);
	agent_send(a, SV_MSG_HELLO, 0, id, buf, w.len);
}

/*
 * After a bad header nothing in the stream can be trusted to be a frame
 * boundary: say so, start over on a fresh open of the port, drop whatever is
 * still in flight until the line is quiet, and announce ourselves again.
 */
static void resync(struct agent *a)
{
	uint8_t junk[4096];

	agent_error(a, 0, EPROTO, "stream out of sync: dropping input and starting over");
	if (a->port[0]) {
		close(a->fd);
		open_port(a);
	}
	for (;;) {
		struct pollfd pfd = { .fd = a->fd, .events = POLLIN };
		int r = poll(&pfd, 1, 200);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || !(pfd.revents & POLLIN))
			break;
		if (read(a->fd, junk, sizeof(junk)) <= 0)
			break;
	}
	a->pending = false;
	a->discard_id = 0;
	send_hello(a, 0);
}

static void do_shutdown(struct agent *a, uint32_t id)
{
	agent_ok(a, id);
	agent_sessions_reset(a);
	if (!a->isolation) {
		agent_log(a, "shutdown requested: exiting (no-isolation mode)");
		exit(0);
	}
	agent_log(a, "shutdown requested");
	/* PID 1 syncs and resets; do it ourselves if it does not. */
	if (kill(1, SIGUSR2) == 0)
		sleep_ms(2000);
	sync();
	reboot(RB_AUTOBOOT);
	exit(0);
}

/* Returns AGENT_BROKEN if the port must be dropped. */
static int dispatch(struct agent *a)
{
	struct sv_frame_hdr h = a->hdr;

	if (is_data_type(h.type)) {
		if (h.id == a->discard_id && h.id != 0)
			return 0;
		return agent_error(a, h.id, EPROTO, "%s frame outside of a request",
				   sv_proto_type_name(h.type));
	}
	a->discard_id = 0;
	if (h.id == 0)
		return agent_error(a, 0, EINVAL, "request id 0 is reserved");
	switch (h.type) {
	case SV_MSG_HELLO:
		send_hello(a, h.id);
		return 0;
	case SV_MSG_PING:
		return agent_send(a, SV_MSG_PONG, 0, h.id, a->rx, h.len);
	case SV_MSG_SHUTDOWN:
		do_shutdown(a, h.id);
		return 0;
	case SV_MSG_EXEC:
		return agent_exec(a, &h);
	case SV_MSG_PUT_FILE:
		return agent_put_file(a, &h);
	case SV_MSG_GET_FILE:
		return agent_get_file(a, &h);
	case SV_MSG_LIST:
		return agent_list(a, &h);
	case SV_MSG_DELETE:
		return agent_delete(a, &h);
	case SV_MSG_MKDIR:
		return agent_mkdir(a, &h);
	default:
		return agent_error(a, h.id, ENOSYS, "unknown or unexpected message type %#x (%s)",
				   h.type, sv_proto_type_name(h.type));
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: sandvisor-agent [--port DEV | --fd N] [--no-isolation] [--data-dir DIR]\n"
		"                       [--runtimes DIR] [--bin-dir DIR] [--cgroup DIR] [--debug]\n");
	exit(2);
}

static void set_oom_score_adj(const char *v)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, v, strlen(v)) < 0) {
			/* not fatal: the cgroup limits still protect us */
		}
		close(fd);
	}
}

int main(int argc, char **argv)
{
	static struct agent agent;	/* one per process: main's only state */
	struct agent *a = &agent;
	const char *rt = getenv("SV_RT");
	int fd_arg = -1;
	char cg_arg[AGENT_PATH_MAX] = "/sys/fs/cgroup/user";

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	a->isolation = true;
	a->uid = SANDBOX_UID;
	a->gid = SANDBOX_GID;
	if (!rt || !*rt)
		rt = "/opt/sandvisor";
	snprintf(a->data_dir, sizeof(a->data_dir), "%s", SV_DATA_DIR);
	snprintf(a->runtimes, sizeof(a->runtimes), "%s/runtimes", rt);
	snprintf(a->bin_dir, sizeof(a->bin_dir), "%s/bin", rt);
	a->debug = getenv("SV_DEBUG") && *getenv("SV_DEBUG") == '1';
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(arg, "--no-isolation")) {
			a->isolation = false;
		} else if (!strcmp(arg, "--debug")) {
			a->debug = true;
		} else if (!val) {
			usage();
		} else if (!strcmp(arg, "--fd")) {
			fd_arg = atoi(val), i++;
		} else if (!strcmp(arg, "--port")) {
			snprintf(a->port, sizeof(a->port), "%s", val), i++;
		} else if (!strcmp(arg, "--data-dir")) {
			snprintf(a->data_dir, sizeof(a->data_dir), "%s", val), i++;
		} else if (!strcmp(arg, "--runtimes")) {
			snprintf(a->runtimes, sizeof(a->runtimes), "%s", val), i++;
		} else if (!strcmp(arg, "--cgroup")) {
			snprintf(cg_arg, sizeof(cg_arg), "%s", val), i++;
		} else if (!strcmp(arg, "--bin-dir")) {
			snprintf(a->bin_dir, sizeof(a->bin_dir), "%s", val), i++;
		} else {
			usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (a->isolation) {
		set_oom_score_adj("-1000");
		snprintf(a->cg_root, sizeof(a->cg_root), "%s", cg_arg);
		if (access(a->cg_root, W_OK) != 0) {
			agent_log(a, "no %s: running user code without cgroup limits", a->cg_root);
			a->cg_root[0] = 0;
		}
		agent_cgroups_reset(a);
	} else {
		a->uid = getuid();
		a->gid = getgid();
	}
	a->data_fd = open(a->data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (a->data_fd < 0) {
		agent_log(a, "cannot open the data directory %s: %s", a->data_dir,
			  strerror(errno));
		return 1;
	}
	a->rx = malloc(SV_PROTO_MAX_PAYLOAD);
	a->tx = malloc(SV_PROTO_MAX_PAYLOAD);
	if (!a->rx || !a->tx)
		return 1;

	if (fd_arg >= 0) {
		a->fd = fd_arg;
		a->port[0] = 0;
		fcntl(a->fd, F_SETFD, FD_CLOEXEC);
	} else {
		while (!a->port[0] && find_port(a->port, sizeof(a->port)) < 0)
			sleep_ms(50);
		open_port(a);
	}
	agent_log(a, "ready on %s (isolation %s, data %s, runtimes %s)",
		  a->port[0] ? a->port : "fd", a->isolation ? "on" : "off", a->data_dir,
		  a->runtimes);
	send_hello(a, 0);

	for (;;) {
		if (!a->pending && recv_frame(a) == 0)
			a->pending = true;
		if (a->pending) {
			a->pending = false;
			dispatch(a);
			if (a->pending && (a->eof || a->desync))
				a->pending = false;
		}
		if (a->desync) {
			a->desync = a->eof = false;
			resync(a);
		} else if (a->eof) {
			a->eof = false;
			/* With --fd, EOF means the test harness is done with us. */
			if (!a->port[0]) {
				agent_sessions_reset(a);
				return 0;
			}
			/* The port reads EOF while no host is connected; wait for one. */
			sleep_ms(20);
		}
	}
}
