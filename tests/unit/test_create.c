/*
 * test_create.c - RtCreateSharedMemoryA/W, rules 1 to 9 of the semantics,
 * each with its exact error code, through the A and the W call.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aw.h"

/* Rule 1: high != 0, low == 0 or location == NULL -> NULL, 87, nothing changed. */
AW_TEST(create, bad_size_or_location)
{
	struct snapshot before, after;
	struct vmshm_objinfo info;
	void *loc = (void *)1;

	rt_warm();
	snap_take(&before);

	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 1, 4096, "r1", &loc), ERROR_INVALID_PARAMETER,
		     "high = 1");
	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0xffffffffu, 4096, "r1", &loc),
		     ERROR_INVALID_PARAMETER, "high = 0xffffffff");
	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 0, "r1", &loc), ERROR_INVALID_PARAMETER,
		     "low = 0");
	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 4096, "r1", NULL), ERROR_INVALID_PARAMETER,
		     "location = NULL");
	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 4096, NULL, NULL), ERROR_INVALID_PARAMETER,
		     "unnamed, location = NULL");
	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 0, NULL, &loc), ERROR_INVALID_PARAMETER,
		     "unnamed, low = 0");

	snap_take(&after);
	snap_assert_same(&before, &after, "rule 1");
	cr_assert_eq(tp_find("r1", &info), 0, "a failed create left the name 'r1' behind");
}

/* Rule 1 on an existing name: the object is not touched. */
AW_TEST(create, bad_params_on_existing_name)
{
	struct snapshot before, after;
	SHARED_MEMORY_INFO qi;
	void *loc = NULL, *loc2 = NULL;
	HANDLE h = rt_create(mode, PAGE_READWRITE, 0, 5000, "r1x", &loc);

	assert_ok(h, 0, "create r1x");
	pattern_fill(loc, 5000, 11);
	snap_take(&before);
	assert_fails(rt_create(mode, PAGE_READWRITE, 1, 5000, "r1x", &loc2),
		     ERROR_INVALID_PARAMETER, "high = 1 on an existing name");
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 0, "r1x", &loc2), ERROR_INVALID_PARAMETER,
		     "low = 0 on an existing name");
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 100, "r1x", NULL), ERROR_INVALID_PARAMETER,
		     "location = NULL on an existing name");
	assert_fails(rt_create(mode, 0x40, 0, 100, "r1x", &loc2), ERROR_INVALID_PARAMETER,
		     "flProtect 0x40 on an existing name");
	snap_take(&after);
	snap_assert_same(&before, &after, "bad parameters on an existing name");
	cr_assert(RtQuerySharedMemory(h, &qi));
	cr_assert_eq(qi.dwSize, 5000);
	cr_assert_eq(qi.flProtect, PAGE_READWRITE);
	cr_assert(pattern_ok(loc, 5000, 11), "the bytes of r1x changed");
	cr_assert(RtCloseHandle(h));
}

/* Rule 2: flProtect outside {0x02, 0x04, 1, 2, 3} -> 87, nothing changed. */
AW_TEST(create, flprotect_invalid)
{
	static const DWORD bad[] = {0,    5,    6,     7,     8,     0x10,       0x20,
				    0x40, 0x80, 0x100, 0x104, 0x204, 0x80000004, 0xffffffff};
	struct snapshot before, after;
	void *loc = NULL;

	rt_warm();
	snap_take(&before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];

		snprintf(what, sizeof what, "flProtect 0x%x", (unsigned)bad[i]);
		SetLastError(0);
		assert_fails(rt_create(mode, bad[i], 0, 4096, "r2", &loc), ERROR_INVALID_PARAMETER,
			     what);
		assert_fails(rt_create(mode, bad[i], 0, 4096, NULL, &loc), ERROR_INVALID_PARAMETER,
			     what);
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 2");
}

/* Rule 2: every accepted flProtect is recorded; the view is read-write. */
AW_TEST(create, flprotect_recorded)
{
	static const DWORD good[] = {PAGE_READONLY, PAGE_READWRITE, SHM_MAP_READ, SHM_MAP_WRITE,
				     SHM_MAP_ALL_ACCESS};
	HANDLE h[5];
	void *loc[5];

	for (int i = 0; i < 5; i++) {
		char name[32];
		SHARED_MEMORY_INFO qi = {0, 0};
		struct vmshm_objinfo info;

		snprintf(name, sizeof name, "prot-%d", i);
		h[i] = rt_create(mode, good[i], 0, 3000 + (DWORD)i, name, &loc[i]);
		assert_ok(h[i], 0, name);
		SetLastError(99);
		cr_assert(RtQuerySharedMemory(h[i], &qi), "RtQuerySharedMemory failed: %u",
			  (unsigned)GetLastError());
		cr_assert_eq(GetLastError(), 0, "RtQuerySharedMemory: GetLastError() = %u",
			     (unsigned)GetLastError());
		cr_assert_eq(qi.flProtect, good[i], "flProtect 0x%x recorded as 0x%x",
			     (unsigned)good[i], (unsigned)qi.flProtect);
		cr_assert_eq(qi.dwSize, 3000 + (DWORD)i);
		cr_assert_eq(tp_find(name, &info), 1);
		cr_assert_eq(info.protect, good[i]);
		/* Read-write for every value, as on RTSS. */
		pattern_fill(loc[i], 3000 + (size_t)i, 100 + (uint32_t)i);
	}
	for (int i = 0; i < 5; i++) {
		void *l2 = NULL;
		char name[32];
		HANDLE h2;

		snprintf(name, sizeof name, "prot-%d", i);
		h2 = rt_open(mode, SHM_MAP_READ, name, &l2);
		assert_ok(h2, 0, name);
		cr_assert(pattern_ok(l2, 3000 + (size_t)i, 100 + (uint32_t)i));
		cr_assert(RtCloseHandle(h2));
		cr_assert(RtCloseHandle(h[i]));
	}
	cr_assert_eq(tp_objects(), 0);
}

/* Rule 3: a new name -> handle, page-aligned zero-filled memory, error 0. */
AW_TEST(create, new_name)
{
	static const DWORD sizes[] = {1, 4095, 4096, 4097, 10000, 1u << 20};
	struct vmshm_stats st;

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		char name[32];
		void *loc = NULL;
		HANDLE h;
		SHARED_MEMORY_INFO qi;
		struct vmshm_objinfo info;

		snprintf(name, sizeof name, "new-%zu", i);
		SetLastError(0xdead);
		h = rt_create(mode, PAGE_READWRITE, 0, sizes[i], name, &loc);
		assert_ok(h, 0, name);
		cr_assert_not_null(loc);
		cr_assert_eq((uintptr_t)loc % 4096, 0, "location %p is not page-aligned", loc);
		cr_assert(all_zero(loc, sizes[i]), "%s: memory not zero-filled", name);
		cr_assert(RtQuerySharedMemory(h, &qi));
		cr_assert_eq(qi.dwSize, sizes[i]);
		cr_assert_eq(tp_find(name, &info), 1, "%s not listed", name);
		cr_assert_eq(info.type, VMSHM_TYPE_SHM);
		cr_assert_eq(info.state, VMSHM_OBJ_LIVE);
		cr_assert_eq(info.size, sizes[i]);
		cr_assert(info.named);
		cr_assert_geq(info.pages * 4096, sizes[i]);
		memset(loc, 0xa5, sizes[i]);
		SetLastError(0xdead);
		cr_assert(RtCloseHandle(h));
		cr_assert_eq(GetLastError(), 0, "RtCloseHandle: GetLastError() = %u",
			     (unsigned)GetLastError());
	}
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
}

/* Rule 4: existing name, size <= its size -> new handle, same bytes, 183. */
AW_TEST(create, existing_name)
{
	void *l1 = NULL, *l2 = NULL, *l3 = NULL;
	HANDLE h1, h2, h3;
	SHARED_MEMORY_INFO qi;
	struct snapshot s1, s2;

	h1 = rt_create(mode, PAGE_READWRITE, 0, 8192, "r4", &l1);
	assert_ok(h1, 0, "first create");
	pattern_fill(l1, 8192, 4);
	snap_take(&s1);

	SetLastError(0);
	h2 = rt_create(mode, PAGE_READONLY, 0, 8192, "r4", &l2);
	assert_ok(h2, ERROR_ALREADY_EXISTS, "create, same size");
	cr_assert_neq(h2, h1, "a second create returned the same handle");
	cr_assert_eq((uintptr_t)l2 % 4096, 0);
	cr_assert(pattern_ok(l2, 8192, 4), "second view does not show the first view's bytes");

	SetLastError(0);
	h3 = rt_create(mode, SHM_MAP_WRITE, 0, 1, "r4", &l3);
	assert_ok(h3, ERROR_ALREADY_EXISTS, "create, smaller size");
	cr_assert_neq(h3, h1);
	cr_assert_neq(h3, h2);
	cr_assert(pattern_ok(l3, 8192, 4));

	/* Writes through one view are seen through the others. */
	memset((char *)l3 + 100, 0x77, 50);
	cr_assert_eq(((unsigned char *)l1)[120], 0x77);
	cr_assert_eq(((unsigned char *)l2)[149], 0x77);

	/* The creator's size and flProtect stay. */
	cr_assert(RtQuerySharedMemory(h3, &qi));
	cr_assert_eq(qi.dwSize, 8192);
	cr_assert_eq(qi.flProtect, PAGE_READWRITE);

	/* One object, the same space. */
	snap_take(&s2);
	cr_assert_eq(s2.st.objects, s1.st.objects);
	cr_assert_eq(s2.st.free_bytes, s1.st.free_bytes);

	cr_assert(RtCloseHandle(h1));
	cr_assert(RtCloseHandle(h2));
	cr_assert_eq(tp_objects(), 1, "object gone while a handle is open");
	cr_assert_eq(((unsigned char *)l3)[100], 0x77);
	cr_assert(RtCloseHandle(h3));
	cr_assert_eq(tp_objects(), 0, "object still there after its last handle closed");
}

/* Rule 5: existing name, larger size -> NULL, 87, nothing changed. */
AW_TEST(create, existing_name_larger)
{
	void *l1 = NULL, *l2 = (void *)1;
	HANDLE h1;
	SHARED_MEMORY_INFO qi;
	struct snapshot before, after;

	h1 = rt_create(mode, PAGE_READWRITE, 0, 8192, "r5", &l1);
	assert_ok(h1, 0, "first create");
	pattern_fill(l1, 8192, 5);
	snap_take(&before);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 8193, "r5", &l2), ERROR_INVALID_PARAMETER,
		     "create, one byte larger");
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 1u << 20, "r5", &l2),
		     ERROR_INVALID_PARAMETER, "create, 1 MiB");
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 0xffffffffu, "r5", &l2),
		     ERROR_INVALID_PARAMETER, "create, 4 GiB - 1");
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 5");
	cr_assert(RtQuerySharedMemory(h1, &qi));
	cr_assert_eq(qi.dwSize, 8192);
	cr_assert(pattern_ok(l1, 8192, 5));
	cr_assert(RtCloseHandle(h1));
	cr_assert_eq(tp_objects(), 0);
}

/* Rule 6: a name held by an event, mutex or semaphore -> NULL, 6. */
AW_TEST(create, other_type)
{
	static const int types[] = {VMSHM_TYPE_EVENT, VMSHM_TYPE_MUTEX, VMSHM_TYPE_SEMAPHORE};
	vmshm_pool *p;
	vmshm_ref ref[3];
	char why[256] = "";
	int rc;
	struct snapshot before, after;
	void *loc = (void *)1;

	rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "native attach: %d %s", rc, why);
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof name, "other-%d", i);
		rc = vmshm_create(p, types[i], name, 64, 0, 0, &ref[i]);
		cr_assert_eq(rc, 0, "vmshm_create(type %d): %d (%s)", types[i], rc,
			     vmshm_strerror(rc));
	}
	rt_warm();
	snap_take(&before);
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof name, "other-%d", i);
		SetLastError(0);
		assert_fails(rt_create(mode, PAGE_READWRITE, 0, 64, name, &loc),
			     ERROR_INVALID_HANDLE, "create over another type");
		SetLastError(0);
		assert_fails(rt_create(mode, PAGE_READWRITE, 0, 1, name, &loc),
			     ERROR_INVALID_HANDLE, "create over another type, smaller");
		SetLastError(0);
		assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, name, &loc), ERROR_INVALID_HANDLE,
			     "open of another type");
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 6");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(vmshm_close(p, &ref[i]), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_objects(), 0);
}

/* Rule 7: NULL name -> an unnamed object, error 0; two are two objects. */
AW_TEST(create, unnamed)
{
	void *l1 = NULL, *l2 = NULL, *l3 = NULL;
	HANDLE h1, h2, h3;
	struct snapshot s;

	SetLastError(1234);
	h1 = rt_create(mode, PAGE_READWRITE, 0, 4096, NULL, &l1);
	assert_ok(h1, 0, "unnamed 1");
	SetLastError(1234);
	h2 = rt_create(mode, PAGE_READWRITE, 0, 4096, NULL, &l2);
	assert_ok(h2, 0, "unnamed 2");
	cr_assert_neq(h1, h2);
	cr_assert_neq(l1, l2);
	cr_assert(all_zero(l1, 4096));
	cr_assert(all_zero(l2, 4096));
	memset(l1, 0x11, 4096);
	cr_assert(all_zero(l2, 4096), "two unnamed creates share memory");

	/* A third, smaller one is a new object as well (never 183). */
	SetLastError(1234);
	h3 = rt_create(mode, PAGE_READWRITE, 0, 100, NULL, &l3);
	assert_ok(h3, 0, "unnamed 3");
	cr_assert(all_zero(l3, 100));

	snap_take(&s);
	cr_assert_eq(s.st.objects, 3);
	cr_assert_eq(s.nobj, 3);
	for (unsigned i = 0; i < s.nobj; i++)
		cr_assert_eq(s.obj[i].named, 0, "an unnamed object is listed as named ('%s')",
			     s.obj[i].name);

	cr_assert(RtCloseHandle(h1));
	cr_assert(RtCloseHandle(h2));
	cr_assert(RtCloseHandle(h3));
	cr_assert_eq(tp_objects(), 0);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* Rule 9: pool space exhausted -> NULL, 8, nothing leaked. */
AW_TEST(create, pool_space_full)
{
	HANDLE h[64];
	int n = 0;
	struct snapshot before, after;
	void *loc = (void *)1;
	struct vmshm_stats st;

	/* A fresh, small pool for this test. */
	tp_remove();
	tp_make(1u << 20, 0);
	rt_warm();

	snap_take(&before);
	SetLastError(0);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 0xffffffffu, "huge", &loc),
		     ERROR_NOT_ENOUGH_MEMORY, "4 GiB - 1 in a 1 MiB pool");
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 2u << 20, NULL, &loc),
		     ERROR_NOT_ENOUGH_MEMORY, "unnamed 2 MiB in a 1 MiB pool");
	assert_fails(
	    rt_create(mode, PAGE_READWRITE, 0, (DWORD)before.st.free_bytes + 1, "huge", &loc),
	    ERROR_NOT_ENOUGH_MEMORY, "free bytes + 1");
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 9, too large");

	/* Fill the pool with 64 KiB objects until the space runs out. */
	for (;;) {
		char name[32];
		void *l = NULL;
		HANDLE x;

		cr_assert_lt(n, 64, "more than 64 objects of 64 KiB fit in a 1 MiB pool");
		snprintf(name, sizeof name, "fill-%d", n);
		snap_take(&before);
		SetLastError(0);
		x = rt_create(mode, PAGE_READWRITE, 0, 65536, name, &l);
		if (!x) {
			cr_assert_eq(GetLastError(), ERROR_NOT_ENOUGH_MEMORY,
				     "full pool: GetLastError() = %u", (unsigned)GetLastError());
			snap_take(&after);
			snap_assert_same(&before, &after, "rule 9, pool full");
			break;
		}
		cr_assert_eq(GetLastError(), 0);
		cr_assert(all_zero(l, 65536));
		h[n++] = x;
	}
	cr_assert_geq(n, 8, "only %d objects of 64 KiB fit in a 1 MiB pool", n);
	st = tp_stats();
	cr_assert_lt(st.largest_free, 65536 + 4096 * 2,
		     "create failed although %llu bytes are free in one run",
		     (unsigned long long)st.largest_free);
	/* Unnamed ones fail the same way. */
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 65536, NULL, &loc), ERROR_NOT_ENOUGH_MEMORY,
		     "unnamed, pool full");

	/* One close makes room for one more. */
	cr_assert(RtCloseHandle(h[0]));
	h[0] = rt_create(mode, PAGE_READWRITE, 0, 65536, "again", &loc);
	assert_ok(h[0], 0, "create after a close");
	for (int i = 0; i < n; i++)
		cr_assert(RtCloseHandle(h[i]));
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes, "leaked %lld bytes",
		     (long long)(tp.empty.free_bytes - st.free_bytes));
	cr_assert_eq(st.largest_free, tp.empty.largest_free, "free space not coalesced");
}

/* Rule 9: directory slots exhausted -> NULL, 8, nothing leaked. */
AW_TEST(create, directory_full)
{
	static HANDLE h[4096];
	uint32_t cap, n = 0;
	struct snapshot before, after;
	void *loc = (void *)1;
	struct vmshm_stats st;

	tp_remove();
	tp_make(16u << 20, 16);
	cap = tp.empty.object_capacity;
	cr_assert_geq(cap, 16, "capacity %u, asked for 16", cap);
	cr_assert_leq(cap, 4096, "capacity %u for 16 asked", cap);
	rt_warm();
	for (;;) {
		char name[32];
		void *l = NULL;
		HANDLE x;

		cr_assert_leq(n, cap, "more than %u objects in a directory of %u", n, cap);
		snprintf(name, sizeof name, "slot-%u", n);
		snap_take(&before);
		SetLastError(0);
		/* Every third object unnamed: they take slots as well. */
		x = rt_create(mode, PAGE_READWRITE, 0, 100, n % 3 == 2 ? NULL : name, &l);
		if (!x) {
			cr_assert_eq(GetLastError(), ERROR_NOT_ENOUGH_MEMORY,
				     "directory full: GetLastError() = %u",
				     (unsigned)GetLastError());
			snap_take(&after);
			snap_assert_same(&before, &after, "rule 9, directory full");
			break;
		}
		cr_assert_eq(GetLastError(), 0);
		h[n++] = x;
	}
	cr_assert_eq(n, cap, "the directory held %u objects, its capacity is %u", n, cap);
	snap_take(&before);
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 100, "one-more", &loc),
		     ERROR_NOT_ENOUGH_MEMORY, "named, directory full");
	assert_fails(rt_create(mode, PAGE_READWRITE, 0, 100, NULL, &loc), ERROR_NOT_ENOUGH_MEMORY,
		     "unnamed, directory full");
	/* An existing name is still opened, and still created as 183. */
	{
		HANDLE x = rt_create(mode, PAGE_READWRITE, 0, 100, "slot-0", &loc);

		assert_ok(x, ERROR_ALREADY_EXISTS, "existing name, directory full");
		cr_assert(RtCloseHandle(x));
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "rule 9, directory full");

	cr_assert(RtCloseHandle(h[n - 1]));
	h[n - 1] = rt_create(mode, PAGE_READWRITE, 0, 100, "one-more", &loc);
	assert_ok(h[n - 1], 0, "create after a close");
	for (uint32_t i = 0; i < n; i++)
		cr_assert(RtCloseHandle(h[i]));
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
}

/* Last close destroys: the name is free, the space back, a re-create is zeroed. */
AW_TEST(create, recreate_after_last_close)
{
	void *l1 = NULL, *l2 = NULL;
	HANDLE h;
	struct vmshm_stats st;

	h = rt_create(mode, PAGE_READWRITE, 0, 20000, "again", &l1);
	assert_ok(h, 0, "create");
	pattern_fill(l1, 20000, 9);
	cr_assert(RtCloseHandle(h));
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, "again", &l2), ERROR_FILE_NOT_FOUND,
		     "open after the last close");
	SetLastError(183);
	h = rt_create(mode, PAGE_READWRITE, 0, 20000, "again", &l2);
	assert_ok(h, 0, "re-create after the last close");
	cr_assert(all_zero(l2, 20000), "re-created object is not zero-filled");
	cr_assert(RtCloseHandle(h));
}

/* No pool reachable: NULL, ERROR_FILE_NOT_FOUND, nothing on stderr. */
static void nopool_setup(void)
{
	char path[128];

	snprintf(path, sizeof path, "/dev/shm/vmshm-test-missing-%ld", (long)getpid());
	unlink(path);
	setenv("VMSHM_POOL", path, 1);
	unsetenv("VMSHM_DEBUG");
}

/* Runs the calls of a test with stderr sent to a file; returns its text. */
static FILE *capture;
static int saved_stderr = -1;

static void capture_begin(void)
{
	fflush(stderr);
	capture = tmpfile();
	cr_assert_not_null(capture);
	saved_stderr = dup(2);
	cr_assert_geq(saved_stderr, 0);
	dup2(fileno(capture), 2);
}

static size_t capture_end(char *buf, size_t len)
{
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rewind(capture);
	n = fread(buf, 1, len - 1, capture);
	buf[n] = 0;
	fclose(capture);
	return n;
}

Test(nopool, quiet_without_debug, .init = nopool_setup)
{
	void *loc = NULL;
	char buf[512];
	size_t n;

	capture_begin();
	SetLastError(0);
	HANDLE h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "x", &loc);
	DWORD e1 = GetLastError();
	HANDLE h2 = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, w16("x"), &loc);
	DWORD e2 = GetLastError();
	HANDLE h3 = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "x", &loc);
	DWORD e3 = GetLastError();
	HANDLE h4 = RtOpenSharedMemoryW(SHM_MAP_ALL_ACCESS, FALSE, w16("x"), &loc);
	DWORD e4 = GetLastError();
	HANDLE h5 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, NULL, &loc);
	DWORD e5 = GetLastError();
	n = capture_end(buf, sizeof buf);

	cr_assert(!h1 && !h2 && !h3 && !h4 && !h5, "a call returned a handle without a pool");
	cr_assert_eq(e1, ERROR_FILE_NOT_FOUND, "create A without a pool: %u", (unsigned)e1);
	cr_assert_eq(e2, ERROR_FILE_NOT_FOUND, "create W without a pool: %u", (unsigned)e2);
	cr_assert_eq(e3, ERROR_FILE_NOT_FOUND, "open A without a pool: %u", (unsigned)e3);
	cr_assert_eq(e4, ERROR_FILE_NOT_FOUND, "open W without a pool: %u", (unsigned)e4);
	cr_assert_eq(e5, ERROR_FILE_NOT_FOUND, "unnamed create without a pool: %u", (unsigned)e5);
	cr_assert_eq(n, 0, "stderr without VMSHM_DEBUG: '%s'", buf);
}

Test(nopool, one_line_with_debug, .init = nopool_setup)
{
	void *loc = NULL;
	char buf[4096];
	size_t n;
	int lines = 0;
	HANDLE h;
	DWORD e;

	setenv("VMSHM_DEBUG", "1", 1);
	capture_begin();
	h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "x", &loc);
	e = GetLastError();
	n = capture_end(buf, sizeof buf);
	cr_assert_null(h);
	cr_assert_eq(e, ERROR_FILE_NOT_FOUND, "open without a pool: %u", (unsigned)e);
	for (size_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	cr_assert_gt(n, 1, "VMSHM_DEBUG set: no reason on stderr");
	cr_assert_eq(lines, 1, "VMSHM_DEBUG set: %d lines on stderr, expected one: '%s'", lines,
		     buf);
	cr_assert_eq(buf[n - 1], '\n');
}

/* Space given back and taken again is zero-filled again (the whole pool is
 * dirtied first, so the second round can only reuse written pages). */
AW_TEST(create, zero_fill_reused_space)
{
	HANDLE h[64];
	void *loc[64];
	DWORD size[64];

	tp_remove();
	tp_make(1u << 20, 0);
	for (int round = 0; round < 3; round++) {
		int n = 0;

		for (;;) {
			char name[32];

			cr_assert_lt(n, 64);
			snprintf(name, sizeof name, "dirty-%d-%d", round, n);
			/* Odd sizes, so that runs of freed pages do not line up. */
			size[n] = 4096u * (1 + (unsigned)(n * 7 + round) % 5) + 123u;
			h[n] = rt_create(mode, PAGE_READWRITE, 0, size[n], n % 4 == 3 ? NULL : name,
					 &loc[n]);
			if (!h[n]) {
				cr_assert_eq(GetLastError(), ERROR_NOT_ENOUGH_MEMORY);
				break;
			}
			cr_assert_eq(GetLastError(), 0);
			cr_assert(all_zero(loc[n], size[n]), "round %d, object %d: not zero-filled",
				  round, n);
			memset(loc[n], 0xa5, size[n]);
			n++;
		}
		cr_assert_geq(n, 20, "only %d objects fit", n);
		for (int i = 0; i < n; i++)
			cr_assert(RtCloseHandle(h[i]));
		cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	}
}
