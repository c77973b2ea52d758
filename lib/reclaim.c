/*
 * reclaim.c - giving back what gone peers left, and fencing off a peer an
 * operator cuts off. It sits above the directory and the peer table: it
 * acts on the judge's word (peer.c) with the directory's own steps (dir.c).
 *
 * A peer is reclaimed only when it provably can never write to the pool
 * again: the judge says GONE, or its VM was declared gone by one who saw its
 * QEMU end (DEAD). A peer that an operator forces out while it may still
 * run is FENCED instead: its holder bits are dropped and its half-made
 * objects aborted, but its index and those objects stay its own until it is
 * proven gone, so nothing it may still write can land on another peer's.
 */
#include <string.h>

#include "internal.h"

/* Finishes or rolls back what peer I left midway: every slot CREATING,
 * ABORTED or DYING with owner I is destroyed by ME; one CLOSING (its last
 * close was judging it) goes back to LIVE and is judged again. */
static void finish_inflight(const struct fmt_layout *L, uint32_t i, uint32_t me)
{
	for (uint32_t s = 0; s < L->slot_count; s++) {
		struct fmt_slot *sl = fmt_slot(L, s);
		uint64_t w = LD(&sl->state);
		int st = SW_STATE(w);
		if (SW_OWNER(w) == i && st == VMSHM_OBJ_CLOSING) {
			dir_rollback(L, s, i, me);
			continue;
		}
		if (SW_OWNER(w) != i ||
		    (st != VMSHM_OBJ_CREATING && st != VMSHM_OBJ_ABORTED && st != VMSHM_OBJ_DYING))
			continue;
		uint64_t dw = SW_MAKE(SW_GEN(w), VMSHM_OBJ_DYING, SW_TYPE(w), me, SW_TAG(w));
		if (CAS(&sl->state, &w, dw))
			dir_finish_destroy(L, s, dw, me);
	}
}

/* Drops I's hold and holder bits everywhere; ME destroys what that leaves
 * unheld. */
static void drop_bits(const struct fmt_layout *L, uint32_t i, uint32_t me)
{
	for (uint32_t s = 0; s < L->slot_count; s++)
		dir_drop_peer(L, s, i, me);
}

/* The fence's steps, safe to repeat: bit I dropped (objects left without
 * holders destroyed by ME, the fencer, as its own work), and every CREATING
 * slot of I aborted, so that its publish fails. ABORTED and DYING slots of
 * I are left alone: I may still be writing their fields. */
static void fence_steps(vmshm_pool *p, uint32_t i, uint32_t me)
{
	const struct fmt_layout *L = &p->L;
	drop_bits(L, i, me);
	sync_scrub_peer(p, i); /* its mutexes abandoned, its waits forgotten */
	for (uint32_t s = 0; s < L->slot_count; s++) {
		struct fmt_slot *sl = fmt_slot(L, s);
		uint64_t w = LD(&sl->state);
		while (SW_OWNER(w) == i && SW_STATE(w) == VMSHM_OBJ_CREATING) {
			uint64_t aw =
			    SW_MAKE(SW_GEN(w), VMSHM_OBJ_ABORTED, SW_TYPE(w), i, SW_TAG(w));
			if (CAS(&sl->state, &w, aw))
				break;
		}
	}
}

/* Reclaims entry I (word W, its occupant proven gone or DEAD, or an
 * abandoned reclaim). One CAS to RECLAIMING picks one reclaimer; the
 * scrub is safe to repeat, so a takeover simply does it again. */
static int reclaim_entry(vmshm_pool *p, uint32_t i, uint64_t w)
{
	const struct fmt_layout *L = &p->L;
	struct fmt_peer *pe = fmt_peer(L, i);
	uint64_t rw = PW_WITH_AUX(PW_MAKE(PW_GEN(w), VMSHM_PEER_RECLAIMING, p->self), p->self_gen);
	if (!CAS(&pe->state, &w, rw))
		return 0;
	test_stop_point("reclaim");
	drop_bits(L, i, p->self);
	sync_scrub_peer(p, i);
	finish_inflight(L, i, p->self);
	CAS(&pe->state, &rw, PW_MAKE(PW_GEN(w), VMSHM_PEER_FREE, 0));
	return 1;
}

/* Reclaims peer I if it is proven gone: 1 reclaimed, 0 not. A FENCED
 * entry also waits for its fencer to be done or gone. */
int reclaim_one(vmshm_pool *p, uint32_t i)
{
	const struct fmt_layout *L = &p->L;
	if (!p->self || i == 0 || i >= L->peer_count || i == p->self)
		return 0;
	for (;;) {
		uint64_t w = LD(&fmt_peer(L, i)->state);
		switch (PW_STATE(w)) {
		case VMSHM_PEER_FREE:
			return 0;
		case VMSHM_PEER_RECLAIMING:
			if (!peer_reclaimer_gone(p, w))
				return 0;
			break;
		case VMSHM_PEER_DEAD:
			break;
		case VMSHM_PEER_FENCED:
			if (PW_RECLAIMER(w) && !peer_reclaimer_gone(p, w))
				return 0;
			/* fall through */
		default:
			if (peer_judge(p, i, w, NULL, 0) != VMSHM_LIVE_NO)
				return 0;
		}
		if (reclaim_entry(p, i, w))
			return 1;
	}
}

/* Scrubs what the earlier occupant of our own entry left (after
 * peer_inherit): we hold nothing yet, so every bit and half-made object
 * under our index is its. */
void reclaim_inherited(vmshm_pool *p)
{
	drop_bits(&p->L, p->self, p->self);
	sync_scrub_peer(p, p->self);
	finish_inflight(&p->L, p->self, p->self);
}

/* Cuts peer I off (an operator's word that it is gone, which may be
 * wrong): 1 fenced, 0 nothing to fence. The FENCED word names the fencer
 * until its steps are done, so that a fencer that dies midway is taken over
 * (and no reclaim of I overlaps a fencer that may still be writing). */
static int fence_one(vmshm_pool *p, uint32_t i)
{
	struct fmt_peer *pe = fmt_peer(&p->L, i);
	uint64_t fw = 0;
	for (;;) {
		uint64_t w = LD(&pe->state);
		int st = PW_STATE(w);
		if (st == VMSHM_PEER_FENCED && (!PW_RECLAIMER(w) || !peer_reclaimer_gone(p, w)))
			return 1; /* done, or being done by a live fencer */
		if (st != VMSHM_PEER_ALIVE && st != VMSHM_PEER_CLAIMING && st != VMSHM_PEER_DEAD &&
		    st != VMSHM_PEER_FENCED)
			return 0;
		/* A claim whose identity is incomplete is not fenced: nothing
		 * could ever judge it then; 30 s after its claim it is taken
		 * over anyway (and it holds nothing). */
		if (st == VMSHM_PEER_CLAIMING && !peer_ident_complete(p, i, PW_GEN(w)))
			return 0;
		fw = PW_WITH_AUX(PW_MAKE(PW_GEN(w), VMSHM_PEER_FENCED, p->self), p->self_gen);
		if (CAS(&pe->state, &w, fw))
			break;
	}
	test_stop_point("fence");
	fence_steps(p, i, p->self);
	CAS(&pe->state, &fw, PW_MAKE(PW_GEN(fw), VMSHM_PEER_FENCED, 0));
	return 1;
}

/* The operator's second word on a FENCED entry: it is gone, free it. */
static int release_fenced(vmshm_pool *p, uint32_t i)
{
	uint64_t w = LD(&fmt_peer(&p->L, i)->state);
	if (PW_STATE(w) != VMSHM_PEER_FENCED)
		return 0;
	return reclaim_entry(p, i, w);
}

static int reclaim_pass(vmshm_pool *p)
{
	const struct fmt_layout *L = &p->L;
	int n = 0, more;
	/* Again while a pass frees someone: a reclaim abandoned by a peer
	 * reclaimed later in the pass is taken over in the next. */
	do {
		more = 0;
		for (uint32_t i = 1; i < L->peer_count; i++) {
			uint64_t w = LD(&fmt_peer(L, i)->state);
			if (i != p->self && PW_STATE(w) != VMSHM_PEER_FREE)
				more += reclaim_one(p, i);
		}
		n += more;
	} while (more);
	/* Objects whose last holder died between its hold bit and its
	 * judgment, and half-made objects whose owner's entry is free. */
	for (uint32_t s = 0; s < L->slot_count; s++) {
		dir_judge(L, s, p->self);
		dir_take_orphan(L, s, p->self);
	}
	if (n)
		space_sweep(L);
	return n;
}

int vmshm_reclaim(vmshm_pool *p)
{
	int rc;
	if (!p)
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	if (!p->self)
		return VMSHM_EPERM; /* an observer writes nothing */
	plat_lock_take(&p->lock);
	rc = reclaim_pass(p);
	plat_lock_give(&p->lock);
	return rc;
}

int vmshm_reclaim_peer(vmshm_pool *p, uint32_t index, int force)
{
	int rc;
	if (!p || index == 0 || index >= p->L.peer_count || force < 0 ||
	    force > VMSHM_RECLAIM_RELEASE)
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	if (index == p->self)
		return VMSHM_EINVAL;
	if (!p->self)
		return VMSHM_EPERM; /* an observer writes nothing */
	plat_lock_take(&p->lock);
	if (force == VMSHM_RECLAIM_FENCE) {
		rc = reclaim_one(p, index);
		if (rc == 0 && fence_one(p, index))
			rc = 2;
	} else if (force == VMSHM_RECLAIM_RELEASE) {
		rc = release_fenced(p, index);
	} else {
		rc = reclaim_one(p, index);
	}
	if (rc == 1)
		space_sweep(&p->L);
	plat_lock_give(&p->lock);
	return rc;
}

static int vm_match(const vmshm_pool *p, uint32_t i, uint64_t w, const uint8_t *boot_id,
		    int32_t ivposition)
{
	uint8_t boot[16];
	int32_t iv;
	if (!peer_vm(p, i, PW_GEN(w), boot, &iv))
		return 0;
	return boot_id ? memcmp(boot, boot_id, 16) == 0 : iv == ivposition;
}

int vmshm_reclaim_vm(vmshm_pool *p, const uint8_t *boot_id, int32_t ivposition)
{
	int rc, n = 0;
	if (!p || (!boot_id && ivposition < 0))
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	if (!p->self)
		return VMSHM_EPERM;
	const struct fmt_layout *L = &p->L;
	plat_lock_take(&p->lock);
	for (uint32_t i = 1; i < L->peer_count; i++) {
		struct fmt_peer *pe = fmt_peer(L, i);
		uint64_t w = LD(&pe->state);
		int st = PW_STATE(w);
		if (i == p->self ||
		    (st != VMSHM_PEER_ALIVE && st != VMSHM_PEER_FENCED && st != VMSHM_PEER_DEAD))
			continue;
		if (!vm_match(p, i, w, boot_id, ivposition))
			continue;
		/* A fencer at work may still be writing under index I. */
		if (st == VMSHM_PEER_FENCED && PW_RECLAIMER(w) && !peer_reclaimer_gone(p, w))
			continue;
		/* A peer this process sees alive is not of a VM that is gone:
		 * the caller named the wrong VM (this one, say). */
		if (peer_judge(p, i, w, NULL, 0) == VMSHM_LIVE_YES)
			continue;
		if (st != VMSHM_PEER_DEAD &&
		    !CAS(&pe->state, &w, PW_MAKE(PW_GEN(w), VMSHM_PEER_DEAD, 0)))
			continue;
		n += reclaim_one(p, i);
	}
	if (n)
		space_sweep(L);
	plat_lock_give(&p->lock);
	return n;
}
