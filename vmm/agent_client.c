/* SPDX-License-Identifier: MIT */
/*
 * Host side of the agent protocol. Everything that arrives from the agent is
 * guest-controlled: frames are size-checked by the codec, payloads decoded
 * with bounds, and a guest that stops talking hits the deadline.
 */
#include "sv_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "util.h"

#define EXEC_GRACE_MS 10000u	/* host deadline = exec timeout + this */

struct sv_agent {
	int fd;
	uint32_t next_id;
	bool broken;
	struct sv_agent_info info;
	struct sv_frame_hdr hdr;	/* the last frame received */
	uint8_t *rx;			/* SV_PROTO_MAX_PAYLOAD */
	uint8_t *tx;			/* SV_PROTO_MAX_PAYLOAD */
};

static uint64_t deadline_in(int timeout_ms)
{
	if (timeout_ms <= 0)
		timeout_ms = 30000;
	return sv_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

static uint32_t new_id(struct sv_agent *c)
{
	if (++c->next_id == 0)
		c->next_id = 1;
	return c->next_id;
}

/* Marks the stream unusable and reports why. */
static int fail(struct sv_agent *c, struct sv_error *err, int code, const char *what)
{
	c->broken = true;
	switch (code) {
	case -ETIMEDOUT:
		return sv_err(err, code, "agent did not answer %s in time", what);
	case -EPIPE:
		return sv_err(err, code, "agent connection closed during %s", what);
	case -EPROTO:
	case -EMSGSIZE:
		return sv_err(err, -EPROTO,
			      "bad frame from the agent during %s (protocol version mismatch "
			      "or corrupt stream)", what);
	default:
		return sv_err(err, code, "agent I/O failed during %s: %s", what,
			      strerror(-code));
	}
}

static int check_usable(const struct sv_agent *c, struct sv_error *err)
{
	if (c->broken)
		return sv_err(err, -EPIPE,
			      "the agent connection failed earlier and cannot be used");
	return 0;
}

static int send_frame(struct sv_agent *c, uint16_t type, uint16_t flags, uint32_t id,
		      const void *p, size_t len, uint64_t deadline, struct sv_error *err)
{
	int r = sv_proto_send(c->fd, type, flags, id, p, len, deadline);

	return r < 0 ? fail(c, err, r, sv_proto_type_name(type)) : 0;
}

/* Turns an ERROR frame in c->rx into err; returns the (negative) errno. */
static int agent_error(struct sv_agent *c, struct sv_error *err)
{
	struct sv_msg_error m;

	if (sv_msg_error_decode(c->rx, c->hdr.len, &m) < 0)
		return sv_err(err, -EIO, "agent sent a malformed ERROR");
	return sv_err(err, -(int)m.errnum, "%s", m.message[0] ? m.message : strerror((int)m.errnum));
}

/*
 * Receives the next frame for request id into c->hdr / c->rx. Frames of
 * other ids are stale and skipped; an id-0 HELLO or ERROR means the agent
 * restarted or lost sync, which ends this request and the connection.
 */
static int recv_for(struct sv_agent *c, uint32_t id, uint64_t deadline, const char *what,
		    struct sv_error *err)
{
	for (;;) {
		int r = sv_proto_recv(c->fd, &c->hdr, c->rx, deadline);

		if (r < 0)
			return fail(c, err, r, what);
		if (c->hdr.id == id)
			return 0;
		if (c->hdr.id == 0 && c->hdr.type == SV_MSG_HELLO) {
			c->broken = true;
			return sv_err(err, -ECONNRESET, "the agent restarted during %s", what);
		}
		if (c->hdr.id == 0 && c->hdr.type == SV_MSG_ERROR) {
			struct sv_msg_error m;

			if (sv_msg_error_decode(c->rx, c->hdr.len, &m) < 0)
				m.message[0] = 0;
			c->broken = true;
			return sv_err(err, -EPROTO, "the agent lost the stream during %s: %s",
				      what, m.message);
		}
	}
}

/* Waits for OK (0) or ERROR (its errno) for id. */
static int wait_ok(struct sv_agent *c, uint32_t id, uint64_t deadline, const char *what,
		   struct sv_error *err)
{
	int r = recv_for(c, id, deadline, what, err);

	if (r < 0)
		return r;
	if (c->hdr.type == SV_MSG_OK)
		return 0;
	if (c->hdr.type == SV_MSG_ERROR)
		return agent_error(c, err);
	c->broken = true;
	return sv_err(err, -EPROTO, "unexpected %s reply to %s",
		      sv_proto_type_name(c->hdr.type), what);
}

int sv_agent_connect(int fd, int timeout_ms, struct sv_agent **out, struct sv_error *err)
{
	struct sv_agent *c;
	struct sv_msg_hello h;
	uint64_t deadline = deadline_in(timeout_ms);
	uint32_t id;
	int r, fl;

	*out = NULL;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return sv_err(err, -errno, "agent fd %d: %s", fd, strerror(errno));
	c = calloc(1, sizeof(*c));
	if (!c)
		return sv_err(err, -ENOMEM, "out of memory");
	c->fd = fd;
	c->rx = malloc(SV_PROTO_MAX_PAYLOAD);
	c->tx = malloc(SV_PROTO_MAX_PAYLOAD);
	if (!c->rx || !c->tx) {
		sv_agent_free(c);
		return sv_err(err, -ENOMEM, "out of memory");
	}
	id = new_id(c);
	r = send_frame(c, SV_MSG_HELLO, 0, id, NULL, 0, deadline, err);
	/* Skip the HELLO(s) the agent sent on its own before ours. */
	while (r == 0) {
		r = sv_proto_recv(fd, &c->hdr, c->rx, deadline);
		if (r < 0) {
			r = fail(c, err, r, "HELLO");
			if (r == -ETIMEDOUT)
				sv_err(err, r, "no HELLO from the agent within %d ms", timeout_ms);
			break;
		}
		if (c->hdr.id == id)
			break;
	}
	if (r == 0 && c->hdr.type == SV_MSG_ERROR)
		r = agent_error(c, err);
	else if (r == 0 && c->hdr.type != SV_MSG_HELLO)
		r = sv_err(err, -EPROTO, "agent answered HELLO with %s",
			   sv_proto_type_name(c->hdr.type));
	else if (r == 0 && sv_msg_hello_decode(c->rx, c->hdr.len, &h) < 0)
		r = sv_err(err, -EPROTO, "malformed HELLO from the agent");
	else if (r == 0 && h.version != SV_PROTO_VERSION)
		r = sv_err(err, -EPROTONOSUPPORT,
			   "agent speaks protocol version %llu, this host speaks %u",
			   (unsigned long long)h.version, SV_PROTO_VERSION);
	if (r < 0) {
		sv_agent_free(c);
		return r;
	}
	c->info.version = (uint32_t)h.version;
	c->info.caps = h.caps;
	memcpy(c->info.agent, h.agent, sizeof(c->info.agent));
	memcpy(c->info.langs, h.langs, sizeof(c->info.langs));
	*out = c;
	return 0;
}

const struct sv_agent_info *sv_agent_get_info(const struct sv_agent *c)
{
	return &c->info;
}

bool sv_agent_broken(const struct sv_agent *c)
{
	return c->broken;
}

void sv_agent_free(struct sv_agent *c)
{
	if (!c)
		return;
	free(c->rx);
	free(c->tx);
	free(c);
}

/* ---- EXEC ---- */

static int send_stream(struct sv_agent *c, uint16_t type, uint32_t id, const uint8_t *p,
		       size_t len, uint64_t deadline, struct sv_error *err)
{
	size_t off = 0;

	do {
		size_t n = len - off < SV_PROTO_CHUNK ? len - off : SV_PROTO_CHUNK;
		bool last = off + n == len;
		int r = send_frame(c, type, last ? SV_FRAME_END : 0, id, p + off, n, deadline, err);

		if (r < 0)
			return r;
		off += n;
	} while (off < len);
	return 0;
}

static char *dup_text(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}

int sv_agent_exec(struct sv_agent *c, const struct sv_exec_req *req, sv_output_fn on_output,
		  void *opaque, struct sv_exec_result *res, struct sv_error *err)
{
	struct sv_msg_exec m = { 0 };
	struct sv_msg_result rm;
	struct sv_tlv_writer w;
	uint64_t deadline;
	uint32_t id;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = check_usable(c, err)) < 0)
		return r;
	if (!req->lang || strlen(req->lang) > SV_PROTO_LANG_MAX || !req->lang[0])
		return sv_err(err, -EINVAL, "missing or overlong language name");
	if (req->session && strlen(req->session) > SV_PROTO_SESSION_MAX)
		return sv_err(err, -EINVAL, "session name longer than %u bytes",
			      SV_PROTO_SESSION_MAX);
	if (req->code_len > SV_PROTO_MAX_CODE)
		return sv_err(err, -EFBIG, "code is %zu bytes, the limit is %u", req->code_len,
			      SV_PROTO_MAX_CODE);
	if (req->stdin_len > SV_PROTO_MAX_STDIN)
		return sv_err(err, -EFBIG, "stdin is %zu bytes, the limit is %u", req->stdin_len,
			      SV_PROTO_MAX_STDIN);
	for (size_t i = 0; req->env && req->env[i]; i++)
		if (i >= SV_PROTO_MAX_ENV ||
		    !sv_proto_env_ok((const uint8_t *)req->env[i], strlen(req->env[i])))
			return sv_err(err, -EINVAL, "bad environment entry '%.64s' (NAME=value, "
				      "at most %u entries)", req->env[i], SV_PROTO_MAX_ENV);
	snprintf(m.lang, sizeof(m.lang), "%s", req->lang);
	snprintf(m.session, sizeof(m.session), "%s", req->session ? req->session : "");
	m.timeout_ms = req->timeout_ms ? req->timeout_ms : SV_PROTO_DEFAULT_TIMEOUT_MS;
	m.output_cap = req->output_cap ? req->output_cap : SV_PROTO_DEFAULT_OUTPUT_CAP;
	m.flags = req->keep_background ? SV_EXEC_KEEP_BACKGROUND : 0;
	m.code_len = req->code_len;
	m.stdin_len = req->stdin_data ? req->stdin_len : 0;
	sv_tlv_writer_init(&w, c->tx, SV_PROTO_MAX_PAYLOAD);
	if (sv_msg_exec_encode(&w, &m, req->env) < 0)
		return sv_err(err, -E2BIG, "the environment does not fit in one frame (1 MiB)");

	deadline = sv_now_ns() + (m.timeout_ms + EXEC_GRACE_MS) * 1000000ull;
	id = new_id(c);
	r = send_frame(c, SV_MSG_EXEC, 0, id, c->tx, w.len, deadline, err);
	if (r == 0)
		r = send_stream(c, SV_MSG_CODE, id, req->code, req->code_len, deadline, err);
	if (r == 0 && m.stdin_len)
		r = send_stream(c, SV_MSG_STDIN, id, req->stdin_data, req->stdin_len, deadline,
				err);
	while (r == 0) {
		r = recv_for(c, id, deadline, "EXEC", err);
		if (r < 0)
			break;
		switch (c->hdr.type) {
		case SV_MSG_STDOUT:
		case SV_MSG_STDERR:
			if (on_output && c->hdr.len)
				on_output(opaque, c->hdr.type == SV_MSG_STDOUT ? 1 : 2, c->rx,
					  c->hdr.len);
			continue;
		case SV_MSG_ERROR:
			return agent_error(c, err);
		case SV_MSG_RESULT:
			break;
		default:
			c->broken = true;
			return sv_err(err, -EPROTO, "unexpected %s during EXEC",
				      sv_proto_type_name(c->hdr.type));
		}
		if (sv_msg_result_decode(c->rx, c->hdr.len, &rm) < 0) {
			c->broken = true;
			return sv_err(err, -EPROTO, "malformed RESULT from the agent");
		}
		res->exit_code = rm.exit_code < -1 || rm.exit_code > 255 ? -1 : (int)rm.exit_code;
		res->signal = (int)rm.signal;
		res->duration_ms = rm.duration_ms;
		res->flags = (uint32_t)rm.flags;
		res->stdout_bytes = rm.stdout_bytes;
		res->stderr_bytes = rm.stderr_bytes;
		if (rm.value)
			res->value = dup_text(rm.value, rm.value_len);
		if (rm.error)
			res->error = dup_text(rm.error, rm.error_len);
		if ((rm.value && !res->value) || (rm.error && !res->error)) {
			sv_exec_result_free(res);
			return sv_err(err, -ENOMEM, "out of memory");
		}
		return 0;
	}
	return r;
}

void sv_exec_result_free(struct sv_exec_result *res)
{
	free(res->value);
	free(res->error);
	res->value = res->error = NULL;
}

/* ---- files ---- */

static int path_req(struct sv_agent *c, const char *remote, uint64_t flags, uint32_t mode,
		    size_t *len, struct sv_error *err)
{
	struct sv_msg_path m = { .flags = flags, .mode = mode };
	struct sv_tlv_writer w;
	char norm[SV_PROTO_PATH_MAX + 1];
	int r;

	if ((r = check_usable(c, err)) < 0)
		return r;
	/* Checked here too, so the caller gets the reason without a round trip. */
	r = sv_proto_path_normalize(remote ? remote : "", norm, sizeof(norm));
	if (r < 0)
		return sv_err(err, r, "remote path '%.200s' refused: %s", remote ? remote : "",
			      r == -EACCES ? "it must stay inside " SV_DATA_DIR : strerror(-r));
	snprintf(m.path, sizeof(m.path), "%s", norm);
	sv_tlv_writer_init(&w, c->tx, SV_PROTO_MAX_PAYLOAD);
	sv_msg_path_encode(&w, &m);
	*len = w.len;
	return 0;
}

int sv_agent_put_fd(struct sv_agent *c, int local_fd, const char *remote, uint32_t mode,
		    int timeout_ms, struct sv_error *err)
{
	size_t len;
	uint32_t id;
	uint8_t *buf;
	int r;

	if ((r = path_req(c, remote, 0, mode & 07777, &len, err)) < 0)
		return r;
	buf = malloc(SV_PROTO_CHUNK);
	if (!buf)
		return sv_err(err, -ENOMEM, "out of memory");
	id = new_id(c);
	r = send_frame(c, SV_MSG_PUT_FILE, 0, id, c->tx, len, deadline_in(timeout_ms), err);
	/* The local file may be a pipe: stream until EOF, then an empty END frame. */
	while (r == 0) {
		ssize_t n = read(local_fd, buf, SV_PROTO_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			/* The stream must still end: send END (the agent drops the upload). */
			if (send_frame(c, SV_MSG_FILE_DATA, SV_FRAME_END, id, NULL, 0,
				       deadline_in(timeout_ms), err) == 0)
				wait_ok(c, id, deadline_in(timeout_ms), "PUT_FILE", NULL);
			free(buf);
			return sv_err(err, -e, "reading the local file failed: %s", strerror(e));
		}
		r = send_frame(c, SV_MSG_FILE_DATA, n == 0 ? SV_FRAME_END : 0, id, buf, (size_t)n,
			       deadline_in(timeout_ms), err);
		if (n == 0)
			break;
	}
	free(buf);
	if (r < 0)
		return r;
	return wait_ok(c, id, deadline_in(timeout_ms), "PUT_FILE", err);
}

int sv_agent_put_path(struct sv_agent *c, const char *local, const char *remote,
		      int timeout_ms, struct sv_error *err)
{
	struct stat st;
	int fd = open(local, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return sv_err(err, -errno, "cannot open '%s': %s", local, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return sv_err(err, -EISDIR, "'%s' is a directory", local);
	}
	r = sv_agent_put_fd(c, fd, remote, (uint32_t)(st.st_mode & 0777), timeout_ms, err);
	close(fd);
	return r;
}

int sv_agent_get_fd(struct sv_agent *c, const char *remote, int local_fd, int timeout_ms,
		    struct sv_error *err)
{
	size_t len;
	uint32_t id;
	int r, werr = 0;

	if ((r = path_req(c, remote, 0, 0, &len, err)) < 0)
		return r;
	id = new_id(c);
	r = send_frame(c, SV_MSG_GET_FILE, 0, id, c->tx, len, deadline_in(timeout_ms), err);
	while (r == 0) {
		r = recv_for(c, id, deadline_in(timeout_ms), "GET_FILE", err);
		if (r < 0)
			return r;
		if (c->hdr.type == SV_MSG_ERROR)
			return agent_error(c, err);
		if (c->hdr.type != SV_MSG_FILE_DATA) {
			c->broken = true;
			return sv_err(err, -EPROTO, "unexpected %s during GET_FILE",
				      sv_proto_type_name(c->hdr.type));
		}
		/* Keep reading after a local write error: the stream must be consumed. */
		if (!werr && c->hdr.len && sv_write_all(local_fd, c->rx, c->hdr.len) < 0)
			werr = errno ? errno : EIO;
		if (c->hdr.flags & SV_FRAME_END)
			break;
	}
	if (r == 0 && werr)
		return sv_err(err, -werr, "writing the local file failed: %s", strerror(werr));
	return r;
}

int sv_agent_get_path(struct sv_agent *c, const char *remote, const char *local,
		      int timeout_ms, struct sv_error *err)
{
	char tmp[4096 + 16];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.part", local) >= (int)sizeof(tmp))
		return sv_err(err, -ENAMETOOLONG, "local path too long");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return sv_err(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	r = sv_agent_get_fd(c, remote, fd, timeout_ms, err);
	if (close(fd) < 0 && r == 0)
		r = sv_err(err, -errno, "writing '%s' failed: %s", tmp, strerror(errno));
	if (r == 0 && rename(tmp, local) < 0)
		r = sv_err(err, -errno, "cannot rename to '%s': %s", local, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp(((const struct sv_dirent *)a)->name, ((const struct sv_dirent *)b)->name);
}

int sv_agent_list(struct sv_agent *c, const char *remote, struct sv_dirent **ents, size_t *n,
		  int timeout_ms, struct sv_error *err)
{
	struct sv_dirent *v = NULL;
	size_t cnt = 0, cap = 0, len;
	uint32_t id;
	int r;

	*ents = NULL;
	*n = 0;
	if ((r = path_req(c, remote, 0, 0, &len, err)) < 0)
		return r;
	id = new_id(c);
	r = send_frame(c, SV_MSG_LIST, 0, id, c->tx, len, deadline_in(timeout_ms), err);
	while (r == 0) {
		struct sv_tlv_reader rd;
		struct sv_msg_entry e;
		int got;

		r = recv_for(c, id, deadline_in(timeout_ms), "LIST", err);
		if (r < 0)
			break;
		if (c->hdr.type == SV_MSG_ERROR) {
			r = agent_error(c, err);
			break;
		}
		if (c->hdr.type != SV_MSG_LIST_REPLY) {
			c->broken = true;
			r = sv_err(err, -EPROTO, "unexpected %s during LIST",
				   sv_proto_type_name(c->hdr.type));
			break;
		}
		sv_tlv_reader_init(&rd, c->rx, c->hdr.len);
		while ((got = sv_msg_entry_next(&rd, &e)) > 0) {
			if (cnt == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct sv_dirent *nv = realloc(v, nc * sizeof(*v));

				if (!nv) {
					got = -ENOMEM;
					break;
				}
				v = nv;
				cap = nc;
			}
			memcpy(v[cnt].name, e.name, sizeof(v[cnt].name));
			v[cnt].size = e.size;
			v[cnt].type = e.type;
			v[cnt].mode = e.mode;
			v[cnt].mtime_ns = e.mtime_ns;
			cnt++;
		}
		if (got < 0) {
			/* Keep reading to END so the stream stays in sync, then fail. */
			if (!(c->hdr.flags & SV_FRAME_END))
				continue;
			r = sv_err(err, got == -ENOMEM ? -ENOMEM : -EPROTO,
				   "malformed LIST_REPLY from the agent");
			break;
		}
		if (c->hdr.flags & SV_FRAME_END)
			break;
	}
	if (r < 0) {
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_dirent);
	*ents = v;
	*n = cnt;
	return 0;
}

int sv_agent_delete(struct sv_agent *c, const char *remote, bool recursive, int timeout_ms,
		    struct sv_error *err)
{
	size_t len;
	uint32_t id;
	int r;

	if ((r = path_req(c, remote, recursive ? SV_DEL_RECURSIVE : 0, 0, &len, err)) < 0)
		return r;
	id = new_id(c);
	r = send_frame(c, SV_MSG_DELETE, 0, id, c->tx, len, deadline_in(timeout_ms), err);
	return r < 0 ? r : wait_ok(c, id, deadline_in(timeout_ms), "DELETE", err);
}

int sv_agent_mkdir(struct sv_agent *c, const char *remote, int timeout_ms, struct sv_error *err)
{
	size_t len;
	uint32_t id;
	int r;

	if ((r = path_req(c, remote, 0, 0, &len, err)) < 0)
		return r;
	id = new_id(c);
	r = send_frame(c, SV_MSG_MKDIR, 0, id, c->tx, len, deadline_in(timeout_ms), err);
	return r < 0 ? r : wait_ok(c, id, deadline_in(timeout_ms), "MKDIR", err);
}

int sv_agent_ping(struct sv_agent *c, int timeout_ms, uint64_t *rtt_ns, struct sv_error *err)
{
	uint64_t t0 = sv_now_ns(), deadline = deadline_in(timeout_ms);
	uint8_t token[8];
	uint32_t id;
	int r;

	if ((r = check_usable(c, err)) < 0)
		return r;
	id = new_id(c);
	memcpy(token, &t0, sizeof(token));
	r = send_frame(c, SV_MSG_PING, 0, id, token, sizeof(token), deadline, err);
	if (r == 0)
		r = recv_for(c, id, deadline, "PING", err);
	if (r < 0)
		return r;
	if (c->hdr.type != SV_MSG_PONG || c->hdr.len != sizeof(token) ||
	    memcmp(c->rx, token, sizeof(token)) != 0) {
		c->broken = true;
		return sv_err(err, -EPROTO, "bad answer to PING (%s)",
			      sv_proto_type_name(c->hdr.type));
	}
	if (rtt_ns)
		*rtt_ns = sv_now_ns() - t0;
	return 0;
}

int sv_agent_shutdown(struct sv_agent *c, int timeout_ms, struct sv_error *err)
{
	uint64_t deadline = deadline_in(timeout_ms);
	uint32_t id;
	int r;

	if ((r = check_usable(c, err)) < 0)
		return r;
	id = new_id(c);
	r = send_frame(c, SV_MSG_SHUTDOWN, 0, id, NULL, 0, deadline, err);
	return r < 0 ? r : wait_ok(c, id, deadline, "SHUTDOWN", err);
}
