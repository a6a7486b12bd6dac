/* SPDX-License-Identifier: MIT */
/*
 * Just enough JSON for the runner protocol: quoting the request's strings and
 * parsing the flat response object. The response comes from a process that
 * runs user code (which can write anything to fd 4), so the parser is strict
 * and bounded: nesting depth, lengths, no trust in anything it reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

bool utf8_valid(const uint8_t *s, size_t n, size_t *bad_off)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4;
			cp = c & 0x07;
		} else {
			goto bad;
		}
		if (n - i < len)
			goto bad;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += len;
	}
	return true;
bad:
	if (bad_off)
		*bad_off = i;
	return false;
}

size_t json_quote_len(const uint8_t *s, size_t n)
{
	size_t len = 2;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')
			len += 2;
		else if (s[i] < 0x20 || s[i] == 0x7f)
			len += 6;
		else
			len++;
	}
	return len;
}

size_t json_quote(char *out, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;

	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (c == '\r') {
			*o++ = '\\';
			*o++ = 'r';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	return (size_t)(o - out);
}

struct jp {
	const char *s;
	size_t n, i;
};

static void ws(struct jp *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\n' || p->s[p->i] == '\t' ||
			       p->s[p->i] == '\r'))
		p->i++;
}

static bool lit(struct jp *p, const char *w)
{
	size_t l = strlen(w);

	if (p->n - p->i < l || memcmp(p->s + p->i, w, l) != 0)
		return false;
	p->i += l;
	return true;
}

static int hex4(struct jp *p, uint32_t *v)
{
	*v = 0;
	if (p->n - p->i < 4)
		return -EBADMSG;
	for (int k = 0; k < 4; k++) {
		char c = p->s[p->i++];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (uint32_t)(c - 'A' + 10);
		else
			return -EBADMSG;
	}
	return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Parses a string; if out is non-NULL, *out gets a malloc'd decoded copy. */
static int str(struct jp *p, char **out, size_t *out_len)
{
	char *buf = NULL;
	size_t o = 0;

	if (p->i >= p->n || p->s[p->i] != '"')
		return -EBADMSG;
	p->i++;
	/* Decoded text is never longer than the encoded text. */
	if (out && !(buf = malloc(p->n - p->i + 1)))
		return -ENOMEM;
	while (p->i < p->n && p->s[p->i] != '"') {
		char c = p->s[p->i++];
		uint32_t cp, lo;

		if (c != '\\') {
			if (buf)
				buf[o++] = c;
			continue;
		}
		if (p->i >= p->n)
			goto bad;
		c = p->s[p->i++];
		switch (c) {
		case '"': case '\\': case '/': cp = (uint8_t)c; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if (hex4(p, &cp) < 0)
				goto bad;
			if (cp >= 0xd800 && cp < 0xdc00 && p->n - p->i >= 6 &&
			    p->s[p->i] == '\\' && p->s[p->i + 1] == 'u') {
				size_t save = p->i;

				p->i += 2;
				if (hex4(p, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000)
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				else
					p->i = save;
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd;	/* lone surrogate */
			break;
		default:
			goto bad;
		}
		if (buf)
			o += put_utf8(buf + o, cp);
	}
	if (p->i >= p->n)
		goto bad;
	p->i++;
	if (buf) {
		buf[o] = 0;
		*out = buf;
		*out_len = o;
	}
	return 0;
bad:
	free(buf);
	return -EBADMSG;
}

static int skip_value(struct jp *p, int depth);

static int skip_container(struct jp *p, int depth, char close)
{
	bool obj = close == '}';

	p->i++;
	ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	for (;;) {
		ws(p);
		if (obj) {
			if (str(p, NULL, NULL) < 0)
				return -EBADMSG;
			ws(p);
			if (!lit(p, ":"))
				return -EBADMSG;
		}
		if (skip_value(p, depth + 1) < 0)
			return -EBADMSG;
		ws(p);
		if (lit(p, ","))
			continue;
		if (p->i < p->n && p->s[p->i] == close) {
			p->i++;
			return 0;
		}
		return -EBADMSG;
	}
}

static int skip_value(struct jp *p, int depth)
{
	if (depth > 32)
		return -EBADMSG;
	ws(p);
	if (p->i >= p->n)
		return -EBADMSG;
	switch (p->s[p->i]) {
	case '"':
		return str(p, NULL, NULL);
	case '{':
		return skip_container(p, depth, '}');
	case '[':
		return skip_container(p, depth, ']');
	case 't':
		return lit(p, "true") ? 0 : -EBADMSG;
	case 'f':
		return lit(p, "false") ? 0 : -EBADMSG;
	case 'n':
		return lit(p, "null") ? 0 : -EBADMSG;
	default:
		if (p->s[p->i] != '-' && (p->s[p->i] < '0' || p->s[p->i] > '9'))
			return -EBADMSG;
		while (p->i < p->n && strchr("+-0123456789.eE", p->s[p->i]))
			p->i++;
		return 0;
	}
}

/* A string or null. */
static int opt_str(struct jp *p, char **out, size_t *len)
{
	ws(p);
	if (lit(p, "null"))
		return 0;
	free(*out);
	*out = NULL;
	return str(p, out, len);
}

int runner_resp_parse(const char *js, size_t n, struct runner_resp *r)
{
	struct jp p = { .s = js, .n = n };
	bool have_id = false, have_ok = false;
	char *key = NULL;
	size_t klen;

	memset(r, 0, sizeof(*r));
	ws(&p);
	if (!lit(&p, "{"))
		return -EBADMSG;
	ws(&p);
	if (lit(&p, "}"))
		goto bad;
	for (;;) {
		ws(&p);
		if (str(&p, &key, &klen) < 0)
			goto bad;
		ws(&p);
		if (!lit(&p, ":"))
			goto bad;
		ws(&p);
		if (!strcmp(key, "id")) {
			char *end;
			long long v;

			if (p.i >= p.n)
				goto bad;
			errno = 0;
			/* js is a NUL-terminated copy (the agent adds the NUL). */
			v = strtoll(p.s + p.i, &end, 10);
			if (end == p.s + p.i || errno)
				goto bad;
			p.i = (size_t)(end - p.s);
			r->id = v;
			have_id = true;
		} else if (!strcmp(key, "ok")) {
			if (lit(&p, "true"))
				r->ok = true;
			else if (lit(&p, "false"))
				r->ok = false;
			else
				goto bad;
			have_ok = true;
		} else if (!strcmp(key, "value")) {
			if (opt_str(&p, &r->value, &r->value_len) < 0)
				goto bad;
		} else if (!strcmp(key, "error")) {
			if (opt_str(&p, &r->error, &r->error_len) < 0)
				goto bad;
		} else if (skip_value(&p, 0) < 0) {
			goto bad;
		}
		free(key);
		key = NULL;
		ws(&p);
		if (lit(&p, ","))
			continue;
		if (lit(&p, "}"))
			break;
		goto bad;
	}
	ws(&p);
	if (p.i != p.n || !have_id || !have_ok)
		goto bad;
	return 0;
bad:
	free(key);
	runner_resp_free(r);
	return -EBADMSG;
}

void runner_resp_free(struct runner_resp *r)
{
	free(r->value);
	free(r->error);
	r->value = r->error = NULL;
}
