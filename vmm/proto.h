/* SPDX-License-Identifier: MIT */
/*
 * The agent protocol (docs/protocol.md): frame header, TLV payloads, message
 * codecs, frame I/O with deadlines and the /mnt/data path checker.
 *
 * This file and proto.c are compiled twice: into libsandvisor (host side,
 * agent_client.c) and into the static guest agent (initrd/). So they depend on
 * nothing but libc and must never trust what they decode: every length is
 * checked against the buffer it claims to describe.
 */
#ifndef SV_PROTO_H
#define SV_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header bytes 0..3 are 'S' 'V' 'P' <version>: one u32 compare checks both. */
#define SV_PROTO_VERSION 1u
#define SV_PROTO_MAGIC (0x00505653u | (SV_PROTO_VERSION << 24))
#define SV_PROTO_HDR_LEN 16u
#define SV_PROTO_MAX_PAYLOAD (1u << 20)
/* Size of the data chunks both sides send (STDOUT, FILE_DATA, CODE, ...). */
#define SV_PROTO_CHUNK (64u << 10)

#define SV_PROTO_MAX_CODE (16u << 20)
#define SV_PROTO_MAX_STDIN (16u << 20)
#define SV_PROTO_PATH_MAX 4096u		/* bytes of a normalised path, without NUL */
#define SV_PROTO_NAME_MAX 255u		/* one path component */
#define SV_PROTO_LANG_MAX 15u
#define SV_PROTO_SESSION_MAX 127u
#define SV_PROTO_MAX_ENV 256u
#define SV_PROTO_ENV_LEN_MAX (32u << 10)
#define SV_PROTO_TEXT_MAX (256u << 10)	/* RESULT value / error text */
#define SV_PROTO_MSG_MAX 511u		/* ERROR message */
#define SV_PROTO_DEFAULT_OUTPUT_CAP (1u << 20)
#define SV_PROTO_DEFAULT_TIMEOUT_MS 30000u

enum sv_msg_type {
	SV_MSG_HELLO = 0x0001,
	SV_MSG_PING = 0x0002,
	SV_MSG_PONG = 0x0003,
	SV_MSG_OK = 0x0004,
	SV_MSG_ERROR = 0x0005,
	SV_MSG_SHUTDOWN = 0x0006,
	SV_MSG_EXEC = 0x0010,
	SV_MSG_CODE = 0x0011,
	SV_MSG_STDIN = 0x0012,
	SV_MSG_STDOUT = 0x0013,
	SV_MSG_STDERR = 0x0014,
	SV_MSG_RESULT = 0x0015,
	SV_MSG_PUT_FILE = 0x0020,
	SV_MSG_GET_FILE = 0x0021,
	SV_MSG_FILE_DATA = 0x0022,
	SV_MSG_LIST = 0x0023,
	SV_MSG_LIST_REPLY = 0x0024,
	SV_MSG_DELETE = 0x0025,
	SV_MSG_MKDIR = 0x0026,
};

/* Frame flags. */
#define SV_FRAME_END 0x0001u		/* last frame of a stream (CODE, STDIN, FILE_DATA, LIST_REPLY) */

enum sv_tlv_tag {
	SV_T_VERSION = 1,	/* u64 */
	SV_T_CAPS = 2,		/* u64, SV_CAP_* */
	SV_T_AGENT = 3,		/* str: agent name and version */
	SV_T_LANGS = 4,		/* str: comma-separated languages */
	SV_T_ERRNO = 5,		/* u64: positive Linux errno */
	SV_T_MESSAGE = 6,	/* str */
	SV_T_PATH = 7,		/* str */
	SV_T_MODE = 8,		/* u64: permission bits */
	SV_T_LANG = 9,		/* str */
	SV_T_SESSION = 10,	/* str */
	SV_T_TIMEOUT_MS = 11,	/* u64 */
	SV_T_OUTPUT_CAP = 12,	/* u64: bytes per stream */
	SV_T_FLAGS = 13,	/* u64: message-specific flags */
	SV_T_ENV = 14,		/* str "NAME=value", repeatable */
	SV_T_CODE_LEN = 15,	/* u64 */
	SV_T_STDIN_LEN = 16,	/* u64 */
	SV_T_EXIT_CODE = 17,	/* u64 holding an i64 (-1: killed by a signal) */
	SV_T_SIGNAL = 18,	/* u64 */
	SV_T_DURATION_MS = 19,	/* u64 */
	SV_T_VALUE = 20,	/* bytes (UTF-8 from the runner) */
	SV_T_ERROR_TEXT = 21,	/* bytes */
	SV_T_STDOUT_BYTES = 22,	/* u64: bytes the code wrote, kept or not */
	SV_T_STDERR_BYTES = 23,	/* u64 */
	SV_T_ENTRY = 24,	/* nested TLV: NAME, SIZE, TYPE, MTIME_NS, MODE */
	SV_T_NAME = 25,		/* str */
	SV_T_SIZE = 26,		/* u64 */
	SV_T_TYPE = 27,		/* u64, SV_FT_* */
	SV_T_MTIME_NS = 28,	/* u64 holding an i64 */
};

/* HELLO capabilities. */
#define SV_CAP_ISOLATION 0x1ull		/* uid switch + cgroups + mounts (not --no-isolation) */

/* EXEC flags. */
#define SV_EXEC_KEEP_BACKGROUND 0x1ull

/* RESULT flags. */
#define SV_RES_STDOUT_TRUNCATED 0x01ull
#define SV_RES_STDERR_TRUNCATED 0x02ull
#define SV_RES_TIMED_OUT 0x04ull
#define SV_RES_OOM_KILLED 0x08ull
#define SV_RES_SESSION_LOST 0x10ull	/* the session's runner is gone: next exec starts fresh */
#define SV_RES_SESSION_NEW 0x20ull	/* a fresh runner ran this exec (no earlier state) */
#define SV_RES_CODE_ERROR 0x40ull	/* the runner reported an exception (error text) */

/* DELETE flags. */
#define SV_DEL_RECURSIVE 0x1ull

/* LIST entry types. */
enum sv_file_type { SV_FT_OTHER = 0, SV_FT_FILE = 1, SV_FT_DIR = 2, SV_FT_SYMLINK = 3 };

/* ---- frame header ---- */

struct sv_frame_hdr {
	uint32_t magic;
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t id;
};

void sv_proto_hdr_pack(uint8_t out[SV_PROTO_HDR_LEN], uint16_t type, uint16_t flags, uint32_t id,
		       uint32_t len);
/*
 * 0, or -EPROTO (bad magic/version) / -EMSGSIZE (len > max): both mean the
 * stream can no longer be trusted to be in sync.
 */
int sv_proto_hdr_unpack(const uint8_t in[SV_PROTO_HDR_LEN], struct sv_frame_hdr *h);
const char *sv_proto_type_name(uint16_t type);

/* ---- TLV: u16 tag, u32 length, value; integers are always 8-byte LE ---- */

#define SV_TLV_HDR_LEN 6u

struct sv_tlv_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;		/* sticky: a put did not fit */
};

struct sv_tlv {
	uint16_t tag;
	uint32_t len;
	const uint8_t *val;
};

struct sv_tlv_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void sv_tlv_writer_init(struct sv_tlv_writer *w, uint8_t *buf, size_t cap);
void sv_tlv_put(struct sv_tlv_writer *w, uint16_t tag, const void *val, size_t len);
void sv_tlv_put_u64(struct sv_tlv_writer *w, uint16_t tag, uint64_t v);
void sv_tlv_put_str(struct sv_tlv_writer *w, uint16_t tag, const char *s);
/* Nested TLV: begin returns a mark, end patches the length in. */
size_t sv_tlv_begin(struct sv_tlv_writer *w, uint16_t tag);
void sv_tlv_end(struct sv_tlv_writer *w, size_t mark);

void sv_tlv_reader_init(struct sv_tlv_reader *r, const void *p, size_t len);
/* 1: *t filled; 0: end of data; -EBADMSG: truncated record. */
int sv_tlv_next(struct sv_tlv_reader *r, struct sv_tlv *t);
/* -EBADMSG unless the value is exactly 8 bytes. */
int sv_tlv_get_u64(const struct sv_tlv *t, uint64_t *v);
/* Copies a string field: -EBADMSG if it holds a NUL, -ENAMETOOLONG if len > max or >= cap. */
int sv_tlv_get_str(const struct sv_tlv *t, char *out, size_t cap, size_t max);

/* ---- messages ---- */

struct sv_msg_hello {
	uint64_t version;
	uint64_t caps;
	char agent[64];
	char langs[64];
};

struct sv_msg_error {
	uint32_t errnum;	/* positive errno */
	char message[SV_PROTO_MSG_MAX + 1];
};

/* EXEC header; the code and stdin follow as CODE / STDIN frames. */
struct sv_msg_exec {
	char lang[SV_PROTO_LANG_MAX + 1];
	char session[SV_PROTO_SESSION_MAX + 1];
	uint64_t timeout_ms;
	uint64_t output_cap;
	uint64_t flags;
	uint64_t code_len;
	uint64_t stdin_len;
	uint32_t n_env;		/* decode only: the ENV records, read them with sv_tlv_next */
};

struct sv_msg_result {
	int64_t exit_code;	/* -1 when killed by a signal */
	uint32_t signal;
	uint64_t duration_ms;
	uint64_t flags;
	uint64_t stdout_bytes;
	uint64_t stderr_bytes;
	const uint8_t *value;	/* NULL when absent; points into the payload when decoded */
	uint32_t value_len;
	const uint8_t *error;
	uint32_t error_len;
};

/* PUT_FILE, GET_FILE, LIST, DELETE, MKDIR. */
struct sv_msg_path {
	char path[SV_PROTO_PATH_MAX + 1];
	uint64_t flags;
	uint64_t mode;		/* 0: default */
};

struct sv_msg_entry {
	char name[SV_PROTO_NAME_MAX + 1];
	uint64_t size;
	uint32_t type;		/* enum sv_file_type */
	uint32_t mode;
	int64_t mtime_ns;
};

/* Encoders return 0 or -EMSGSIZE (did not fit); decoders 0 or -EBADMSG / -ENAMETOOLONG / -EINVAL. */
int sv_msg_hello_encode(struct sv_tlv_writer *w, const struct sv_msg_hello *m);
int sv_msg_hello_decode(const void *p, size_t len, struct sv_msg_hello *m);
int sv_msg_error_encode(struct sv_tlv_writer *w, const struct sv_msg_error *m);
int sv_msg_error_decode(const void *p, size_t len, struct sv_msg_error *m);
/* env: NULL-terminated "NAME=value" strings, or NULL. */
int sv_msg_exec_encode(struct sv_tlv_writer *w, const struct sv_msg_exec *m,
		       const char *const *env);
int sv_msg_exec_decode(const void *p, size_t len, struct sv_msg_exec *m);
/* True if s[0..len) is a valid environment entry (NAME=value, NAME non-empty, no NUL). */
bool sv_proto_env_ok(const uint8_t *s, size_t len);
int sv_msg_result_encode(struct sv_tlv_writer *w, const struct sv_msg_result *m);
int sv_msg_result_decode(const void *p, size_t len, struct sv_msg_result *m);
int sv_msg_path_encode(struct sv_tlv_writer *w, const struct sv_msg_path *m);
int sv_msg_path_decode(const void *p, size_t len, struct sv_msg_path *m);
/* One LIST entry, appended as a nested ENTRY record. */
int sv_msg_entry_encode(struct sv_tlv_writer *w, const struct sv_msg_entry *m);
/* Iterates the ENTRY records of a LIST_REPLY payload: 1 got one, 0 end, <0 malformed. */
int sv_msg_entry_next(struct sv_tlv_reader *r, struct sv_msg_entry *m);

/* ---- frame I/O ---- */

/*
 * deadline_ns: absolute CLOCK_MONOTONIC time in ns, 0 for none. The fd may be
 * blocking or not (deadlines only hold for non-blocking fds or fds that poll
 * readable/writable). Return 0, -ETIMEDOUT, -EPIPE (peer closed) or -errno.
 */
uint64_t sv_proto_now_ns(void);
int sv_proto_read_full(int fd, void *buf, size_t len, uint64_t deadline_ns);
int sv_proto_write_full(int fd, const void *buf, size_t len, uint64_t deadline_ns);
int sv_proto_send(int fd, uint16_t type, uint16_t flags, uint32_t id, const void *payload,
		  size_t len, uint64_t deadline_ns);
/*
 * Reads one frame; payload must hold SV_PROTO_MAX_PAYLOAD bytes. -EPROTO and
 * -EMSGSIZE mean the header was bad (the stream is out of sync); -EPIPE on EOF.
 */
int sv_proto_recv(int fd, struct sv_frame_hdr *h, uint8_t *payload, uint64_t deadline_ns);

/* ---- paths under /mnt/data ---- */

/*
 * Normalises a path given by the host into a path relative to the data
 * directory: "/mnt/data/" prefix and extra "/" and "." removed. "" (the data
 * directory itself) is the result for "", ".", "/mnt/data". Returns 0,
 * -EACCES for ".." components or absolute paths outside /mnt/data,
 * -ENAMETOOLONG for a path > SV_PROTO_PATH_MAX or a component >
 * SV_PROTO_NAME_MAX, -EINVAL for control characters. out must hold
 * SV_PROTO_PATH_MAX + 1 bytes.
 */
int sv_proto_path_normalize(const char *in, char *out, size_t cap);

#define SV_DATA_DIR "/mnt/data"

#endif
