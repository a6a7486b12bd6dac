/* SPDX-License-Identifier: MIT */
/* `sandvisor run LANG ...`: one sandbox, some code, its output and exit status. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "proto.h"
#include "sandvisor.h"

#define MAX_CODES 16
#define MAX_FILES 16
#define CODE_MAX (16u << 20)
#define MAX_ENV 32

static const char run_usage[] =
	"usage: sandvisor run LANG [options] [-c CODE]... [FILE | -]\n"
	"\n"
	"Boots a sandbox (a fresh VM), runs code in it as an unprivileged user, streams\n"
	"its output, and exits with the code's exit status. LANG: python, node or sh.\n"
	"Several -c run one after another in one session: variables persist, and the\n"
	"value of a trailing expression is printed (as in a notebook). Without -c the\n"
	"code comes from FILE, or from stdin.\n"
	"\n"
	"options:\n"
	"  -c CODE                code to run (repeatable)\n"
	"  --timeout T            per execution: seconds or e.g. 500ms (default 30)\n"
	"  --mem SIZE             guest RAM (default 512M)\n"
	"  --cpus N               vCPUs (default 1)\n"
	"  --file LOCAL[:REMOTE]  upload to /mnt/data before running (repeatable)\n"
	"  --get REMOTE[:LOCAL]   download from /mnt/data afterwards (repeatable)\n"
	"  --output-cap BYTES     kept per stream per execution (default 1048576)\n"
	"  --env NAME=VALUE       environment for the code (repeatable)\n"
	"  --keep-background      leave processes the code started running (default: killed\n"
	"                         when each execution ends)\n"
	"  --json                 print one JSON object instead of streaming output\n"
	"  --console              show the guest's console on stderr\n"
	"  --debug                the agent logs each frame (see it with --console), and a\n"
	"                         sandbox error dumps the VM's vCPU and device state\n"
	"  --disk PATH[,ro][,cow][,serial=ID]\n"
	"                         extra virtio-blk disk: /dev/vdb, vdc, ... (the runtime\n"
	"                         image is /dev/vda); see 'sandvisor help'\n"
	"  --kernel, --initrd, --rt-image PATH\n"
	"                         default: build/guest/bzImage, build/initrd/initrd.cpio.gz,\n"
	"                         build/guest/sandvisor-rt.ext4 next to this binary\n"
	"\n"
	"exit status: the code's; 128+N if a signal killed it; 124 if it timed out;\n"
	"125 if the sandbox itself failed; 2 for usage errors.\n";

struct run_opts {
	const char *lang;
	const char *codes[MAX_CODES];
	unsigned int ncodes;
	char *code_buf;			/* from FILE or stdin */
	size_t code_len;
	const char *puts[MAX_FILES], *gets[MAX_FILES];
	unsigned int nputs, ngets;
	uint32_t timeout_ms;
	uint64_t mem, output_cap;
	unsigned int cpus;
	int json, console, keep_background, debug;
	const char *env[MAX_ENV + 1];
	unsigned int nenv;
	struct sv_disk disks[SV_MAX_DISKS - 1];
	unsigned int ndisks;
	const char *kernel, *initrd, *rt;
	char kbuf[PATH_MAX], ibuf[PATH_MAX], rbuf[PATH_MAX];
};

/* Default artefact paths: next to the binary (build/sandvisor → build/guest/...). */
static const char *beside_exe(char *buf, size_t len, const char *rel)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return rel;
	exe[n] = '\0';
	snprintf(buf, len, "%s/%s", dirname(exe), rel);
	return buf;
}

static int read_all(FILE *f, char **buf, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *p = malloc(cap);

	if (!p)
		return -ENOMEM;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *q;

			if (cap >= CODE_MAX) {
				free(p);
				return -EFBIG;
			}
			q = realloc(p, cap * 2);
			if (!q) {
				free(p);
				return -ENOMEM;
			}
			p = q;
			cap *= 2;
		}
		got = fread(p + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(p);
		return -EIO;
	}
	*buf = p;
	*len = n;
	return 0;
}

static void on_output(void *opaque, int stream, const uint8_t *data, size_t len)
{
	(void)opaque;
	fwrite(data, 1, len, stream == 2 ? stderr : stdout);
	fflush(stream == 2 ? stderr : stdout);
}

/* JSON mode keeps each execution's output: bounded by output_cap in the guest. */
struct capture {
	char *buf[2];
	size_t len[2];
};

static void on_capture(void *opaque, int stream, const uint8_t *data, size_t len)
{
	struct capture *c = opaque;
	int i = stream == 2 ? 1 : 0;
	char *p = realloc(c->buf[i], c->len[i] + len + 1);

	if (!p)
		return;
	memcpy(p + c->len[i], data, len);
	c->buf[i] = p;
	c->len[i] += len;
	p[c->len[i]] = '\0';
}

/* JSON strings must be UTF-8: invalid bytes become U+FFFD (the raw bytes are in non-JSON mode). */
static json_object *json_text(const char *s, size_t len)
{
	char *out = malloc(len * 3 + 1);
	size_t i = 0, o = 0;
	json_object *j;

	if (!out)
		return NULL;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
			   (c & 0xf8) == 0xf0 ? 4 : 0;
		size_t k;
		int ok = n > 0 && i + n <= len && !(n == 2 && c < 0xc2);

		for (k = 1; ok && k < n; k++)
			ok = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		if (ok) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_object_new_string_len(out, (int)o);
	free(out);
	return j;
}

static json_object *result_json(const struct sv_exec_result *r, const struct capture *c,
				double wall_ms)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "wall_ms", json_object_new_double(wall_ms));
	json_object_object_add(o, "exit_code", json_object_new_int(r->exit_code));
	json_object_object_add(o, "signal", json_object_new_int(r->signal));
	json_object_object_add(o, "duration_ms", json_object_new_int64((int64_t)r->duration_ms));
	json_object_object_add(o, "stdout", json_text(c->buf[0] ? c->buf[0] : "", c->len[0]));
	json_object_object_add(o, "stderr", json_text(c->buf[1] ? c->buf[1] : "", c->len[1]));
	json_object_object_add(o, "value", r->value ? json_text(r->value, strlen(r->value)) : NULL);
	json_object_object_add(o, "error", r->error ? json_text(r->error, strlen(r->error)) : NULL);
	json_object_object_add(o, "stdout_bytes", json_object_new_int64((int64_t)r->stdout_bytes));
	json_object_object_add(o, "stderr_bytes", json_object_new_int64((int64_t)r->stderr_bytes));
	json_object_object_add(o, "stdout_truncated",
			       json_object_new_boolean(!!(r->flags & SV_EXEC_STDOUT_TRUNCATED)));
	json_object_object_add(o, "stderr_truncated",
			       json_object_new_boolean(!!(r->flags & SV_EXEC_STDERR_TRUNCATED)));
	json_object_object_add(o, "timed_out", json_object_new_boolean(!!(r->flags & SV_EXEC_TIMED_OUT)));
	json_object_object_add(o, "oom_killed", json_object_new_boolean(!!(r->flags & SV_EXEC_OOM_KILLED)));
	json_object_object_add(o, "session_lost",
			       json_object_new_boolean(!!(r->flags & SV_EXEC_SESSION_LOST)));
	return o;
}

static int status_of(const struct sv_exec_result *r)
{
	if (r->flags & SV_EXEC_TIMED_OUT)
		return EXIT_RUN_TIMEOUT;
	if (r->signal)
		return 128 + r->signal;
	return r->exit_code;
}

/* "a:b" → a, b; "a" → a, basename(a). */
static void split_pair(const char *arg, char *a, char *b, size_t len)
{
	const char *colon = strchr(arg, ':');
	char tmp[PATH_MAX];

	if (colon) {
		snprintf(a, len, "%.*s", (int)(colon - arg), arg);
		snprintf(b, len, "%s", colon + 1);
	} else {
		snprintf(a, len, "%s", arg);
		snprintf(tmp, sizeof(tmp), "%s", arg);
		snprintf(b, len, "%s", basename(tmp));
	}
}

/* Offset of the first byte that is not valid UTF-8, or -1. */
static long utf8_bad_at(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
			   (c & 0xf8) == 0xf0 ? 4 : 0;
		size_t k;

		if (!n || i + n > len || (n == 2 && c < 0xc2))
			return (long)i;
		for (k = 1; k < n; k++)
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return (long)i;
		i += n;
	}
	return -1;
}

/* The remote side of --file / --get must stay inside /mnt/data: refused before booting. */
static int check_remote(const char *opt, const char *spec, int remote_first)
{
	char local[PATH_MAX], remote[PATH_MAX], norm[SV_PROTO_PATH_MAX + 1];
	const char *colon = strchr(spec, ':');

	if (remote_first && colon) {
		snprintf(remote, sizeof(remote), "%.*s", (int)(colon - spec), spec);
	} else if (!remote_first && colon) {
		snprintf(remote, sizeof(remote), "%s", colon + 1);
	} else {
		snprintf(local, sizeof(local), "%s", spec);
		snprintf(remote, sizeof(remote), "%s", basename(local));
	}
	if (sv_proto_path_normalize(remote, norm, sizeof(norm)) < 0)
		return usage_error("%s '%s': the sandbox path '%s' is refused: it must stay inside /mnt/data", opt,
				   spec, remote);
	return 0;
}

static int parse_args(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'n' },
		{ "file", required_argument, NULL, 'f' },
		{ "get", required_argument, NULL, 'g' },
		{ "output-cap", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "console", no_argument, NULL, 'C' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "rt-image", required_argument, NULL, 'r' },
		{ "disk", required_argument, NULL, 'd' },
		{ "env", required_argument, NULL, 'e' },
		{ "keep-background", no_argument, NULL, 'b' },
		{ "debug", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(run_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : -1;
	}
	o->lang = argv[1];
	if (strcmp(o->lang, "python") && strcmp(o->lang, "node") && strcmp(o->lang, "sh"))
		return usage_error("unknown language '%s': use python, node or sh", o->lang);
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (o->ncodes == MAX_CODES)
				return usage_error("at most %d -c options", MAX_CODES);
			o->codes[o->ncodes++] = optarg;
			break;
		case 't':
			if (parse_timeout(optarg, &o->timeout_ms) < 0)
				return usage_error("--timeout '%s' must be 1..86400 seconds (or e.g. 500ms)", optarg);
			break;
		case 'm':
			if (sv_parse_size(optarg, &o->mem) < 0 || o->mem < (SV_MIN_MEM_MIB << 20) ||
			    o->mem > (SV_MAX_MEM_MIB << 20))
				return usage_error("--mem '%s': use a size from 32M to 64G", optarg);
			break;
		case 'n':
			if (parse_uint(optarg, SV_MAX_CPUS, &v) < 0 || v == 0)
				return usage_error("--cpus '%s' must be a whole number from 1 to 16", optarg);
			o->cpus = (unsigned int)v;
			break;
		case 'o':
			if (parse_uint(optarg, 1ul << 30, &v) < 0 || v == 0)
				return usage_error("--output-cap '%s' must be 1..1073741824 bytes", optarg);
			o->output_cap = v;
			break;
		case 'f':
			if (o->nputs == MAX_FILES)
				return usage_error("at most %d --file options", MAX_FILES);
			o->puts[o->nputs++] = optarg;
			break;
		case 'g':
			if (o->ngets == MAX_FILES)
				return usage_error("at most %d --get options", MAX_FILES);
			o->gets[o->ngets++] = optarg;
			break;
		case 'd':
			if (o->ndisks == SV_MAX_DISKS - 1)
				return usage_error("at most %d --disk options", SV_MAX_DISKS - 1);
			if (parse_disk(optarg, &o->disks[o->ndisks]) < 0)
				return usage_error("--disk '%s': expected PATH[,ro][,cow][,serial=ID]", optarg);
			o->ndisks++;
			break;
		case 'e':
			if (o->nenv == MAX_ENV)
				return usage_error("at most %d --env options", MAX_ENV);
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return usage_error("--env '%s': expected NAME=VALUE", optarg);
			o->env[o->nenv++] = optarg;
			break;
		case 'b': o->keep_background = 1; break;
		case 'j': o->json = 1; break;
		case 'C': o->console = 1; break;
		case 'D': o->debug = 1; break;
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 'r': o->rt = optarg; break;
		case 'h':
			fputs(run_usage, stdout);
			return -1;
		default:
			return usage_error("%s", "bad option for run");
		}
	}
	if (o->ncodes && optind < argc)
		return usage_error("give code with -c or as FILE, not both ('%s')", argv[optind]);
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (!o->ncodes) {
		const char *path = optind < argc ? argv[optind] : "-";
		FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
		int r;

		if (!f) {
			fprintf(stderr, "sandvisor: cannot open code file '%s': %s\n", path, strerror(errno));
			return EXIT_USAGE;
		}
		r = read_all(f, &o->code_buf, &o->code_len);
		if (f != stdin)
			fclose(f);
		if (r == -EFBIG)
			return usage_error("code from '%s' is larger than 16 MiB", path);
		if (r)
			return usage_error("cannot read code from '%s'", path);
	}
	for (unsigned int i = 0; i < o->ncodes; i++)
		if (!*o->codes[i])
			return usage_error("%s", "-c got empty code: there is nothing to run");
	/* Interpreters take source text: refuse what they cannot decode before booting. */
	if (strcmp(o->lang, "sh")) {
		for (unsigned int i = 0; i <= o->ncodes; i++) {
			const char *code = i < o->ncodes ? o->codes[i] : o->code_buf;
			size_t len = i < o->ncodes ? strlen(code) : o->code_len;
			long bad = code ? utf8_bad_at(code, len) : -1;

			if (bad >= 0)
				return usage_error("%s code is not valid UTF-8 (at byte %ld)", o->lang, bad);
		}
	}
	for (unsigned int i = 0; i < o->nputs; i++)
		if (check_remote("--file", o->puts[i], 0))
			return EXIT_USAGE;
	for (unsigned int i = 0; i < o->ngets; i++)
		if (check_remote("--get", o->gets[i], 1))
			return EXIT_USAGE;
	if (!o->ncodes && o->code_len == 0)
		return usage_error("%s", "the code is empty: there is nothing to run");
	if (!o->kernel)
		o->kernel = beside_exe(o->kbuf, sizeof(o->kbuf), "guest/bzImage");
	if (!o->initrd)
		o->initrd = beside_exe(o->ibuf, sizeof(o->ibuf), "initrd/initrd.cpio.gz");
	if (!o->rt) {
		o->rt = beside_exe(o->rbuf, sizeof(o->rbuf), "guest/sandvisor-rt.ext4");
		if (access(o->rt, R_OK) != 0 && !strcmp(o->lang, "sh"))
			o->rt = NULL;	/* sh needs only the initrd's busybox */
	}
	return 0;
}

static int transfer(struct sv_agent *a, const char *spec, int put, struct sv_error *err)
{
	char x[PATH_MAX], y[PATH_MAX];

	split_pair(spec, x, y, sizeof(x));
	/* put: x local, y remote; get: x remote, y local. */
	return put ? sv_agent_put_path(a, x, y, 30000, err) : sv_agent_get_path(a, x, y, 30000, err);
}

int cmd_run(int argc, char **argv)
{
	struct run_opts o = { .timeout_ms = 30000 };
	struct sv_sandbox_config sc;
	struct sv_sandbox *sb = NULL;
	struct sv_error err = { 0 };
	json_object *root = NULL, *results = NULL;
	unsigned int i, n;
	int status = 0, r;

	r = parse_args(argc, argv, &o);
	if (r) {
		free(o.code_buf);
		return r < 0 ? 0 : r;
	}
	sv_sandbox_config_init(&sc);
	sc.kernel_path = o.kernel;
	sc.initrd_path = o.initrd;
	sc.runtime_image = o.rt;
	sc.mem_bytes = o.mem;
	sc.cpus = o.cpus;
	memcpy(sc.disks, o.disks, sizeof(o.disks));
	sc.ndisks = o.ndisks;
	sc.console_out_fd = o.console ? STDERR_FILENO : -1;
	sc.cmdline = o.debug ? "sv.debug=1" : NULL;
	r = sv_sandbox_start(&sc, &sb, &err);
	if (r) {
		fprintf(stderr, "sandvisor: %s\n", err.msg);
		free(o.code_buf);
		return EXIT_RUN_SANDBOX_ERROR;
	}
	if (o.json) {
		root = json_object_new_object();
		results = json_object_new_array();
		json_object_object_add(root, "language", json_object_new_string(o.lang));
		json_object_object_add(root, "boot_ms", json_object_new_double(sv_sandbox_boot_ms(sb)));
		json_object_object_add(root, "results", results);
	}
	for (i = 0; i < o.nputs && !r; i++) {
		r = transfer(sv_sandbox_agent(sb), o.puts[i], 1, &err);
		if (r)
			fprintf(stderr, "sandvisor: --file %s: %s\n", o.puts[i], err.msg);
	}
	n = o.ncodes ? o.ncodes : 1;
	for (i = 0; i < n && !r; i++) {
		struct sv_exec_req req = {
			.lang = o.lang,
			.code = o.ncodes ? o.codes[i] : o.code_buf,
			.code_len = o.ncodes ? strlen(o.codes[i]) : o.code_len,
			.session = n > 1 ? "cli" : NULL,
			.timeout_ms = o.timeout_ms,
			.output_cap = o.output_cap,
			.env = o.nenv ? o.env : NULL,
			.keep_background = o.keep_background,
		};
		struct sv_exec_result res;
		struct capture cap = { { NULL, NULL }, { 0, 0 } };

		uint64_t t0 = cli_now_ns();

		memset(&res, 0, sizeof(res));
		r = sv_agent_exec(sv_sandbox_agent(sb), &req, o.json ? on_capture : on_output,
				  &cap, &res, &err);
		if (r) {
			fprintf(stderr, "sandvisor: %s\n", err.msg);
			break;
		}
		status = status_of(&res);
		if (o.json) {
			json_object_array_add(results, result_json(&res, &cap,
								   (double)(cli_now_ns() - t0) / 1e6));
		} else {
			if (res.value)
				printf("%s\n", res.value);
			if (res.flags & SV_EXEC_TIMED_OUT)
				fprintf(stderr, "sandvisor: timed out after %u ms; the code and its children were killed\n",
					o.timeout_ms);
			if (res.flags & (SV_EXEC_STDOUT_TRUNCATED | SV_EXEC_STDERR_TRUNCATED))
				fprintf(stderr, "sandvisor: output truncated (%llu bytes of stdout, %llu of stderr written)\n",
					(unsigned long long)res.stdout_bytes,
					(unsigned long long)res.stderr_bytes);
			if (res.flags & SV_EXEC_OOM_KILLED)
				fprintf(stderr, "sandvisor: the code ran out of memory and was killed\n");
			fflush(stdout);
		}
		free(cap.buf[0]);
		free(cap.buf[1]);
		sv_exec_result_free(&res);
	}
	for (i = 0; i < o.ngets && !r; i++) {
		r = transfer(sv_sandbox_agent(sb), o.gets[i], 0, &err);
		if (r)
			fprintf(stderr, "sandvisor: --get %s: %s\n", o.gets[i], err.msg);
	}
	if (r && o.debug) {
		fprintf(stderr, "sandvisor: VM state at the error:\n");
		sv_sandbox_dump(sb, STDERR_FILENO);
	}
	{
		struct sv_exit ex = { 0 };

		if (sv_sandbox_stop(sb, 10000, &ex, &err) && !r)
			fprintf(stderr, "sandvisor: %s\n", err.msg);
		if (r && o.debug)
			fprintf(stderr, "sandvisor: the VM ended: %s%s%s\n", sv_exit_reason_name(ex.reason),
				ex.msg[0] ? ": " : "", ex.msg);
	}
	if (root) {
		puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(root);
	}
	free(o.code_buf);
	return r ? EXIT_RUN_SANDBOX_ERROR : status;
}
