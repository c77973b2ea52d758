/*
 * internal.h - what the modules of lib/ share with each other (not exported).
 */
#ifndef VMSHM_INTERNAL_H
#define VMSHM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "format.h"
#include "platform.h"
#include "vmshm.h"

/* The few steps of the hot calls (open, close) that the compiler would
 * otherwise leave as calls of their own. */
#define HOT_INLINE static inline __attribute__((__always_inline__))
/* A slow path that a flattened call (RtOpenSharedMemoryA, RtCloseHandle)
 * must not take into itself. */
#define COLD_PATH __attribute__((__noinline__, __cold__))

/* How long a call waits for another peer that is midway through the same
 * name before it gives up with VMSHM_EBUSY. */
#define WAIT_OTHER_NS (2ull * 1000 * 1000 * 1000)

/* References one lane of this attach holds on one slot (process-local):
 * one word, the slot generation in bits 32-55 and the count in bits 0-31,
 * so that the threads of a lane open and close without a lock. LREF_BUSY is set
 * while one of them sets or clears the attach's hold bit in the pool (the
 * count's 0 <-> 1 steps); the others wait those few instructions out.
 * LREF_TURN is the turn: set by a thread whose compare-and-swap on the
 * word failed (one at a time; the others wait for it, bounded), so that a
 * thread that lost once gets through at its next try. It is a hint for
 * fairness only: no rule of the count depends on it. */
typedef _Atomic uint64_t local_ref;
#define LREF_BUSY         (1ull << 63)
#define LREF_TURN         (1ull << 62)
#define LREF_GEN(v)       ((uint32_t)(((v) >> 32) & 0xffffffu))
#define LREF_COUNT(v)     ((uint32_t)(v))
#define LREF_MAKE(gen, n) (((uint64_t)(gen) << 32) | (uint32_t)(n))

/* Compare-and-swap on a word only this process uses (a local reference, a
 * handle table entry): as atomic_compare_exchange_weak, but with plain
 * loads and stores while the process has one thread (plat_single_threaded),
 * where no other thread can change the word between the two. */
static inline int local_cas(_Atomic uint64_t *w, uint64_t *expect, uint64_t desired)
{
	if (plat_single_threaded()) {
		uint64_t cur = atomic_load_explicit(w, memory_order_relaxed);
		if (cur != *expect) {
			*expect = cur;
			return 0;
		}
		atomic_store_explicit(w, desired, memory_order_relaxed);
		return 1;
	}
	return atomic_compare_exchange_weak(w, expect, desired);
}

/* Marks this attach's local word W busy while it holds *EXPECT, clearing
 * the bits CLEAR (see lref_load): a compare-and-swap, or no step at all in
 * a process of one thread, where no other thread can look at the word
 * meanwhile. The caller ends the busy time with lref_release. */
static inline int local_mark_busy(_Atomic uint64_t *w, uint64_t *expect, uint64_t clear)
{
	if (plat_single_threaded())
		return 1;
	return atomic_compare_exchange_weak(w, expect, (*expect & ~clear) | LREF_BUSY);
}

/* Bench builds only (-DVMSHM_BENCH_COUNTERS): per-thread counts of the
 * compare-and-swap retries and the waits on a busy local reference of the
 * calls of this thread, read and reset by bench/. Compiled out otherwise. */
#ifdef VMSHM_BENCH_COUNTERS
extern _Thread_local uint64_t vmshm_bench_retries, vmshm_bench_waits;
#define BENCH_RETRY() (vmshm_bench_retries++)
#define BENCH_WAIT()  (vmshm_bench_waits++)
#else
#define BENCH_RETRY() ((void)0)
#define BENCH_WAIT()  ((void)0)
#endif

/* What this attach judges other peers with (peer.c). */
struct peer_judge_ctx {
	uint32_t kind;               /* FMT_JUDGE_* this attach records and can use */
	int lock_fd;                 /* the backend's lock file, -1 none */
	uint64_t lock_dev, lock_ino; /* its identity */
	uint32_t domain8;            /* 1..255: a hash of boot id and lock file, for claims */
};

#define DIR_HINTS 256 /* the open's hints of an attach (dir.c) */

struct vmshm_pool {
	struct be_map map;
	struct fmt_layout L;
	uint32_t self;     /* peer index, 0 for an observer */
	uint32_t self_gen; /* generation of our peer entry */
	/* Worked out from self and self_gen when they are set (self_set),
	 * for the calls' checks: our entry's state word, its value while we
	 * are alive, and where each lane's hold words start. */
	const _Atomic uint64_t *self_state;
	uint64_t self_alive;
	uint8_t *self_holds[FMT_HOLD_LANES];
	uint64_t fork_epoch; /* plat_fork_epoch() at attach */
	struct plat_ident ident;
	struct peer_judge_ctx judge;
	/* Per lane (docs/FORMAT.md, "Hold words"): the local references of the
	 * threads on that lane, slot_count entries each, all made at attach (so
	 * that no call allocates; pages untouched cost no memory). */
	local_ref *lanes[FMT_HOLD_LANES];
	_Atomic uint32_t lanes_named; /* lanes already named in our entry's lanes word */
	/* Where an open last found each name fingerprint: slot + 1, 0 none
	 * (dir.c, "hints"). A hint is only where to look first. */
	_Atomic uint32_t hints[DIR_HINTS];
	_Atomic uint32_t *waiting; /* slot_count entries: threads waiting on it */
	uint64_t spin_ns;          /* VMSHM_SPIN_US: spin before a wait sleeps */
	/* Per peer index, the wake-up channel found for one of its entry's
	 * generations (peer_channel): gen + 1 << 32 | chan << 24 | ivpos + 1;
	 * 0 none. Atomic: signalling threads share it without a lock. */
	_Atomic uint64_t chan[64];
	plat_lock lock; /* serialises reclaim and detach (not open, close, create) */
};

/* Is this attach still valid here? Not in a forked child, and not once its
 * peer entry was taken from it (vmshm gc --force, or its VM declared dead):
 * its holder bit may then be another peer's. 0, or VMSHM_ESTALE. Every call
 * makes it, so it is two loads, inline. */
static inline int pool_usable(const vmshm_pool *p)
{
	if (p->fork_epoch != plat_fork_epoch_now())
		return VMSHM_ESTALE;
	if (p->self && LD(p->self_state) != p->self_alive)
		return VMSHM_ESTALE;
	return 0;
}

/* Makes this attach peer I, generation GEN. */
static inline void self_set(vmshm_pool *p, uint32_t i, uint32_t gen)
{
	p->self = i;
	p->self_gen = gen;
	p->self_state = &fmt_peer(&p->L, i)->state;
	p->self_alive = PW_MAKE(gen, VMSHM_PEER_ALIVE, 0);
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++)
		p->self_holds[lane] = (uint8_t *)fmt_hold(&p->L, i, lane, 0);
}

/* Our hold word of slot S on lane LANE. */
static inline _Atomic uint64_t *self_hold(const vmshm_pool *p, uint32_t lane, uint32_t s)
{
	return (_Atomic uint64_t *)(p->self_holds[lane] + (s / 64u) * 8u);
}

/* A name as the directory stores it. */
struct dir_name {
	const char *bytes; /* UTF-8, not NUL-terminated; NULL: unnamed */
	uint32_t len;
	uint64_t hash;
	uint64_t last;      /* its last word (fmt_name_word), zero-padded */
	uint64_t last_mask; /* the bytes of that word within the name */
};

/* pool.c */
int pool_alive(const vmshm_pool *p); /* is P an attach not yet detached? */
/* Stops this process (SIGSTOP) when VMSHM_TEST_STOP names WHERE: lets the
 * tests stall a peer at a chosen step. Costs one load otherwise. */
void test_stop_point(const char *where);

/* dir.c: the directory (below reclaim.c) */
#define DIR_RETRY 1
/* What one create carries through its retries. */
struct dir_ctx {
	uint64_t deadline;    /* of the wait for another creator; starts at 0 */
	uint32_t gone_owner;  /* set when dir_create returns DIR_REAP */
	const uint64_t *init; /* events, mutexes, semaphores: body words 0, 3 and 4
			       * (state, param, depth) written before publish */
};
#define DIR_REAP 2 /* the creator we wait for may be gone: reclaim it, call again */
int dir_create(vmshm_pool *p, int type, const struct dir_name *n, uint64_t size, uint32_t protect,
	       unsigned flags, vmshm_ref *out, struct dir_ctx *wt);
int dir_open(vmshm_pool *p, int type, struct dir_name *n, vmshm_ref *out, struct dir_ctx *wt);
int dir_close(vmshm_pool *p, const vmshm_ref *ref);
/* A reference to slot S (word W) for an attach that holds it: 0 or < 0. */
int dir_ref_of(const vmshm_pool *p, uint32_t s, uint64_t w, vmshm_ref *out);
/* Holds slot S, seen LIVE with word W, for a moment (so that it cannot die
 * while we write its body): 0 with OUT filled, or < 0; dir_unhold ends it. */
int dir_hold(vmshm_pool *p, uint32_t s, uint64_t w, vmshm_ref *out);
void dir_unhold(vmshm_pool *p, const vmshm_ref *r);
int dir_unpersist(vmshm_pool *p, const struct dir_name *n, struct dir_ctx *wt); /* or DIR_REAP */
void dir_detach(vmshm_pool *p); /* drops every reference and holder bit of this attach */
/* The local reference word of some lane of this attach that holds slot S
 * (count > 0), or 0. */
uint64_t dir_local_ref(vmshm_pool *p, uint32_t slot);
/* Makes the lanes' local references (0, or VMSHM_EIO); frees them. */
int dir_lanes_make(vmshm_pool *p);
void dir_lanes_free(vmshm_pool *p);
/* Zeroes peer I's hold words: a new occupant of entry I holds nothing. */
void dir_hold_words_clear(const struct fmt_layout *L, uint32_t i);
/* Destroys slot S's object if nobody holds it (ME the closer): 1 if it did. */
int dir_judge(const struct fmt_layout *L, uint32_t slot, uint32_t me);
/* Peer I (gone, fenced, detaching) holds nothing in slot S; ME judges it. */
int dir_drop_peer(const struct fmt_layout *L, uint32_t slot, uint32_t i, uint32_t me);
/* Slot S, CLOSING by peer I that is gone, back to LIVE and judged by ME. */
int dir_rollback(const struct fmt_layout *L, uint32_t slot, uint32_t i, uint32_t me);
/* The peers that hold slot S's object (bit 0: the pool's hold). */
uint64_t dir_holders(const struct fmt_layout *L, uint32_t slot);
int dir_finish_destroy(const struct fmt_layout *L, uint32_t slot, uint64_t w, uint32_t me);
int dir_take_orphan(const struct fmt_layout *L, uint32_t slot, uint32_t me);
/* Copies the name of slot S (state word W) into BUF (>= VMSHM_NAME_MAX_BYTES
 * + 1), NUL-terminated; returns its length, 0 unnamed, < 0 invalid. */
int dir_read_name(const struct fmt_layout *L, uint32_t s, uint64_t w, char *buf);
/* Fills N from name UTF8 and checks it: dir_name_scan, its length and last
 * word; dir_name_finish, the rest of the check and the hash (an open makes
 * them only when its hint fails); dir_name_prepare, both. 0 or < 0. */
int dir_name_scan(const char *utf8, struct dir_name *n);
int dir_name_finish(struct dir_name *n);
int dir_name_prepare(const char *utf8, struct dir_name *n);

/* space.c */
int64_t space_alloc(const struct fmt_layout *L, uint32_t slot, uint32_t gen, uint64_t pages);
void space_release(const struct fmt_layout *L, uint32_t slot, uint32_t gen, uint64_t page,
		   uint64_t pages);
uint64_t space_sweep(const struct fmt_layout *L);

/* peer.c: the peer table and the liveness judge (below dir.c) */
void peer_judge_init(vmshm_pool *p);
int peer_attach(vmshm_pool *p);
int peer_inherit(vmshm_pool *p);
void peer_release(vmshm_pool *p);
/* VMSHM_LIVE_* of entry I seen with word W; WHY (may be NULL) says why. */
int peer_judge(const vmshm_pool *p, uint32_t i, uint64_t w, char *why, size_t len);
int peer_reclaimer_gone(const vmshm_pool *p, uint64_t w);
int peer_vm(const vmshm_pool *p, uint32_t i, uint32_t gen, uint8_t boot[16], int32_t *ivpos);
int peer_ident_complete(const vmshm_pool *p, uint32_t i, uint32_t gen);
/* How a signaller of this attach reaches the waiting threads of peer I. */
enum {
	PEER_CHAN_NONE,         /* it polls */
	PEER_CHAN_FUTEX,        /* this OS instance, same file: futex on its wake word */
	PEER_CHAN_OWN_DOORBELL, /* this guest: our own VM's doorbell */
	PEER_CHAN_DOORBELL,     /* another VM: its doorbell (*IVPOS) */
};
int peer_channel(vmshm_pool *p, uint32_t i, int32_t *ivpos);
void peer_read(const vmshm_pool *p, uint32_t i, struct vmshm_peerinfo *out);

/* sync.c: events, mutexes, semaphores and waiting (above dir.c) */
struct sync_params {
	int manual, initial; /* event: manual reset, set at creation; mutex: owned */
	uint32_t max;        /* semaphore (initial is its count) */
};
enum { SYNC_SET, SYNC_RESET, SYNC_PULSE };
void sync_init_words(const vmshm_pool *p, int type, const struct sync_params *sp, uint64_t w[3]);
int sync_event_change(vmshm_pool *p, const vmshm_ref *r, int how);
int sync_semaphore_release(vmshm_pool *p, const vmshm_ref *r, uint32_t n, uint32_t *prev);
int sync_mutex_release(vmshm_pool *p, const vmshm_ref *r);
int sync_wait(vmshm_pool *p, const vmshm_ref *refs, uint32_t n, uint64_t timeout_ns,
	      uint32_t *index);
void sync_track_owned(vmshm_pool *p, const vmshm_ref *r);
void sync_process_init(void); /* once, at the first attach */
void sync_detach(vmshm_pool *p);
void sync_scrub_peer(vmshm_pool *p, uint32_t i);

/* rtapi.c, for rtapi_sync.c: a handle to the object MAKE creates or
 * opens in the process's pool (last error 0, or 183 when MAKE returns 1);
 * the reference and pool behind a handle (0, or VMSHM_ESTALE: not a
 * handle); the Win32 error code of a VMSHM_E* code. */
typedef int (*rt_make_fn)(vmshm_pool *p, const char *name, void *arg, vmshm_ref *out);
void *rt_acquire(const char *name, rt_make_fn make, void *arg);
int rt_lookup(void *h, vmshm_ref *out, vmshm_pool **pool);
uint32_t rt_error(int rc);
/* SetLastError for the RtApi calls: on POSIX an inline store to the
 * thread's last error (platform_posix.c keeps it); on Windows the OS's. */
#ifdef _WIN32
#define rt_set_error(code) SetLastError(code)
#else
extern _Thread_local uint32_t plat_last_error;
static inline void rt_set_error(uint32_t code)
{
	plat_last_error = code;
}
#endif

/* reclaim.c (above dir.c) */
int reclaim_one(vmshm_pool *p, uint32_t i);
void reclaim_inherited(vmshm_pool *p);

/* name.c */
int name_utf8_units(const char *s, size_t *bytes); /* UTF-16 units or < 0 */

#endif
