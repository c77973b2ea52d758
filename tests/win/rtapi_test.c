/*
 * rtapi_test.c - the RtApi semantics suite, built for Windows and run under
 * Wine (or on Windows) against the pool named by VMSHM_POOL.
 *
 *   rtapi_test.exe            every rule, A and W calls, on a fresh pool
 *   rtapi_test.exe small N    the directory-full rule on a fresh pool with
 *                             room for N objects
 *   rtapi_test.exe child ...  helper roles this program starts itself
 *
 * Ends with "N passed, M failed"; exit status 1 on any failure.
 */
#include <windows.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "RtApi.h"
#include "vmshm.h"
#include "check.h"
#include "spawn.h"

#define KB 1024u

static vmshm_pool *pool; /* a native attach, to look at the pool */
static uint64_t free_at_start;

static int page_aligned(const void *p)
{
	return ((uintptr_t)p & 4095u) == 0;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + seed);
}

static int same_fill(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31u + seed))
			return 0;
	return 1;
}

static uint64_t free_bytes(void)
{
	struct vmshm_stats st;

	if (vmshm_stats(pool, &st) != 0)
		return 0;
	return st.free_bytes;
}

/* Does the directory hold an object of this name (any state)? */
struct find_arg {
	const char *name;
	int found;
};
static int find_cb(const struct vmshm_objinfo *o, void *arg)
{
	struct find_arg *f = arg;

	if (o->named && strcmp(o->name, f->name) == 0)
		f->found = 1;
	return 0;
}
static int in_directory(const char *name)
{
	struct find_arg f = {name, 0};

	vmshm_list(pool, find_cb, &f);
	return f.found;
}

/* Waits for a helper process; its exit status (0xdead: none). */
static DWORD wait_exit(HANDLE h)
{
	DWORD code = 0xdead;

	if (!h)
		return code;
	if (WaitForSingleObject(h, 60000) == WAIT_OBJECT_0)
		GetExitCodeProcess(h, &code);
	CloseHandle(h);
	return code;
}

/* ---- RtCreateSharedMemory ------------------------------------------------ */

static void test_create_params(void)
{
	void *loc = (void *)1;
	HANDLE h;

	SetLastError(0);
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 1, 4096, "p-high", &loc);
	CHECK(h == NULL, "high != 0 must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "A high != 0");
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 0, "p-zero", &loc);
	CHECK(h == NULL, "size 0 must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "A size 0");
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "p-noloc", NULL);
	CHECK(h == NULL, "location NULL must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "A location NULL");
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 2, 4096, L"p-high", &loc);
	CHECK(h == NULL, "W high != 0 must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "W high != 0");
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 0, L"p-zero", &loc);
	CHECK(h == NULL, "W size 0 must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "W size 0");
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, L"p-noloc", NULL);
	CHECK(h == NULL, "W location NULL must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "W location NULL");
	/* Nothing was created. */
	CHECK(!in_directory("p-high") && !in_directory("p-zero") && !in_directory("p-noloc"),
	      "a refused create left an object behind");
	CHECK(free_bytes() == free_at_start, "a refused create used space");
}

static void test_create_protect(void)
{
	static const DWORD bad[] = {0, 0x08, 0x10, 0x40, 5, 0x104, 0xffffffffu};
	static const DWORD good[] = {PAGE_READONLY, PAGE_READWRITE, SHM_MAP_READ, SHM_MAP_WRITE,
				     SHM_MAP_ALL_ACCESS};
	SHARED_MEMORY_INFO info;
	char name[32];
	void *loc;
	HANDLE h;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(name, sizeof name, "prot-bad-%u", (unsigned)i);
		loc = NULL;
		h = RtCreateSharedMemoryA(bad[i], 0, 4096, name, &loc);
		CHECK(h == NULL, "flProtect 0x%lx must fail", (unsigned long)bad[i]);
		CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, name);
		CHECK(!in_directory(name), "%s was created", name);
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(name, sizeof name, "prot-good-%u", (unsigned)i);
		loc = NULL;
		h = RtCreateSharedMemoryA(good[i], 0, 5000 + (DWORD)i, name, &loc);
		CHECK(h != NULL && loc != NULL, "flProtect 0x%lx must work",
		      (unsigned long)good[i]);
		if (!h)
			continue;
		CHECK_ERR(GetLastError(), ERROR_SUCCESS, name);
		memset(&info, 0, sizeof info);
		CHECK(RtQuerySharedMemory(h, &info), "RtQuerySharedMemory");
		CHECK(info.flProtect == good[i] && info.dwSize == 5000 + i,
		      "query: flProtect 0x%lx size %lu", (unsigned long)info.flProtect,
		      (unsigned long)info.dwSize);
		/* The view is read-write whatever flProtect says (as on RTSS). */
		((volatile unsigned char *)loc)[4999] = 0x5a;
		CHECK(((volatile unsigned char *)loc)[4999] == 0x5a, "view not writable");
		CHECK(RtCloseHandle(h), "close");
	}
}

static void test_create_new_existing(void)
{
	void *a = NULL, *b = NULL, *c = NULL;
	SHARED_MEMORY_INFO info;
	HANDLE h1, h2, h3, h4;

	SetLastError(777);
	h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 10000, "ex-a", &a);
	CHECK(h1 != NULL && a != NULL, "create new");
	CHECK_ERR(GetLastError(), ERROR_SUCCESS, "create new (error set to 0)");
	if (!h1)
		return;
	CHECK(page_aligned(a), "location %p not page-aligned", a);
	CHECK(all_zero(a, 10000), "new region not zero-filled");
	fill(a, 10000, 7);

	h2 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 10000, "ex-a", &b);
	CHECK(h2 != NULL && b != NULL, "create existing, same size");
	CHECK_ERR(GetLastError(), ERROR_ALREADY_EXISTS, "create existing same size");
	CHECK(h2 != h1, "a second create returns a new handle");
	CHECK(b && same_fill(b, 10000, 7), "existing region shows other bytes");

	h3 = RtCreateSharedMemoryW(PAGE_READONLY, 0, 1, L"ex-a", &c);
	CHECK(h3 != NULL && c != NULL, "W create existing, smaller size");
	CHECK_ERR(GetLastError(), ERROR_ALREADY_EXISTS, "W create existing smaller");
	CHECK(c && same_fill(c, 10000, 7), "W view shows other bytes");
	memset(&info, 0, sizeof info);
	CHECK(h3 && RtQuerySharedMemory(h3, &info) && info.dwSize == 10000 &&
		  info.flProtect == PAGE_READWRITE,
	      "query shows the creator's size and protection (%lu, 0x%lx)",
	      (unsigned long)info.dwSize, (unsigned long)info.flProtect);

	/* Larger than the existing object: refused, nothing changed. */
	c = (void *)1;
	h4 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 10001, "ex-a", &c);
	CHECK(h4 == NULL, "create existing with a larger size must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "create larger");
	h4 = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 1u << 20, L"ex-a", &c);
	CHECK(h4 == NULL, "W create existing with a larger size must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "W create larger");
	CHECK(same_fill(a, 10000, 7), "a refused create changed the bytes");

	CHECK(RtCloseHandle(h1) && RtCloseHandle(h2) && RtCloseHandle(h3), "close three");
	CHECK(!in_directory("ex-a"), "ex-a still listed after its last close");
}

static void test_other_type(void)
{
	vmshm_ref ev;
	void *loc = NULL;
	HANDLE h;
	int r;

	r = vmshm_create(pool, VMSHM_TYPE_EVENT, "an-event", 64, 0, 0, &ev);
	CHECK(r == 0, "native create of an event: %d (%s)", r, vmshm_strerror(r));
	if (r != 0)
		return;
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "an-event", &loc);
	CHECK(h == NULL, "create over an event must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "A create over another type");
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, L"an-event", &loc);
	CHECK(h == NULL, "W create over an event must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "W create over another type");
	h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "an-event", &loc);
	CHECK(h == NULL, "open of an event must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "A open of another type");
	h = RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, L"an-event", &loc);
	CHECK(h == NULL, "W open of an event must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "W open of another type");
	CHECK(vmshm_close(pool, &ev) == 0, "native close of the event");
}

static void test_unnamed(void)
{
	void *a = NULL, *b = NULL;
	HANDLE h1, h2;

	SetLastError(99);
	h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 8192, NULL, &a);
	CHECK(h1 != NULL && a != NULL, "unnamed A create");
	CHECK_ERR(GetLastError(), ERROR_SUCCESS, "unnamed A create");
	SetLastError(99);
	h2 = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 8192, NULL, &b);
	CHECK(h2 != NULL && b != NULL, "unnamed W create");
	CHECK_ERR(GetLastError(), ERROR_SUCCESS, "unnamed W create");
	if (!h1 || !h2)
		return;
	CHECK(a != b, "two unnamed objects share an address");
	CHECK(all_zero(a, 8192) && all_zero(b, 8192), "unnamed not zero-filled");
	memset(a, 0xaa, 8192);
	CHECK(all_zero(b, 8192), "unnamed objects share bytes");
	CHECK(RtCloseHandle(h1) && RtCloseHandle(h2), "close unnamed");
}

static HANDLE try_a(const char *name)
{
	void *loc = NULL;
	HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &loc);

	if (h)
		RtCloseHandle(h);
	return h;
}

static HANDLE try_w(const WCHAR *name)
{
	void *loc = NULL;
	HANDLE h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, name, &loc);

	if (h)
		RtCloseHandle(h);
	return h;
}

static void test_names(void)
{
	char a[1200];
	WCHAR w[300];
	void *p = NULL, *q = NULL;
	HANDLE h1, h2;
	DWORD e;

	/* 259 ASCII characters: fine; 260: too long. */
	memset(a, 'n', 259);
	a[259] = 0;
	CHECK(try_a(a) != NULL, "A name of 259 characters");
	a[259] = 'n';
	a[260] = 0;
	CHECK(try_a(a) == NULL, "A name of 260 characters must fail");
	CHECK_ERR(GetLastError(), ERROR_FILENAME_EXCED_RANGE, "A 260 characters");
	/* 259 three-byte characters (777 bytes of UTF-8): fine; 260: too long. */
	for (int i = 0; i < 259; i++)
		memcpy(a + 3 * i, "\xe2\x82\xac", 3); /* U+20AC */
	a[777] = 0;
	CHECK(try_a(a) != NULL, "A name of 259 euro signs");
	memcpy(a + 777, "\xe2\x82\xac", 4);
	CHECK(try_a(a) == NULL, "A name of 260 euro signs must fail");
	CHECK_ERR(GetLastError(), ERROR_FILENAME_EXCED_RANGE, "A 260 euro signs");

	for (int i = 0; i < 259; i++)
		w[i] = (WCHAR)(0x4e00 + i);
	w[259] = 0;
	CHECK(try_w(w) != NULL, "W name of 259 units");
	w[259] = 0x4e00;
	w[260] = 0;
	CHECK(try_w(w) == NULL, "W name of 260 units must fail");
	CHECK_ERR(GetLastError(), ERROR_FILENAME_EXCED_RANGE, "W 260 units");
	/* Surrogate pairs count two units each: 129 pairs + 1 = 259 units. */
	for (int i = 0; i < 129; i++) {
		w[2 * i] = 0xd83d;
		w[2 * i + 1] = 0xde00;
	}
	w[258] = L'x';
	w[259] = 0;
	CHECK(try_w(w) != NULL, "W name of 129 emoji + 1 (259 units)");
	w[258] = 0xd83d;
	w[259] = 0xde00;
	w[260] = 0;
	CHECK(try_w(w) == NULL, "W name of 130 emoji (260 units) must fail");
	CHECK_ERR(GetLastError(), ERROR_FILENAME_EXCED_RANGE, "W 130 emoji");

	CHECK(try_a("") == NULL, "empty A name must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "empty A name");
	CHECK(try_w(L"") == NULL, "empty W name must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "empty W name");
	CHECK(try_a("bad-\xff") == NULL, "A name with byte 0xff must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "A 0xff");
	CHECK(try_a("bad-\xc3") == NULL, "A name with a truncated sequence must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "A truncated UTF-8");
	CHECK(try_a("bad-\xc0\xaf") == NULL, "A name with an overlong sequence must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "A overlong UTF-8");
	CHECK(try_a("bad-\xed\xa0\x80") == NULL, "A name with an encoded surrogate must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "A surrogate in UTF-8");
	w[0] = L'b';
	w[1] = 0xd800;
	w[2] = L'a';
	w[3] = 0;
	CHECK(try_w(w) == NULL, "W name with a lone high surrogate must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "W lone high surrogate");
	w[1] = 0xdc00;
	CHECK(try_w(w) == NULL, "W name with a lone low surrogate must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_NAME, "W lone low surrogate");

	/* Case-sensitive. */
	h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "Case", &p);
	CHECK(h1 != NULL, "create Case");
	h2 = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "case", &q);
	e = GetLastError();
	CHECK(h2 == NULL, "open of 'case' found 'Case'");
	CHECK_ERR(e, ERROR_FILE_NOT_FOUND, "open other case");
	RtCloseHandle(h1);

	/* One canonical encoding: W finds A and A finds W. */
	h1 = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, L"enc-\x00e9\x65e5-\xd83d\xde00", &p);
	CHECK(h1 != NULL && p != NULL, "W create non-ASCII");
	if (h1) {
		memcpy(p, "from W", 7);
		h2 = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, u8"enc-\u00e9\u65e5-\U0001F600", &q);
		CHECK(h2 != NULL && q && memcmp(q, "from W", 7) == 0, "A open of a W name");
		if (h2)
			RtCloseHandle(h2);
		RtCloseHandle(h1);
	}
	h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, u8"enc-\u00df\u03a9\U0001D11E", &p);
	CHECK(h1 != NULL && p != NULL, "A create non-ASCII");
	if (h1) {
		memcpy(p, "from A", 7);
		h2 = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, L"enc-\x00df\x03a9\xd834\xdd1e",
					   &q);
		CHECK(h2 != NULL && q && memcmp(q, "from A", 7) == 0, "W create of an A name");
		CHECK_ERR(GetLastError(), ERROR_ALREADY_EXISTS, "W create of an A name");
		if (h2)
			RtCloseHandle(h2);
		RtCloseHandle(h1);
	}
}

static void test_no_space(void)
{
	uint64_t before = free_bytes();
	void *loc = NULL;
	HANDLE h;

	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 0xfffff000u, "too-big", &loc);
	CHECK(h == NULL, "a region larger than the pool must fail");
	CHECK_ERR(GetLastError(), ERROR_NOT_ENOUGH_MEMORY, "too big");
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 0xfffff000u, NULL, &loc);
	CHECK(h == NULL, "an unnamed region larger than the pool must fail");
	CHECK_ERR(GetLastError(), ERROR_NOT_ENOUGH_MEMORY, "unnamed too big");
	CHECK(!in_directory("too-big"), "a refused create left its name");
	CHECK(free_bytes() == before, "a refused create leaked space");
}

/* ---- RtOpenSharedMemory, RtCloseHandle ------------------------------------ */

static void test_open(void)
{
	void *p = NULL, *q = NULL;
	HANDLE h, o;

	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 3 * 4096, "op-a", &p);
	CHECK(h != NULL, "create op-a");
	if (!h)
		return;
	fill(p, 3 * 4096, 3);
	static const DWORD bad[] = {0, 4, 7, 0xff, 0x80000000u};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		o = RtOpenSharedMemoryA(bad[i], FALSE, "op-a", &q);
		CHECK(o == NULL, "access 0x%lx must fail", (unsigned long)bad[i]);
		CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "open bad access");
		o = RtOpenSharedMemoryW(bad[i], FALSE, L"op-a", &q);
		CHECK(o == NULL, "W access 0x%lx must fail", (unsigned long)bad[i]);
		CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "W open bad access");
	}
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, NULL, &q) == NULL, "A NULL name");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "open A NULL name");
	CHECK(RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, NULL, &q) == NULL, "W NULL name");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "open W NULL name");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "op-a", NULL) == NULL, "A NULL loc");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "open A NULL location");
	CHECK(RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, L"op-a", NULL) == NULL, "W NULL loc");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "open W NULL location");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "op-none", &q) == NULL, "A not found");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "open A not found");
	CHECK(RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, L"op-none", &q) == NULL, "W not found");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "open W not found");

	static const DWORD good[] = {SHM_MAP_READ, SHM_MAP_WRITE, SHM_MAP_ALL_ACCESS};
	for (size_t i = 0; i < 3; i++) {
		SetLastError(1234);
		q = NULL;
		o = RtOpenSharedMemoryA(good[i], TRUE, "op-a", &q);
		CHECK(o != NULL && q && same_fill(q, 3 * 4096, 3), "A open access %lu",
		      (unsigned long)good[i]);
		CHECK_ERR(GetLastError(), ERROR_SUCCESS, "A open");
		CHECK(q && page_aligned(q), "open location not page-aligned");
		if (o)
			CHECK(RtCloseHandle(o), "close opened");
		SetLastError(1234);
		q = NULL;
		o = RtOpenSharedMemoryW(good[i], FALSE, L"op-a", &q);
		CHECK(o != NULL && q && same_fill(q, 3 * 4096, 3), "W open access %lu",
		      (unsigned long)good[i]);
		CHECK_ERR(GetLastError(), ERROR_SUCCESS, "W open");
		if (o)
			CHECK(RtCloseHandle(o), "close opened");
	}
	CHECK(RtCloseHandle(h), "close op-a");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "op-a", &q) == NULL, "gone after close");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "open after last close");
}

static void test_close(void)
{
	void *p = NULL, *q = NULL;
	HANDLE h1, h2, h3;

	SetLastError(0);
	CHECK(!RtCloseHandle(NULL), "close NULL must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "close NULL");
	CHECK(!RtCloseHandle(INVALID_HANDLE_VALUE), "close INVALID_HANDLE_VALUE must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "close INVALID_HANDLE_VALUE");
	CHECK(!RtCloseHandle((HANDLE)(uintptr_t)0x123457), "close of a made-up handle");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "close made-up");

	h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "cl-a", &p);
	h2 = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "cl-a", &q);
	CHECK(h1 && h2, "create and open cl-a");
	if (!h1 || !h2)
		return;
	memcpy(p, "kept", 5);
	CHECK(RtCloseHandle(h1), "first close");
	CHECK(!RtCloseHandle(h1), "double close must fail");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "double close");
	/* The double close did not drop h2's reference. */
	h3 = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "cl-a", &q);
	CHECK(h3 != NULL && q && memcmp(q, "kept", 5) == 0, "object alive after double close");
	if (h3)
		CHECK(RtCloseHandle(h3), "close h3");
	CHECK(RtCloseHandle(h2), "close h2");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "cl-a", &q) == NULL,
	      "cl-a alive after its last close");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "open after last close");
	/* A new create of the name gets fresh zeroed memory. */
	p = NULL;
	h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "cl-a", &p);
	CHECK(h1 != NULL, "re-create cl-a");
	CHECK_ERR(GetLastError(), ERROR_SUCCESS, "re-create is a new object");
	CHECK(p && all_zero(p, 4096), "re-created region not zero-filled");
	if (h1)
		RtCloseHandle(h1);
}

/* ---- threads -------------------------------------------------------------- */

static HANDLE ev_a_failed, ev_b_done;
static volatile LONG thread_failures;

static DWORD WINAPI err_thread_a(LPVOID arg)
{
	void *p;

	(void)arg;
	if (RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "thr-none", &p) != NULL)
		InterlockedIncrement(&thread_failures);
	SetEvent(ev_a_failed);
	WaitForSingleObject(ev_b_done, 10000);
	if (GetLastError() != ERROR_FILE_NOT_FOUND)
		InterlockedIncrement(&thread_failures);
	return 0;
}

static DWORD WINAPI err_thread_b(LPVOID arg)
{
	void *p;
	HANDLE h;

	(void)arg;
	WaitForSingleObject(ev_a_failed, 10000);
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "thr-b", &p);
	if (!h || GetLastError() != ERROR_SUCCESS)
		InterlockedIncrement(&thread_failures);
	SetEvent(ev_b_done);
	if (h)
		RtCloseHandle(h);
	return 0;
}

static volatile LONG churn_forever; /* busy children: until the process exits */

static DWORD WINAPI churn_thread(LPVOID arg)
{
	unsigned t = (unsigned)(uintptr_t)arg;
	char name[32];
	void *p, *q;
	HANDLE h, o;
	DWORD e;

	for (unsigned i = 0; i < 300 || churn_forever; i++) {
		snprintf(name, sizeof name, "churn-%u", i % 7);
		p = NULL;
		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &p);
		e = GetLastError();
		if (!h || (e != ERROR_SUCCESS && e != ERROR_ALREADY_EXISTS)) {
			InterlockedIncrement(&thread_failures);
			continue;
		}
		o = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &q);
		if (!o || GetLastError() != ERROR_SUCCESS)
			InterlockedIncrement(&thread_failures);
		((volatile unsigned char *)p)[t] = (unsigned char)i;
		if (o && !RtCloseHandle(o))
			InterlockedIncrement(&thread_failures);
		if (!RtCloseHandle(h))
			InterlockedIncrement(&thread_failures);
	}
	return 0;
}

static void test_threads(void)
{
	HANDLE th[8];

	ev_a_failed = CreateEventW(NULL, TRUE, FALSE, NULL);
	ev_b_done = CreateEventW(NULL, TRUE, FALSE, NULL);
	thread_failures = 0;
	th[0] = CreateThread(NULL, 0, err_thread_a, NULL, 0, NULL);
	th[1] = CreateThread(NULL, 0, err_thread_b, NULL, 0, NULL);
	WaitForMultipleObjects(2, th, TRUE, 30000);
	CloseHandle(th[0]);
	CloseHandle(th[1]);
	CHECK(thread_failures == 0, "last error is not per thread (%ld)", thread_failures);
	CloseHandle(ev_a_failed);
	CloseHandle(ev_b_done);

	thread_failures = 0;
	for (int i = 0; i < 8; i++)
		th[i] = CreateThread(NULL, 0, churn_thread, (LPVOID)(uintptr_t)i, 0, NULL);
	WaitForMultipleObjects(8, th, TRUE, 120000);
	for (int i = 0; i < 8; i++)
		CloseHandle(th[i]);
	CHECK(thread_failures == 0, "8 threads creating/opening/closing: %ld failures",
	      thread_failures);
	for (int i = 0; i < 7; i++) {
		char name[32];

		snprintf(name, sizeof name, "churn-%d", i);
		CHECK(!in_directory(name), "%s left behind by the threads", name);
	}
}

/* ---- processes ------------------------------------------------------------- */

/* Child: create NAME, write, and leave without closing. */
static int child_exit(const char *how, const char *name)
{
	void *p = NULL;
	HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &p);

	if (!h)
		return 2;
	memcpy(p, "child", 6);
	if (strcmp(how, "exitprocess") == 0)
		ExitProcess(0);
	if (strcmp(how, "hang") == 0)
		Sleep(INFINITE);
	if (strcmp(how, "busy") == 0) {
		/* Exit while 4 threads are inside the calls: the exit must
		 * neither hang nor corrupt the pool. */
		churn_forever = 1;
		for (int i = 0; i < 4; i++)
			CloseHandle(
			    CreateThread(NULL, 0, churn_thread, (LPVOID)(uintptr_t)i, 0, NULL));
		Sleep(30);
		ExitProcess(0);
	}
	return 0; /* return from main: normal exit */
}

static void test_process_exit(void)
{
	void *p;
	HANDLE c;

	CHECK(wait_exit(spawn("child exit return exit-r")) == 0, "child (return) ran");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "exit-r", &p) == NULL,
	      "exit-r outlived its only holder's normal exit");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "after child return");
	CHECK(wait_exit(spawn("child exit exitprocess exit-e")) == 0, "child (ExitProcess) ran");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "exit-e", &p) == NULL,
	      "exit-e outlived its only holder's ExitProcess");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "after child ExitProcess");

	/* ExitProcess while other threads are inside the calls, 5 times. */
	int exited = 0;
	for (int i = 0; i < 5; i++) {
		HANDLE b = spawn("child exit busy exit-b");
		DWORD w = b ? WaitForSingleObject(b, 20000) : WAIT_FAILED;

		if (w == WAIT_OBJECT_0)
			exited++;
		else if (b && TerminateProcess(b, 9))
			WaitForSingleObject(b, 10000);
		if (b)
			CloseHandle(b);
	}
	CHECK(exited == 5, "%d of 5 busy children exited within 20 s", exited);
	vmshm_reclaim(pool); /* children whose exit left their peer to reclaim */
	CHECK(!in_directory("exit-b"), "exit-b outlived its holders");

	/* Killed while holding: found dead by a Windows process and reclaimed. */
	c = spawn("child exit hang exit-k");
	CHECK(c != NULL, "spawn child");
	if (!c)
		return;
	for (int i = 0; i < 2000 && !in_directory("exit-k"); i++)
		Sleep(5);
	Sleep(50);
	CHECK(in_directory("exit-k"), "the child did not create exit-k");
	TerminateProcess(c, 9);
	WaitForSingleObject(c, 10000);
	CloseHandle(c);
	CHECK(in_directory("exit-k"), "exit-k vanished before any reclaim");
	int r = vmshm_reclaim(pool);
	CHECK(r == 1, "vmshm_reclaim after TerminateProcess: %d, want 1", r);
	CHECK(!in_directory("exit-k"), "exit-k still listed after reclaim");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "exit-k", &p) == NULL,
	      "exit-k alive after reclaim");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "after reclaim");
}

/* Child of the race: create-or-open 40 names, count itself in each, wait. */
#define RACE_NAMES 40
static int child_race(void)
{
	HANDLE go = OpenEventW(SYNCHRONIZE, FALSE, L"vmshm-test-race-go");
	HANDLE done = OpenEventW(SYNCHRONIZE, FALSE, L"vmshm-test-race-done");
	char name[32];
	int bad = 0;

	if (!go || !done)
		return 3;
	WaitForSingleObject(go, 30000);
	for (int i = 0; i < RACE_NAMES; i++) {
		void *p = NULL;
		HANDLE h;

		snprintf(name, sizeof name, "race-%d", i);
		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &p);
		if (!h) {
			bad++;
			continue;
		}
		if (GetLastError() == ERROR_SUCCESS)
			InterlockedIncrement((volatile LONG *)p);
		else if (GetLastError() == ERROR_ALREADY_EXISTS)
			InterlockedIncrement((volatile LONG *)p + 1);
		else
			bad++;
	}
	WaitForSingleObject(done, 60000); /* hold the handles until then */
	return bad;
}

static void test_process_race(void)
{
	HANDLE go = CreateEventW(NULL, TRUE, FALSE, L"vmshm-test-race-go");
	HANDLE done = CreateEventW(NULL, TRUE, FALSE, L"vmshm-test-race-done");
	HANDLE kids[4];
	char name[32];
	int ok = 0;

	for (int i = 0; i < 4; i++)
		kids[i] = spawn("child race");
	Sleep(200);
	SetEvent(go);
	/* Wait until every name shows 4 counts, then look. */
	for (int i = 0; i < RACE_NAMES; i++) {
		void *p = NULL;
		HANDLE h = NULL;

		snprintf(name, sizeof name, "race-%d", i);
		for (int t = 0; t < 3000 && !h; t++) {
			h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, name, &p);
			if (!h)
				Sleep(5);
		}
		for (int t = 0; h && t < 3000; t++) {
			volatile LONG *c = p;

			if (c[0] + c[1] == 4)
				break;
			Sleep(5);
		}
		if (h) {
			volatile LONG *c = p;

			if (c[0] == 1 && c[1] == 3)
				ok++;
			else
				printf("  %s: %ld creators, %ld openers\n", name, c[0], c[1]);
			RtCloseHandle(h);
		}
	}
	CHECK(ok == RACE_NAMES, "4 processes, %d names: %d have exactly one creator", RACE_NAMES,
	      ok);
	SetEvent(done);
	for (int i = 0; i < 4; i++)
		CHECK(wait_exit(kids[i]) == 0, "race child %d failed", i);
	CloseHandle(go);
	CloseHandle(done);
	for (int i = 0; i < RACE_NAMES; i++) {
		snprintf(name, sizeof name, "race-%d", i);
		CHECK(!in_directory(name), "%s left after every holder exited", name);
	}
}

/* ---- the whole pool at the end --------------------------------------------- */

static void fault_cb(const struct vmshm_fault *f, void *arg)
{
	(void)arg;
	printf("  fault %s at %u: %s\n", vmshm_fault_name(f->code), f->where, f->what);
}

static void test_pool_clean(void)
{
	struct vmshm_stats st;
	int r = vmshm_check(pool, fault_cb, NULL);

	CHECK(r == 0, "vmshm_check found %d faults", r);
	CHECK(vmshm_stats(pool, &st) == 0, "stats");
	CHECK(st.objects == 0, "%u objects left", st.objects);
	CHECK(st.free_bytes == free_at_start, "free bytes %llu, empty pool has %llu",
	      (unsigned long long)st.free_bytes, (unsigned long long)free_at_start);
}

/* A figure, not a pass condition: the cost of an open + close pair. */
static void figure_open_close(void)
{
	LARGE_INTEGER f, t0, t1;
	void *p = NULL, *q;
	HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "figure", &p), o;
	int n = 0;

	if (!h)
		return;
	QueryPerformanceFrequency(&f);
	QueryPerformanceCounter(&t0);
	for (int i = 0; i < 100000; i++) {
		o = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "figure", &q);
		n += o && RtCloseHandle(o);
	}
	QueryPerformanceCounter(&t1);
	CHECK(n == 100000, "%d of 100000 open + close pairs worked", n);
	printf("figure: RtOpenSharedMemoryA + RtCloseHandle: %.0f ns per pair\n",
	       (double)(t1.QuadPart - t0.QuadPart) * 1e9 / (double)f.QuadPart / 100000.0);
	RtCloseHandle(h);
}

/* The directory-full rule: a pool with room for N objects. */
static void test_small(unsigned cap)
{
	HANDLE h[64];
	void *p;
	char name[32];
	unsigned n = 0;
	uint64_t before;

	for (; n < cap && n < 64; n++) {
		snprintf(name, sizeof name, "full-%u", n);
		h[n] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &p);
		if (!h[n])
			break;
	}
	CHECK(n == cap, "created %u of %u objects", n, cap);
	before = free_bytes();
	CHECK(RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "full-x", &p) == NULL,
	      "create in a full directory must fail");
	CHECK_ERR(GetLastError(), ERROR_NOT_ENOUGH_MEMORY, "directory full");
	CHECK(RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, NULL, &p) == NULL,
	      "unnamed create in a full directory must fail");
	CHECK_ERR(GetLastError(), ERROR_NOT_ENOUGH_MEMORY, "directory full, unnamed");
	CHECK(free_bytes() == before, "a refused create leaked space");
	CHECK(!in_directory("full-x"), "full-x exists");
	for (unsigned i = 0; i < n; i++)
		CHECK(RtCloseHandle(h[i]), "close full-%u", i);
	h[0] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "full-x", &p);
	CHECK(h[0] != NULL, "create after closing works again");
	if (h[0])
		RtCloseHandle(h[0]);
}

int main(int argc, char **argv)
{
	char why[256] = "";
	int r;

	if (argc >= 4 && strcmp(argv[1], "child") == 0 && strcmp(argv[2], "exit") == 0)
		return child_exit(argv[3], argc >= 5 ? argv[4] : "exit-x");
	if (argc >= 3 && strcmp(argv[1], "child") == 0 && strcmp(argv[2], "race") == 0)
		return child_race();

	r = vmshm_attach(NULL, 0, &pool, why, sizeof why);
	CHECK(r == 0, "vmshm_attach($VMSHM_POOL): %d %s", r, why);
	if (r != 0)
		return check_summary();
	CHECK(strcmp(vmshm_backend_name(pool), "file") == 0, "backend %s",
	      vmshm_backend_name(pool));
	free_at_start = free_bytes();

	if (argc >= 3 && strcmp(argv[1], "small") == 0) {
		test_small((unsigned)atoi(argv[2]));
	} else {
		test_create_params();
		test_create_protect();
		test_create_new_existing();
		test_other_type();
		test_unnamed();
		test_names();
		test_no_space();
		test_open();
		test_close();
		test_threads();
		test_process_exit();
		test_process_race();
		figure_open_close();
		test_pool_clean();
	}
	vmshm_detach(pool);
	return check_summary();
}
