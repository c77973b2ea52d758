/*
 * space.c - the page allocator of the object space.
 *
 * Every data page has a 64-bit owner word: 0 when free, else the slot and
 * slot generation that own it. A run of free pages is a run of zero words,
 * so freed space coalesces by itself. Pages are claimed one compare-and-swap
 * at a time and given back if the run is lost to another peer midway; the
 * slot records the candidate run before claiming it, so that a survivor can
 * give back the pages of a peer that died midway (see reclaim in peer.c).
 *
 * A search that meets an owned page skips the whole run its owner recorded:
 * a run being claimed or given back by another peer is not free space, and
 * a search that started inside it would land off the grid the other runs
 * keep. A lost race or a search that found nothing is searched again from
 * the same start; ENOSPC only when two searches in a row saw the same owned
 * pages (no peer moved in between) and found no run.
 */
#include "internal.h"

/* Searches in one call to space_alloc, whatever happens. */
#define SEARCH_MAX 64
/* Times one search looks again at a page that changed under it. */
#define RELOOK_MAX 16

/* One search: what it saw of the owned pages. */
struct search {
	uint64_t sig;     /* mix of every owned page and owner word seen */
	unsigned relooks; /* pages looked at again */
};

/* The page a search looks at after finding page P owned by O: past the run
 * the owner recorded if that run holds P, else the next page. A word that
 * changed while the run was read is looked at again (a bounded number of
 * times): the run read may belong to the next owner. */
static uint64_t past_owned(const struct fmt_layout *L, uint64_t p, uint64_t o, struct search *sr)
{
	uint32_t s = OW_SLOT(o);
	sr->sig = (sr->sig ^ o ^ (p << 40)) * 0x9e3779b97f4a7c15ull;
	if (s >= L->slot_count)
		return p + 1;
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
	if (LD(fmt_owner(L, p)) != o && sr->relooks < RELOOK_MAX) {
		sr->relooks++;
		return p;
	}
	if (fmt_extent_ok(L, ep, en) && ep <= p && p - ep < en)
		return ep + en;
	return p + 1;
}

/* The first run of N free pages in [LO, HI), or -1. */
static int64_t run_in(const struct fmt_layout *L, uint64_t lo, uint64_t hi, uint64_t n,
		      struct search *sr)
{
	uint64_t run = 0;
	for (uint64_t p = lo; p < hi;) {
		uint64_t o = LD(fmt_owner(L, p));
		if (o == 0) {
			if (++run == n)
				return (int64_t)(p + 1 - n);
			p++;
			continue;
		}
		uint64_t next = past_owned(L, p, o, sr);
		if (next != p) /* else the run so far still counts */
			run = 0;
		p = next;
	}
	return -1;
}

/* Finds N free pages from START, wrapping once (a run never spans the
 * end). Returns the first page or -1. */
static int64_t find_run(const struct fmt_layout *L, uint64_t start, uint64_t n, struct search *sr)
{
	uint64_t total = L->data_pages;
	if (n > total)
		return -1;
	if (start + n > total)
		start = 0;
	int64_t first = run_in(L, start, total, n, sr);
	if (first < 0 && start > 0)
		first = run_in(L, 0, start + n - 1 < total ? start + n - 1 : total, n, sr);
	return first;
}

/* CASes the owner words of [FIRST, FIRST + N) from 0 to MINE, in order.
 * Returns the number taken: N, or fewer when a page was lost. */
static uint64_t claim_run(const struct fmt_layout *L, uint64_t mine, uint64_t first, uint64_t n)
{
	uint64_t i;
	for (i = 0; i < n; i++) {
		uint64_t zero = 0;
		if (!CAS(fmt_owner(L, first + i), &zero, mine))
			break;
	}
	return i;
}

int64_t space_alloc(const struct fmt_layout *L, uint32_t slot, uint32_t gen, uint64_t pages)
{
	struct fmt_header *h = fmt_hdr(L);
	struct fmt_slot *s = fmt_slot(L, slot);
	uint64_t start = LD(&h->alloc_hint), last_sig = 0;
	int failed_before = 0;
	if (start >= L->data_pages)
		start = 0;
	for (int tries = 0; tries < SEARCH_MAX; tries++) {
		struct search sr = {0, 0};
		int64_t first = find_run(L, start, pages, &sr);
		if (first < 0) {
			/* Nothing found: final only if nobody moved since the
			 * last search that found nothing. */
			if (failed_before && sr.sig == last_sig)
				return VMSHM_ENOSPC;
			failed_before = 1;
			last_sig = sr.sig;
			continue;
		}
		/* Record the candidate before claiming any page of it, and move
		 * the hint past it first: a concurrent allocation then looks
		 * beyond the run instead of landing in the middle of it. */
		ST(&s->ext_page, (uint64_t)first);
		ST(&s->ext_pages, pages);
		ST(&h->alloc_hint, (uint64_t)first + pages);
		uint64_t got = claim_run(L, OW_MAKE(slot, gen), (uint64_t)first, pages);
		if (got == pages)
			return first;
		/* Lost a page to another peer: give back what we took and
		 * search again from the same start, where the run we lost
		 * may be free again. */
		space_release(L, slot, gen, (uint64_t)first, got);
		failed_before = 0;
	}
	return VMSHM_ENOSPC;
}

void space_release(const struct fmt_layout *L, uint32_t slot, uint32_t gen, uint64_t page,
		   uint64_t pages)
{
	uint64_t mine = OW_MAKE(slot, gen);
	if (!pages || !fmt_extent_ok(L, page, pages))
		return;
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t expect = mine;
		CAS(fmt_owner(L, page + i), &expect, 0);
	}
	/* The next search starts at the lowest freed page: space is reused
	 * while it is still mapped and warm, and the pool stays packed. */
	_Atomic uint64_t *hint = &fmt_hdr(L)->alloc_hint;
	uint64_t h = LD(hint);
	while (page < h && !CAS(hint, &h, page))
		;
}

/* Gives back pages whose owner slot is FREE at the owner's generation:
 * pages left behind by a peer that died between claiming and recording, or
 * words written by a faulty peer. Returns the number of pages freed. */
uint64_t space_sweep(const struct fmt_layout *L)
{
	uint64_t freed = 0;
	for (uint64_t p = 0; p < L->data_pages; p++) {
		uint64_t o = LD(fmt_owner(L, p));
		if (!o)
			continue;
		uint32_t slot = OW_SLOT(o);
		int stale = 0;
		if (slot >= L->slot_count || (o >> 56) != 0) { /* bits 56-63: reserved */
			stale = 1;
		} else {
			uint64_t w = LD(&fmt_slot(L, slot)->state);
			int st = SW_STATE(w);
			if (SW_GEN(w) != OW_GEN(o)) {
				/* A newer generation of the slot never owns older pages. */
				stale = 1;
			} else if (st == VMSHM_OBJ_FREE) {
				stale = 1;
			}
		}
		if (stale && CAS(fmt_owner(L, p), &o, 0))
			freed++;
	}
	return freed;
}
