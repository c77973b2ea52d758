/*
 * test_stale.c - an attach whose peer entry was taken from it (vmshm gc
 * --peer N --force, or its VM declared dead while it still ran) must never
 * drop a reference of the peer that gets the entry next.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "format.h"
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
	/* B forces A out: A lives, so it is fenced; its object dies with its
	 * holder bit (A was its only holder). */
	cr_assert_eq(vmshm_reclaim_peer(b, (uint32_t)ia, VMSHM_RECLAIM_FENCE), 2);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "only-a", &rb), VMSHM_ENOENT);

	/* D attaches: A's entry stays A's while A may still write. */
	vmshm_pool *d = attach();
	cr_assert_neq(vmshm_self(d), ia, "D got the entry of a fenced peer that still runs");
	cr_assert_eq(vmshm_create(d, VMSHM_TYPE_SHM, "held-by-d", 4096, PAGE_READWRITE, 0, &rd), 0);
	memset(rd.addr, 0x6d, 4096);

	/* A, unaware, closes and opens: refused, and D's holder bit stays. */
	cr_assert_eq(vmshm_close(a, &ra), VMSHM_ESTALE);
	cr_assert_eq(vmshm_open(a, VMSHM_TYPE_SHM, "held-by-d", &rb), VMSHM_ESTALE);
	cr_assert_eq(vmshm_reclaim(b), 0, "a fenced peer that still runs was reclaimed");
	vmshm_detach(a); /* unmaps and drops its lock: now provably gone */
	cr_assert_eq(vmshm_reclaim(b), 1, "the fenced entry was not freed once A was gone");

	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "held-by-d", &rb), 0,
		     "D's object was destroyed by the stale peer");
	cr_assert_eq(((unsigned char *)rb.addr)[4095], 0x6d);
	cr_assert_eq(vmshm_close(b, &rb), 0);
	struct vmshm_stats st;
	cr_assert_eq(vmshm_stats(d, &st), 0);
	cr_assert_eq(st.objects, 1);
	cr_assert_eq(st.peers, 2, "peers B and D, got %u", st.peers);
	cr_assert_eq(vmshm_close(d, &rd), 0);
	vmshm_detach(d);
	vmshm_detach(b);
	struct vmshm_stats end = tp_stats();
	cr_assert_eq(end.objects, 0);
	cr_assert_eq(end.peers, 0);
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
	cr_assert_eq(vmshm_reclaim_peer(b, (uint32_t)mine, VMSHM_RECLAIM_FENCE), 2);

	SetLastError(0);
	cr_assert_eq(RtCloseHandle(h), FALSE);
	cr_assert_eq(GetLastError(), ERROR_INVALID_HANDLE);
	HANDLE h2 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "rt-new", &loc2);
	cr_assert_neq(h2, NULL, "no new attach after being forced out: %u", GetLastError());
	cr_assert_eq(GetLastError(), 0);
	cr_assert_eq(RtCloseHandle(h2), TRUE);
	vmshm_detach(b);
}

/* A slot left midway (CREATING) by a peer whose entry is free blocks
 * nobody: a create of its name finishes it at once, and reclaim clears any
 * such slot. (Reached by damage, or by a peer forced out while creating.) */
static void plant_orphan(vmshm_pool *p, const char *name, uint32_t owner)
{
	struct fmt_layout L;
	cr_assert_eq(fmt_load(vmshm_base(p), vmshm_size(p), &L, NULL, 0), 0);
	uint64_t h = fmt_hash(name, strlen(name));
	uint32_t home = (uint32_t)(h & L.slot_mask);
	struct fmt_slot *sl = fmt_slot(&L, home);
	cr_assert_eq(SW_STATE(LD(&sl->state)), VMSHM_OBJ_FREE);
	cr_assert_eq(PW_STATE(LD(&fmt_peer(&L, owner)->state)), VMSHM_PEER_FREE);
	ST(&sl->state, SW_MAKE(1, VMSHM_OBJ_CREATING, VMSHM_TYPE_SHM, owner, fmt_tag(h)));
}

Test(stale, orphaned_create_is_finished, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *p = attach();
	vmshm_ref r;
	struct timespec t0, t1;

	plant_orphan(p, "orphan-a", 40);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, "orphan-a", 4096, 4, 0, &r), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(s, 1.0, "create waited %.2f s for an orphan", s);
	cr_assert_eq(vmshm_close(p, &r), 0);

	plant_orphan(p, "orphan-b", 41);
	cr_assert_eq(vmshm_check(p, NULL, NULL), 1, "the orphan is one 'stuck' fault");
	cr_assert_geq(vmshm_reclaim(p), 0);
	cr_assert_eq(vmshm_check(p, NULL, NULL), 0);
	struct vmshm_stats st;
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	vmshm_detach(p);
}
