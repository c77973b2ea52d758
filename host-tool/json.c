/*
 * json.c - a small JSON writer: objects, arrays, strings (escaped, with
 * invalid UTF-8 replaced by U+FFFD), integers, booleans and null, indented
 * by two spaces.
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

void json_init(struct json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first = 1;
	j->pending = 0;
}

static void indent(struct json *j)
{
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

static void put_string(FILE *f, const char *s, size_t n);

/* Starts a value: the comma, the line break and the key. */
static void start(struct json *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->first)
			fputc(',', j->f);
		indent(j);
	}
	j->first = 0;
	if (key) {
		put_string(j->f, key, strlen(key));
		fputs(": ", j->f);
	}
}

/* Length of the valid UTF-8 sequence at S (at most N bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void put_string(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	fputc('"', f);
	while (i < n) {
		unsigned char c = s[i];
		size_t len;

		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				fprintf(f, "\\u%04x", c);
				break;
			}
			len = utf8_len(s + i, n - i);
			if (len == 0) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s + i, 1, len, f);
			i += len;
			continue;
		}
		i++;
	}
	fputc('"', f);
}

void json_obj(struct json *j, const char *key)
{
	start(j, key);
	fputc('{', j->f);
	j->depth++;
	j->first = 1;
}

void json_arr(struct json *j, const char *key)
{
	start(j, key);
	fputc('[', j->f);
	j->depth++;
	j->first = 1;
}

static void end(struct json *j, int ch)
{
	j->depth--;
	if (!j->first)
		indent(j);
	fputc(ch, j->f);
	j->first = 0;
}

void json_end_obj(struct json *j)
{
	end(j, '}');
}

void json_end_arr(struct json *j)
{
	end(j, ']');
}

void json_strn(struct json *j, const char *key, const char *v, size_t n)
{
	start(j, key);
	put_string(j->f, v, n);
}

void json_str(struct json *j, const char *key, const char *v)
{
	if (!v) {
		json_null(j, key);
		return;
	}
	json_strn(j, key, v, strlen(v));
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	start(j, key);
	fprintf(j->f, "%" PRIu64, v);
}

void json_i64(struct json *j, const char *key, int64_t v)
{
	start(j, key);
	fprintf(j->f, "%" PRId64, v);
}

void json_bool(struct json *j, const char *key, int v)
{
	start(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	start(j, key);
	fputs("null", j->f);
}

void json_done(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
