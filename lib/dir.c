/*
 * dir.c - the directory of named objects: lookup, create, open, close and
 * destroy, as compare-and-swap state machines on the slot words of
 * format.h. docs/FORMAT.md ("Protocols") gives the rules and the reasons.
 *
 * Names live in an open-addressed table: a name's home slot is hash & mask;
 * it may sit up to maxprobe[home] slots further. Lookups take no lock and
 * never wait. A slot's life: FREE -> CREATING -> LIVE -> DYING -> FREE
 * (or CREATING -> ABORTED -> FREE when a concurrent creator of the same name
 * wins; LIVE -> CLOSING -> LIVE while a last close finds it held after all).
 * Who holds an object: the slot's holder word says which peers may, each
 * peer's own hold word whether it does (see "holding" below).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RETRY         DIR_RETRY
#define DIR_FIND_REAP INT64_MIN /* find_join: the closer we wait for may be gone */

int dir_name_scan(const char *utf8, struct dir_name *n)
{
	n->bytes = NULL;
	n->len = 0;
	n->hash = n->last = n->last_mask = 0;
	if (!utf8)
		return 0;
	size_t len = strlen(utf8);
	if (len == 0 || len > VMSHM_NAME_MAX_BYTES) {
		int rc = vmshm_name_check(utf8);
		return rc < 0 ? rc : VMSHM_ENAMELEN;
	}
	n->bytes = utf8;
	n->len = (uint32_t)len;
	n->last = fmt_name_word((const unsigned char *)utf8, len, (len - 1) & ~(size_t)7);
	n->last_mask = ~0ull >> (8 * (7 - (len - 1) % 8)); /* the last word's 1..8 bytes */
	return 0;
}

/* Is N, scanned, an ASCII name short enough (one UTF-16 unit a byte, no
 * other check needed)? ALL: the OR of its words. */
static inline int name_ascii(const struct dir_name *n, uint64_t all)
{
	return n->len <= VMSHM_NAME_MAX_UNITS && !(all & 0x8080808080808080ull);
}

int dir_name_finish(struct dir_name *n)
{
	if (!n->bytes)
		return 0;
	uint64_t all, last;
	n->hash = fmt_hash_words((const unsigned char *)n->bytes, n->len, &all, &last);
	return name_ascii(n, all) ? 0 : vmshm_name_check(n->bytes);
}

int dir_name_prepare(const char *utf8, struct dir_name *n)
{
	int rc = dir_name_scan(utf8, n);
	return rc < 0 ? rc : dir_name_finish(n);
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
static inline int name_same(const char *shared, const struct dir_name *n, uint64_t *all)
{
	const name_word *sw = (const name_word *)(const void *)shared;
	uint32_t last = (n->len - 1) / 8;
	*all = n->last;
	for (uint32_t k = 0; k < last; k++) {
		uint64_t b;
		memcpy(&b, n->bytes + 8 * k, 8);
		*all |= b;
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

/* Is slot S (seen with state word W) the object named N? 1 yes; 0 no; -1
 * the name matched but the state word moved meanwhile (the object may be
 * gone, or a last close may be judging it and keep it: look again). By the
 * length and the bytes, so N's hash need not be made (an open at a hint);
 * *ALL receives the OR of N's words compared. */
static inline int name_here(const struct fmt_layout *L, uint32_t s, uint64_t w,
			    const struct dir_name *n, uint64_t *all)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	if (name_len(LD(&sl->len_prot)) != n->len)
		return 0;
	const char *src = name_ptr(L, s, n->len);
	if (!src || !name_same(src, n, all))
		return 0;
	atomic_thread_fence(memory_order_acquire);
	return LD(&sl->state) == w ? 1 : -1;
}

/* The same for a lookup: the slot's hash first. */
static inline int name_equal(const struct fmt_layout *L, uint32_t s, uint64_t w,
			     const struct dir_name *n)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t all;
	if (LD(&sl->hash) != n->hash)
		return 0;
	return name_here(L, s, w, n, &all);
}

static inline uint64_t probe_bound(const struct fmt_layout *L, uint32_t home)
{
	uint64_t m = LD(&fmt_slot(L, home)->maxprobe);
	return m > L->slot_mask ? L->slot_mask : m;
}

/* Finds the LIVE object named N. Returns its slot and state word, or -1.
 * *BUSY receives a slot where an object of the same tag is being created
 * or judged by its last closer (-1 if none). */
static inline int64_t chain_find(const struct fmt_layout *L, const struct dir_name *n,
				 uint64_t *wout, int64_t *busy)
{
	uint32_t home = (uint32_t)(n->hash & L->slot_mask), tag = fmt_tag(n->hash);
	uint64_t maxp = probe_bound(L, home);
	int closing = 0;
	*busy = -1;
	for (uint64_t d = 0; d <= maxp; d++) {
		uint32_t i = (uint32_t)((home + d) & L->slot_mask);
		uint64_t w = LD(&fmt_slot(L, i)->state);
		if (SW_TAG(w) != tag)
			continue;
		int st = SW_STATE(w), eq = st == VMSHM_OBJ_LIVE ? name_equal(L, i, w, n) : 0;
		if (eq > 0) {
			*wout = w;
			return i;
		}
		/* Our name, whose word moved while it was compared: a judgment
		 * (CLOSING) may keep it, and put back the very word we read, so
		 * the caller looks at the slot again, as at a CLOSING one. A
		 * CLOSING slot comes first: its object may stay, and a holder's
		 * open must not miss it for a creator that gives up. */
		if (eq < 0)
			st = VMSHM_OBJ_CLOSING;
		if (st == VMSHM_OBJ_CLOSING || (st == VMSHM_OBJ_CREATING && !closing))
			*busy = i;
		closing |= st == VMSHM_OBJ_CLOSING;
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
	uint64_t expect = w;
	return CAS(&sl->state, &expect, SW_MAKE(SW_GEN(w), VMSHM_OBJ_FREE, 0, 0, 0)) ? 0 : -1;
}

/* Finishes slot S if it is midway through a create, a last close or a
 * destroy by a peer whose entry is free: nobody owns that work any more (its reclaim ran, or
 * the entry was forced out, or the slot word was damaged). */
int dir_take_orphan(const struct fmt_layout *L, uint32_t s, uint32_t me)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t w = LD(&sl->state);
	int st = SW_STATE(w);
	uint32_t owner = SW_OWNER(w);
	if (st != VMSHM_OBJ_CREATING && st != VMSHM_OBJ_ABORTED && st != VMSHM_OBJ_DYING &&
	    st != VMSHM_OBJ_CLOSING)
		return 0;
	if (owner != 0 && owner < L->peer_count &&
	    PW_STATE(LD(&fmt_peer(L, owner)->state)) != VMSHM_PEER_FREE)
		return 0;
	if (st == VMSHM_OBJ_CLOSING) /* a judgment nobody will finish: judged again */
		return dir_rollback(L, s, owner, me);
	uint64_t dw = SW_MAKE(SW_GEN(w), VMSHM_OBJ_DYING, SW_TYPE(w), me, SW_TAG(w));
	if (!CAS(&sl->state, &w, dw))
		return 0;
	dir_finish_destroy(L, s, dw, me);
	return 1;
}

/* Fills OUT from slot S (state W) after validating its fields. */
static inline int fill_ref(const struct fmt_layout *L, uint32_t s, uint64_t w, vmshm_ref *out)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t size = LD(&sl->size), ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
	uint64_t lp = LD(&sl->len_prot);
	uint64_t name_pages = name_len(lp) > FMT_INLINE_NAME ? 1 : 0;
	if (!fmt_extent_fits(L, size, ep, en, name_pages)) {
		memset(out, 0, sizeof(*out));
		return VMSHM_ECORRUPT;
	}
	out->slot = s; /* every field: no memset on the way */
	out->gen = SW_GEN(w);
	out->addr = fmt_page(L, ep + name_pages);
	out->size = size;
	out->type = (uint32_t)SW_TYPE(w);
	out->protect = (uint32_t)(lp >> 32);
	return 0;
}

/* Is our peer entry still ours? Not once an operator fenced us. */
static int self_ok(const vmshm_pool *p)
{
	return LD(p->self_state) == p->self_alive;
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

/* ---- holding: who holds an object (docs/FORMAT.md, "Holding") -------------
 * A slot's holder word says which peers may hold its object; a peer's own
 * hold word says whether it does. A peer sets its holder bit once and keeps
 * it after its last close, so that opening and closing again write only its
 * own hold word: two peers opening and closing one object do not take a
 * shared cache line from each other. Whoever takes a hold bit away judges
 * whether anyone still holds the object, and destroys it if not. */

/* Does peer I hold slot S's object: does one of its lanes? Lane 0, then
 * the others its lanes word names (a lane is named before its first hold
 * bit is set, by a full barrier, so a hold bit seen is in a lane named). */
static inline int held_by(const struct fmt_layout *L, uint32_t i, uint32_t s)
{
	if (atomic_load(fmt_hold(L, i, 0, s)) & FMT_HOLD_BIT(s))
		return 1;
	uint64_t named = atomic_load(&fmt_peer(L, i)->lanes) & ((1u << FMT_HOLD_LANES) - 2);
	for (; named; named &= named - 1) {
		uint32_t lane = (uint32_t)__builtin_ctzll(named);
		if (atomic_load(fmt_hold(L, i, lane, s)) & FMT_HOLD_BIT(s))
			return 1;
	}
	return 0;
}

/* Does anyone hold slot S's object: the pool, or a peer whose holder bit is
 * set and whose hold bit is? The others first, ME (the closer, who mostly
 * holds it no more) last. Sequentially consistent loads: see dir_judge. */
static int anyone_holds(const struct fmt_layout *L, uint32_t s, uint32_t me)
{
	uint64_t h = atomic_load(&fmt_slot(L, s)->holders), mine = 1ull << me;
	if (h & 1)
		return 1;
	for (uint64_t o = h & ~(mine | 1ull); o; o &= o - 1) {
		uint32_t i = (uint32_t)__builtin_ctzll(o);
		if (i < L->peer_count && held_by(L, i, s))
			return 1;
	}
	return (h & mine) && me && me < L->peer_count && held_by(L, me, s);
}

/* The judgment's first look, inline in a close: the pool's hold, or the
 * first peer but ME in the holder word whose lane 0 holds (a holder seen
 * after ME's hold bit went ends the judgment whatever the state word: it
 * judges at its own close). 0 says only "look further": dir_judge. */
HOT_INLINE int other_holds_at_once(const struct fmt_layout *L, uint32_t s, uint32_t me)
{
	uint64_t h = atomic_load(&fmt_slot(L, s)->holders) & ~(1ull << me);
	uint32_t o = h ? (uint32_t)__builtin_ctzll(h) : 0;
	return (h & 1) ||
	       (h && o < L->peer_count && (atomic_load(fmt_hold(L, o, 0, s)) & FMT_HOLD_BIT(s)));
}

uint64_t dir_holders(const struct fmt_layout *L, uint32_t s)
{
	uint64_t h = LD(&fmt_slot(L, s)->holders), out = h & 1;
	for (h &= ~1ull; h; h &= h - 1) {
		uint32_t i = (uint32_t)__builtin_ctzll(h);
		if (i < L->peer_count && held_by(L, i, s))
			out |= 1ull << i;
	}
	return out;
}

/* The judgment, after a hold bit on slot S went (a last close, an open that
 * failed, a reclaim): destroys the object if nobody holds it. ME is the
 * closer. 1 if it destroyed it.
 *
 * A LIVE object that someone holds stays. Else we CAS it to CLOSING and
 * look again: a hold bit set before the CAS is seen now (our CAS, like the
 * holder's fetch-or, is a full barrier, and the loads are sequentially
 * consistent: a Dekker pattern with the opener's check of the state word).
 * Held after all: back to LIVE, and judge again, since a peer that cleared
 * its bit meanwhile and found the word CLOSING left its judgment to us.
 * Else CLOSING -> DYING, and it is destroyed. A CLOSING word of another
 * peer is that peer's to decide; any other word, nothing to do. */
int dir_judge(const struct fmt_layout *L, uint32_t s, uint32_t me)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	for (;;) {
		uint64_t w = atomic_load(&sl->state);
		if (SW_STATE(w) != VMSHM_OBJ_LIVE || anyone_holds(L, s, me))
			return 0;
		uint64_t cw = SW_MAKE(SW_GEN(w), VMSHM_OBJ_CLOSING, SW_TYPE(w), me, SW_TAG(w));
		if (!CAS(&sl->state, &w, cw))
			continue;
		test_stop_point("closing");
		uint64_t e = cw;
		if (anyone_holds(L, s, me)) {
			if (!CAS(&sl->state, &e, w))
				return 0; /* rolled back by a reclaim of ours */
			continue;
		}
		uint64_t dw = SW_MAKE(SW_GEN(w), VMSHM_OBJ_DYING, SW_TYPE(w), me, SW_TAG(w));
		if (!CAS(&sl->state, &e, dw))
			return 0;
		dir_finish_destroy(L, s, dw, me);
		return 1;
	}
}

/* Peer I holds nothing in slot S any more (I is gone, fenced or detaching):
 * its hold and holder bits go, and ME judges the object. */
int dir_drop_peer(const struct fmt_layout *L, uint32_t s, uint32_t i, uint32_t me)
{
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++)
		if (LD(fmt_hold(L, i, lane, s)) & FMT_HOLD_BIT(s))
			atomic_fetch_and(fmt_hold(L, i, lane, s), ~FMT_HOLD_BIT(s));
	if (LD(&fmt_slot(L, s)->holders) & (1ull << i))
		atomic_fetch_and(&fmt_slot(L, s)->holders, ~(1ull << i));
	return dir_judge(L, s, me);
}

/* Rolls slot S back from CLOSING by peer I (I is gone: its judgment will
 * never end) to LIVE, and judges it as ME. */
int dir_rollback(const struct fmt_layout *L, uint32_t s, uint32_t i, uint32_t me)
{
	struct fmt_slot *sl = fmt_slot(L, s);
	uint64_t w = LD(&sl->state);
	if (SW_STATE(w) != VMSHM_OBJ_CLOSING || SW_OWNER(w) != i)
		return 0;
	uint64_t lw = SW_MAKE(SW_GEN(w), VMSHM_OBJ_LIVE, SW_TYPE(w), me, SW_TAG(w));
	if (!CAS(&sl->state, &w, lw))
		return 0;
	return dir_judge(L, s, me);
}

/* ---- lanes: the threads of one attach, spread over FMT_HOLD_LANES ---------
 * Each lane has its own local references and its own hold words, so that
 * threads on different lanes that open and close one object write no line
 * in common. References are the attach's, whichever lane counts them: a
 * close counts down the closing thread's lane, or another lane that holds
 * the object (a handle opened in one thread and closed in another). */
static _Atomic uint32_t lane_next;
static _Thread_local uint32_t lane_mine; /* the lane + 1; 0 before the first call */

/* The calling thread's lane: the first FMT_HOLD_LANES threads that call
 * get one each, later threads share them in turn. */
HOT_INLINE uint32_t my_lane(void)
{
	uint32_t l = lane_mine;
	if (__builtin_expect(l == 0, 0))
		lane_mine = l = atomic_fetch_add(&lane_next, 1) % FMT_HOLD_LANES + 1;
	return l - 1;
}

/* Names LANE in our entry's lanes word, before its first hold bit. */
__attribute__((__noinline__, __cold__)) static void lane_name(vmshm_pool *p, uint32_t lane)
{
	atomic_fetch_or(&fmt_peer(&p->L, p->self)->lanes, 1ull << lane);
	atomic_fetch_or(&p->lanes_named, 1u << lane);
}

/* Lane LANE's local references, the lane named in our entry before the
 * caller sets a hold bit of it. */
HOT_INLINE local_ref *lane_refs(vmshm_pool *p, uint32_t lane)
{
	if (lane && !(atomic_load_explicit(&p->lanes_named, memory_order_acquire) & (1u << lane)))
		lane_name(p, lane);
	return p->lanes[lane];
}

int dir_lanes_make(vmshm_pool *p)
{
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++)
		if (!(p->lanes[lane] = calloc(p->L.slot_count, sizeof(local_ref))))
			return VMSHM_EIO;
	return 0;
}

uint64_t dir_local_ref(vmshm_pool *p, uint32_t s)
{
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++) {
		uint64_t v = p->lanes[lane]
				 ? atomic_load_explicit(&p->lanes[lane][s], memory_order_acquire)
				 : 0;
		if (LREF_COUNT(v))
			return v;
	}
	return 0;
}

void dir_lanes_free(vmshm_pool *p)
{
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++)
		free(p->lanes[lane]);
}

/* How many pauses an opener waits for a closer's judgment on its object
 * before it lets go and looks again (the look waits, bounded, in
 * wait_other). The judgment is a few loads. */
#define CLOSING_SPINS 256

/* join_check's wait: the state word V is not W. */
__attribute__((__noinline__, __cold__)) static int join_wait(struct fmt_slot *sl, uint64_t w,
							     uint64_t v)
{
	for (unsigned spins = 0;; spins++) {
		if (v == w)
			return 0;
		if (SW_STATE(v) != VMSHM_OBJ_CLOSING || SW_GEN(v) != SW_GEN(w) ||
		    spins >= CLOSING_SPINS)
			return RETRY;
		BENCH_WAIT();
		plat_relax(); /* its closer decides: LIVE again, or gone */
		v = atomic_load(&sl->state);
	}
}

/* After setting its hold bit: is slot S still the object of word W? 0 yes,
 * RETRY no (or still being judged after the wait). */
HOT_INLINE int join_check(struct fmt_slot *sl, uint64_t w)
{
	uint64_t v = atomic_load(&sl->state);
	return v == w ? 0 : join_wait(sl, w, v);
}

/* An open that failed after setting its hold bit gives it back. Its holder
 * bit stays: another lane of the attach may count on it. */
__attribute__((__noinline__, __cold__)) static void join_undo(vmshm_pool *p, uint32_t s,
							      uint32_t lane)
{
	atomic_fetch_and(self_hold(p, lane, s), ~FMT_HOLD_BIT(s));
	dir_judge(&p->L, s, p->self); /* a closer may have seen our hold bit */
}

/* Adds this attach as a holder of slot S, seen LIVE with word W. */
HOT_INLINE int join(vmshm_pool *p, uint32_t s, uint64_t w)
{
	const struct fmt_layout *L = &p->L;
	struct fmt_slot *sl = fmt_slot(L, s);
	uint32_t lane = my_lane();
	local_ref *r = lane_refs(p, lane) + s;
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
			break; /* ours to set the hold bit */
		}
		v = lref_lost(r, v, &waiter);
	}
	v &= ~(LREF_BUSY | LREF_TURN); /* what the word was before: count 0 */
	/* Our lane's hold bit, then our holder bit if it is not there from an
	 * earlier open, then the state word: still W, and the object is ours. */
	atomic_fetch_or(self_hold(p, lane, s), FMT_HOLD_BIT(s));
	uint64_t bit = 1ull << p->self;
	if (!(LD(&sl->holders) & bit))
		atomic_fetch_or(&sl->holders, bit);
	int rc = join_check(sl, w);
	if (rc == 0 && !self_ok(p))
		rc = VMSHM_ESTALE; /* fenced meanwhile: the bits are still ours to drop */
	if (rc != 0)
		join_undo(p, s, lane);
	lref_release(r, rc == 0 ? LREF_MAKE(gen, 1) : v);
	return rc;
}

/* Drops one reference counted on lane LANE (local references R) to slot
 * S's object of generation GEN, and the lane's hold bit with the last one.
 * VMSHM_EINVAL if the lane holds none. */
HOT_INLINE int unjoin_lane(vmshm_pool *p, uint32_t s, uint32_t gen, uint32_t lane, local_ref *r)
{
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
	atomic_fetch_and(self_hold(p, lane, s), ~FMT_HOLD_BIT(s));
	if (!other_holds_at_once(&p->L, s, p->self))
		dir_judge(&p->L, s, p->self);
	lref_release(r, LREF_MAKE(gen, 0));
	return 0;
}

/* A close whose thread's lane holds no reference to the object: one of
 * another lane (it was opened in another thread). */
__attribute__((__noinline__, __cold__)) static int unjoin_other(vmshm_pool *p, uint32_t s,
								uint32_t gen, uint32_t mine)
{
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++) {
		local_ref *r = p->lanes[lane];
		if (lane == mine)
			continue;
		uint64_t v = atomic_load_explicit(&r[s], memory_order_acquire);
		if (LREF_COUNT(v) && LREF_GEN(v) == gen && unjoin_lane(p, s, gen, lane, r + s) == 0)
			return 0;
	}
	return VMSHM_EINVAL;
}

/* Drops one reference of this attach to slot S's object of generation GEN.
 * VMSHM_EINVAL if it holds none. */
HOT_INLINE int unjoin(vmshm_pool *p, uint32_t s, uint32_t gen)
{
	uint32_t lane = my_lane();
	if (unjoin_lane(p, s, gen, lane, p->lanes[lane] + s) == 0)
		return 0;
	return unjoin_other(p, s, gen, lane);
}

/* Waits, bounded, for the creator (or the last closer) of slot S to
 * finish. DIR_REAP when it may be gone (the caller, above the directory,
 * reclaims it). */
static int wait_other(vmshm_pool *p, uint32_t s, struct dir_ctx *wt)
{
	uint64_t now = plat_now_ns();
	if (wt->deadline == 0)
		wt->deadline = now + WAIT_OTHER_NS;
	uint64_t w = LD(&fmt_slot(&p->L, s)->state);
	uint32_t owner = SW_OWNER(w);
	if ((SW_STATE(w) == VMSHM_OBJ_CREATING || SW_STATE(w) == VMSHM_OBJ_CLOSING) && owner > 0 &&
	    owner < p->L.peer_count && owner != p->self && wt->gone_owner != owner) {
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
			if (st == VMSHM_OBJ_LIVE || st == VMSHM_OBJ_CLOSING) {
				/* it exists (a closing one may stay), or its word
				 * moved while we compared: open it, or look again */
				if (name_equal(L, j, w2, n) != 0)
					return RETRY;
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
				if (rc == 0 && (flags & VMSHM_PERSIST)) /* we hold it: it is LIVE */
					atomic_fetch_or(&fmt_slot(L, s)->holders, 1u);
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
		uint32_t lane = my_lane();
		local_ref *lr = lane_refs(p, lane) + s;
		lref_set(lr, LREF_MAKE(gen, 1));
		atomic_fetch_or(self_hold(p, lane, s), FMT_HOLD_BIT(s));
		ST(&sl->holders, (1ull << p->self) | ((flags & VMSHM_PERSIST) ? 1u : 0u));
		uint64_t lw = SW_MAKE(gen, VMSHM_OBJ_LIVE, type, p->self, SW_TAG(nw));
		uint64_t expect = nw;
		if (!CAS(&sl->state, &expect, lw)) {
			/* A creator nearer home aborted us: its object is the one. */
			BENCH_RETRY();
			ST(&sl->holders, 0);
			atomic_fetch_and(self_hold(p, lane, s), ~FMT_HOLD_BIT(s));
			lref_set(lr, LREF_MAKE(gen, 0)); /* nobody could open it */
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
/* An open of slot S's object, seen CLOSING with word W (another peer's last
 * close is judging it): if this attach holds it, on any lane, one more
 * reference there, and no wait for the judgment, since an object that is
 * held stays. 0, or RETRY if we hold none (or S is not the object N). */
COLD_PATH static int rejoin_held(vmshm_pool *p, uint32_t s, uint64_t w, const struct dir_name *n)
{
	uint64_t all;
	if (name_here(&p->L, s, w, n, &all) <= 0)
		return RETRY;
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++) {
		local_ref *r = p->lanes[lane] + s;
		int waiter = 0;
		uint64_t v = lref_load(r, 0);
		while (LREF_COUNT(v) > 0 && LREF_GEN(v) == SW_GEN(w)) {
			if (local_cas(r, &v, ((v & ~LREF_TURN) + 1) | lref_turn(v, waiter)))
				return 0;
			v = lref_lost(r, v, &waiter);
		}
		lref_unwait(r, waiter);
	}
	return RETRY;
}

static int64_t find_join(vmshm_pool *p, const struct dir_name *n, uint64_t *w, const char *stop,
			 struct dir_ctx *wt)
{
	for (;;) {
		int64_t busy;
		int64_t i = chain_find(&p->L, n, w, &busy);
		uint64_t bw = busy >= 0 ? LD(&fmt_slot(&p->L, (uint32_t)busy)->state) : 0;
		int bst = busy >= 0 ? SW_STATE(bw) : -1;
		if (i < 0 && bst == VMSHM_OBJ_CLOSING &&
		    rejoin_held(p, (uint32_t)busy, bw, n) == 0) {
			*w = bw;
			return busy;
		}
		if (i < 0 && bst == VMSHM_OBJ_CLOSING) {
			/* its last closer is judging it: it may stay */
			int rc = wait_other(p, (uint32_t)busy, wt);
			if (rc < 0 || rc == DIR_REAP)
				return rc == DIR_REAP ? DIR_FIND_REAP : rc;
			continue;
		}
		if (i < 0 && bst == VMSHM_OBJ_LIVE)
			continue; /* made, or judged and kept, since the look: look again */
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

/* ---- hints: where an open found a name last --------------------------------
 * A lookup costs the name's hash, a chain of multiplies, and a walk of its
 * probe chain. So each attach notes, by a fingerprint of the name made
 * without the hash, the slot where an open last found it, and an open looks
 * there first, with a lookup's own checks: a LIVE slot of the type, the
 * name's length and bytes, the state word unchanged meanwhile, then the
 * join's check after its hold bit. A hint that is out of date (the object
 * gone, the slot reused, another name of the same fingerprint) costs that
 * one look, and the lookup follows. Hints are words of this process only;
 * any thread may write any of them, since none is ever believed. */

/* N's fingerprint: its first and last words and its length, mixed with
 * two multiplies side by side (a short name's first word is its last). */
HOT_INLINE uint32_t hint_of(const struct dir_name *n)
{
	uint64_t first = n->last;
	if (n->len > 8)
		memcpy(&first, n->bytes, 8);
	uint64_t x = (first * FMT_HASH_MUL) ^ ((n->last + n->len) * FMT_HASH_SEED);
	return (uint32_t)(x >> 56) % DIR_HINTS;
}

/* The open of N at its hint: 0 with OUT, an error, or RETRY (the hint does
 * not lead to a LIVE object of TYPE named N: the lookup decides). */
HOT_INLINE int open_at_hint(vmshm_pool *p, int type, const struct dir_name *n, vmshm_ref *out)
{
	const struct fmt_layout *L = &p->L;
	uint32_t s = atomic_load_explicit(&p->hints[hint_of(n)], memory_order_relaxed) - 1;
	if (s >= L->slot_count)
		return RETRY; /* none (0 - 1) */
	uint64_t w = LD(&fmt_slot(L, s)->state), all;
	/* N is scanned only: checked here if ASCII, else by the lookup. */
	if (SW_STATE(w) != VMSHM_OBJ_LIVE || SW_TYPE(w) != type ||
	    name_here(L, s, w, n, &all) <= 0 || !name_ascii(n, all))
		return RETRY;
	int rc = join(p, s, w);
	if (rc != 0)
		return rc;
	if ((rc = fill_ref(L, s, w, out)) < 0)
		unjoin(p, s, SW_GEN(w));
	return rc;
}

/* Notes slot S as where N is. */
static void hint_set(vmshm_pool *p, const struct dir_name *n, uint32_t s)
{
	_Atomic uint32_t *h = &p->hints[hint_of(n)];
	if (atomic_load_explicit(h, memory_order_relaxed) != s + 1)
		atomic_store_explicit(h, s + 1, memory_order_relaxed);
}

/* dir_open when the hint failed: the name checked in full, the lookup. */
__attribute__((__noinline__)) static int open_by_lookup(vmshm_pool *p, int type, struct dir_name *n,
							vmshm_ref *out, struct dir_ctx *wt)
{
	uint64_t w;
	int rc;
	if ((rc = dir_name_finish(n)) < 0)
		return rc;
	int64_t i = find_join(p, n, &w, NULL, wt);
	if (i == DIR_FIND_REAP)
		return DIR_REAP;
	if (i < 0)
		return (int)i;
	rc = SW_TYPE(w) != type ? VMSHM_ETYPE : fill_ref(&p->L, (uint32_t)i, w, out);
	if (rc < 0)
		unjoin(p, (uint32_t)i, SW_GEN(w));
	else
		hint_set(p, n, (uint32_t)i);
	return rc;
}

int dir_open(vmshm_pool *p, int type, struct dir_name *n, vmshm_ref *out, struct dir_ctx *wt)
{
	int rc = open_at_hint(p, type, n, out);
	return rc == RETRY ? open_by_lookup(p, type, n, out, wt) : rc;
}

int dir_close(vmshm_pool *p, const vmshm_ref *ref)
{
	return unjoin(p, ref->slot, ref->gen);
}

/* Drops the pool's own hold (bit 0) on the LIVE object named N. We join it
 * first, so that it cannot die and be reused under us: the bit we clear is
 * that object's, never a later object's in the same slot. */
int dir_unpersist(vmshm_pool *p, const struct dir_name *n, struct dir_ctx *wt)
{
	uint64_t w;
	int64_t i = find_join(p, n, &w, "unpersist", wt);
	if (i == DIR_FIND_REAP)
		return DIR_REAP;
	if (i < 0)
		return (int)i;
	uint64_t old = atomic_fetch_and(&fmt_slot(&p->L, (uint32_t)i)->holders, ~(uint64_t)1);
	unjoin(p, (uint32_t)i, SW_GEN(w)); /* destroys it if the pool's hold was the last other */
	return (old & 1) ? 0 : VMSHM_ENOENT;
}

void dir_detach(vmshm_pool *p)
{
	const struct fmt_layout *L = &p->L;
	uint64_t bit = 1ull << p->self;
	for (uint32_t s = 0; s < L->slot_count; s++) {
		uint32_t held = 0;
		for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++)
			held |= LREF_COUNT(atomic_exchange(&p->lanes[lane][s], 0));
		if (held)
			dir_drop_peer(L, s, p->self, p->self);
		else if (LD(&fmt_slot(L, s)->holders) & bit) /* kept after our last close */
			atomic_fetch_and(&fmt_slot(L, s)->holders, ~bit);
	}
}

void dir_hold_words_clear(const struct fmt_layout *L, uint32_t i)
{
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++)
		for (uint32_t s = 0; s < L->slot_count; s += 64)
			ST(fmt_hold(L, i, lane, s), 0);
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
