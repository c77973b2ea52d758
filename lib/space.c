/*
 * space.c - the page allocator of the object space.
 *
 * Every data page has a 64-bit owner word: 0 when free, else the slot and
 * slot generation that own it. A run of free pages is a run of zero words,
 * so freed space coalesces by itself. Pages are claimed one compare-and-swap
 * at a time and given back if the run is lost to another peer midway; the
 * slot records the candidate run before claiming it, so that a survivor can
 * give back the pages of a peer that died midway (see reclaim in peer.c).
 */
#include "internal.h"

/* Finds N free pages from START, wrapping once. Returns the first page or -1. */
static int64_t find_run(const struct fmt_layout *L, uint64_t start, uint64_t n)
{
	uint64_t total = L->data_pages, run = 0, first = 0;
	if (n > total)
		return -1;
	if (start + n > total)
		start = 0;
	for (uint64_t seen = 0, p = start; seen < total + n; seen++) {
		if (p == total) { /* wrap: a run never spans the end */
			p = 0;
			run = 0;
		}
		if (atomic_load_explicit(fmt_owner(L, p), memory_order_relaxed) == 0) {
			if (run++ == 0)
				first = p;
			if (run == n)
				return (int64_t)first;
		} else {
			run = 0;
		}
		p++;
	}
	return -1;
}

int64_t space_alloc(const struct fmt_layout *L, uint32_t slot, uint32_t gen, uint64_t pages)
{
	struct fmt_header *h = fmt_hdr(L);
	struct fmt_slot *s = fmt_slot(L, slot);
	uint64_t mine = OW_MAKE(slot, gen);
	uint64_t start = atomic_load_explicit(&h->alloc_hint, memory_order_relaxed);
	if (start >= L->data_pages)
		start = 0;
	for (int tries = 0; tries < 64; tries++) {
		int64_t first = find_run(L, start, pages);
		if (first < 0)
			return VMSHM_ENOSPC;
		/* Record the candidate before claiming any page of it, and move
		 * the hint past it first: a concurrent allocation then looks
		 * beyond the run instead of landing in the middle of it. */
		ST(&s->ext_page, (uint64_t)first);
		ST(&s->ext_pages, pages);
		atomic_store_explicit(&h->alloc_hint, (uint64_t)first + pages,
				      memory_order_relaxed);
		uint64_t i;
		for (i = 0; i < pages; i++) {
			uint64_t zero = 0;
			if (!CAS(fmt_owner(L, (uint64_t)first + i), &zero, mine))
				break;
		}
		if (i == pages)
			return first;
		/* Lost a page to another peer: give back what we took, move on. */
		space_release(L, slot, gen, (uint64_t)first, i);
		start = (uint64_t)first + i + 1;
		if (start >= L->data_pages)
			start = 0;
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
	uint64_t h = atomic_load_explicit(hint, memory_order_relaxed);
	while (page < h && !atomic_compare_exchange_weak(hint, &h, page))
		;
}

/* Gives back pages whose owner slot is FREE at the owner's generation:
 * pages left behind by a peer that died between claiming and recording, or
 * words written by a faulty peer. Returns the number of pages freed. */
uint64_t space_sweep(const struct fmt_layout *L)
{
	uint64_t freed = 0;
	for (uint64_t p = 0; p < L->data_pages; p++) {
		uint64_t o = atomic_load_explicit(fmt_owner(L, p), memory_order_relaxed);
		if (!o)
			continue;
		uint32_t slot = OW_SLOT(o);
		int stale = 0;
		if (slot >= L->slot_count) {
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
