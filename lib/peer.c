/*
 * peer.c - the peer table: attach and detach, liveness, and reclaim of dead
 * peers. A peer is one attach of one process; its index N (1..63) is its
 * holder bit in every slot, so dropping a dead peer's references is one
 * atomic AND per slot, exact and idempotent.
 */
#include <string.h>

#include "internal.h"

static void write_identity(struct fmt_peer *pe, const struct plat_ident *id, int32_t ivpos)
{
	uint64_t boot[2], comm[2];
	memcpy(boot, id->boot_id, 16);
	memcpy(comm, id->comm, 16);
	/* The pid goes last: a judge reads it first, and once it is set the
	 * boot id, start stamp and OS are too. Until then only the claim's age
	 * (FMT_CLAIM_STALE_S) can free the entry. */
	ST(&pe->boot[0], boot[0]);
	ST(&pe->boot[1], boot[1]);
	ST(&pe->start, id->start_time);
	ST(&pe->os_ivpos, (uint64_t)id->os | ((uint64_t)(uint32_t)ivpos << 32));
	ST(&pe->pid, id->pid);
	ST(&pe->attached_ns, plat_wall_ns());
	ST(&pe->comm[0], comm[0]);
	ST(&pe->comm[1], comm[1]);
}

static void clear_identity(struct fmt_peer *pe)
{
	ST(&pe->pid, 0);
	ST(&pe->boot[0], 0);
	ST(&pe->boot[1], 0);
	ST(&pe->start, 0);
	ST(&pe->os_ivpos, 0);
	ST(&pe->attached_ns, 0);
	ST(&pe->comm[0], 0);
	ST(&pe->comm[1], 0);
}

void peer_read(const struct fmt_layout *L, uint32_t i, struct vmshm_peerinfo *out)
{
	struct fmt_peer *pe = fmt_peer(L, i);
	uint64_t w = LD(&pe->state), oi = LD(&pe->os_ivpos), boot[2], comm[2];
	memset(out, 0, sizeof(*out));
	out->index = i;
	out->gen = PW_GEN(w);
	out->state = PW_STATE(w);
	out->reclaimer = PW_RECLAIMER(w);
	out->os = (int)(uint32_t)oi;
	out->ivposition = (int32_t)(uint32_t)(oi >> 32);
	out->pid = LD(&pe->pid);
	out->start_time = LD(&pe->start);
	out->attached_ns = LD(&pe->attached_ns);
	boot[0] = LD(&pe->boot[0]);
	boot[1] = LD(&pe->boot[1]);
	comm[0] = LD(&pe->comm[0]);
	comm[1] = LD(&pe->comm[1]);
	memcpy(out->boot_id, boot, 16);
	memcpy(out->comm, comm, 16);
	out->comm[15] = 0;
	static const char hex[] = "0123456789abcdef";
	char *v = out->vm;
	for (int b = 0; b < 16; b++) {
		if (b == 4 || b == 6 || b == 8 || b == 10)
			*v++ = '-';
		*v++ = hex[out->boot_id[b] >> 4];
		*v++ = hex[out->boot_id[b] & 15];
	}
	*v = 0;
	out->liveness = peer_judge(L, i, w);
}

static int zero16(const uint8_t *b)
{
	for (int i = 0; i < 16; i++)
		if (b[i])
			return 0;
	return 1;
}

static uint32_t now_stamp(void)
{
	return (uint32_t)(plat_wall_ns() / 1000000000u) & 0xffffu;
}

/* Is the stamp of a CLAIMING or self-RECLAIMING word older than the limit? */
int peer_stamp_stale(uint64_t w)
{
	return ((now_stamp() - PW_STAMP(w)) & 0xffffu) > FMT_CLAIM_STALE_S;
}

/* Is the reclaimer of peer I (RECLAIMING word W) gone? One reclaiming on
 * I's own behalf is, once its stamp is stale. */
int peer_reclaimer_gone(const struct fmt_layout *L, uint32_t i, uint64_t w)
{
	uint32_t r = PW_RECLAIMER(w);
	if (r == i)
		return peer_stamp_stale(w);
	if (r == 0 || r >= L->peer_count)
		return 1; /* never written by vmshm: damage */
	return peer_judge(L, r, LD(&fmt_peer(L, r)->state)) == VMSHM_LIVE_NO;
}

/* Can this process tell whether peer I (state word W) is alive? */
int peer_judge(const struct fmt_layout *L, uint32_t i, uint64_t w)
{
	struct fmt_peer *pe = fmt_peer(L, i);
	int st = PW_STATE(w);
	if (i == 0 || i >= L->peer_count)
		return VMSHM_LIVE_UNKNOWN;
	if (st == VMSHM_PEER_FREE || st == VMSHM_PEER_DEAD || st == VMSHM_PEER_RECLAIMING)
		return VMSHM_LIVE_NO;
	if (st != VMSHM_PEER_ALIVE && st != VMSHM_PEER_CLAIMING)
		return VMSHM_LIVE_UNKNOWN; /* garbage: vmshm check names it */
	uint64_t pid = LD(&pe->pid), start = LD(&pe->start), oi = LD(&pe->os_ivpos);
	uint64_t boot[2] = {LD(&pe->boot[0]), LD(&pe->boot[1])};
	if (zero16((const uint8_t *)boot) || pid == 0) {
		/* Killed (or stopped for long) within its first steps of attach:
		 * such an entry holds nothing yet, so freeing it loses nothing. */
		if (st == VMSHM_PEER_CLAIMING && peer_stamp_stale(w) && LD(&pe->state) == w)
			return VMSHM_LIVE_NO;
		return VMSHM_LIVE_UNKNOWN;
	}
	int live = plat_liveness((uint32_t)oi, pid, start, (const uint8_t *)boot);
	/* The entry may have changed while we looked: judge only a stable one. */
	if (LD(&pe->state) != w)
		return VMSHM_LIVE_UNKNOWN;
	return live;
}

int peer_attach(vmshm_pool *p)
{
	const struct fmt_layout *L = &p->L;
	for (uint32_t i = 1; i < L->peer_count; i++) {
		struct fmt_peer *pe = fmt_peer(L, i);
		uint64_t w = LD(&pe->state);
		if (PW_STATE(w) != VMSHM_PEER_FREE)
			continue;
		uint32_t gen = PW_GEN(w) + 1;
		uint64_t cw = PW_MAKE(gen, VMSHM_PEER_CLAIMING, 0) | (uint64_t)now_stamp() << 16;
		if (!CAS(&pe->state, &w, cw))
			continue;
		write_identity(pe, &p->ident, p->map.ivposition);
		uint64_t aw = PW_MAKE(gen, VMSHM_PEER_ALIVE, 0);
		if (!CAS(&pe->state, &cw, aw))
			continue; /* forced out while claiming: look for another */
		p->self = i;
		p->self_gen = gen;
		return 0;
	}
	return VMSHM_ENOPEER;
}

void peer_detach(vmshm_pool *p)
{
	const struct fmt_layout *L = &p->L;
	if (!p->self)
		return;
	uint64_t bit = 1ull << p->self;
	for (uint32_t s = 0; s < L->slot_count; s++) {
		if (p->refs[s].count) {
			p->refs[s].count = 0;
			dir_drop_bit(L, s, bit, p->self);
		}
	}
	struct fmt_peer *pe = fmt_peer(L, p->self);
	uint64_t w = PW_MAKE(p->self_gen, VMSHM_PEER_ALIVE, 0);
	if (LD(&pe->state) == w) {
		clear_identity(pe);
		CAS(&pe->state, &w, PW_MAKE(p->self_gen, VMSHM_PEER_FREE, 0));
	}
	p->self = 0;
}

/* Drops every trace of dead peer I: its holder bits, and the creates and
 * destroys it left midway (rolled back or finished). */
static void scrub(const struct fmt_layout *L, uint32_t i, uint32_t me)
{
	uint64_t bit = 1ull << i;
	for (uint32_t s = 0; s < L->slot_count; s++) {
		struct fmt_slot *sl = fmt_slot(L, s);
		dir_drop_bit(L, s, bit, me);
		uint64_t w = LD(&sl->state);
		int st = SW_STATE(w);
		if (SW_OWNER(w) == i && (st == VMSHM_OBJ_CREATING || st == VMSHM_OBJ_ABORTED ||
					 st == VMSHM_OBJ_DYING)) {
			uint64_t dw =
			    SW_MAKE(SW_GEN(w), VMSHM_OBJ_DYING, SW_TYPE(w), me, SW_TAG(w));
			if (CAS(&sl->state, &w, dw))
				dir_finish_destroy(L, s, dw, me);
		}
	}
}

/* An attach with no peer entry (an observer, or one that found the table
 * full) reclaims peer I on I's own behalf: it records I as the reclaimer,
 * with a stamp, and I as the owner of anything it destroys. If it dies
 * midway, the next reclaimer takes over once the stamp is stale and finds
 * everything it left marked as I's. No entry index 0 is ever recorded. */
int peer_reclaim_one(vmshm_pool *p, uint32_t i, int force)
{
	const struct fmt_layout *L = &p->L;
	if (i == 0 || i >= L->peer_count || i == p->self)
		return VMSHM_EINVAL;
	uint32_t me = p->self ? p->self : i;
	struct fmt_peer *pe = fmt_peer(L, i);
	for (;;) {
		uint64_t w = LD(&pe->state);
		int st = PW_STATE(w);
		if (st == VMSHM_PEER_FREE)
			return 0;
		if (st == VMSHM_PEER_ALIVE || st == VMSHM_PEER_CLAIMING) {
			if (!force && peer_judge(L, i, w) != VMSHM_LIVE_NO)
				return 0;
		} else if (st == VMSHM_PEER_RECLAIMING) {
			/* Take over only from a reclaimer that is itself gone. */
			if (!force && !peer_reclaimer_gone(L, i, w))
				return 0;
		} else if (st != VMSHM_PEER_DEAD && !force) {
			return 0;
		}
		uint64_t rw = PW_MAKE(PW_GEN(w), VMSHM_PEER_RECLAIMING, me);
		if (me == i)
			rw |= (uint64_t)now_stamp() << 16;
		if (!CAS(&pe->state, &w, rw))
			continue;
		scrub(L, i, me);
		clear_identity(pe);
		CAS(&pe->state, &rw, PW_MAKE(PW_GEN(w), VMSHM_PEER_FREE, 0));
		return 1;
	}
}

int vmshm_reclaim(vmshm_pool *p)
{
	int rc, n = 0;
	if (!p)
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	const struct fmt_layout *L = &p->L;
	for (uint32_t i = 1; i < L->peer_count; i++) {
		if (i == p->self)
			continue;
		uint64_t w = LD(&fmt_peer(L, i)->state);
		if (PW_STATE(w) == VMSHM_PEER_FREE || peer_judge(L, i, w) != VMSHM_LIVE_NO)
			continue;
		if (peer_reclaim_one(p, i, 0) > 0)
			n++;
	}
	/* Objects whose last holder died between its AND and its destroy
	 * (a destroyer must own a peer entry, so observers leave this). */
	for (uint32_t s = 0; p->self && s < L->slot_count; s++) {
		dir_help_destroy(L, s, p->self);
		dir_take_orphan(L, s, p->self);
	}
	if (n)
		space_sweep(L);
	return n;
}

int vmshm_reclaim_peer(vmshm_pool *p, uint32_t index, int force)
{
	int rc;
	if (!p)
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	rc = peer_reclaim_one(p, index, force);
	if (rc > 0)
		space_sweep(&p->L);
	return rc;
}

int vmshm_reclaim_vm(vmshm_pool *p, const uint8_t *boot_id, int32_t ivposition)
{
	int rc, n = 0;
	if (!p || (!boot_id && ivposition < 0))
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	const struct fmt_layout *L = &p->L;
	for (uint32_t i = 1; i < L->peer_count; i++) {
		if (i == p->self)
			continue;
		struct fmt_peer *pe = fmt_peer(L, i);
		uint64_t w = LD(&pe->state);
		int st = PW_STATE(w);
		if (st != VMSHM_PEER_ALIVE && st != VMSHM_PEER_CLAIMING && st != VMSHM_PEER_DEAD)
			continue;
		uint64_t boot[2] = {LD(&pe->boot[0]), LD(&pe->boot[1])};
		int32_t iv = (int32_t)(uint32_t)(LD(&pe->os_ivpos) >> 32);
		int match = boot_id ? memcmp(boot, boot_id, 16) == 0
				    : (iv == ivposition && st != VMSHM_PEER_CLAIMING);
		if (!match)
			continue;
		if (st != VMSHM_PEER_DEAD &&
		    !CAS(&pe->state, &w, PW_MAKE(PW_GEN(w), VMSHM_PEER_DEAD, 0)))
			continue;
		if (peer_reclaim_one(p, i, 0) > 0)
			n++;
	}
	if (n)
		space_sweep(L);
	return n;
}
