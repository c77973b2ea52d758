/*
 * check.c - the consistency check: reads the whole pool, changes nothing,
 * and names every fault it finds. Exact on a quiet pool; while peers work,
 * objects midway through a create or destroy by a live peer are not faults.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct ck {
	void (*fn)(const struct vmshm_fault *, void *);
	void *arg;
	int n;
};

static void fault(struct ck *c, int code, uint32_t where, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void fault(struct ck *c, int code, uint32_t where, const char *fmt, ...)
{
	struct vmshm_fault f;
	va_list ap;
	f.code = code;
	f.where = where;
	va_start(ap, fmt);
	vsnprintf(f.what, sizeof(f.what), fmt, ap);
	va_end(ap);
	c->n++;
	if (c->fn)
		c->fn(&f, c->arg);
}

const char *vmshm_fault_name(int code)
{
	static const char *const names[] = {
	    "none",       "header",    "slot-state", "slot-name", "slot-extent",
	    "slot-probe", "dup-name",  "page-owner", "page-leak", "holders",
	    "peer-state", "peer-dead", "stuck",
	};
	return code >= 0 && code <= VMSHM_FAULT_STUCK ? names[code] : "invalid";
}

/* Is the peer that owns a transient slot gone? */
static int owner_gone(const vmshm_pool *p, uint32_t owner)
{
	const struct fmt_layout *L = &p->L;
	if (owner == 0 || owner >= L->peer_count)
		return 0; /* damage: slot-state names it */
	uint64_t pw = LD(&fmt_peer(L, owner)->state);
	return PW_STATE(pw) == VMSHM_PEER_FREE ||
	       peer_judge(p, owner, pw, NULL, 0) == VMSHM_LIVE_NO;
}

static void check_peers(const vmshm_pool *p, struct ck *c, uint64_t *live_bits)
{
	const struct fmt_layout *L = &p->L;
	*live_bits = 1; /* the pool's own hold */
	for (uint32_t i = 1; i < L->peer_count; i++) {
		uint64_t w = LD(&fmt_peer(L, i)->state);
		int st = PW_STATE(w);
		if (st > VMSHM_PEER_FENCED || PW_RECLAIMER(w) >= L->peer_count ||
		    (st != VMSHM_PEER_CLAIMING && st != VMSHM_PEER_RECLAIMING &&
		     st != VMSHM_PEER_FENCED && (w & 0xffff0000u))) {
			fault(c, VMSHM_FAULT_PEER_STATE, i, "peer %u: invalid state word 0x%016llx",
			      i, (unsigned long long)w);
			continue;
		}
		if (st != VMSHM_PEER_FREE)
			*live_bits |= 1ull << i;
		if (st == VMSHM_PEER_ALIVE && peer_judge(p, i, w, NULL, 0) == VMSHM_LIVE_NO)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: its process is gone (run 'vmshm gc' to reclaim)", i);
		if (st == VMSHM_PEER_CLAIMING && peer_judge(p, i, w, NULL, 0) == VMSHM_LIVE_NO)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: attach abandoned midway (run 'vmshm gc' to free the entry)",
			      i);
		if (st == VMSHM_PEER_RECLAIMING) {
			if (peer_reclaimer_gone(p, w))
				fault(c, VMSHM_FAULT_STUCK, i,
				      "peer %u: its reclaim was abandoned midway (run 'vmshm gc')",
				      i);
		}
		if (st == VMSHM_PEER_DEAD)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: declared dead, not yet reclaimed", i);
		if (st == VMSHM_PEER_FENCED && peer_judge(p, i, w, NULL, 0) == VMSHM_LIVE_NO)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: fenced, and now gone (run 'vmshm gc' to free the entry)",
			      i);
	}
}

int vmshm_check(vmshm_pool *p, void (*fn)(const struct vmshm_fault *, void *), void *arg)
{
	struct ck c = {fn, arg, 0};
	char what[160];
	if (!p)
		return VMSHM_EINVAL;
	const struct fmt_layout *L = &p->L;
	if (fmt_header_intact(L, what, sizeof(what)) < 0)
		fault(&c, VMSHM_FAULT_HEADER, 0, "%s", what);

	uint64_t live_bits;
	check_peers(p, &c, &live_bits);

	char *name = malloc(VMSHM_NAME_MAX_BYTES + 1);
	uint64_t *hashes = calloc(L->slot_count, sizeof(uint64_t));
	if (!name || !hashes) {
		free(name);
		free(hashes);
		return VMSHM_EIO;
	}
	for (uint32_t s = 0; s < L->slot_count; s++) {
		struct fmt_slot *sl = fmt_slot(L, s);
		uint64_t w = LD(&sl->state);
		int st = SW_STATE(w), type = SW_TYPE(w);
		uint64_t mp = LD(&sl->maxprobe);
		if (mp > L->slot_mask)
			fault(&c, VMSHM_FAULT_SLOT_PROBE, s,
			      "slot %u: probe bound %llu beyond table", s, (unsigned long long)mp);
		if (st == VMSHM_OBJ_FREE) {
			if (w >> 24 || LD(&sl->holders))
				fault(&c, VMSHM_FAULT_SLOT_STATE, s,
				      "slot %u: free slot with state bits or holders set", s);
			continue;
		}
		if (st > VMSHM_OBJ_ABORTED || type < VMSHM_TYPE_SHM ||
		    type > VMSHM_TYPE_SEMAPHORE || SW_OWNER(w) >= L->peer_count) {
			fault(&c, VMSHM_FAULT_SLOT_STATE, s,
			      "slot %u: invalid state word 0x%016llx", s, (unsigned long long)w);
			continue;
		}
		if (st != VMSHM_OBJ_LIVE) {
			if (owner_gone(p, SW_OWNER(w)))
				fault(&c, VMSHM_FAULT_STUCK, s,
				      "slot %u: %s by peer %u, which is gone", s,
				      vmshm_obj_state_name(st), SW_OWNER(w));
			continue;
		}
		/* A live object: its holders, extent and name. */
		uint64_t h = LD(&sl->holders);
		if (h == 0)
			fault(&c, VMSHM_FAULT_HOLDERS, s, "slot %u: live object with no holder", s);
		if (h & ~live_bits)
			fault(&c, VMSHM_FAULT_HOLDERS, s,
			      "slot %u: held by peers that are not attached (bits 0x%llx)", s,
			      (unsigned long long)(h & ~live_bits));
		uint64_t lp = LD(&sl->len_prot), size = LD(&sl->size);
		uint64_t ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
		uint32_t len = (uint32_t)lp;
		uint64_t name_pages = len > FMT_INLINE_NAME ? 1 : 0;
		int ext_bad = 0;
		if (en == 0 ? (size || name_pages)
			    : (!fmt_extent_ok(L, ep, en) || en < name_pages ||
			       en - name_pages < fmt_pages_for(size))) {
			fault(
			    &c, VMSHM_FAULT_SLOT_EXTENT, s,
			    "slot %u: extent %llu+%llu pages does not fit size %llu in %llu pages",
			    s, (unsigned long long)ep, (unsigned long long)en,
			    (unsigned long long)size, (unsigned long long)L->data_pages);
			ext_bad = 1;
		}
		if (!ext_bad) {
			uint64_t mine = OW_MAKE(s, SW_GEN(w));
			for (uint64_t pg = ep; pg < ep + en; pg++)
				if (LD(fmt_owner(L, pg)) != mine) {
					fault(&c, VMSHM_FAULT_PAGE_OWNER, s,
					      "slot %u: page %llu of its extent is not marked as "
					      "its own",
					      s, (unsigned long long)pg);
					break;
				}
		}
		uint32_t tag = SW_TAG(w);
		if (tag == 0) {
			if (len != 0)
				fault(&c, VMSHM_FAULT_SLOT_NAME, s,
				      "slot %u: unnamed object with a name length", s);
			continue;
		}
		if (len == 0 || len > VMSHM_NAME_MAX_BYTES || (name_pages && ext_bad)) {
			fault(&c, VMSHM_FAULT_SLOT_NAME, s, "slot %u: name length %u invalid", s,
			      len);
			continue;
		}
		if (dir_read_name(L, s, w, name) < 0)
			continue; /* changed while we read: not a fault */
		uint64_t hash = fmt_hash(name, len);
		if (vmshm_name_check(name) < 0 || strlen(name) != len) {
			fault(&c, VMSHM_FAULT_SLOT_NAME, s, "slot %u: name is not valid UTF-8", s);
			continue;
		}
		if (hash != LD(&sl->hash) || fmt_tag(hash) != tag) {
			fault(&c, VMSHM_FAULT_SLOT_NAME, s,
			      "slot %u: name hash does not match the name \"%.60s\"", s, name);
			continue;
		}
		uint32_t home = (uint32_t)(hash & L->slot_mask);
		uint64_t dist = (s - home) & L->slot_mask;
		if (dist > LD(&fmt_slot(L, home)->maxprobe))
			fault(&c, VMSHM_FAULT_SLOT_PROBE, s,
			      "slot %u: \"%.60s\" lies %llu slots from home %u, past its bound", s,
			      name, (unsigned long long)dist, home);
		if (h != 0) /* a zero-holder object is dying: it may share its name */
			hashes[s] = hash;
	}
	/* Two live objects of one name. */
	for (uint32_t s = 0; s < L->slot_count; s++) {
		if (!hashes[s])
			continue;
		for (uint32_t t = s + 1; t < L->slot_count; t++) {
			if (hashes[t] != hashes[s])
				continue;
			char other[VMSHM_NAME_MAX_BYTES + 1];
			uint64_t ws = LD(&fmt_slot(L, s)->state), wt = LD(&fmt_slot(L, t)->state);
			if (dir_read_name(L, s, ws, name) > 0 &&
			    dir_read_name(L, t, wt, other) > 0 && strcmp(name, other) == 0)
				fault(&c, VMSHM_FAULT_DUP_NAME, t,
				      "slots %u and %u: both live as \"%.60s\"", s, t, name);
		}
	}
	/* Every used page belongs to a slot that claims it. */
	for (uint64_t pg = 0; pg < L->data_pages; pg++) {
		uint64_t o = LD(fmt_owner(L, pg));
		if (!o)
			continue;
		uint32_t s = OW_SLOT(o);
		if (s >= L->slot_count) {
			fault(&c, VMSHM_FAULT_PAGE_LEAK, (uint32_t)pg,
			      "page %llu: owner word names slot %u of %u", (unsigned long long)pg,
			      s, L->slot_count);
			continue;
		}
		struct fmt_slot *sl = fmt_slot(L, s);
		uint64_t w = LD(&sl->state);
		int st = SW_STATE(w);
		if (SW_GEN(w) != OW_GEN(o) || st == VMSHM_OBJ_FREE) {
			fault(&c, VMSHM_FAULT_PAGE_LEAK, (uint32_t)pg,
			      "page %llu: owned by slot %u generation %u, which does not hold it",
			      (unsigned long long)pg, s, OW_GEN(o));
			continue;
		}
		uint64_t ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
		if (st == VMSHM_OBJ_LIVE && (pg < ep || pg >= ep + en))
			fault(&c, VMSHM_FAULT_PAGE_OWNER, (uint32_t)pg,
			      "page %llu: marked as slot %u's but outside its extent",
			      (unsigned long long)pg, s);
	}
	free(name);
	free(hashes);
	return c.n;
}
