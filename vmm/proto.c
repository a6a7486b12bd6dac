/* SPDX-License-Identifier: MIT */
/* The agent protocol codec, shared by the host library and the guest agent. */
#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void sv_proto_hdr_pack(uint8_t out[SV_PROTO_HDR_LEN], uint16_t type, uint16_t flags, uint32_t id,
		       uint32_t len)
{
	put_le32(out, SV_PROTO_MAGIC);
	put_le32(out + 4, len);
	put_le16(out + 8, type);
	put_le16(out + 10, flags);
	put_le32(out + 12, id);
}

int sv_proto_hdr_unpack(const uint8_t in[SV_PROTO_HDR_LEN], struct sv_frame_hdr *h)
{
	h->magic = get_le32(in);
	h->len = get_le32(in + 4);
	h->type = get_le16(in + 8);
	h->flags = get_le16(in + 10);
	h->id = get_le32(in + 12);
	if (h->magic != SV_PROTO_MAGIC)
		return -EPROTO;
	if (h->len > SV_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

const char *sv_proto_type_name(uint16_t type)
{
	switch (type) {
	case SV_MSG_HELLO: return "HELLO";
	case SV_MSG_PING: return "PING";
	case SV_MSG_PONG: return "PONG";
	case SV_MSG_OK: return "OK";
	case SV_MSG_ERROR: return "ERROR";
	case SV_MSG_SHUTDOWN: return "SHUTDOWN";
	case SV_MSG_EXEC: return "EXEC";
	case SV_MSG_CODE: return "CODE";
	case SV_MSG_STDIN: return "STDIN";
	case SV_MSG_STDOUT: return "STDOUT";
	case SV_MSG_STDERR: return "STDERR";
	case SV_MSG_RESULT: return "RESULT";
	case SV_MSG_PUT_FILE: return "PUT_FILE";
	case SV_MSG_GET_FILE: return "GET_FILE";
	case SV_MSG_FILE_DATA: return "FILE_DATA";
	case SV_MSG_LIST: return "LIST";
	case SV_MSG_LIST_REPLY: return "LIST_REPLY";
	case SV_MSG_DELETE: return "DELETE";
	case SV_MSG_MKDIR: return "MKDIR";
	default: return "unknown";
	}
}

/* ---- TLV ---- */

void sv_tlv_writer_init(struct sv_tlv_writer *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->overflow = false;
}

void sv_tlv_put(struct sv_tlv_writer *w, uint16_t tag, const void *val, size_t len)
{
	if (w->overflow || len > UINT32_MAX || w->cap - w->len < SV_TLV_HDR_LEN ||
	    w->cap - w->len - SV_TLV_HDR_LEN < len) {
		w->overflow = true;
		return;
	}
	put_le16(w->buf + w->len, tag);
	put_le32(w->buf + w->len + 2, (uint32_t)len);
	if (len)
		memcpy(w->buf + w->len + SV_TLV_HDR_LEN, val, len);
	w->len += SV_TLV_HDR_LEN + len;
}

void sv_tlv_put_u64(struct sv_tlv_writer *w, uint16_t tag, uint64_t v)
{
	uint8_t b[8];

	put_le64(b, v);
	sv_tlv_put(w, tag, b, sizeof(b));
}

void sv_tlv_put_str(struct sv_tlv_writer *w, uint16_t tag, const char *s)
{
	sv_tlv_put(w, tag, s, strlen(s));
}

size_t sv_tlv_begin(struct sv_tlv_writer *w, uint16_t tag)
{
	size_t mark = w->len;

	sv_tlv_put(w, tag, NULL, 0);
	return mark;
}

void sv_tlv_end(struct sv_tlv_writer *w, size_t mark)
{
	if (w->overflow)
		return;
	put_le32(w->buf + mark + 2, (uint32_t)(w->len - mark - SV_TLV_HDR_LEN));
}

void sv_tlv_reader_init(struct sv_tlv_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

int sv_tlv_next(struct sv_tlv_reader *r, struct sv_tlv *t)
{
	size_t left = r->len - r->off;

	if (left == 0)
		return 0;
	if (left < SV_TLV_HDR_LEN)
		return -EBADMSG;
	t->tag = get_le16(r->p + r->off);
	t->len = get_le32(r->p + r->off + 2);
	if (t->len > left - SV_TLV_HDR_LEN)
		return -EBADMSG;
	t->val = r->p + r->off + SV_TLV_HDR_LEN;
	r->off += SV_TLV_HDR_LEN + t->len;
	return 1;
}

int sv_tlv_get_u64(const struct sv_tlv *t, uint64_t *v)
{
	if (t->len != 8)
		return -EBADMSG;
	*v = get_le64(t->val);
	return 0;
}

int sv_tlv_get_str(const struct sv_tlv *t, char *out, size_t cap, size_t max)
{
	if (t->len > max || t->len >= cap)
		return -ENAMETOOLONG;
	if (memchr(t->val, 0, t->len))
		return -EBADMSG;
	memcpy(out, t->val, t->len);
	out[t->len] = 0;
	return 0;
}

/* ---- messages ---- */

static int enc_done(const struct sv_tlv_writer *w)
{
	return w->overflow ? -EMSGSIZE : 0;
}

int sv_msg_hello_encode(struct sv_tlv_writer *w, const struct sv_msg_hello *m)
{
	sv_tlv_put_u64(w, SV_T_VERSION, m->version);
	sv_tlv_put_u64(w, SV_T_CAPS, m->caps);
	sv_tlv_put_str(w, SV_T_AGENT, m->agent);
	sv_tlv_put_str(w, SV_T_LANGS, m->langs);
	return enc_done(w);
}

/* Unknown tags are skipped so that newer peers can add fields. */
int sv_msg_hello_decode(const void *p, size_t len, struct sv_msg_hello *m)
{
	struct sv_tlv_reader r;
	struct sv_tlv t;
	bool have_version = false;
	int ret;

	memset(m, 0, sizeof(*m));
	sv_tlv_reader_init(&r, p, len);
	while ((ret = sv_tlv_next(&r, &t)) > 0) {
		switch (t.tag) {
		case SV_T_VERSION:
			ret = sv_tlv_get_u64(&t, &m->version);
			have_version = true;
			break;
		case SV_T_CAPS:
			ret = sv_tlv_get_u64(&t, &m->caps);
			break;
		case SV_T_AGENT:
			ret = sv_tlv_get_str(&t, m->agent, sizeof(m->agent), sizeof(m->agent) - 1);
			break;
		case SV_T_LANGS:
			ret = sv_tlv_get_str(&t, m->langs, sizeof(m->langs), sizeof(m->langs) - 1);
			break;
		default:
			ret = 0;
		}
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	return have_version ? 0 : -EBADMSG;
}

int sv_msg_error_encode(struct sv_tlv_writer *w, const struct sv_msg_error *m)
{
	sv_tlv_put_u64(w, SV_T_ERRNO, m->errnum);
	sv_tlv_put_str(w, SV_T_MESSAGE, m->message);
	return enc_done(w);
}

int sv_msg_error_decode(const void *p, size_t len, struct sv_msg_error *m)
{
	struct sv_tlv_reader r;
	struct sv_tlv t;
	uint64_t v;
	int ret;

	memset(m, 0, sizeof(*m));
	m->errnum = EIO;
	sv_tlv_reader_init(&r, p, len);
	while ((ret = sv_tlv_next(&r, &t)) > 0) {
		if (t.tag == SV_T_ERRNO) {
			if (sv_tlv_get_u64(&t, &v) < 0 || v == 0 || v > 4095)
				return -EBADMSG;
			m->errnum = (uint32_t)v;
		} else if (t.tag == SV_T_MESSAGE) {
			/* Keep what fits: a long message is still worth showing. */
			size_t n = t.len < SV_PROTO_MSG_MAX ? t.len : SV_PROTO_MSG_MAX;

			memcpy(m->message, t.val, n);
			m->message[n] = 0;
			for (size_t i = 0; i < n; i++)
				if (m->message[i] == 0)
					m->message[i] = '?';
		}
	}
	return ret < 0 ? ret : 0;
}

int sv_msg_exec_encode(struct sv_tlv_writer *w, const struct sv_msg_exec *m,
		       const char *const *env)
{
	sv_tlv_put_str(w, SV_T_LANG, m->lang);
	sv_tlv_put_str(w, SV_T_SESSION, m->session);
	sv_tlv_put_u64(w, SV_T_TIMEOUT_MS, m->timeout_ms);
	sv_tlv_put_u64(w, SV_T_OUTPUT_CAP, m->output_cap);
	sv_tlv_put_u64(w, SV_T_FLAGS, m->flags);
	sv_tlv_put_u64(w, SV_T_CODE_LEN, m->code_len);
	sv_tlv_put_u64(w, SV_T_STDIN_LEN, m->stdin_len);
	for (size_t i = 0; env && env[i]; i++)
		sv_tlv_put_str(w, SV_T_ENV, env[i]);
	return enc_done(w);
}

bool sv_proto_env_ok(const uint8_t *s, size_t len)
{
	const uint8_t *eq;

	if (len == 0 || len > SV_PROTO_ENV_LEN_MAX || memchr(s, 0, len))
		return false;
	eq = memchr(s, '=', len);
	return eq && eq != s;
}

int sv_msg_exec_decode(const void *p, size_t len, struct sv_msg_exec *m)
{
	struct sv_tlv_reader r;
	struct sv_tlv t;
	int ret;

	memset(m, 0, sizeof(*m));
	m->timeout_ms = SV_PROTO_DEFAULT_TIMEOUT_MS;
	m->output_cap = SV_PROTO_DEFAULT_OUTPUT_CAP;
	sv_tlv_reader_init(&r, p, len);
	while ((ret = sv_tlv_next(&r, &t)) > 0) {
		switch (t.tag) {
		case SV_T_LANG:
			ret = sv_tlv_get_str(&t, m->lang, sizeof(m->lang), SV_PROTO_LANG_MAX);
			break;
		case SV_T_SESSION:
			ret = sv_tlv_get_str(&t, m->session, sizeof(m->session),
					     SV_PROTO_SESSION_MAX);
			break;
		case SV_T_TIMEOUT_MS:
			ret = sv_tlv_get_u64(&t, &m->timeout_ms);
			break;
		case SV_T_OUTPUT_CAP:
			ret = sv_tlv_get_u64(&t, &m->output_cap);
			break;
		case SV_T_FLAGS:
			ret = sv_tlv_get_u64(&t, &m->flags);
			break;
		case SV_T_CODE_LEN:
			ret = sv_tlv_get_u64(&t, &m->code_len);
			break;
		case SV_T_STDIN_LEN:
			ret = sv_tlv_get_u64(&t, &m->stdin_len);
			break;
		case SV_T_ENV:
			if (!sv_proto_env_ok(t.val, t.len) || ++m->n_env > SV_PROTO_MAX_ENV)
				return -EINVAL;
			ret = 0;
			break;
		default:
			ret = 0;
		}
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	if (m->lang[0] == 0 || m->code_len > SV_PROTO_MAX_CODE ||
	    m->stdin_len > SV_PROTO_MAX_STDIN)
		return -EINVAL;
	return 0;
}

int sv_msg_result_encode(struct sv_tlv_writer *w, const struct sv_msg_result *m)
{
	sv_tlv_put_u64(w, SV_T_EXIT_CODE, (uint64_t)m->exit_code);
	sv_tlv_put_u64(w, SV_T_SIGNAL, m->signal);
	sv_tlv_put_u64(w, SV_T_DURATION_MS, m->duration_ms);
	sv_tlv_put_u64(w, SV_T_FLAGS, m->flags);
	sv_tlv_put_u64(w, SV_T_STDOUT_BYTES, m->stdout_bytes);
	sv_tlv_put_u64(w, SV_T_STDERR_BYTES, m->stderr_bytes);
	if (m->value)
		sv_tlv_put(w, SV_T_VALUE, m->value, m->value_len);
	if (m->error)
		sv_tlv_put(w, SV_T_ERROR_TEXT, m->error, m->error_len);
	return enc_done(w);
}

int sv_msg_result_decode(const void *p, size_t len, struct sv_msg_result *m)
{
	struct sv_tlv_reader r;
	struct sv_tlv t;
	uint64_t v = 0;
	bool have_exit = false;
	int ret;

	memset(m, 0, sizeof(*m));
	sv_tlv_reader_init(&r, p, len);
	while ((ret = sv_tlv_next(&r, &t)) > 0) {
		switch (t.tag) {
		case SV_T_EXIT_CODE:
			ret = sv_tlv_get_u64(&t, &v);
			m->exit_code = (int64_t)v;
			have_exit = true;
			break;
		case SV_T_SIGNAL:
			ret = sv_tlv_get_u64(&t, &v);
			if (!ret && v > 128)
				ret = -EBADMSG;
			m->signal = (uint32_t)v;
			break;
		case SV_T_DURATION_MS:
			ret = sv_tlv_get_u64(&t, &m->duration_ms);
			break;
		case SV_T_FLAGS:
			ret = sv_tlv_get_u64(&t, &m->flags);
			break;
		case SV_T_STDOUT_BYTES:
			ret = sv_tlv_get_u64(&t, &m->stdout_bytes);
			break;
		case SV_T_STDERR_BYTES:
			ret = sv_tlv_get_u64(&t, &m->stderr_bytes);
			break;
		case SV_T_VALUE:
			m->value = t.val;
			m->value_len = t.len;
			ret = 0;
			break;
		case SV_T_ERROR_TEXT:
			m->error = t.val;
			m->error_len = t.len;
			ret = 0;
			break;
		default:
			ret = 0;
		}
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	return have_exit ? 0 : -EBADMSG;
}

int sv_msg_path_encode(struct sv_tlv_writer *w, const struct sv_msg_path *m)
{
	sv_tlv_put_str(w, SV_T_PATH, m->path);
	if (m->flags)
		sv_tlv_put_u64(w, SV_T_FLAGS, m->flags);
	if (m->mode)
		sv_tlv_put_u64(w, SV_T_MODE, m->mode);
	return enc_done(w);
}

int sv_msg_path_decode(const void *p, size_t len, struct sv_msg_path *m)
{
	struct sv_tlv_reader r;
	struct sv_tlv t;
	bool have_path = false;
	int ret;

	memset(m, 0, sizeof(*m));
	sv_tlv_reader_init(&r, p, len);
	while ((ret = sv_tlv_next(&r, &t)) > 0) {
		switch (t.tag) {
		case SV_T_PATH:
			ret = sv_tlv_get_str(&t, m->path, sizeof(m->path), SV_PROTO_PATH_MAX);
			have_path = true;
			break;
		case SV_T_FLAGS:
			ret = sv_tlv_get_u64(&t, &m->flags);
			break;
		case SV_T_MODE:
			ret = sv_tlv_get_u64(&t, &m->mode);
			if (!ret && m->mode > 07777)
				ret = -EINVAL;
			break;
		default:
			ret = 0;
		}
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	return have_path ? 0 : -EBADMSG;
}

int sv_msg_entry_encode(struct sv_tlv_writer *w, const struct sv_msg_entry *m)
{
	size_t mark = sv_tlv_begin(w, SV_T_ENTRY);

	sv_tlv_put_str(w, SV_T_NAME, m->name);
	sv_tlv_put_u64(w, SV_T_SIZE, m->size);
	sv_tlv_put_u64(w, SV_T_TYPE, m->type);
	sv_tlv_put_u64(w, SV_T_MODE, m->mode);
	sv_tlv_put_u64(w, SV_T_MTIME_NS, (uint64_t)m->mtime_ns);
	sv_tlv_end(w, mark);
	return enc_done(w);
}

int sv_msg_entry_next(struct sv_tlv_reader *r, struct sv_msg_entry *m)
{
	struct sv_tlv outer, t;
	struct sv_tlv_reader in;
	uint64_t v = 0;
	int ret;

	for (;;) {
		ret = sv_tlv_next(r, &outer);
		if (ret <= 0)
			return ret;
		if (outer.tag == SV_T_ENTRY)
			break;
	}
	memset(m, 0, sizeof(*m));
	sv_tlv_reader_init(&in, outer.val, outer.len);
	while ((ret = sv_tlv_next(&in, &t)) > 0) {
		switch (t.tag) {
		case SV_T_NAME:
			ret = sv_tlv_get_str(&t, m->name, sizeof(m->name), SV_PROTO_NAME_MAX);
			break;
		case SV_T_SIZE:
			ret = sv_tlv_get_u64(&t, &m->size);
			break;
		case SV_T_TYPE:
			ret = sv_tlv_get_u64(&t, &v);
			m->type = v <= SV_FT_SYMLINK ? (uint32_t)v : SV_FT_OTHER;
			break;
		case SV_T_MODE:
			ret = sv_tlv_get_u64(&t, &v);
			m->mode = (uint32_t)(v & 07777);
			break;
		case SV_T_MTIME_NS:
			ret = sv_tlv_get_u64(&t, &v);
			m->mtime_ns = (int64_t)v;
			break;
		default:
			ret = 0;
		}
		if (ret < 0)
			return ret;
	}
	if (ret < 0)
		return ret;
	return m->name[0] ? 1 : -EBADMSG;
}

/* ---- frame I/O ---- */

uint64_t sv_proto_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits for events on fd until the deadline: 0 ready, -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int timeout = -1, r;

	if (deadline_ns) {
		uint64_t now = sv_proto_now_ns();

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		/* Round up so we never spin on a sub-millisecond remainder. */
		timeout = (int)((deadline_ns - now + 999999) / 1000000);
	}
	r = poll(&pfd, 1, timeout);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return -ETIMEDOUT;
	return 0;
}

int sv_proto_read_full(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	uint8_t *p = buf;
	size_t got = 0;
	int r;

	while (got < len) {
		if (deadline_ns && (r = wait_fd(fd, POLLIN, deadline_ns)) < 0)
			return r;
		ssize_t n = read(fd, p + got, len - got);

		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			return -EPIPE;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((r = wait_fd(fd, POLLIN, deadline_ns)) < 0)
				return r;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

int sv_proto_write_full(int fd, const void *buf, size_t len, uint64_t deadline_ns)
{
	const uint8_t *p = buf;
	size_t done = 0;
	int r;

	while (done < len) {
		if (deadline_ns && (r = wait_fd(fd, POLLOUT, deadline_ns)) < 0)
			return r;
		ssize_t n = write(fd, p + done, len - done);

		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((r = wait_fd(fd, POLLOUT, deadline_ns)) < 0)
				return r;
		} else if (n < 0 && errno != EINTR) {
			return errno == EPIPE || errno == ECONNRESET ? -EPIPE : -errno;
		}
	}
	return 0;
}

int sv_proto_send(int fd, uint16_t type, uint16_t flags, uint32_t id, const void *payload,
		  size_t len, uint64_t deadline_ns)
{
	uint8_t small[SV_PROTO_HDR_LEN + 512];
	int r;

	if (len > SV_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	/* Small frames go out in one write: one virtqueue buffer, one wakeup. */
	if (len <= sizeof(small) - SV_PROTO_HDR_LEN) {
		sv_proto_hdr_pack(small, type, flags, id, (uint32_t)len);
		if (len)
			memcpy(small + SV_PROTO_HDR_LEN, payload, len);
		return sv_proto_write_full(fd, small, SV_PROTO_HDR_LEN + len, deadline_ns);
	}
	sv_proto_hdr_pack(small, type, flags, id, (uint32_t)len);
	r = sv_proto_write_full(fd, small, SV_PROTO_HDR_LEN, deadline_ns);
	if (r < 0)
		return r;
	return sv_proto_write_full(fd, payload, len, deadline_ns);
}

int sv_proto_recv(int fd, struct sv_frame_hdr *h, uint8_t *payload, uint64_t deadline_ns)
{
	uint8_t hb[SV_PROTO_HDR_LEN];
	int r;

	r = sv_proto_read_full(fd, hb, sizeof(hb), deadline_ns);
	if (r < 0)
		return r;
	r = sv_proto_hdr_unpack(hb, h);
	if (r < 0)
		return r;
	return sv_proto_read_full(fd, payload, h->len, deadline_ns);
}

/* ---- paths ---- */

int sv_proto_path_normalize(const char *in, char *out, size_t cap)
{
	static const char prefix[] = SV_DATA_DIR;
	const char *p = in;
	size_t olen = 0;

	if (cap == 0)
		return -EINVAL;
	out[0] = 0;
	if (*p == '/') {
		size_t pl = sizeof(prefix) - 1;

		if (strncmp(p, prefix, pl) != 0 || (p[pl] != 0 && p[pl] != '/'))
			return -EACCES;
		p += pl;
	}
	while (*p) {
		const char *start, *end;
		size_t clen;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != '/')
			p++;
		end = p;
		clen = (size_t)(end - start);
		for (const char *c = start; c < end; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return -EINVAL;
		if (clen == 1 && start[0] == '.')
			continue;
		if (clen == 2 && start[0] == '.' && start[1] == '.')
			return -EACCES;
		if (clen > SV_PROTO_NAME_MAX)
			return -ENAMETOOLONG;
		if (olen + (olen ? 1 : 0) + clen > SV_PROTO_PATH_MAX || olen + clen + 2 > cap)
			return -ENAMETOOLONG;
		if (olen)
			out[olen++] = '/';
		memcpy(out + olen, start, clen);
		olen += clen;
		out[olen] = 0;
	}
	return 0;
}
