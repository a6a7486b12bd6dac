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

/*
 * Decoding is table-driven: a message lists the tags it knows and where each
 * goes in its struct; decode_fields() runs the records through the table.
 * Unknown tags are skipped so that newer peers can add fields; a repeated tag
 * overwrites the earlier value.
 */
enum sv_field_kind {
	FK_INT,		/* u64 into a 4- or 8-byte member (low bits; i64 as is) */
	FK_STR,		/* into char[MAX + 1], MAX from proto.h: no NUL, at most MAX bytes */
	FK_TEXT,	/* like FK_STR, but cut to fit and NULs shown as '?': never refused */
	FK_BYTES,	/* pointer into the payload, its uint32_t length at len_off */
	FK_ENV,		/* uint32_t count of NAME=value records, all checked */
};

struct sv_field {
	size_t off, size;	/* the member, see FIELD() */
	size_t len_off;		/* FK_BYTES */
	/* FK_INT, optional: 0 to store *v (it may adjust it) or the error to return. */
	int (*check)(uint64_t *v);
	enum sv_field_kind kind;
	uint16_t tag;
	bool required;		/* -EBADMSG if the tag never comes */
};

#define FIELD(tag_, kind_, type, member)					\
	.tag = (tag_), .kind = (kind_), .off = offsetof(type, member),		\
	.size = sizeof(((type *)0)->member)
#define DECODE(p, len, m, fields) \
	decode_fields(p, len, m, fields, sizeof(fields) / sizeof((fields)[0]))

/* Stores one record into its member of m: 0 or -errno. */
static int decode_field(const struct sv_field *f, const struct sv_tlv *t, void *m)
{
	uint8_t *dst = (uint8_t *)m + f->off;
	uint64_t v;
	int ret;

	switch (f->kind) {
	case FK_INT:
		ret = sv_tlv_get_u64(t, &v);
		if (!ret && f->check)
			ret = f->check(&v);
		if (ret < 0)
			return ret;
		if (f->size == sizeof(uint32_t))
			*(uint32_t *)dst = (uint32_t)v;
		else
			*(uint64_t *)dst = v;
		return 0;
	case FK_STR:
		return sv_tlv_get_str(t, (char *)dst, f->size, f->size - 1);
	case FK_TEXT: {
		/* Keep what fits: a long message is still worth showing. */
		size_t n = t->len < f->size - 1 ? t->len : f->size - 1;
		char *s = (char *)dst;

		memcpy(s, t->val, n);
		s[n] = 0;
		for (size_t i = 0; i < n; i++)
			if (s[i] == 0)
				s[i] = '?';
		return 0;
	}
	case FK_BYTES:
		*(const uint8_t **)dst = t->val;
		*(uint32_t *)((uint8_t *)m + f->len_off) = t->len;
		return 0;
	case FK_ENV:
		/* Only counted: the caller reads them again with sv_tlv_next. */
		if (!sv_proto_env_ok(t->val, t->len) || ++*(uint32_t *)dst > SV_PROTO_MAX_ENV)
			return -EINVAL;
		return 0;
	}
	return -EINVAL;		/* not reached: a kind missing above */
}

/*
 * Decodes p into m, which the caller has cleared and given its defaults. The
 * first bad record decides the error; then a missing required tag is -EBADMSG.
 */
static int decode_fields(const void *p, size_t len, void *m, const struct sv_field *fields,
			 size_t n)
{
	struct sv_tlv_reader r;
	struct sv_tlv t;
	uint32_t seen = 0;	/* bit i: fields[i] came (no table has 32 fields) */
	int ret;

	sv_tlv_reader_init(&r, p, len);
	while ((ret = sv_tlv_next(&r, &t)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (fields[i].tag != t.tag)
				continue;
			seen |= 1u << i;
			ret = decode_field(&fields[i], &t, m);
			if (ret < 0)
				return ret;
			break;
		}
	}
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++)
		if (fields[i].required && !(seen & 1u << i))
			return -EBADMSG;
	return 0;
}

/* The host hands an ERROR's errno back negated: it must be a real one. */
static int errno_ok(uint64_t *v)
{
	return *v && *v <= 4095 ? 0 : -EBADMSG;
}

static int signal_ok(uint64_t *v)
{
	return *v <= 128 ? 0 : -EBADMSG;
}

static int mode_ok(uint64_t *v)
{
	return *v <= 07777 ? 0 : -EINVAL;
}

/* LIST entries only inform: odd types and mode bits are tamed, not refused. */
static int ftype_tame(uint64_t *v)
{
	if (*v > SV_FT_SYMLINK)
		*v = SV_FT_OTHER;
	return 0;
}

static int mode_tame(uint64_t *v)
{
	*v &= 07777;
	return 0;
}

int sv_msg_hello_encode(struct sv_tlv_writer *w, const struct sv_msg_hello *m)
{
	sv_tlv_put_u64(w, SV_T_VERSION, m->version);
	sv_tlv_put_u64(w, SV_T_CAPS, m->caps);
	sv_tlv_put_str(w, SV_T_AGENT, m->agent);
	sv_tlv_put_str(w, SV_T_LANGS, m->langs);
	return enc_done(w);
}

static const struct sv_field hello_fields[] = {
	{ FIELD(SV_T_VERSION, FK_INT, struct sv_msg_hello, version), .required = true },
	{ FIELD(SV_T_CAPS, FK_INT, struct sv_msg_hello, caps) },
	{ FIELD(SV_T_AGENT, FK_STR, struct sv_msg_hello, agent) },
	{ FIELD(SV_T_LANGS, FK_STR, struct sv_msg_hello, langs) },
};

int sv_msg_hello_decode(const void *p, size_t len, struct sv_msg_hello *m)
{
	memset(m, 0, sizeof(*m));
	return DECODE(p, len, m, hello_fields);
}

int sv_msg_error_encode(struct sv_tlv_writer *w, const struct sv_msg_error *m)
{
	sv_tlv_put_u64(w, SV_T_ERRNO, m->errnum);
	sv_tlv_put_str(w, SV_T_MESSAGE, m->message);
	return enc_done(w);
}

static const struct sv_field error_fields[] = {
	{ FIELD(SV_T_ERRNO, FK_INT, struct sv_msg_error, errnum), .check = errno_ok },
	{ FIELD(SV_T_MESSAGE, FK_TEXT, struct sv_msg_error, message) },
};

int sv_msg_error_decode(const void *p, size_t len, struct sv_msg_error *m)
{
	memset(m, 0, sizeof(*m));
	m->errnum = EIO;	/* an ERROR without ERRNO is still an error */
	return DECODE(p, len, m, error_fields);
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

static const struct sv_field exec_fields[] = {
	{ FIELD(SV_T_LANG, FK_STR, struct sv_msg_exec, lang) },
	{ FIELD(SV_T_SESSION, FK_STR, struct sv_msg_exec, session) },
	{ FIELD(SV_T_TIMEOUT_MS, FK_INT, struct sv_msg_exec, timeout_ms) },
	{ FIELD(SV_T_OUTPUT_CAP, FK_INT, struct sv_msg_exec, output_cap) },
	{ FIELD(SV_T_FLAGS, FK_INT, struct sv_msg_exec, flags) },
	{ FIELD(SV_T_CODE_LEN, FK_INT, struct sv_msg_exec, code_len) },
	{ FIELD(SV_T_STDIN_LEN, FK_INT, struct sv_msg_exec, stdin_len) },
	{ FIELD(SV_T_ENV, FK_ENV, struct sv_msg_exec, n_env) },
};

int sv_msg_exec_decode(const void *p, size_t len, struct sv_msg_exec *m)
{
	int ret;

	memset(m, 0, sizeof(*m));
	m->timeout_ms = SV_PROTO_DEFAULT_TIMEOUT_MS;
	m->output_cap = SV_PROTO_DEFAULT_OUTPUT_CAP;
	ret = DECODE(p, len, m, exec_fields);
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

static const struct sv_field result_fields[] = {
	{ FIELD(SV_T_EXIT_CODE, FK_INT, struct sv_msg_result, exit_code), .required = true },
	{ FIELD(SV_T_SIGNAL, FK_INT, struct sv_msg_result, signal), .check = signal_ok },
	{ FIELD(SV_T_DURATION_MS, FK_INT, struct sv_msg_result, duration_ms) },
	{ FIELD(SV_T_FLAGS, FK_INT, struct sv_msg_result, flags) },
	{ FIELD(SV_T_STDOUT_BYTES, FK_INT, struct sv_msg_result, stdout_bytes) },
	{ FIELD(SV_T_STDERR_BYTES, FK_INT, struct sv_msg_result, stderr_bytes) },
	{ FIELD(SV_T_VALUE, FK_BYTES, struct sv_msg_result, value),
	  .len_off = offsetof(struct sv_msg_result, value_len) },
	{ FIELD(SV_T_ERROR_TEXT, FK_BYTES, struct sv_msg_result, error),
	  .len_off = offsetof(struct sv_msg_result, error_len) },
};

int sv_msg_result_decode(const void *p, size_t len, struct sv_msg_result *m)
{
	memset(m, 0, sizeof(*m));
	return DECODE(p, len, m, result_fields);
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

static const struct sv_field path_fields[] = {
	{ FIELD(SV_T_PATH, FK_STR, struct sv_msg_path, path), .required = true },
	{ FIELD(SV_T_FLAGS, FK_INT, struct sv_msg_path, flags) },
	{ FIELD(SV_T_MODE, FK_INT, struct sv_msg_path, mode), .check = mode_ok },
};

int sv_msg_path_decode(const void *p, size_t len, struct sv_msg_path *m)
{
	memset(m, 0, sizeof(*m));
	return DECODE(p, len, m, path_fields);
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

static const struct sv_field entry_fields[] = {
	{ FIELD(SV_T_NAME, FK_STR, struct sv_msg_entry, name) },
	{ FIELD(SV_T_SIZE, FK_INT, struct sv_msg_entry, size) },
	{ FIELD(SV_T_TYPE, FK_INT, struct sv_msg_entry, type), .check = ftype_tame },
	{ FIELD(SV_T_MODE, FK_INT, struct sv_msg_entry, mode), .check = mode_tame },
	{ FIELD(SV_T_MTIME_NS, FK_INT, struct sv_msg_entry, mtime_ns) },
};

int sv_msg_entry_next(struct sv_tlv_reader *r, struct sv_msg_entry *m)
{
	struct sv_tlv outer;
	int ret;

	for (;;) {
		ret = sv_tlv_next(r, &outer);
		if (ret <= 0)
			return ret;
		if (outer.tag == SV_T_ENTRY)
			break;
	}
	memset(m, 0, sizeof(*m));
	ret = DECODE(outer.val, outer.len, m, entry_fields);
	if (ret < 0)
		return ret;
	return m->name[0] ? 1 : -EBADMSG;	/* an empty NAME counts as none */
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
