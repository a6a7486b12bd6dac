/* SPDX-License-Identifier: MIT */
/* proto.c: frame headers, TLV, message codecs, frame I/O, the /mnt/data path checker. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "suites.h"
#include "proto.h"

Suite *proto_suite(void);	/* register in suites.h */

START_TEST(header_round_trip)
{
	uint8_t b[SV_PROTO_HDR_LEN];
	struct sv_frame_hdr h;

	sv_proto_hdr_pack(b, SV_MSG_RESULT, SV_FRAME_END, 0xdeadbeef, 1234);
	/* The byte layout is the protocol: pin it. */
	ck_assert_int_eq(memcmp(b, "SVP\x01", 4), 0);
	ck_assert_uint_eq(b[4], 1234 & 0xff);
	ck_assert_uint_eq(b[5], 1234 >> 8);
	ck_assert_uint_eq(b[8], SV_MSG_RESULT);
	ck_assert_uint_eq(b[10], SV_FRAME_END);
	ck_assert_uint_eq(b[12], 0xef);
	ck_assert_uint_eq(b[15], 0xde);
	ck_assert_int_eq(sv_proto_hdr_unpack(b, &h), 0);
	ck_assert_uint_eq(h.len, 1234);
	ck_assert_uint_eq(h.type, SV_MSG_RESULT);
	ck_assert_uint_eq(h.flags, SV_FRAME_END);
	ck_assert_uint_eq(h.id, 0xdeadbeef);
}
END_TEST

START_TEST(header_rejects)
{
	uint8_t b[SV_PROTO_HDR_LEN];
	struct sv_frame_hdr h;

	sv_proto_hdr_pack(b, SV_MSG_PING, 0, 1, SV_PROTO_MAX_PAYLOAD);
	ck_assert_int_eq(sv_proto_hdr_unpack(b, &h), 0);
	sv_proto_hdr_pack(b, SV_MSG_PING, 0, 1, SV_PROTO_MAX_PAYLOAD + 1);
	ck_assert_int_eq(sv_proto_hdr_unpack(b, &h), -EMSGSIZE);
	sv_proto_hdr_pack(b, SV_MSG_PING, 0, 1, 0);
	b[3] = 2;	/* another protocol version */
	ck_assert_int_eq(sv_proto_hdr_unpack(b, &h), -EPROTO);
	memcpy(b, "GET ", 4);
	ck_assert_int_eq(sv_proto_hdr_unpack(b, &h), -EPROTO);
}
END_TEST

START_TEST(tlv_basics)
{
	uint8_t buf[64];
	struct sv_tlv_writer w;
	struct sv_tlv_reader r;
	struct sv_tlv t;
	uint64_t v;
	char s[8];

	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_tlv_put_u64(&w, 7, 0x0102030405060708ull);
	sv_tlv_put_str(&w, 9, "abc");
	ck_assert(!w.overflow);
	ck_assert_uint_eq(w.len, 6 + 8 + 6 + 3);
	sv_tlv_reader_init(&r, buf, w.len);
	ck_assert_int_eq(sv_tlv_next(&r, &t), 1);
	ck_assert_uint_eq(t.tag, 7);
	ck_assert_int_eq(sv_tlv_get_u64(&t, &v), 0);
	ck_assert_uint_eq(v, 0x0102030405060708ull);
	ck_assert_int_eq(sv_tlv_get_str(&t, s, sizeof(s), 7), -ENAMETOOLONG);	/* 8 > 7 */
	ck_assert_int_eq(sv_tlv_next(&r, &t), 1);
	ck_assert_int_eq(sv_tlv_get_u64(&t, &v), -EBADMSG);		/* 3 bytes */
	ck_assert_int_eq(sv_tlv_get_str(&t, s, sizeof(s), 7), 0);
	ck_assert_str_eq(s, "abc");
	ck_assert_int_eq(sv_tlv_get_str(&t, s, 3, 7), -ENAMETOOLONG);	/* no room for NUL */
	ck_assert_int_eq(sv_tlv_next(&r, &t), 0);
	/* Overflow is sticky and reported by encoders. */
	sv_tlv_put(&w, 1, buf, 60);
	ck_assert(w.overflow);
}
END_TEST

START_TEST(tlv_truncated)
{
	uint8_t buf[32];
	struct sv_tlv_writer w;
	struct sv_tlv_reader r;
	struct sv_tlv t;

	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_tlv_put_str(&w, 1, "hello");
	for (size_t cut = 1; cut < w.len; cut++) {
		sv_tlv_reader_init(&r, buf, cut);
		ck_assert_int_eq(sv_tlv_next(&r, &t), -EBADMSG);
	}
	/* A length that would wrap past the end. */
	buf[2] = buf[3] = buf[4] = buf[5] = 0xff;
	sv_tlv_reader_init(&r, buf, w.len);
	ck_assert_int_eq(sv_tlv_next(&r, &t), -EBADMSG);
}
END_TEST

START_TEST(tlv_str_with_nul)
{
	uint8_t buf[32];
	struct sv_tlv_writer w;
	struct sv_tlv_reader r;
	struct sv_tlv t;
	char s[16];

	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_tlv_put(&w, 1, "a\0b", 3);
	sv_tlv_reader_init(&r, buf, w.len);
	ck_assert_int_eq(sv_tlv_next(&r, &t), 1);
	ck_assert_int_eq(sv_tlv_get_str(&t, s, sizeof(s), 15), -EBADMSG);
}
END_TEST

START_TEST(hello_round_trip)
{
	struct sv_msg_hello a = { .version = 1, .caps = SV_CAP_ISOLATION }, b;
	uint8_t buf[256];
	struct sv_tlv_writer w;

	strcpy(a.agent, "agent x");
	strcpy(a.langs, "sh,python");
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	ck_assert_int_eq(sv_msg_hello_encode(&w, &a), 0);
	ck_assert_int_eq(sv_msg_hello_decode(buf, w.len, &b), 0);
	ck_assert_uint_eq(b.version, 1);
	ck_assert_uint_eq(b.caps, SV_CAP_ISOLATION);
	ck_assert_str_eq(b.agent, "agent x");
	ck_assert_str_eq(b.langs, "sh,python");
	/* Without VERSION it is not a HELLO. */
	ck_assert_int_eq(sv_msg_hello_decode(buf, 0, &b), -EBADMSG);
}
END_TEST

START_TEST(exec_round_trip)
{
	static const char *const env[] = { "A=1", "PATH=/x", NULL };
	struct sv_msg_exec a = { .timeout_ms = 5000, .output_cap = 77, .flags = 1,
				 .code_len = 10u << 20, .stdin_len = 3 }, b;
	uint8_t buf[512];
	struct sv_tlv_writer w;

	strcpy(a.lang, "python");
	strcpy(a.session, "s1");
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	ck_assert_int_eq(sv_msg_exec_encode(&w, &a, env), 0);
	ck_assert_int_eq(sv_msg_exec_decode(buf, w.len, &b), 0);
	ck_assert_str_eq(b.lang, "python");
	ck_assert_str_eq(b.session, "s1");
	ck_assert_uint_eq(b.timeout_ms, 5000);
	ck_assert_uint_eq(b.output_cap, 77);
	ck_assert_uint_eq(b.flags, 1);
	ck_assert_uint_eq(b.code_len, 10u << 20);
	ck_assert_uint_eq(b.stdin_len, 3);
	ck_assert_uint_eq(b.n_env, 2);
}
END_TEST

START_TEST(exec_rejects)
{
	static const char *const bad_env[] = { "=x", NULL };
	static const char *const no_eq[] = { "NOEQ", NULL };
	struct sv_msg_exec a = { .code_len = 1 }, b;
	uint8_t buf[512];
	struct sv_tlv_writer w;

	/* No language. */
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_msg_exec_encode(&w, &a, NULL);
	ck_assert_int_eq(sv_msg_exec_decode(buf, w.len, &b), -EINVAL);
	strcpy(a.lang, "sh");
	a.code_len = SV_PROTO_MAX_CODE + 1;
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_msg_exec_encode(&w, &a, NULL);
	ck_assert_int_eq(sv_msg_exec_decode(buf, w.len, &b), -EINVAL);
	a.code_len = 1;
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_msg_exec_encode(&w, &a, bad_env);
	ck_assert_int_eq(sv_msg_exec_decode(buf, w.len, &b), -EINVAL);
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_msg_exec_encode(&w, &a, no_eq);
	ck_assert_int_eq(sv_msg_exec_decode(buf, w.len, &b), -EINVAL);
	/* Language name too long for the field. */
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_tlv_put_str(&w, SV_T_LANG, "a-very-long-language-name");
	ck_assert_int_eq(sv_msg_exec_decode(buf, w.len, &b), -ENAMETOOLONG);
	/* Integer with the wrong width. */
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_tlv_put_str(&w, SV_T_LANG, "sh");
	sv_tlv_put(&w, SV_T_TIMEOUT_MS, "\x01\x02", 2);
	ck_assert_int_eq(sv_msg_exec_decode(buf, w.len, &b), -EBADMSG);
}
END_TEST

START_TEST(result_round_trip)
{
	struct sv_msg_result a = { .exit_code = -1, .signal = 9, .duration_ms = 1500,
				   .flags = SV_RES_TIMED_OUT | SV_RES_SESSION_LOST,
				   .stdout_bytes = 5, .stderr_bytes = 6,
				   .value = (const uint8_t *)"42", .value_len = 2 }, b;
	uint8_t buf[256];
	struct sv_tlv_writer w;

	sv_tlv_writer_init(&w, buf, sizeof(buf));
	ck_assert_int_eq(sv_msg_result_encode(&w, &a), 0);
	ck_assert_int_eq(sv_msg_result_decode(buf, w.len, &b), 0);
	ck_assert_int_eq(b.exit_code, -1);
	ck_assert_uint_eq(b.signal, 9);
	ck_assert_uint_eq(b.duration_ms, 1500);
	ck_assert_uint_eq(b.flags, SV_RES_TIMED_OUT | SV_RES_SESSION_LOST);
	ck_assert_uint_eq(b.stdout_bytes, 5);
	ck_assert_uint_eq(b.stderr_bytes, 6);
	ck_assert_uint_eq(b.value_len, 2);
	ck_assert_int_eq(memcmp(b.value, "42", 2), 0);
	ck_assert_ptr_null(b.error);
	/* Signal numbers beyond any real signal are refused. */
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_tlv_put_u64(&w, SV_T_EXIT_CODE, 0);
	sv_tlv_put_u64(&w, SV_T_SIGNAL, 1000);
	ck_assert_int_eq(sv_msg_result_decode(buf, w.len, &b), -EBADMSG);
}
END_TEST

START_TEST(error_and_path_round_trip)
{
	struct sv_msg_error e = { .errnum = EACCES }, e2;
	struct sv_msg_path p = { .flags = SV_DEL_RECURSIVE, .mode = 0600 }, p2;
	uint8_t buf[SV_PROTO_PATH_MAX + 128];
	struct sv_tlv_writer w;

	strcpy(e.message, "no");
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	ck_assert_int_eq(sv_msg_error_encode(&w, &e), 0);
	ck_assert_int_eq(sv_msg_error_decode(buf, w.len, &e2), 0);
	ck_assert_uint_eq(e2.errnum, EACCES);
	ck_assert_str_eq(e2.message, "no");

	strcpy(p.path, "a/b");
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	ck_assert_int_eq(sv_msg_path_encode(&w, &p), 0);
	ck_assert_int_eq(sv_msg_path_decode(buf, w.len, &p2), 0);
	ck_assert_str_eq(p2.path, "a/b");
	ck_assert_uint_eq(p2.flags, SV_DEL_RECURSIVE);
	ck_assert_uint_eq(p2.mode, 0600);
	/* Path missing. */
	ck_assert_int_eq(sv_msg_path_decode(buf, 0, &p2), -EBADMSG);
}
END_TEST

START_TEST(entries_round_trip)
{
	struct sv_msg_entry a = { .size = 99, .type = SV_FT_DIR, .mode = 0755,
				  .mtime_ns = 123456789 }, b;
	uint8_t buf[1024];
	struct sv_tlv_writer w;
	struct sv_tlv_reader r;

	sv_tlv_writer_init(&w, buf, sizeof(buf));
	strcpy(a.name, "one");
	sv_msg_entry_encode(&w, &a);
	strcpy(a.name, "two");
	sv_msg_entry_encode(&w, &a);
	sv_tlv_reader_init(&r, buf, w.len);
	ck_assert_int_eq(sv_msg_entry_next(&r, &b), 1);
	ck_assert_str_eq(b.name, "one");
	ck_assert_uint_eq(b.size, 99);
	ck_assert_uint_eq(b.type, SV_FT_DIR);
	ck_assert_uint_eq(b.mode, 0755);
	ck_assert_int_eq(b.mtime_ns, 123456789);
	ck_assert_int_eq(sv_msg_entry_next(&r, &b), 1);
	ck_assert_str_eq(b.name, "two");
	ck_assert_int_eq(sv_msg_entry_next(&r, &b), 0);
	/* A nested record cut short. */
	sv_tlv_reader_init(&r, buf, w.len - 3);
	ck_assert_int_eq(sv_msg_entry_next(&r, &b), 1);
	ck_assert_int_eq(sv_msg_entry_next(&r, &b), -EBADMSG);
}
END_TEST

/* Every decoder on every prefix and on flipped bytes: no crash, no overread (valgrind/ASan). */
START_TEST(decoders_survive_garbage)
{
	static const char *const env[] = { "A=1", NULL };
	struct sv_msg_exec e = { .code_len = 3 };
	struct sv_msg_hello h;
	struct sv_msg_error er;
	struct sv_msg_result res;
	struct sv_msg_path p;
	struct sv_msg_entry en;
	struct sv_tlv_reader r;
	uint8_t buf[512];
	struct sv_tlv_writer w;

	strcpy(e.lang, "sh");
	sv_tlv_writer_init(&w, buf, sizeof(buf));
	sv_msg_exec_encode(&w, &e, env);
	for (size_t len = 0; len <= w.len; len++) {
		for (size_t flip = 0; flip < len; flip++) {
			uint8_t *copy = malloc(len);

			memcpy(copy, buf, len);
			copy[flip] ^= 0xa5;
			sv_msg_exec_decode(copy, len, &e);
			sv_msg_hello_decode(copy, len, &h);
			sv_msg_error_decode(copy, len, &er);
			sv_msg_result_decode(copy, len, &res);
			sv_msg_path_decode(copy, len, &p);
			sv_tlv_reader_init(&r, copy, len);
			while (sv_msg_entry_next(&r, &en) > 0)
				;
			free(copy);
		}
	}
}
END_TEST

START_TEST(frame_io_socketpair)
{
	int sp[2];
	struct sv_frame_hdr h;
	uint8_t *payload = malloc(SV_PROTO_MAX_PAYLOAD);
	uint64_t deadline = sv_proto_now_ns() + 2000000000ull;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	fcntl(sp[0], F_SETFL, O_NONBLOCK);
	fcntl(sp[1], F_SETFL, O_NONBLOCK);
	ck_assert_int_eq(sv_proto_send(sp[0], SV_MSG_PING, 0, 5, "abc", 3, deadline), 0);
	ck_assert_int_eq(sv_proto_recv(sp[1], &h, payload, deadline), 0);
	ck_assert_uint_eq(h.type, SV_MSG_PING);
	ck_assert_uint_eq(h.id, 5);
	ck_assert_uint_eq(h.len, 3);
	ck_assert_int_eq(memcmp(payload, "abc", 3), 0);
	/* Too big to send. */
	ck_assert_int_eq(sv_proto_send(sp[0], SV_MSG_PING, 0, 5, payload,
				       SV_PROTO_MAX_PAYLOAD + 1, deadline), -EMSGSIZE);
	/* Nothing arrives: the deadline holds. */
	ck_assert_int_eq(sv_proto_recv(sp[1], &h, payload, sv_proto_now_ns() + 50000000ull),
			 -ETIMEDOUT);
	/* A bad header is reported as out of sync. */
	ck_assert_int_eq(write(sp[0], "0123456789abcdef", 16), 16);
	ck_assert_int_eq(sv_proto_recv(sp[1], &h, payload, deadline), -EPROTO);
	/* A header whose payload never comes, then EOF. */
	{
		uint8_t hb[SV_PROTO_HDR_LEN];

		sv_proto_hdr_pack(hb, SV_MSG_PING, 0, 1, 100);
		ck_assert_int_eq(write(sp[0], hb, sizeof(hb)), (int)sizeof(hb));
		close(sp[0]);
		ck_assert_int_eq(sv_proto_recv(sp[1], &h, payload, deadline), -EPIPE);
	}
	close(sp[1]);
	free(payload);
}
END_TEST

static int norm(const char *in, char *out)
{
	return sv_proto_path_normalize(in, out, SV_PROTO_PATH_MAX + 1);
}

START_TEST(paths_accepted)
{
	char out[SV_PROTO_PATH_MAX + 1];

	ck_assert_int_eq(norm("a.txt", out), 0);
	ck_assert_str_eq(out, "a.txt");
	ck_assert_int_eq(norm("a//b/./c/", out), 0);
	ck_assert_str_eq(out, "a/b/c");
	ck_assert_int_eq(norm("/mnt/data/x/y", out), 0);
	ck_assert_str_eq(out, "x/y");
	ck_assert_int_eq(norm("/mnt/data", out), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(norm("/mnt/data/", out), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(norm("", out), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(norm("./.", out), 0);
	ck_assert_str_eq(out, "");
	/* Names that merely contain dots are fine. */
	ck_assert_int_eq(norm("..a/b..c/...", out), 0);
	ck_assert_str_eq(out, "..a/b..c/...");
	/* UTF-8 and spaces pass through. */
	ck_assert_int_eq(norm("données/my file.csv", out), 0);
	ck_assert_str_eq(out, "données/my file.csv");
}
END_TEST

START_TEST(paths_refused)
{
	char out[SV_PROTO_PATH_MAX + 1], big[SV_PROTO_PATH_MAX + 64];

	ck_assert_int_eq(norm("../../etc/passwd", out), -EACCES);
	ck_assert_int_eq(norm("a/../../b", out), -EACCES);
	ck_assert_int_eq(norm("a/..", out), -EACCES);
	ck_assert_int_eq(norm("..", out), -EACCES);
	ck_assert_int_eq(norm("/etc/passwd", out), -EACCES);
	ck_assert_int_eq(norm("/mnt/database/x", out), -EACCES);
	ck_assert_int_eq(norm("/mnt/data/../x", out), -EACCES);
	ck_assert_int_eq(norm("/", out), -EACCES);
	ck_assert_int_eq(norm("a\nb", out), -EINVAL);
	ck_assert_int_eq(norm("a\x7f", out), -EINVAL);
	memset(big, 'a', 300);
	big[300] = 0;
	ck_assert_int_eq(norm(big, out), -ENAMETOOLONG);	/* one component > 255 */
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = i % 100 == 99 ? '/' : 'b';
	big[sizeof(big) - 1] = 0;
	ck_assert_int_eq(norm(big, out), -ENAMETOOLONG);	/* whole path > 4096 */
	/* A small output buffer is never overrun. */
	ck_assert_int_eq(sv_proto_path_normalize("abcdef", out, 4), -ENAMETOOLONG);
}
END_TEST

START_TEST(env_check)
{
	ck_assert(sv_proto_env_ok((const uint8_t *)"A=", 2));
	ck_assert(sv_proto_env_ok((const uint8_t *)"A=b=c", 5));
	ck_assert(!sv_proto_env_ok((const uint8_t *)"=b", 2));
	ck_assert(!sv_proto_env_ok((const uint8_t *)"AB", 2));
	ck_assert(!sv_proto_env_ok((const uint8_t *)"A=\0", 3));
	ck_assert(!sv_proto_env_ok((const uint8_t *)"", 0));
}
END_TEST

Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("codec");

	tcase_add_test(tc, header_round_trip);
	tcase_add_test(tc, header_rejects);
	tcase_add_test(tc, tlv_basics);
	tcase_add_test(tc, tlv_truncated);
	tcase_add_test(tc, tlv_str_with_nul);
	tcase_add_test(tc, hello_round_trip);
	tcase_add_test(tc, exec_round_trip);
	tcase_add_test(tc, exec_rejects);
	tcase_add_test(tc, result_round_trip);
	tcase_add_test(tc, error_and_path_round_trip);
	tcase_add_test(tc, entries_round_trip);
	tcase_add_test(tc, decoders_survive_garbage);
	tcase_add_test(tc, frame_io_socketpair);
	suite_add_tcase(s, tc);
	tc = tcase_create("paths");
	tcase_add_test(tc, paths_accepted);
	tcase_add_test(tc, paths_refused);
	tcase_add_test(tc, env_check);
	suite_add_tcase(s, tc);
	return s;
}
