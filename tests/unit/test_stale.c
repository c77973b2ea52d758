/*
 * test_stale.c - an attach whose peer entry was taken from it (vmshm gc
 * --peer N --force, or its VM declared dead while it still ran) must never
 * drop a reference of the peer that gets the entry next.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"

static vmshm_pool *attach(void)
{
	vmshm_pool *p = NULL;
	char why[256] = "";
	int rc = vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof(why));
	cr_assert_eq(rc, 0, "attach: %d %s", rc, why);
	return p;
}

Test(stale, forced_out_peer_cannot_drop_successors_reference, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach(), *b = attach();
	vmshm_ref ra, rd, rb;
	int ia = vmshm_self(a);

	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "only-a", 4096, PAGE_READWRITE, 0, &ra), 0);
	/* B forces A out: A's object dies with it (A was its only holder). */
	cr_assert_eq(vmshm_reclaim_peer(b, (uint32_t)ia, 1), 1);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "only-a", &rb), VMSHM_ENOENT);

	/* D takes A's old entry and holds a new object. */
	vmshm_pool *d = attach();
	cr_assert_eq(vmshm_self(d), ia, "D did not get A's entry (got %d, A had %d)", vmshm_self(d),
		     ia);
	cr_assert_eq(vmshm_create(d, VMSHM_TYPE_SHM, "held-by-d", 4096, PAGE_READWRITE, 0, &rd), 0);
	memset(rd.addr, 0x6d, 4096);

	/* A, unaware, closes and opens: refused, and D's holder bit stays. */
	cr_assert_eq(vmshm_close(a, &ra), VMSHM_ESTALE);
	cr_assert_eq(vmshm_open(a, VMSHM_TYPE_SHM, "held-by-d", &rb), VMSHM_ESTALE);
	vmshm_detach(a); /* unmaps only: the entry is D's now */

	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "held-by-d", &rb), 0,
		     "D's object was destroyed by the stale peer");
	cr_assert_eq(((unsigned char *)rb.addr)[4095], 0x6d);
	cr_assert_eq(vmshm_close(b, &rb), 0);
	cr_assert_eq(vmshm_self(d), ia);
	struct vmshm_stats st;
	cr_assert_eq(vmshm_stats(d, &st), 0);
	cr_assert_eq(st.objects, 1);
	cr_assert_eq(st.peers, 2, "peers B and D, got %u", st.peers);
	cr_assert_eq(vmshm_close(d, &rd), 0);
	vmshm_detach(d);
	vmshm_detach(b);
	struct vmshm_stats end = tp_stats();
	cr_assert_eq(end.objects, 0);
	cr_assert_eq(end.free_bytes, tp.empty.free_bytes);
}

/* RtApi: a process whose peer entry was taken starts again as a new peer;
 * its old handles are invalid (6) and drop nothing. */
Test(stale, rtapi_reattaches_after_forced_out, .init = tp_setup, .fini = tp_teardown)
{
	VOID *loc = NULL, *loc2 = NULL;
	HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "rt-old", &loc);
	cr_assert_neq(h, NULL);
	vmshm_pool *b = attach();
	/* Our RtApi peer is the one that is not B. */
	int mine = vmshm_self(b) == 1 ? 2 : 1;
	cr_assert_eq(vmshm_reclaim_peer(b, (uint32_t)mine, 1), 1);

	SetLastError(0);
	cr_assert_eq(RtCloseHandle(h), FALSE);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	HANDLE h2 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "rt-new", &loc2);
	cr_assert_neq(h2, NULL, "no new attach after being forced out: %u", GetLastError());
	cr_assert_eq(GetLastError(), 0);
	cr_assert_eq(RtCloseHandle(h2), TRUE);
	vmshm_detach(b);
}
