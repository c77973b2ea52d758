/*
 * check.c - the consistency check: reads the whole pool, changes nothing,
 * and names every fault it finds. Exact on a quiet pool; while peers work,
 * objects midway through a create or destroy by a live peer are not faults.
 *
 * Linear in slots and pages, by fault family: the header, the peer table,
 * one pass over the slots (state, holders, extent, name), one over a table
 * of the names' hashes (two live objects of one name), one over the page
 * owner words. An extent's pages are walked only up to the first that is
 * not the slot's, and a page is the slot's for one slot only.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One check: where faults go, and what the passes hand on. */
struct ck {
	void (*fn)(const struct vmshm_fault *, void *);
	void *arg;
	int n; /* faults found */
	const struct fmt_layout *L;
	const vmshm_pool *p;
	uint64_t live_bits; /* peer entries not FREE, and bit 0 (the pool) */
	uint64_t *hashes;   /* per slot: the hash of a named live object, or 0 */
	char *name;         /* VMSHM_NAME_MAX_BYTES + 1 */
	uint64_t named;     /* nonzero entries of hashes */
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

/* Is peer word W (entry I) well formed? Aux bits are used by CLAIMING,
 * RECLAIMING and FENCED words only. */
static int peer_word_ok(const struct fmt_layout *L, uint64_t w)
{
	int st = PW_STATE(w);
	return st <= VMSHM_PEER_FENCED &&
	       (st == VMSHM_PEER_CLAIMING || PW_RECLAIMER(w) < L->peer_count) &&
	       (st == VMSHM_PEER_CLAIMING || st == VMSHM_PEER_RECLAIMING ||
		st == VMSHM_PEER_FENCED || !(w & 0xffff0000u));
}

static void check_peers(const vmshm_pool *p, struct ck *c, uint64_t *live_bits)
{
	const struct fmt_layout *L = &p->L;
	*live_bits = 1; /* the pool's own hold */
	for (uint32_t i = 1; i < L->peer_count; i++) {
		uint64_t w = LD(&fmt_peer(L, i)->state);
		int st = PW_STATE(w);
		if (!peer_word_ok(L, w)) {
			fault(c, VMSHM_FAULT_PEER_STATE, i, "peer %u: invalid state word 0x%016llx",
			      i, (unsigned long long)w);
			continue;
		}
		if (st != VMSHM_PEER_FREE)
			*live_bits |= 1ull << i;
		int gone = (st == VMSHM_PEER_ALIVE || st == VMSHM_PEER_CLAIMING ||
			    st == VMSHM_PEER_FENCED) &&
			   peer_judge(p, i, w, NULL, 0) == VMSHM_LIVE_NO;
		if (gone && st == VMSHM_PEER_ALIVE)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: its process is gone (run 'vmshm gc' to reclaim)", i);
		if (gone && st == VMSHM_PEER_CLAIMING)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: attach abandoned midway (run 'vmshm gc' to free the entry)",
			      i);
		if (gone && st == VMSHM_PEER_FENCED)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: fenced, and now gone (run 'vmshm gc' to free the entry)",
			      i);
		if (st == VMSHM_PEER_RECLAIMING && peer_reclaimer_gone(p, w))
			fault(c, VMSHM_FAULT_STUCK, i,
			      "peer %u: its reclaim was abandoned midway (run 'vmshm gc')", i);
		if (st == VMSHM_PEER_DEAD)
			fault(c, VMSHM_FAULT_PEER_DEAD, i,
			      "peer %u: its VM is gone, not yet reclaimed (run 'vmshm gc')", i);
	}
}

/* ---- slots ---------------------------------------------------------------- */

/* The state word of slot S: 1 if it holds a LIVE or CLOSING object (one
 * that may be held) to look into. */
static int check_slot_state(struct ck *c, uint32_t s, uint64_t w)
{
	const struct fmt_layout *L = c->L;
	struct fmt_slot *sl = fmt_slot(L, s);
	int st = SW_STATE(w), type = SW_TYPE(w);
	uint64_t mp = LD(&sl->maxprobe);
	if (mp > L->slot_mask)
		fault(c, VMSHM_FAULT_SLOT_PROBE, s, "slot %u: probe bound %llu beyond table", s,
		      (unsigned long long)mp);
	if (st == VMSHM_OBJ_FREE) {
		/* Holder bits may be left in a free slot by an open that lost
		 * the race with the destroy (docs/FORMAT.md, "Holding"): a create
		 * overwrites them. */
		if (w >> 24)
			fault(c, VMSHM_FAULT_SLOT_STATE, s,
			      "slot %u: free slot with state bits set", s);
		return 0;
	}
	if (st > VMSHM_OBJ_CLOSING || type < VMSHM_TYPE_SHM || type > VMSHM_TYPE_SEMAPHORE ||
	    SW_OWNER(w) >= L->peer_count) {
		fault(c, VMSHM_FAULT_SLOT_STATE, s, "slot %u: invalid state word 0x%016llx", s,
		      (unsigned long long)w);
		return 0;
	}
	if (st != VMSHM_OBJ_LIVE) {
		if (owner_gone(c->p, SW_OWNER(w)))
			fault(c, VMSHM_FAULT_STUCK, s, "slot %u: %s by peer %u, which is gone", s,
			      vmshm_obj_state_name(st), SW_OWNER(w));
		return st == VMSHM_OBJ_CLOSING;
	}
	return 1;
}

/* The holder word H of live slot S, and the hold words behind it. */
static void check_holders(struct ck *c, uint32_t s, uint64_t h)
{
	if (h == 0)
		fault(c, VMSHM_FAULT_HOLDERS, s, "slot %u: live object with no holder", s);
	else if (dir_holders(c->L, s) == 0)
		fault(c, VMSHM_FAULT_HOLDERS, s, "slot %u: live object that no peer holds", s);
	if (h & ~c->live_bits)
		fault(c, VMSHM_FAULT_HOLDERS, s,
		      "slot %u: held by peers that are not attached (bits 0x%llx)", s,
		      (unsigned long long)(h & ~c->live_bits));
}

/* The extent of live slot S (state word W): fits its size and name, and
 * every page of it is marked as the slot's. Returns 0, or -1 if it does
 * not fit. */
static int check_extent(struct ck *c, uint32_t s, uint64_t w)
{
	const struct fmt_layout *L = c->L;
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t size = LD(&sl->size), ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
	uint64_t name_pages = (uint32_t)LD(&sl->len_prot) > FMT_INLINE_NAME ? 1 : 0;
	if (!fmt_extent_fits(L, size, ep, en, name_pages)) {
		fault(c, VMSHM_FAULT_SLOT_EXTENT, s,
		      "slot %u: extent %llu+%llu pages does not fit size %llu in %llu pages", s,
		      (unsigned long long)ep, (unsigned long long)en, (unsigned long long)size,
		      (unsigned long long)L->data_pages);
		return -1;
	}
	uint64_t mine = OW_MAKE(s, SW_GEN(w));
	for (uint64_t pg = ep; pg < ep + en; pg++)
		if (LD(fmt_owner(L, pg)) != mine) {
			fault(c, VMSHM_FAULT_PAGE_OWNER, s,
			      "slot %u: page %llu of its extent is not marked as its own", s,
			      (unsigned long long)pg);
			break;
		}
	return 0;
}

/* The name of live slot S (state word W): length, encoding, hash, probe
 * bound. Returns its hash, or 0 if it has none to compare with others. */
static uint64_t check_name(struct ck *c, uint32_t s, uint64_t w, int ext_bad)
{
	const struct fmt_layout *L = c->L;
	struct fmt_slot *sl = fmt_slot(L, s);
	uint32_t len = (uint32_t)LD(&sl->len_prot), tag = SW_TAG(w);
	if (tag == 0) {
		if (len != 0)
			fault(c, VMSHM_FAULT_SLOT_NAME, s,
			      "slot %u: unnamed object with a name length", s);
		return 0;
	}
	if (len == 0 || len > VMSHM_NAME_MAX_BYTES || (len > FMT_INLINE_NAME && ext_bad)) {
		fault(c, VMSHM_FAULT_SLOT_NAME, s, "slot %u: name length %u invalid", s, len);
		return 0;
	}
	if (dir_read_name(L, s, w, c->name) < 0)
		return 0; /* changed while we read: not a fault */
	uint64_t hash = fmt_hash(c->name, len);
	if (vmshm_name_check(c->name) < 0 || strlen(c->name) != len) {
		fault(c, VMSHM_FAULT_SLOT_NAME, s, "slot %u: name is not valid UTF-8", s);
		return 0;
	}
	if (hash != LD(&sl->hash) || fmt_tag(hash) != tag) {
		fault(c, VMSHM_FAULT_SLOT_NAME, s,
		      "slot %u: name hash does not match the name \"%.60s\"", s, c->name);
		return 0;
	}
	uint32_t home = (uint32_t)(hash & L->slot_mask);
	uint64_t dist = (s - home) & L->slot_mask;
	if (dist > LD(&fmt_slot(L, home)->maxprobe))
		fault(c, VMSHM_FAULT_SLOT_PROBE, s,
		      "slot %u: \"%.60s\" lies %llu slots from home %u, past its bound", s, c->name,
		      (unsigned long long)dist, home);
	return hash;
}

/* Slot S; a named live object with holders leaves its hash in c->hashes. */
static void check_slot(struct ck *c, uint32_t s)
{
	struct fmt_slot *sl = fmt_slot(c->L, s);
	uint64_t w = LD(&sl->state);
	if (!check_slot_state(c, s, w))
		return;
	if (SW_STATE(w) == VMSHM_OBJ_LIVE)
		check_holders(c, s, LD(&sl->holders));
	int ext_bad = check_extent(c, s, w);
	uint64_t hash = check_name(c, s, w, ext_bad);
	if (hash) {
		c->hashes[s] = hash;
		c->named++;
	}
}

/* ---- two live objects of one name ----------------------------------------- */

/* Do slots S and T hold the same name now? NAME gets S's. */
static int same_name(const struct ck *c, uint32_t s, uint32_t t, char *other)
{
	const struct fmt_layout *L = c->L;
	uint64_t ws = LD(&fmt_slot(L, s)->state), wt = LD(&fmt_slot(L, t)->state);
	return dir_read_name(L, s, ws, c->name) > 0 && dir_read_name(L, t, wt, other) > 0 &&
	       strcmp(c->name, other) == 0;
}

/* Every name once, through a table of (hash -> first slot of that name):
 * each later object of a name is reported with the first. Linear. */
static int check_dup_names(struct ck *c)
{
	const struct fmt_layout *L = c->L;
	uint64_t cap = 16;
	while (cap < 2 * c->named)
		cap *= 2;
	uint32_t *first = calloc(cap, sizeof(uint32_t)); /* slot + 1, 0 empty */
	char *other = malloc(VMSHM_NAME_MAX_BYTES + 1);
	if (!first || !other) {
		free(first);
		free(other);
		return VMSHM_EIO;
	}
	for (uint32_t t = 0; t < L->slot_count; t++) {
		uint64_t hash = c->hashes[t];
		if (!hash)
			continue;
		uint64_t i = (hash ^ hash >> 32) & (cap - 1);
		for (; first[i]; i = (i + 1) & (cap - 1)) {
			uint32_t s = first[i] - 1;
			if (c->hashes[s] == hash && same_name(c, s, t, other)) {
				fault(c, VMSHM_FAULT_DUP_NAME, t,
				      "slots %u and %u: both live as \"%.60s\"", s, t, c->name);
				break;
			}
		}
		if (!first[i])
			first[i] = t + 1;
	}
	free(first);
	free(other);
	return 0;
}

/* ---- pages ------------------------------------------------------------------ */

/* Page PG belongs to a slot that claims it. */
static void check_page(struct ck *c, uint64_t pg)
{
	const struct fmt_layout *L = c->L;
	uint64_t o = LD(fmt_owner(L, pg));
	if (!o)
		return;
	uint32_t s = OW_SLOT(o);
	if (s >= L->slot_count || (o >> 56) != 0) {
		fault(c, VMSHM_FAULT_PAGE_LEAK, (uint32_t)pg,
		      "page %llu: owner word names slot %u of %u", (unsigned long long)pg, s,
		      L->slot_count);
		return;
	}
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t w = LD(&sl->state);
	int st = SW_STATE(w);
	if (SW_GEN(w) != OW_GEN(o) || st == VMSHM_OBJ_FREE) {
		fault(c, VMSHM_FAULT_PAGE_LEAK, (uint32_t)pg,
		      "page %llu: owned by slot %u generation %u, which does not hold it",
		      (unsigned long long)pg, s, OW_GEN(o));
		return;
	}
	uint64_t ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
	if ((st == VMSHM_OBJ_LIVE || st == VMSHM_OBJ_CLOSING) && (pg < ep || pg >= ep + en))
		fault(c, VMSHM_FAULT_PAGE_OWNER, (uint32_t)pg,
		      "page %llu: marked as slot %u's but outside its extent",
		      (unsigned long long)pg, s);
}

int vmshm_check(vmshm_pool *p, void (*fn)(const struct vmshm_fault *, void *), void *arg)
{
	if (!p)
		return VMSHM_EINVAL;
	struct ck c = {fn, arg, 0, &p->L, p, 0, NULL, NULL, 0};
	const struct fmt_layout *L = &p->L;
	char what[160];
	if (fmt_header_intact(L, what, sizeof(what)) < 0)
		fault(&c, VMSHM_FAULT_HEADER, 0, "%s", what);
	check_peers(p, &c, &c.live_bits);
	c.name = malloc(VMSHM_NAME_MAX_BYTES + 1);
	c.hashes = calloc(L->slot_count, sizeof(uint64_t));
	int rc = c.name && c.hashes ? 0 : VMSHM_EIO;
	for (uint32_t s = 0; rc == 0 && s < L->slot_count; s++)
		check_slot(&c, s);
	if (rc == 0)
		rc = check_dup_names(&c);
	for (uint64_t pg = 0; rc == 0 && pg < L->data_pages; pg++)
		check_page(&c, pg);
	free(c.name);
	free(c.hashes);
	return rc < 0 ? rc : c.n;
}
