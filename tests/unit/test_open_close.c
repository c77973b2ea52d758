/*
 * test_open_close.c - RtOpenSharedMemoryA/W, RtCloseHandle and
 * RtQuerySharedMemory: exact error codes, exact bytes, handle values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aw.h"

/* Access must be SHM_MAP_READ, SHM_MAP_WRITE or SHM_MAP_ALL_ACCESS, else 87. */
AW_TEST(open, access_invalid)
{
	static const DWORD bad[] = {0, 4, 5, 7, 8, 0x10, 0x80000000u, 0xffffffffu};
	struct snapshot before, after;
	void *l1 = NULL, *loc = (void *)1;
	HANDLE h = rt_create(mode, PAGE_READWRITE, 0, 4096, "acc", &l1);

	assert_ok(h, 0, "create");
	snap_take(&before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];

		snprintf(what, sizeof what, "open with access 0x%x", (unsigned)bad[i]);
		SetLastError(0);
		assert_fails(rt_open(mode, bad[i], "acc", &loc), ERROR_INVALID_PARAMETER, what);
		/* Checked before the name is looked up. */
		assert_fails(rt_open(mode, bad[i], "no-such-name", &loc), ERROR_INVALID_PARAMETER,
			     what);
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "open, bad access");
	cr_assert(RtCloseHandle(h));
}

/* NULL name or NULL location -> 87. */
AW_TEST(open, null_name_or_location)
{
	struct snapshot before, after;
	void *l1 = NULL, *loc = (void *)1;
	HANDLE h = rt_create(mode, PAGE_READWRITE, 0, 4096, "nul", &l1);

	assert_ok(h, 0, "create");
	snap_take(&before);
	SetLastError(0);
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, NULL, &loc), ERROR_INVALID_PARAMETER,
		     "open, NULL name");
	SetLastError(0);
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, "nul", NULL), ERROR_INVALID_PARAMETER,
		     "open, NULL location");
	SetLastError(0);
	assert_fails(rt_open(mode, SHM_MAP_READ, NULL, NULL), ERROR_INVALID_PARAMETER,
		     "open, NULL name and location");
	snap_take(&after);
	snap_assert_same(&before, &after, "open, NULL arguments");
	cr_assert(RtCloseHandle(h));
}

/* Not found -> NULL, 2; names are case-sensitive. */
AW_TEST(open, not_found)
{
	struct snapshot before, after;
	void *l1 = NULL, *loc = (void *)1;
	HANDLE h, h2;

	rt_warm();
	SetLastError(0);
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, "missing", &loc), ERROR_FILE_NOT_FOUND,
		     "open of a missing name");
	h = rt_create(mode, PAGE_READWRITE, 0, 4096, "Sensor", &l1);
	assert_ok(h, 0, "create Sensor");
	snap_take(&before);
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, "sensor", &loc), ERROR_FILE_NOT_FOUND,
		     "open of 'sensor' when 'Sensor' exists");
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, "SENSOR", &loc), ERROR_FILE_NOT_FOUND,
		     "open of 'SENSOR'");
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, "Sensor ", &loc), ERROR_FILE_NOT_FOUND,
		     "open of 'Sensor ' (trailing space)");
	assert_fails(rt_open(mode, SHM_MAP_ALL_ACCESS, "Senso", &loc), ERROR_FILE_NOT_FOUND,
		     "open of a prefix");
	snap_take(&after);
	snap_assert_same(&before, &after, "open, not found");

	/* A different case is a different object. */
	h2 = rt_create(mode, PAGE_READWRITE, 0, 4096, "sensor", &loc);
	assert_ok(h2, 0, "create 'sensor' beside 'Sensor'");
	cr_assert_neq(loc, l1);
	cr_assert_eq(tp_objects(), 2);
	cr_assert(RtCloseHandle(h));
	cr_assert(RtCloseHandle(h2));
}

/* Success: the same bytes, error 0 (set explicitly), for every access. */
AW_TEST(open, same_bytes)
{
	static const DWORD acc[] = {SHM_MAP_READ, SHM_MAP_WRITE, SHM_MAP_ALL_ACCESS};
	void *l1 = NULL;
	HANDLE h = rt_create(mode, PAGE_READONLY, 0, 12345, "bytes", &l1);
	HANDLE o[3];

	assert_ok(h, 0, "create");
	pattern_fill(l1, 12345, 77);
	for (int i = 0; i < 3; i++) {
		void *l = NULL;
		SHARED_MEMORY_INFO qi;

		SetLastError(183);
		o[i] = rt_open(mode, acc[i], "bytes", &l);
		assert_ok(o[i], 0, "open");
		cr_assert_neq(o[i], h);
		cr_assert_eq((uintptr_t)l % 4096, 0, "location %p not page-aligned", l);
		cr_assert(pattern_ok(l, 12340, 77), "open with access %u: bytes differ",
			  (unsigned)acc[i]);
		cr_assert(RtQuerySharedMemory(o[i], &qi));
		cr_assert_eq(qi.dwSize, 12345);
		cr_assert_eq(qi.flProtect, PAGE_READONLY);
		/* Every view is read-write, as on RTSS. */
		((unsigned char *)l)[12340 + i] = 0xe0 + (unsigned char)i;
		cr_assert_eq(((unsigned char *)l1)[12340 + i], 0xe0 + i);
	}
	cr_assert_eq(tp_objects(), 1);
	for (int i = 0; i < 3; i++)
		cr_assert(RtCloseHandle(o[i]));
	cr_assert_eq(tp_objects(), 1);
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(tp_objects(), 0);
}

/* The opener keeps the object alive after the creator closes. */
AW_TEST(open, outlives_creator)
{
	void *l1 = NULL, *l2 = NULL, *l3 = NULL;
	HANDLE h = rt_create(mode, PAGE_READWRITE, 0, 4096, "keep", &l1);
	HANDLE o;

	assert_ok(h, 0, "create");
	pattern_fill(l1, 4096, 3);
	o = rt_open(mode, SHM_MAP_READ, "keep", &l2);
	assert_ok(o, 0, "open");
	cr_assert(RtCloseHandle(h));
	cr_assert(pattern_ok(l2, 4096, 3), "bytes changed after the creator closed");
	h = rt_open(mode, SHM_MAP_READ, "keep", &l3);
	assert_ok(h, 0, "open after the creator closed");
	cr_assert(pattern_ok(l3, 4096, 3));
	cr_assert(RtCloseHandle(h));
	cr_assert(RtCloseHandle(o));
	assert_fails(rt_open(mode, SHM_MAP_READ, "keep", &l3), ERROR_FILE_NOT_FOUND,
		     "open after the last close");
}

/* Unknown, NULL and closed handles -> FALSE, 6, nothing changed. */
Test(close, bad_handles, .init = tp_setup, .fini = tp_teardown)
{
	static HANDLE bad[] = {NULL, (HANDLE)(intptr_t)-1, (HANDLE)1, (HANDLE)0x12345,
			       (HANDLE)(uintptr_t)0xdeadbeefcafe};
	struct snapshot before, after;
	void *loc = NULL;
	HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "c1", &loc);
	SHARED_MEMORY_INFO qi;

	assert_ok(h, 0, "create");
	snap_take(&before);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (bad[i] == h)
			continue;
		SetLastError(0);
		cr_assert_not(RtCloseHandle(bad[i]), "RtCloseHandle(%p) succeeded", bad[i]);
		cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE, "RtCloseHandle(%p): %u", bad[i],
			     (unsigned)GetLastError());
		SetLastError(0);
		cr_assert_not(RtQuerySharedMemory(bad[i], &qi), "RtQuerySharedMemory(%p)", bad[i]);
		cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE, "RtQuerySharedMemory(%p): %u",
			     bad[i], (unsigned)GetLastError());
	}
	/* A pointer into the region is not a handle either. */
	SetLastError(0);
	cr_assert_not(RtCloseHandle(loc), "RtCloseHandle(location) succeeded");
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	snap_take(&after);
	snap_assert_same(&before, &after, "close of bad handles");
	cr_assert(RtCloseHandle(h));
}

/* A double close in one process never drops the other handle's reference. */
AW_TEST(close, double_close_same_process)
{
	void *l1 = NULL, *l2 = NULL;
	HANDLE h1 = rt_create(mode, PAGE_READWRITE, 0, 4096, "dbl", &l1);
	HANDLE h2 = rt_open(mode, SHM_MAP_ALL_ACCESS, "dbl", &l2);
	struct snapshot before, after;
	SHARED_MEMORY_INFO qi;

	cr_assert_not_null(h1);
	cr_assert_not_null(h2);
	pattern_fill(l1, 4096, 8);
	SetLastError(55);
	cr_assert(RtCloseHandle(h1));
	cr_assert_eq(GetLastError(), 0);
	snap_take(&before);
	for (int i = 0; i < 3; i++) {
		SetLastError(0);
		cr_assert_not(RtCloseHandle(h1), "second close of the same handle succeeded");
		cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE, "double close: %u",
			     (unsigned)GetLastError());
		cr_assert_not(RtQuerySharedMemory(h1, &qi));
		cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "double close");
	cr_assert_eq(after.st.objects, 1, "a double close destroyed the object");
	cr_assert(RtQuerySharedMemory(h2, &qi));
	cr_assert(pattern_ok(l2, 4096, 8));
	cr_assert(RtCloseHandle(h2));
	cr_assert_eq(tp_objects(), 0);
	cr_assert_not(RtCloseHandle(h2));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
}

/* A double close never drops another peer's reference. */
AW_TEST(close, double_close_other_peer)
{
	vmshm_pool *p;
	vmshm_ref ref;
	char why[256] = "";
	void *l1 = NULL;
	HANDLE h;
	struct vmshm_objinfo info;
	int rc, self;

	h = rt_create(mode, PAGE_READWRITE, 0, 8192, "shared", &l1);
	assert_ok(h, 0, "create");
	pattern_fill(l1, 8192, 21);
	rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "native attach: %d %s", rc, why);
	self = vmshm_self(p);
	cr_assert_gt(self, 0);
	rc = vmshm_open(p, VMSHM_TYPE_SHM, "shared", &ref);
	cr_assert_eq(rc, 0, "vmshm_open: %d", rc);
	cr_assert_eq(ref.size, 8192);
	cr_assert(pattern_ok(ref.addr, 8192, 21), "native view shows other bytes");

	cr_assert(RtCloseHandle(h));
	cr_assert_not(RtCloseHandle(h));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	cr_assert_not(RtCloseHandle(h));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);

	cr_assert_eq(tp_find("shared", &info), 1, "object destroyed by a double close");
	cr_assert_eq(info.holders, 1ull << self, "holders 0x%llx, expected only peer %d",
		     (unsigned long long)info.holders, self);
	cr_assert(pattern_ok(ref.addr, 8192, 21));
	cr_assert_eq(vmshm_close(p, &ref), 0);
	cr_assert_eq(tp_find("shared", &info), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* The object lives until the last handle in any process closes. */
AW_TEST(close, last_close_any_peer)
{
	vmshm_pool *p;
	vmshm_ref ref;
	char why[256] = "";
	void *l1 = NULL;
	HANDLE h;
	int rc;

	rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "native attach: %d %s", rc, why);
	rc = vmshm_create(p, VMSHM_TYPE_SHM, "lc", 4096, PAGE_READWRITE, 0, &ref);
	cr_assert_eq(rc, 0, "vmshm_create: %d", rc);
	pattern_fill(ref.addr, 4096, 31);

	SetLastError(0);
	h = rt_create(mode, PAGE_READWRITE, 0, 4096, "lc", &l1);
	assert_ok(h, ERROR_ALREADY_EXISTS, "create of a name made by another peer");
	cr_assert(pattern_ok(l1, 4096, 31));
	cr_assert_eq(vmshm_close(p, &ref), 0);
	cr_assert_eq(tp_objects(), 1, "destroyed while an RtApi handle is open");
	cr_assert(pattern_ok(l1, 4096, 31));
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(tp_objects(), 0);
	cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, "lc", &ref), VMSHM_ENOENT);
	vmshm_detach(p);
}

/* Handle values are not reused soon: an old handle stays invalid. */
Test(close, handles_not_reused, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	enum { N = 2000 };
	static HANDLE seen[N], live[200];
	void *loc = NULL;
	HANDLE old;
	SHARED_MEMORY_INFO qi;

	for (int i = 0; i < N; i++) {
		seen[i] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 100, "reuse", &loc);
		cr_assert_not_null(seen[i]);
		cr_assert(RtCloseHandle(seen[i]));
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < i; j++)
			cr_assert_neq(seen[i], seen[j], "handle %p reused after %d closes", seen[i],
				      i - j);

	/* A closed handle must not come to name a new object. */
	old = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 100, "old", &loc);
	cr_assert(RtCloseHandle(old));
	for (int i = 0; i < 200; i++) {
		char name[32];

		snprintf(name, sizeof name, "live-%d", i);
		live[i] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 100, name, &loc);
		cr_assert_not_null(live[i]);
		cr_assert_neq(live[i], old);
	}
	cr_assert_not(RtQuerySharedMemory(old, &qi));
	cr_assert_not(RtCloseHandle(old));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	cr_assert_eq(tp_objects(), 200, "closing a stale handle closed a live object");
	for (int i = 0; i < 200; i++)
		cr_assert(RtCloseHandle(live[i]));
	cr_assert_eq(tp_objects(), 0);
}

/* RtQuerySharedMemory: flProtect and size of the object, for every handle. */
AW_TEST(query, values)
{
	void *l = NULL;
	HANDLE h = rt_create(mode, SHM_MAP_ALL_ACCESS, 0, 65537, "q", &l);
	HANDLE o;
	SHARED_MEMORY_INFO qi = {0, 0};

	assert_ok(h, 0, "create");
	SetLastError(0);
	cr_assert_not(RtQuerySharedMemory(h, NULL), "query into NULL succeeded");
	cr_assert_eq(GetLastError(), ERROR_INVALID_PARAMETER);
	cr_assert(RtQuerySharedMemory(h, &qi));
	cr_assert_eq(qi.flProtect, SHM_MAP_ALL_ACCESS);
	cr_assert_eq(qi.dwSize, 65537);
	o = rt_open(mode, SHM_MAP_READ, "q", &l);
	assert_ok(o, 0, "open");
	memset(&qi, 0, sizeof qi);
	cr_assert(RtQuerySharedMemory(o, &qi));
	cr_assert_eq(qi.flProtect, SHM_MAP_ALL_ACCESS);
	cr_assert_eq(qi.dwSize, 65537);
	cr_assert(RtCloseHandle(o));
	cr_assert(RtCloseHandle(h));
	SetLastError(0);
	cr_assert_not(RtQuerySharedMemory(h, &qi));
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
}

/* Handles are process-local values, not addresses in or near the pool. */
Test(close, handles_are_not_addresses, .init = tp_setup, .fini = tp_teardown)
{
	void *loc[16];
	HANDLE h[16];

	for (int i = 0; i < 16; i++) {
		char name[32];
		uintptr_t v, l;

		snprintf(name, sizeof name, "addr-%d", i);
		h[i] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, i % 2 ? name : NULL, &loc[i]);
		cr_assert_not_null(h[i]);
		v = (uintptr_t)h[i];
		l = (uintptr_t)loc[i];
		cr_assert(v + tp.size < l || v > l + tp.size,
			  "handle %p lies within the pool's size of its region %p", h[i], loc[i]);
	}
	for (int i = 0; i < 16; i++)
		cr_assert(RtCloseHandle(h[i]));
}
