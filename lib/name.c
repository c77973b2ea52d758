/*
 * name.c - object names. The directory stores names as UTF-8; the limit of
 * 259 characters counts UTF-16 code units, as the W calls see them, so a
 * name fits exactly when it fits for both the A and the W calls.
 */
#include <string.h>

#include "internal.h"

/* Validates NUL-terminated UTF-8 S: returns its length in UTF-16 code units
 * (stopping the count past the limit) and its byte length in *BYTES, or
 * VMSHM_ENAME for empty or ill-formed input. */
int name_utf8_units(const char *s, size_t *bytes)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t units = 0;
	while (*p) {
		unsigned c = *p, need, cp;
		if (c < 0x80) {
			need = 0;
			cp = c;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return VMSHM_ENAME;
		}
		for (unsigned i = 1; i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return VMSHM_ENAME;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF are ill-formed. */
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return VMSHM_ENAME;
		units += cp >= 0x10000 ? 2 : 1;
		p += need + 1;
		if (units > VMSHM_NAME_MAX_UNITS + 1)
			units = VMSHM_NAME_MAX_UNITS + 1; /* keep scanning for validity */
	}
	if (p == (const unsigned char *)s)
		return VMSHM_ENAME;
	if (bytes)
		*bytes = (size_t)(p - (const unsigned char *)s);
	return (int)units;
}

int vmshm_name_check(const char *utf8)
{
	if (!utf8)
		return VMSHM_EINVAL;
	size_t bytes;
	int units = name_utf8_units(utf8, &bytes);
	if (units < 0)
		return units;
	if (units > (int)VMSHM_NAME_MAX_UNITS || bytes > VMSHM_NAME_MAX_BYTES)
		return VMSHM_ENAMELEN;
	return 0;
}

int vmshm_name_from_utf16(const uint16_t *in, char *out)
{
	if (!in || !out)
		return VMSHM_EINVAL;
	size_t units = 0, o = 0;
	int bad = 0;
	for (size_t i = 0; in[i]; i++) {
		uint32_t cp = in[i];
		units++;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (in[i + 1] >= 0xdc00 && in[i + 1] <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (in[i + 1] - 0xdc00);
				i++;
				units++;
			} else {
				bad = 1;
			}
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			bad = 1;
		}
		if (bad || units > VMSHM_NAME_MAX_UNITS)
			continue; /* keep scanning: an invalid name is reported as such */
		if (cp < 0x80) {
			out[o++] = (char)cp;
		} else if (cp < 0x800) {
			out[o++] = (char)(0xc0 | (cp >> 6));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			out[o++] = (char)(0xe0 | (cp >> 12));
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		} else {
			out[o++] = (char)(0xf0 | (cp >> 18));
			out[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			out[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			out[o++] = (char)(0x80 | (cp & 0x3f));
		}
	}
	out[bad || units > VMSHM_NAME_MAX_UNITS ? 0 : o] = 0;
	if (bad || units == 0)
		return VMSHM_ENAME;
	if (units > VMSHM_NAME_MAX_UNITS)
		return VMSHM_ENAMELEN;
	return (int)o;
}
