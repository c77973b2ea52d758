/*
 * dir.c - the directory of named objects: lookup, create, open, close and
 * destroy, as compare-and-swap state machines on the slot words of
 * format.h. docs/FORMAT.md ("Protocols") gives the rules and the reasons.
 *
 * Names live in an open-addressed table: a name's home slot is hash & mask;
 * it may sit up to maxprobe[home] slots further. Lookups take no lock and
 * never wait. A slot's life: FREE -> CREATING -> LIVE -> DYING -> FREE
 * (or CREATING -> ABORTED -> FREE when a concurrent creator of the same name
 * wins). Who holds an object is one 64-bit word of holder bits, so "last
 * close destroys" and "open only if not yet dying" are single atomic steps.
 */
#include <string.h>

#include "internal.h"

#define RETRY DIR_RETRY

int dir_name_prepare(const char *utf8, struct dir_name *n)
{
	memset(n, 0, sizeof(*n));
	if (!utf8)
		return 0;
	/* The length, then the hash a word at a time; an ASCII name (no byte
	 * with bit 7 set) is one UTF-16 unit a byte and needs no other check. */
	size_t len = strlen(utf8);
	if (len == 0 || len > VMSHM_NAME_MAX_BYTES) {
		int rc = vmshm_name_check(utf8);
		return rc < 0 ? rc : VMSHM_ENAMELEN;
	}
	uint64_t all;
	n->hash = fmt_hash_words((const unsigned char *)utf8, len, &all, &n->last);
	if (len > VMSHM_NAME_MAX_UNITS || (all & 0x8080808080808080ull)) {
		int rc = vmshm_name_check(utf8);
		if (rc < 0)
			return rc;
	}
	n->bytes = utf8;
	n->len = (uint32_t)len;
	n->last_mask = ~0ull >> (8 * (7 - (len - 1) % 8)); /* the last word's 1..8 bytes */
	return 0;
}

static uint32_t name_len(uint64_t len_prot)
{
	return (uint32_t)(len_prot & 0xffffffffu);
}

/* A slot's name bytes are read while another peer may be writing them (a
 * lookup meets a slot being reused); the reader re-checks the state word
 * afterwards and drops what it read. So both sides access the bytes as
 * relaxed atomics: plain loads and stores on the CPU, no data race in C11. */
static void name_get(char *dst, const char *shared, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		dst[i] = __atomic_load_n(&shared[i], __ATOMIC_RELAXED);
}

/* The name's bytes compared a word at a time: a slot's name field and a
 * name page start 8-byte aligned, and the word that holds the last bytes
 * lies within the field (176 bytes) or the page, so whole words are read
 * and the bytes past the name masked off. */
typedef uint64_t __attribute__((__may_alias__)) name_word;
static inline int name_same(const char *shared, const struct dir_name *n)
{
	const name_word *sw = (const name_word *)(const void *)shared;
	uint32_t last = (n->len - 1) / 8;
	for (uint32_t k = 0; k < last; k++) {
		uint64_t b;
		memcpy(&b, n->bytes + 8 * k, 8);
		if (__atomic_load_n(&sw[k], __ATOMIC_RELAXED) != b)
			return 0;
	}
	return (__atomic_load_n(&sw[last], __ATOMIC_RELAXED) & n->last_mask) == n->last;
}

static void name_put(char *shared, const char *bytes, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		__atomic_store_n(&shared[i], bytes[i], __ATOMIC_RELAXED);
}

/* Where the name of slot S is stored, or NULL if its fields are invalid. */
static const char *name_ptr(const struct fmt_layout *L, uint32_t s, uint32_t len)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	if (len == 0 || len > VMSHM_NAME_MAX_BYTES)
		return NULL;
	if (len <= FMT_INLINE_NAME)
		return sl->name;
	uint64_t ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
	if (en < 1 || !fmt_extent_ok(L, ep, en))
		return NULL;
	return (const char *)fmt_page(L, ep);
}

int dir_read_name(const struct fmt_layout *L, uint32_t s, uint64_t w, char *buf)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint32_t len = name_len(LD(&sl->len_prot));
	buf[0] = 0;
	if (SW_TAG(w) == 0)
		return 0;
	const char *src = name_ptr(L, s, len);
	if (!src)
		return -1;
	name_get(buf, src, len);
	buf[len] = 0;
	atomic_thread_fence(memory_order_acquire);
	if (LD(&sl->state) != w)
		return -1;
	return (int)len;
}

/* Is slot S (seen with state word W) the object named N? */
static inline int name_equal(const struct fmt_layout *L, uint32_t s, uint64_t w,
			     const struct dir_name *n)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	if (LD(&sl->hash) != n->hash || name_len(LD(&sl->len_prot)) != n->len)
		return 0;
	const char *src = name_ptr(L, s, n->len);
	if (!src || !name_same(src, n))
		return 0;
	atomic_thread_fence(memory_order_acquire);
	return LD(&sl->state) == w;
}

static inline uint64_t probe_bound(const struct fmt_layout *L, uint32_t home)
{
	uint64_t m = LD(&fmt_slot(L, home)->maxprobe);
	return m > L->slot_mask ? L->slot_mask : m;
}

/* Finds the LIVE object named N. Returns its slot and state word, or -1.
 * *BUSY receives a slot where an object of the same tag is being created
 * (-1 if none). */
static inline int64_t chain_find(const struct fmt_layout *L, const struct dir_name *n,
				 uint64_t *wout, int64_t *busy)
{
	uint32_t home = (uint32_t)(n->hash & L->slot_mask), tag = fmt_tag(n->hash);
	uint64_t maxp = probe_bound(L, home);
	*busy = -1;
	for (uint64_t d = 0; d <= maxp; d++) {
		uint32_t i = (uint32_t)((home + d) & L->slot_mask);
		uint64_t w = LD(&fmt_slot(L, i)->state);
		if (SW_TAG(w) != tag)
			continue;
		int st = SW_STATE(w);
		if (st == VMSHM_OBJ_LIVE && name_equal(L, i, w, n)) {
			*wout = w;
			return i;
		}
		if (st == VMSHM_OBJ_CREATING)
			*busy = i;
	}
	return -1;
}

int dir_finish_destroy(const struct fmt_layout *L, uint32_t s, uint64_t w, uint32_t me)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	(void)me;
	space_release(L, s, SW_GEN(w), LD(&sl->ext_page), LD(&sl->ext_pages));
	ST(&sl->holders, 0);
	ST(&sl->size, 0);
	ST(&sl->ext_page, 0);
	ST(&sl->ext_pages, 0);
	ST(&sl->len_prot, 0);
	ST(&sl->hash, 0);
	ST(&sl->created_ns, 0);
	ST(&sl->turn, 0);
	uint64_t expect = w;
	return CAS(&sl->state, &expect, SW_MAKE(SW_GEN(w), VMSHM_OBJ_FREE, 0, 0, 0)) ? 0 : -1;
}

/* Destroys slot S if it is LIVE with no holder left. Any peer may do it; the
 * compare-and-swap to DYING picks exactly one. */
int dir_help_destroy(const struct fmt_layout *L, uint32_t s, uint32_t me)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t w = LD(&sl->state);
	if (SW_STATE(w) != VMSHM_OBJ_LIVE || LD(&sl->holders) != 0)
		return 0;
	uint64_t dw = SW_MAKE(SW_GEN(w), VMSHM_OBJ_DYING, SW_TYPE(w), me, SW_TAG(w));
	if (!CAS(&sl->state, &w, dw))
		return 0;
	dir_finish_destroy(L, s, dw, me);
	return 1;
}

/* Finishes slot S if it is midway through a create or destroy by a peer
 * whose entry is free: nobody owns that work any more (its reclaim ran, or
 * the entry was forced out, or the slot word was damaged). */
int dir_take_orphan(const struct fmt_layout *L, uint32_t s, uint32_t me)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t w = LD(&sl->state);
	int st = SW_STATE(w);
	uint32_t owner = SW_OWNER(w);
	if (st != VMSHM_OBJ_CREATING && st != VMSHM_OBJ_ABORTED && st != VMSHM_OBJ_DYING)
		return 0;
	if (owner != 0 && owner < L->peer_count &&
	    PW_STATE(LD(&fmt_peer(L, owner)->state)) != VMSHM_PEER_FREE)
		return 0;
	uint64_t dw = SW_MAKE(SW_GEN(w), VMSHM_OBJ_DYING, SW_TYPE(w), me, SW_TAG(w));
	if (!CAS(&sl->state, &w, dw))
		return 0;
	dir_finish_destroy(L, s, dw, me);
	return 1;
}

int dir_drop_bit(const struct fmt_layout *L, uint32_t s, uint64_t bit, uint32_t me)
{
	/* Whoever leaves the word at zero helps the object die (the help
	 * checks again, by compare-and-swap, that it is LIVE with no holder).
	 * Tested on the result only, the and is one locked instruction (gcc
	 * makes it a lock and), not a compare-and-swap loop. */
	if ((atomic_fetch_and(&fmt_slot(L, s)->holders, ~bit) & ~bit) == 0)
		return dir_help_destroy(L, s, me);
	return 0;
}

/* Fills OUT from slot S (state W) after validating its fields. */
static inline int fill_ref(const struct fmt_layout *L, uint32_t s, uint64_t w, vmshm_ref *out)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t size = LD(&sl->size), ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
	uint64_t lp = LD(&sl->len_prot);
	uint64_t name_pages = name_len(lp) > FMT_INLINE_NAME ? 1 : 0;
	if (en == 0 ? (size != 0 || name_pages)
		    : (!fmt_extent_ok(L, ep, en) || en < name_pages ||
		       (en - name_pages) < fmt_pages_for(size))) {
		memset(out, 0, sizeof(*out));
		return VMSHM_ECORRUPT;
	}
	out->slot = s; /* every field: no memset on the way */
	out->gen = SW_GEN(w);
	out->addr = size ? fmt_page(L, ep + name_pages) : NULL;
	out->size = size;
	out->type = (uint32_t)SW_TYPE(w);
	out->protect = (uint32_t)(lp >> 32);
	return 0;
}

/* Is our peer entry still ours? Not once an operator fenced us. */
static int self_ok(const vmshm_pool *p)
{
	return LD(&fmt_peer(&p->L, p->self)->state) == PW_MAKE(p->self_gen, VMSHM_PEER_ALIVE, 0);
}

#ifdef VMSHM_BENCH_COUNTERS
_Thread_local uint64_t vmshm_bench_retries, vmshm_bench_waits;
#endif

/* How many pauses a thread lets the one that holds the turn go first
 * before it takes the turn away: that thread may have been preempted. */
#define LREF_DEFER 64

/* A thread's WAITER below: 0 until it loses a race on the word, then
 * LREF_WAITING; LREF_OWNER while it holds the turn (it set LREF_TURN). */
#define LREF_WAITING 1
#define LREF_OWNER   2

/* lref_load's wait: while the word is busy and, unless the caller holds
 * the turn, while another thread does. That wait is bounded: a turn that
 * outlasts LREF_DEFER pauses of it (the pauses on a busy word do not
 * count) is taken away. Returns a word that is not busy. */
__attribute__((__noinline__, __cold__)) static uint64_t lref_wait(local_ref *r, uint64_t v,
								  int waiter)
{
	for (unsigned spins = 0, turn_spins = 0;; spins++) {
		if (!(v & LREF_BUSY)) {
			if (waiter == LREF_OWNER || !(v & LREF_TURN))
				return v;
			if (turn_spins++ >= LREF_DEFER &&
			    atomic_compare_exchange_strong(r, &v, v & ~LREF_TURN))
				return v & ~LREF_TURN;
		}
		BENCH_WAIT();
		if (spins < 64)
			plat_relax();
		else
			plat_yield(); /* the other thread may have been preempted */
		v = atomic_load_explicit(r, memory_order_acquire);
	}
}

/* Waits until no other thread of this attach is adding or dropping its
 * holder bit on the slot's object and, unless the caller holds the turn
 * (WAITER), until no other thread does; returns the local reference word
 * then. */
HOT_INLINE uint64_t lref_load(local_ref *r, int waiter)
{
	uint64_t v = atomic_load_explicit(r, memory_order_acquire);
	return v & (LREF_BUSY | LREF_TURN) ? lref_wait(r, v, waiter) : v;
}

/* After this thread's compare-and-swap on R failed (the word is now V):
 * it takes the turn (LREF_TURN), after the thread that holds it if one
 * does, and returns the word to try again with once it holds it. While a
 * thread holds the turn, every other thread waits (bounded), and a
 * compare-and-swap that read the word before the bit was set fails: so
 * the holder's next try meets no change but a busy thread's, which it has
 * waited out, and gets through (unless the turn was taken away from it
 * meanwhile, after the bounded wait).
 *
 * The bit is never set on a busy word on purpose: the busy thread's
 * release (a load and a store) could lose it. If it was set just as
 * another thread made the word busy, it is looked at again afterwards. */
__attribute__((__noinline__, __cold__)) static uint64_t lref_lost(local_ref *r, uint64_t v,
								  int *waiter)
{
	BENCH_RETRY();
	if (!*waiter)
		*waiter = LREF_WAITING;
	for (;;) {
		v = lref_wait(r, v, *waiter);
		if (*waiter == LREF_OWNER) {
			if (v & LREF_TURN)
				return v;
			*waiter = LREF_WAITING; /* it was lost or taken away: take it again */
		}
		uint64_t old = atomic_fetch_or(r, LREF_TURN);
		if (!(old & LREF_TURN))
			*waiter = LREF_OWNER;
		v = old | LREF_TURN;
	}
}

/* The word a thread writes in place of V: V's LREF_TURN is kept unless the
 * thread holds it (it has had its turn now). */
static inline uint64_t lref_turn(uint64_t v, int waiter)
{
	return waiter == LREF_OWNER ? 0 : v & LREF_TURN;
}

/* A thread that held the turn leaves without changing the count. */
__attribute__((__cold__)) static void lref_unwait(local_ref *r, int waiter)
{
	if (waiter == LREF_OWNER)
		atomic_fetch_and(r, ~LREF_TURN);
}

/* Ends this thread's busy time on R: the word becomes V, with the
 * LREF_TURN of a thread that took the turn meanwhile (the only bit
 * another thread may set while the word is busy; lref_lost looks again at
 * a bit it set on a busy word). */
static void lref_release(local_ref *r, uint64_t v)
{
	if (!plat_single_threaded())
		v |= atomic_load_explicit(r, memory_order_relaxed) & LREF_TURN;
	atomic_store_explicit(r, v, memory_order_release);
}

/* Sets slot S's local reference to V once no other thread is midway. */
static void lref_set(local_ref *r, uint64_t v)
{
	int waiter = 0;
	uint64_t old = lref_load(r, 0);
	while (!local_cas(r, &old, v | lref_turn(old, waiter)))
		old = lref_lost(r, old, &waiter);
}

/* ---- turns: fairness between peers on one holder word ---------------------
 * A peer whose compare-and-swap on an object's holder word failed writes its
 * token (peer index + 1) into the slot's turn word; the other peers wait,
 * bounded, before they change that holder word, so that it gets through.
 * The word is a hint: no rule depends on its value. A token left behind
 * (its peer died, or is slow) costs one bounded wait, and the peer that
 * waited it out clears it. */
#define TURN_DEFER 64

__attribute__((__noinline__, __cold__)) static void turn_wait_slow(_Atomic uint64_t *t,
								   uint64_t tok, uint64_t v)
{
	for (unsigned spins = 0; spins < TURN_DEFER; spins++) {
		BENCH_WAIT();
		plat_relax();
		v = atomic_load_explicit(t, memory_order_relaxed);
		if (v == 0 || v == tok)
			return;
	}
	atomic_compare_exchange_strong(t, &v, 0); /* it outlasted the wait */
}

/* Before this peer (token TOK) changes slot SL's holder word: waits while
 * another peer has the turn, for at most TURN_DEFER pauses. */
HOT_INLINE void turn_wait(struct fmt_slot *sl, uint64_t tok)
{
	uint64_t v = atomic_load_explicit(&sl->turn, memory_order_relaxed);
	if (v != 0 && v != tok)
		turn_wait_slow(&sl->turn, tok, v);
}

/* After its compare-and-swap on SL's holder word failed: this peer takes
 * the turn unless another one has it. 1 if it holds the turn now. */
__attribute__((__noinline__, __cold__)) static int turn_take(struct fmt_slot *sl, uint64_t tok)
{
	uint64_t v = 0;
	return atomic_compare_exchange_strong(&sl->turn, &v, tok) || v == tok;
}

void dir_turn_give(const struct fmt_layout *L, uint32_t s, uint32_t i)
{
	uint64_t v = fmt_turn_token(i);
	atomic_compare_exchange_strong(&fmt_slot(L, s)->turn, &v, 0);
}

/* Adds this attach as a holder of slot S, seen LIVE with word W. */
HOT_INLINE int join(vmshm_pool *p, uint32_t s, uint64_t w)
{
	const struct fmt_layout *L = &p->L;
	struct fmt_slot *sl = fmt_slot(L, s);
	local_ref *r = &p->refs[s];
	uint32_t gen = SW_GEN(w);
	int waiter = 0;
	uint64_t v = lref_load(r, 0);
	for (;;) {
		if (LREF_COUNT(v) > 0 &&
		    LREF_GEN(v) != gen) { /* we hold another object of this slot */
			lref_unwait(r, waiter);
			return self_ok(p) ? RETRY : VMSHM_ESTALE; /* W is old, or we were fenced */
		}
		if (LREF_COUNT(v) > 0) {
			/* we hold it already: it cannot die meanwhile */
			if (local_cas(r, &v, ((v & ~LREF_TURN) + 1) | lref_turn(v, waiter)))
				return 0;
		} else if (local_mark_busy(r, &v, waiter == LREF_OWNER ? LREF_TURN : 0)) {
			break; /* ours to add the holder bit */
		}
		v = lref_lost(r, v, &waiter);
	}
	v &= ~(LREF_BUSY | LREF_TURN); /* what the word was before: count 0 */
	int rc = 0, turn = 0;
	uint64_t tok = fmt_turn_token(p->self);
	turn_wait(sl, tok);
	uint64_t bit = 1ull << p->self, h = LD(&sl->holders);
	for (;;) {
		if (h == 0) { /* its last holder is gone: help it die, then look again */
			dir_help_destroy(L, s, p->self);
			rc = RETRY;
			break;
		}
		if (CAS(&sl->holders, &h, h | bit))
			break;
		BENCH_RETRY();
		/* The others let us through next. Taken again after each loss:
		 * a peer that waited for the turn longer than it waits clears it. */
		if (turn_take(sl, tok)) {
			if (!turn)
				plat_relax(); /* a change one of them was making lands */
			turn = 1;
			h = LD(&sl->holders);
		}
	}
	if (turn)
		dir_turn_give(L, s, p->self);
	/* Our bit was there already only if another thread of this attach
	 * created a later object in this slot (and counted its reference
	 * first): that bit is the creator's, not ours to drop. */
	uint64_t ours = rc == 0 && !(h & bit) ? bit : 0;
	if (rc == 0 && LD(&sl->state) != w) {
		if (ours)
			dir_drop_bit(L, s, ours, p->self);
		rc = RETRY;
	} else if (rc == 0 && !self_ok(p)) { /* fenced meanwhile: the bit is still ours to drop */
		if (ours)
			dir_drop_bit(L, s, ours, p->self);
		rc = VMSHM_ESTALE;
	}
	lref_release(r, rc == 0 ? LREF_MAKE(gen, 1) : v);
	return rc;
}

/* Drops one reference of this attach to slot S's object of generation GEN,
 * and the holder bit with the last one. VMSHM_EINVAL if it holds none. */
HOT_INLINE int unjoin(vmshm_pool *p, uint32_t s, uint32_t gen)
{
	local_ref *r = &p->refs[s];
	int waiter = 0;
	uint64_t v = lref_load(r, 0);
	for (;;) {
		if (LREF_COUNT(v) == 0 || LREF_GEN(v) != gen) {
			lref_unwait(r, waiter);
			return VMSHM_EINVAL;
		}
		if (LREF_COUNT(v) > 1) {
			if (local_cas(r, &v, ((v & ~LREF_TURN) - 1) | lref_turn(v, waiter)))
				return 0;
		} else if (local_mark_busy(r, &v, waiter == LREF_OWNER ? LREF_TURN : 0)) {
			break;
		}
		v = lref_lost(r, v, &waiter);
	}
	turn_wait(fmt_slot(&p->L, s), fmt_turn_token(p->self));
	dir_drop_bit(&p->L, s, 1ull << p->self, p->self);
	lref_release(r, LREF_MAKE(gen, 0));
	return 0;
}

/* Waits, bounded, for the creator of slot S to finish. DIR_REAP when that
 * creator may be gone (the caller, above the directory, reclaims it). */
static int wait_other(vmshm_pool *p, uint32_t s, struct dir_ctx *wt)
{
	uint64_t now = plat_now_ns();
	if (wt->deadline == 0)
		wt->deadline = now + WAIT_OTHER_NS;
	uint64_t w = LD(&fmt_slot(&p->L, s)->state);
	uint32_t owner = SW_OWNER(w);
	if (SW_STATE(w) == VMSHM_OBJ_CREATING && owner > 0 && owner < p->L.peer_count &&
	    owner != p->self && wt->gone_owner != owner) {
		uint64_t pw = LD(&fmt_peer(&p->L, owner)->state);
		if (peer_judge(p, owner, pw, NULL, 0) == VMSHM_LIVE_NO) {
			wt->gone_owner = owner;
			return DIR_REAP;
		}
	}
	dir_take_orphan(&p->L, s, p->self);
	if (now > wt->deadline)
		return VMSHM_EBUSY;
	/* Creates take microseconds: yield at first, then sleep, so that a
	 * long wait does not burn a core the creator may need. */
	if (wt->deadline - now > WAIT_OTHER_NS - 1000000u)
		plat_yield();
	else
		plat_sleep_us(100);
	return RETRY;
}

/* Gives up our CREATING (or ABORTED) slot S of generation GEN. */
static void abandon(const struct fmt_layout *L, uint32_t s, uint32_t gen, uint32_t me)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	for (;;) {
		uint64_t w = LD(&sl->state);
		if (SW_GEN(w) != gen || SW_OWNER(w) != me ||
		    (SW_STATE(w) != VMSHM_OBJ_CREATING && SW_STATE(w) != VMSHM_OBJ_ABORTED))
			return;
		uint64_t dw = SW_MAKE(gen, VMSHM_OBJ_DYING, SW_TYPE(w), me, SW_TAG(w));
		if (CAS(&sl->state, &w, dw)) {
			dir_finish_destroy(L, s, dw, me);
			return;
		}
	}
}

/* After claiming slot I at distance D from HOME, settles races with other
 * creators of the same name: the one nearer home wins. Returns 0 to go on,
 * RETRY when we must give up our slot and look again. */
static int settle(const struct fmt_layout *L, const struct dir_name *n, uint32_t home, uint64_t d,
		  uint32_t i)
{
	uint32_t tag = fmt_tag(n->hash);
	/* A Dekker pattern: our claim (a store) must be ordered before the
	 * reads of the other claims, and theirs before their reads of ours:
	 * the claim CAS and these reads are all sequentially consistent. */
	uint64_t maxp = atomic_load_explicit(&fmt_slot(L, home)->maxprobe, memory_order_seq_cst);
	if (maxp > L->slot_mask)
		maxp = L->slot_mask;
	for (uint64_t d2 = 0; d2 <= maxp; d2++) {
		uint32_t j = (uint32_t)((home + d2) & L->slot_mask);
		if (j == i)
			continue;
		struct fmt_slot *sj = fmt_slot(L, j);
		uint64_t w2 = atomic_load_explicit(&sj->state, memory_order_seq_cst);
		while (SW_TAG(w2) == tag) {
			int st = SW_STATE(w2);
			if (st == VMSHM_OBJ_LIVE) {
				if (name_equal(L, j, w2, n) && LD(&sj->holders) != 0)
					return RETRY; /* it exists: open it instead */
				break;
			}
			if (st != VMSHM_OBJ_CREATING)
				break;
			if (d2 < d)
				return RETRY; /* the nearer creator wins; we wait for it */
			uint64_t aw = SW_MAKE(SW_GEN(w2), VMSHM_OBJ_ABORTED, SW_TYPE(w2),
					      SW_OWNER(w2), SW_TAG(w2));
			if (CAS(&sj->state, &w2, aw))
				break;
			/* w2 now holds the newer word: look at it again */
		}
	}
	return 0;
}

static int claim_slot(vmshm_pool *p, int type, const struct dir_name *n, uint32_t *slot,
		      uint64_t *word, uint64_t *dist, uint32_t *homep)
{
	const struct fmt_layout *L = &p->L;
	static _Atomic uint32_t spread;
	uint32_t home, tag = 0;
	if (n->bytes) {
		home = (uint32_t)(n->hash & L->slot_mask);
		tag = fmt_tag(n->hash);
	} else {
		home =
		    (uint32_t)((atomic_fetch_add(&spread, 0x9e3779b9u) ^ p->self) & L->slot_mask);
	}
	struct fmt_slot *hs = fmt_slot(L, home);
	for (uint64_t d = 0; d <= L->slot_mask; d++) {
		uint32_t i = (uint32_t)((home + d) & L->slot_mask);
		struct fmt_slot *sl = fmt_slot(L, i);
		uint64_t w = LD(&sl->state);
		if (SW_STATE(w) != VMSHM_OBJ_FREE)
			continue;
		if (n->bytes) { /* lookups must see as far as we go */
			uint64_t m = LD(&hs->maxprobe);
			while (m < d && !CAS(&hs->maxprobe, &m, d))
				;
		}
		uint64_t nw =
		    SW_MAKE(SW_GEN_NEXT(SW_GEN(w)), VMSHM_OBJ_CREATING, type, p->self, tag);
		if (!CAS(&sl->state, &w, nw)) {
			BENCH_RETRY(); /* taken meanwhile: the next slot */
			continue;
		}
		*slot = i;
		*word = nw;
		*dist = d;
		*homep = home;
		return 0;
	}
	return VMSHM_ENOSLOT;
}

static int add_pool_hold(struct fmt_slot *sl)
{
	uint64_t h = LD(&sl->holders);
	do {
		if (h == 0)
			return RETRY;
	} while (!CAS(&sl->holders, &h, h | 1u));
	return 0;
}

int dir_create(vmshm_pool *p, int type, const struct dir_name *n, uint64_t size, uint32_t protect,
	       unsigned flags, vmshm_ref *out, struct dir_ctx *wt)
{
	const struct fmt_layout *L = &p->L;
	uint64_t pages = fmt_pages_for(size);
	uint64_t name_pages = n->len > FMT_INLINE_NAME ? 1 : 0;
	for (;;) {
		if (n->bytes) {
			uint64_t w;
			int64_t busy;
			int64_t i = chain_find(L, n, &w, &busy);
			if (i >= 0) {
				uint32_t s = (uint32_t)i;
				if (SW_TYPE(w) != type)
					return VMSHM_ETYPE;
				if (flags & VMSHM_EXCL)
					return VMSHM_EEXIST;
				int rc = join(p, s, w);
				if (rc == RETRY) {
					BENCH_RETRY();
					continue;
				}
				if (rc < 0)
					return rc;
				rc = fill_ref(L, s, w, out);
				if (rc == 0 && size > out->size)
					rc = VMSHM_ETOOBIG;
				if (rc == 0 && (flags & VMSHM_PERSIST) &&
				    add_pool_hold(fmt_slot(L, s)) == RETRY)
					rc = RETRY;
				if (rc != 0)
					unjoin(p, s, SW_GEN(w));
				if (rc == RETRY) {
					BENCH_RETRY();
					continue;
				}
				return rc < 0 ? rc : 1;
			}
			if (busy >= 0) {
				int rc = wait_other(p, (uint32_t)busy, wt);
				if (rc < 0 || rc == DIR_REAP)
					return rc;
				continue;
			}
		}
		if (pages + name_pages > L->data_pages)
			return VMSHM_ENOSPC;
		uint32_t s, home;
		uint64_t nw, d;
		int rc = claim_slot(p, type, n, &s, &nw, &d, &home);
		if (rc < 0)
			return rc;
		uint32_t gen = SW_GEN(nw);
		test_stop_point("create");
		if (n->bytes && settle(L, n, home, d, s) == RETRY) {
			BENCH_RETRY();
			abandon(L, s, gen, p->self);
			continue;
		}
		struct fmt_slot *sl = fmt_slot(L, s);
		ST(&sl->size, size);
		ST(&sl->len_prot, (uint64_t)n->len | ((uint64_t)protect << 32));
		ST(&sl->hash, n->hash);
		ST(&sl->created_ns, plat_wall_coarse_ns()); /* shown, never judged */
		ST(&sl->turn, 0);
		if (n->len && !name_pages)
			name_put(sl->name, n->bytes, n->len);
		if (pages + name_pages) {
			int64_t first = space_alloc(L, s, gen, pages + name_pages);
			if (first < 0) {
				abandon(L, s, gen, p->self);
				return (int)first;
			}
			memset(fmt_page(L, (uint64_t)first), 0, (pages + name_pages) * FMT_PAGE);
			if (name_pages)
				name_put((char *)fmt_page(L, (uint64_t)first), n->bytes, n->len);
			if (wt->init) {
				struct fmt_sync *b =
				    (struct fmt_sync *)fmt_page(L, (uint64_t)first + name_pages);
				ST(&b->state, wt->init[0]);
				ST(&b->param, wt->init[1]);
				ST(&b->depth, wt->init[2]);
			}
		}
		/* Our reference is counted before the object can be found: once
		 * it is LIVE another thread of this attach may open and close it,
		 * and its close must not take our holder bit with it. (lref_set
		 * waits for a thread still finishing an older object of this
		 * slot.) */
		lref_set(&p->refs[s], LREF_MAKE(gen, 1));
		ST(&sl->holders, (1ull << p->self) | ((flags & VMSHM_PERSIST) ? 1u : 0u));
		uint64_t lw = SW_MAKE(gen, VMSHM_OBJ_LIVE, type, p->self, SW_TAG(nw));
		uint64_t expect = nw;
		if (!CAS(&sl->state, &expect, lw)) {
			/* A creator nearer home aborted us: its object is the one. */
			BENCH_RETRY();
			ST(&sl->holders, 0);
			lref_set(&p->refs[s], LREF_MAKE(gen, 0)); /* nobody could open it */
			abandon(L, s, gen, p->self);
			continue;
		}
		rc = self_ok(p) ? fill_ref(L, s, lw, out) : VMSHM_ESTALE;
		if (rc < 0) {
			unjoin(p, s, gen);
			return rc;
		}
		return 0;
	}
}

/* Finds the LIVE object named N and joins it (any type; STOP names a test
 * stop point between the two). Returns its slot, and its word in *W, or
 * VMSHM_ENOENT or another error. */
static int64_t find_join(vmshm_pool *p, const struct dir_name *n, uint64_t *w, const char *stop)
{
	for (;;) {
		int64_t busy;
		int64_t i = chain_find(&p->L, n, w, &busy);
		if (i < 0)
			return VMSHM_ENOENT; /* one being created is not there yet */
		if (stop)
			test_stop_point(stop);
		int rc = join(p, (uint32_t)i, *w);
		if (rc != RETRY)
			return rc < 0 ? rc : i;
		BENCH_RETRY();
	}
}

int dir_open(vmshm_pool *p, int type, const struct dir_name *n, vmshm_ref *out)
{
	uint64_t w;
	int64_t i = find_join(p, n, &w, NULL);
	if (i < 0)
		return (int)i;
	int rc = SW_TYPE(w) != type ? VMSHM_ETYPE : fill_ref(&p->L, (uint32_t)i, w, out);
	if (rc < 0)
		unjoin(p, (uint32_t)i, SW_GEN(w));
	return rc;
}

int dir_close(vmshm_pool *p, const vmshm_ref *ref)
{
	return unjoin(p, ref->slot, ref->gen);
}

/* Drops the pool's own hold (bit 0) on the LIVE object named N. We join it
 * first, so that it cannot die and be reused under us: the bit we clear is
 * that object's, never a later object's in the same slot. */
int dir_unpersist(vmshm_pool *p, const struct dir_name *n)
{
	uint64_t w;
	int64_t i = find_join(p, n, &w, "unpersist");
	if (i < 0)
		return (int)i;
	uint64_t old = atomic_fetch_and(&fmt_slot(&p->L, (uint32_t)i)->holders, ~(uint64_t)1);
	unjoin(p, (uint32_t)i, SW_GEN(w)); /* destroys it if the pool's hold was the last other */
	return (old & 1) ? 0 : VMSHM_ENOENT;
}

void dir_detach(vmshm_pool *p)
{
	uint64_t bit = 1ull << p->self;
	for (uint32_t s = 0; s < p->L.slot_count; s++) {
		uint64_t v = atomic_exchange(&p->refs[s], 0);
		if (LREF_COUNT(v))
			dir_drop_bit(&p->L, s, bit, p->self);
	}
}

int dir_ref_of(const vmshm_pool *p, uint32_t s, uint64_t w, vmshm_ref *out)
{
	return fill_ref(&p->L, s, w, out);
}

int dir_hold(vmshm_pool *p, uint32_t s, uint64_t w, vmshm_ref *out)
{
	int rc = join(p, s, w);
	if (rc != 0)
		return rc < 0 ? rc : VMSHM_ENOENT;
	if ((rc = fill_ref(&p->L, s, w, out)) < 0)
		unjoin(p, s, SW_GEN(w));
	return rc;
}

void dir_unhold(vmshm_pool *p, const vmshm_ref *r)
{
	unjoin(p, r->slot, r->gen);
}
