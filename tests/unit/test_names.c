/*
 * test_names.c - rule 8: names are any characters but NUL, case-sensitive,
 * up to 259 UTF-16 code units; longer -> 206; empty or invalid UTF-8 (A) or
 * UTF-16 (W) -> 123. One canonical encoding: a W name is found by the A
 * call with the same text and vice versa.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aw.h"
#include "internal.h"

static const char *const texts[] = {
    "sensor",
    "Gr\xc3\xb6\xc3\x9f"
    "e-\xe3\x82\xbb\xe3\x83\xb3\xe3\x82\xb5\xe3\x83\xbc", /* Größe-センサー */
    "clef-\xf0\x9d\x84\x9e-x",                            /* U+1D11E, a surrogate pair */
    "\xf0\x9f\x98\x80",                                   /* U+1F600 alone */
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",               /* 日本語 */
    "a b\tc\r\nd",
    "Global\\path/with:odd*chars?\"<>|",
    "\x01\x7f",
    "\xef\xbf\xbd\xef\xbf\xbf", /* U+FFFD U+FFFF */
    "\xf4\x8f\xbf\xbf",         /* U+10FFFF */
};
#define NTEXTS (sizeof texts / sizeof texts[0])

/* Created through W, found through A with the same text, and the reverse. */
Test(names, w_found_by_a, .init = tp_setup, .fini = tp_teardown)
{
	for (size_t i = 0; i < NTEXTS; i++) {
		void *lw = NULL, *la = NULL, *l3 = NULL;
		HANDLE hw, ha, h3;
		struct vmshm_objinfo info;

		hw = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, w16(texts[i]), &lw);
		assert_ok(hw, 0, texts[i]);
		pattern_fill(lw, 4096, (uint32_t)i);
		/* The directory holds the UTF-8 text. */
		cr_assert_eq(tp_find(texts[i], &info), 1, "W name #%zu not listed as its UTF-8", i);
		cr_assert_eq(info.named, 1);
		ha = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, texts[i], &la);
		assert_ok(ha, 0, "A open of a W name");
		cr_assert(pattern_ok(la, 4096, (uint32_t)i));
		h3 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, texts[i], &l3);
		assert_ok(h3, ERROR_ALREADY_EXISTS, "A create of a W name");
		cr_assert(pattern_ok(l3, 4096, (uint32_t)i));
		cr_assert(RtCloseHandle(hw));
		cr_assert(RtCloseHandle(ha));
		cr_assert(RtCloseHandle(h3));
	}
	cr_assert_eq(tp_objects(), 0);
}

Test(names, a_found_by_w, .init = tp_setup, .fini = tp_teardown)
{
	for (size_t i = 0; i < NTEXTS; i++) {
		void *lw = NULL, *la = NULL, *l3 = NULL;
		HANDLE hw, ha, h3;
		struct vmshm_objinfo info;

		ha = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, texts[i], &la);
		assert_ok(ha, 0, texts[i]);
		pattern_fill(la, 4096, 50 + (uint32_t)i);
		cr_assert_eq(tp_find(texts[i], &info), 1, "A name #%zu not listed", i);
		hw = RtOpenSharedMemoryW(SHM_MAP_ALL_ACCESS, FALSE, w16(texts[i]), &lw);
		assert_ok(hw, 0, "W open of an A name");
		cr_assert(pattern_ok(lw, 4096, 50 + (uint32_t)i));
		h3 = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, w16(texts[i]), &l3);
		assert_ok(h3, ERROR_ALREADY_EXISTS, "W create of an A name");
		cr_assert(RtCloseHandle(ha));
		cr_assert(RtCloseHandle(hw));
		cr_assert(RtCloseHandle(h3));
	}
	cr_assert_eq(tp_objects(), 0);
}

/* Case-sensitive, also beyond ASCII: each spelling is its own object. */
AW_TEST(names, case_sensitive)
{
	static const char *const spell[] = {"name",
					    "Name",
					    "NAME",
					    "gr\xc3\xb6\xc3\x9f"
					    "e",
					    "GR\xc3\x96\xc3\x9f"
					    "E",
					    "GROESSE"};
	HANDLE h[6];

	for (int i = 0; i < 6; i++) {
		void *l = NULL;

		SetLastError(77);
		h[i] = rt_create(mode, PAGE_READWRITE, 0, 4096, spell[i], &l);
		assert_ok(h[i], 0, spell[i]);
		cr_assert(all_zero(l, 4096));
		memset(l, i + 1, 4096);
	}
	cr_assert_eq(tp_objects(), 6);
	for (int i = 0; i < 6; i++) {
		void *l = NULL;
		HANDLE o = rt_open(mode, SHM_MAP_READ, spell[i], &l);

		assert_ok(o, 0, spell[i]);
		cr_assert_eq(((unsigned char *)l)[4095], i + 1, "'%s' opened another object",
			     spell[i]);
		cr_assert(RtCloseHandle(o));
		cr_assert(RtCloseHandle(h[i]));
	}
}

/* Repeats the UTF-8 text UNIT N times, then appends TAIL. */
static char *repeat(const char *unit, int n, const char *tail)
{
	size_t ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(ul * (size_t)n + tl + 1);

	cr_assert_not_null(s);
	for (int i = 0; i < n; i++)
		memcpy(s + ul * (size_t)i, unit, ul);
	memcpy(s + ul * (size_t)n, tail, tl + 1);
	return s;
}

/* Length limits in UTF-16 code units: 259 is accepted, 260 is 206. Each row
 * gives a unit, its UTF-16 length and how many make 259 (with a tail). */
struct lenrow {
	const char *unit;
	int units; /* UTF-16 code units of one UNIT */
	int n259;  /* repeats that with TAIL259 make 259 code units */
	const char *tail259;
};
static const struct lenrow lenrows[] = {
    {"a", 1, 259, ""},
    {"\xc3\xa9", 1, 259, ""},          /* é: 2 bytes of UTF-8 */
    {"\xe3\x82\xbb", 1, 259, ""},      /* セ: 3 bytes, 777 bytes in all */
    {"\xf0\x9d\x84\x9e", 2, 129, "a"}, /* 𝄞: 4 bytes, 2 code units */
};

AW_TEST(names, length_limits)
{
	struct snapshot before, after;
	void *loc = (void *)1;

	rt_warm();
	for (size_t r = 0; r < sizeof lenrows / sizeof lenrows[0]; r++) {
		const struct lenrow *row = &lenrows[r];
		char *ok = repeat(row->unit, row->n259, row->tail259);
		/* One more code unit: 260. */
		char *over = repeat(row->unit, row->n259, row->units == 2 ? "ab" : row->unit);
		/* And a pair that would straddle the limit: 258 + 2 = 260. */
		char *straddle = repeat("a", 258, "\xf0\x9d\x84\x9e");
		char *huge = repeat(row->unit, 1000, "");
		struct vmshm_objinfo info;
		void *l = NULL, *l2 = NULL;
		HANDLE h, o;

		if (mode == MODE_W) {
			cr_assert_eq(w16len(w16(ok)), 259);
			cr_assert_eq(w16len(w16(over)), 260);
		}
		cr_assert_eq(w16len(w16(straddle)), 260);

		SetLastError(1);
		h = rt_create(mode, PAGE_READWRITE, 0, 4096, ok, &l);
		assert_ok(h, 0, "a name of 259 code units");
		cr_assert_eq(tp_find(ok, &info), 1, "the 259-unit name is not listed as its UTF-8");
		cr_assert_eq(strlen(info.name), strlen(ok));
		o = rt_open(mode, SHM_MAP_READ, ok, &l2);
		assert_ok(o, 0, "open of a name of 259 code units");
		cr_assert_eq(rt_create(mode, PAGE_READWRITE, 0, 4096, ok, &l2) != NULL, 1);
		cr_assert_eq(GetLastError(), ERROR_ALREADY_EXISTS);

		snap_take(&before);
		SetLastError(0);
		assert_fails(rt_create(mode, PAGE_READWRITE, 0, 4096, over, &loc),
			     ERROR_FILENAME_EXCED_RANGE, "a name of 260 code units");
		SetLastError(0);
		assert_fails(rt_create(mode, PAGE_READWRITE, 0, 4096, straddle, &loc),
			     ERROR_FILENAME_EXCED_RANGE, "258 units and a surrogate pair");
		SetLastError(0);
		assert_fails(rt_create(mode, PAGE_READWRITE, 0, 4096, huge, &loc),
			     ERROR_FILENAME_EXCED_RANGE, "a name of 1000 characters");
		snap_take(&after);
		snap_assert_same(&before, &after, "rule 8, names too long");
		free(ok);
		free(over);
		free(straddle);
		free(huge);
	}
}

/* The empty name -> 123, nothing changed. */
AW_TEST(names, empty)
{
	struct snapshot before, after;
	void *loc = (void *)1;

	rt_warm();
	snap_take(&before);
	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 4096, "", &loc), ERROR_INVALID_NAME,
		     "create with an empty name");
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 8, empty name");
}

/* Invalid UTF-8 in the A call -> 123, nothing changed. */
Test(names, invalid_utf8, .init = tp_setup, .fini = tp_teardown)
{
	static const char *const bad[] = {
	    "\x80",                     /* lone continuation byte */
	    "ab\xbf",                   /* continuation after ASCII */
	    "\xc3\x28",                 /* lead byte, then no continuation */
	    "\xc3",                     /* truncated at the end */
	    "x\xe3\x82",                /* truncated 3-byte sequence */
	    "\xc0\xaf",                 /* overlong '/' */
	    "\xe0\x80\xaf",             /* overlong, 3 bytes */
	    "\xf0\x80\x80\xaf",         /* overlong, 4 bytes */
	    "\xed\xa0\x80",             /* U+D800 encoded: a surrogate */
	    "\xed\xbf\xbf",             /* U+DFFF encoded */
	    "\xed\xa0\xbd\xed\xb8\x80", /* a surrogate pair in CESU-8 */
	    "\xf4\x90\x80\x80",         /* U+110000 */
	    "\xf8\x88\x80\x80\x80",     /* 5-byte form */
	    "\xfe",
	    "\xff",
	    "ok\xc3\xa9then\xe9", /* Latin-1 é after valid text */
	};
	struct snapshot before, after;
	void *loc = (void *)1;

	rt_warm();
	snap_take(&before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];

		snprintf(what, sizeof what, "invalid UTF-8 #%zu", i);
		SetLastError(0);
		assert_fails(RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, bad[i], &loc),
			     ERROR_INVALID_NAME, what);
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 8, invalid UTF-8");
}

/* Invalid UTF-16 in the W call (unpaired surrogates) -> 123, nothing changed. */
Test(names, invalid_utf16, .init = tp_setup, .fini = tp_teardown)
{
	static const WCHAR b0[] = {0xd800, 0};
	static const WCHAR b1[] = {0xdc00, 0};
	static const WCHAR b2[] = {'a', 0xd834, 'b', 0};
	static const WCHAR b3[] = {'a', 0xdd1e, 0xd834, 0};
	static const WCHAR b4[] = {0xd834, 0xd834, 0xdd1e, 0};
	static const WCHAR b5[] = {0xdbff, 0xdbff, 0};
	static const WCHAR b6[] = {'x', 0xdfff, 0};
	static const WCHAR *const bad[] = {b0, b1, b2, b3, b4, b5, b6};
	static const WCHAR good[] = {'a', 0xd834, 0xdd1e, 0};
	struct snapshot before, after;
	void *loc = (void *)1;
	HANDLE h;

	rt_warm();
	snap_take(&before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];

		snprintf(what, sizeof what, "unpaired surrogate #%zu", i);
		SetLastError(0);
		assert_fails(RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, bad[i], &loc),
			     ERROR_INVALID_NAME, what);
	}
	{
		static const WCHAR empty[] = {0};

		SetLastError(0);
		assert_fails(RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, empty, &loc),
			     ERROR_INVALID_NAME, "empty W name");
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 8, invalid UTF-16");

	/* The paired form is fine, and its UTF-8 is the A spelling. */
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, good, &loc);
	assert_ok(h, 0, "a valid surrogate pair");
	{
		void *l2 = NULL;
		HANDLE o = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "a\xf0\x9d\x84\x9e", &l2);

		assert_ok(o, 0, "A open of the pair's UTF-8");
		cr_assert(RtCloseHandle(o));
	}
	cr_assert(RtCloseHandle(h));
}

/* The same text through vmshm_name_from_utf16 and vmshm_name_check. */
Test(names, native_conversion)
{
	char out[VMSHM_NAME_MAX_BYTES + 1];
	static const uint16_t pair[] = {'a', 0xd834, 0xdd1e, 0};
	static const uint16_t lone[] = {'a', 0xd834, 0};
	char *ok = repeat("\xe3\x82\xbb", 259, "");
	char *over = repeat("\xe3\x82\xbb", 260, "");

	cr_assert_eq(vmshm_name_from_utf16(pair, out), 5);
	cr_assert_str_eq(out, "a\xf0\x9d\x84\x9e");
	cr_assert_eq(vmshm_name_from_utf16(lone, out), VMSHM_ENAME);
	cr_assert_eq(vmshm_name_check("a\xf0\x9d\x84\x9e"), 0);
	cr_assert_eq(vmshm_name_check(""), VMSHM_ENAME);
	cr_assert_eq(vmshm_name_check("\xc0\xaf"), VMSHM_ENAME);
	cr_assert_eq(vmshm_name_check(ok), 0);
	cr_assert_eq(vmshm_name_check(over), VMSHM_ENAMELEN);
	cr_assert_eq(vmshm_name_from_utf16(w16(ok), out), 777);
	cr_assert_str_eq(out, ok);
	cr_assert_eq(vmshm_name_from_utf16(w16(over), out), VMSHM_ENAMELEN);
	free(ok);
	free(over);
}

/* The open calls apply the same name rules: 123 for empty or invalid
 * names, 206 for names over 259 code units (never "not found"). */
Test(names, open_name_rules, .init = tp_setup, .fini = tp_teardown)
{
	static const WCHAR lone[] = {'a', 0xd800, 0};
	static const WCHAR empty[] = {0};
	char *over = repeat("a", 260, "");
	void *loc = (void *)1;
	struct snapshot before, after;

	rt_warm();
	snap_take(&before);
	assert_fails(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "", &loc), ERROR_INVALID_NAME,
		     "A open, empty name");
	assert_fails(RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, empty, &loc), ERROR_INVALID_NAME,
		     "W open, empty name");
	assert_fails(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "\xc0\xaf", &loc), ERROR_INVALID_NAME,
		     "A open, invalid UTF-8");
	assert_fails(RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, lone, &loc), ERROR_INVALID_NAME,
		     "W open, unpaired surrogate");
	assert_fails(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, over, &loc),
		     ERROR_FILENAME_EXCED_RANGE, "A open, 260 units");
	assert_fails(RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, w16(over), &loc),
		     ERROR_FILENAME_EXCED_RANGE, "W open, 260 units");
	snap_take(&after);
	snap_assert_same(&before, &after, "open with bad names");
	free(over);
}

/* The W calls of events, mutexes and semaphores use their name too: a W
 * create is named (found by the A open with the same text), a W open finds
 * an A create, and a second W create gets 183. */
Test(names, sync_w_found_by_a, .init = tp_setup, .fini = tp_teardown)
{
	for (size_t i = 0; i < NTEXTS; i++) {
		char a[3][64];
		HANDLE h[6];
		struct vmshm_objinfo info;

		for (int t = 0; t < 3; t++)
			snprintf(a[t], sizeof a[t], "%d-%s", t, texts[i]);
		h[0] = RtCreateEventW(NULL, FALSE, FALSE, w16(a[0]));
		assert_ok(h[0], 0, "W event");
		h[1] = RtCreateMutexW(NULL, FALSE, w16(a[1]));
		assert_ok(h[1], 0, "W mutex");
		h[2] = RtCreateSemaphoreW(NULL, 0, 1, w16(a[2]));
		assert_ok(h[2], 0, "W semaphore");
		for (int t = 0; t < 3; t++)
			cr_assert_eq(tp_find(a[t], &info), 1, "W name #%zu (type %d) not listed", i,
				     t);
		h[3] = RtOpenEventA(SYNCHRONIZE, FALSE, a[0]);
		assert_ok(h[3], 0, "A open of the W event");
		h[4] = RtOpenMutexA(SYNCHRONIZE, FALSE, a[1]);
		assert_ok(h[4], 0, "A open of the W mutex");
		h[5] = RtOpenSemaphoreA(SYNCHRONIZE, FALSE, a[2]);
		assert_ok(h[5], 0, "A open of the W semaphore");
		h[0] = RtCreateEventW(NULL, TRUE, TRUE, w16(a[0]));
		assert_ok(h[0], ERROR_ALREADY_EXISTS, "W event again");
		h[1] = RtCreateMutexW(NULL, TRUE, w16(a[1]));
		assert_ok(h[1], ERROR_ALREADY_EXISTS, "W mutex again");
		h[2] = RtCreateSemaphoreW(NULL, 1, 1, w16(a[2]));
		assert_ok(h[2], ERROR_ALREADY_EXISTS, "W semaphore again");
		cr_assert_eq(tp_objects(), 3 * (i + 1), "unnamed objects were made");
	}
	for (int t = 0; t < 3; t++) {
		char a[32];

		snprintf(a, sizeof a, "A-made-%d", t);
		cr_assert_not_null(t == 0   ? RtCreateEventA(NULL, FALSE, FALSE, a)
				   : t == 1 ? RtCreateMutexA(NULL, FALSE, a)
					    : RtCreateSemaphoreA(NULL, 0, 1, a));
		const WCHAR *w = w16(a);
		HANDLE o = t == 0   ? RtOpenEventW(SYNCHRONIZE, FALSE, w)
			   : t == 1 ? RtOpenMutexW(SYNCHRONIZE, FALSE, w)
				    : RtOpenSemaphoreW(SYNCHRONIZE, FALSE, w);
		assert_ok(o, 0, "W open of an A create");
	}
}

/* The name hash is the one docs/FORMAT.md specifies ("Hash", check values):
 * another implementation of the format finds the same home slots. */
Test(names, format_hash_check_values)
{
	static const struct {
		const char *name;
		uint64_t hash;
	} v[] = {
	    {"a", 0x1fb654d728fbe0b2ull},
	    {"bench-open", 0xd39143aaeb586818ull},
	    {"Global\\PlantControl\\SensorBlock01", 0x257c7081abc36f32ull},
	    {"\xc3\xa9t\xc3\xa9", 0x5e3b5a28167f4145ull},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct dir_name n;
		cr_assert_eq(fmt_hash(v[i].name, strlen(v[i].name)), v[i].hash, "hash of %s",
			     v[i].name);
		cr_assert_eq(dir_name_prepare(v[i].name, &n), 0);
		cr_assert_eq(n.hash, v[i].hash, "dir_name_prepare's hash of %s", v[i].name);
		cr_assert_eq(n.len, strlen(v[i].name));
	}
}

/* The hash as docs/FORMAT.md states it, a byte at a time: word k is bytes
 * 8k..8k+7, little-endian, zero past the end. */
static uint64_t spec_hash(const unsigned char *u, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = 0;
		for (size_t k = 0; k < 8 && i + k < len; k++)
			w |= (uint64_t)u[i + k] << (8 * k);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* Every name length, so every size of a name's last word (1 to 8 bytes):
 * the library's hash is the spec's, a name is found by itself and not by a
 * name of the same length that differs in its last or its first byte. */
AW_TEST(names, every_length)
{
	unsigned char name[VMSHM_NAME_MAX_BYTES + 1];
	for (size_t len = 1; len <= VMSHM_NAME_MAX_BYTES; len++) {
		for (size_t i = 0; i < len; i++)
			name[i] = (unsigned char)('!' + (i * 7 + len) % 90);
		name[len] = 0;
		cr_assert_eq(fmt_hash((const char *)name, len), spec_hash(name, len),
			     "hash of a name of %zu bytes", len);
		if (len > VMSHM_NAME_MAX_UNITS || (len > 24 && len % 37 != 0))
			continue; /* the RtApi calls below: lengths 1..24, then a few */
		void *loc;
		SetLastError(1);
		HANDLE h = rt_create(mode, PAGE_READWRITE, 0, 64, (const char *)name, &loc);
		assert_ok(h, 0, "create of a name");
		SetLastError(1);
		HANDLE o = rt_open(mode, SHM_MAP_READ, (const char *)name, &loc);
		assert_ok(o, 0, "open of a name");
		cr_assert(RtCloseHandle(o));
		for (int end = 0; end < 2; end++) {
			size_t at = end ? len - 1 : 0;
			unsigned char keep = name[at];
			name[at] = keep == '~' ? '!' : (unsigned char)(keep + 1);
			assert_fails(rt_open(mode, SHM_MAP_READ, (const char *)name, &loc),
				     ERROR_FILE_NOT_FOUND,
				     "a name with another first or last byte");
			name[at] = keep;
		}
		cr_assert(RtCloseHandle(h));
	}
	cr_assert_eq(tp_stats().objects, 0, "objects left");
}
