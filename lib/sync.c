/*
 * sync.c - events, mutexes and semaphores in the pool, and waiting for
 * them across processes and VMs (docs/FORMAT.md, "Events, mutexes and
 * semaphores"). Each is a directory object whose memory is a struct
 * fmt_sync changed by compare-and-swap only; no lock of any OS is in it.
 *
 * A waiter registers (its peer's bit in the object's waiters word) before
 * it sleeps and checks the object again after, so no wake-up is lost; a
 * signaller changes the state, then wakes the peers whose bits it finds,
 * each by the cheapest channel that reaches it: a futex on the peer's wake
 * word for processes of this OS instance on the same file, the VM's
 * ivshmem doorbell for other VMs and for the processes of one guest. Every
 * sleep is bounded (a doorbell to an unconnected VM is dropped), so a
 * waiter also finds by itself a change no channel brought it, and a mutex
 * owner that is gone.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SLICE_NS        (10ull * 1000 * 1000) /* longest sleep between two checks */
#define OWNER_CHECK_NS  (50ull * 1000 * 1000) /* how often a waiter judges a mutex owner */
#define DOORBELL_VECTOR 0

static struct fmt_sync *body(const vmshm_pool *p, const vmshm_ref *r)
{
	(void)p;
	return (struct fmt_sync *)r->addr;
}

/* Does R (validated against its extent) have room for a body? A damaged
 * slot may claim a sync type with no memory at all. */
static int body_ok(const vmshm_ref *r)
{
	return r->addr && r->size >= FMT_SYNC_SIZE;
}

static uint64_t my_owner_id(const vmshm_pool *p)
{
	return MX_OWNER(p->self, p->self_gen, plat_thread_id());
}

/* ---- creating ---------------------------------------------------------- */

/* The body words a new object of TYPE starts with (state, param, depth). */
void sync_init_words(const vmshm_pool *p, int type, const struct sync_params *sp, uint64_t w[3])
{
	w[0] = w[1] = w[2] = 0;
	switch (type) {
	case VMSHM_TYPE_EVENT:
		w[0] = sp && sp->initial ? 1 : 0;
		w[1] = sp && sp->manual ? 1 : 0;
		break;
	case VMSHM_TYPE_SEMAPHORE:
		w[0] = sp ? sp->initial : 0;
		w[1] = sp ? sp->max : 1;
		break;
	case VMSHM_TYPE_MUTEX:
		if (sp && sp->initial) {
			w[0] = my_owner_id(p);
			w[2] = 1;
		}
		break;
	}
}

/* ---- waking -------------------------------------------------------------- */

/* Wakes the peers that wait on B (bits in its waiters word). */
static void wake_waiters(vmshm_pool *p, struct fmt_sync *b)
{
	uint64_t w = atomic_load(&b->waiters);
	int rang_self = 0;
	int32_t rang[64];
	int nrang = 0;
	for (uint32_t i = 1; i < 64 && (w >> i); i++) {
		if (!(w >> i & 1))
			continue;
		struct fmt_peer *pe = fmt_peer(&p->L, i);
		atomic_fetch_add(&pe->wake, 1);
		int32_t iv;
		switch (peer_channel(p, i, &iv)) {
		case PEER_CHAN_FUTEX:
			plat_futex_wake(&pe->wake);
			break;
		case PEER_CHAN_OWN_DOORBELL:
			if (!rang_self && p->map.ivposition >= 0 && p->map.be->ring) {
				p->map.be->ring(&p->map, (uint16_t)p->map.ivposition,
						DOORBELL_VECTOR);
				rang_self = 1;
			}
			break;
		case PEER_CHAN_DOORBELL: {
			int k = 0;
			while (k < nrang && rang[k] != iv)
				k++;
			if (k == nrang && p->map.be->ring) {
				p->map.be->ring(&p->map, (uint16_t)iv, DOORBELL_VECTOR);
				rang[nrang++] = iv;
			}
			break;
		}
		default:
			break; /* it finds the change at its next check */
		}
	}
}

/* After a change of B that may release a waiter. The change was a
 * sequentially consistent CAS and so is this load of waiters: either a
 * waiter's registration is seen here, or its next try sees the change. */
static void signal_change(vmshm_pool *p, struct fmt_sync *b)
{
	if (!atomic_load(&b->waiters))
		return; /* nobody to wake: no further write, no system call */
	atomic_fetch_add(&b->seq, 1);
	wake_waiters(p, b);
}

/* ---- the state machines ------------------------------------------------- */

enum { TRY_NO = -1, TRY_SIGNALED = 0, TRY_ABANDONED = 1 };

/* Is the owner in mutex word W gone for good? */
static int owner_gone(const vmshm_pool *p, uint64_t w)
{
	uint32_t i = MX_IDX(w);
	if (i == 0 || i >= p->L.peer_count)
		return 1; /* damage */
	uint64_t pw = LD(&fmt_peer(&p->L, i)->state);
	int st = PW_STATE(pw);
	if (st == VMSHM_PEER_FREE || (PW_GEN(pw) & 0xffffu) != MX_GEN(w))
		return 1;
	if (st == VMSHM_PEER_FENCED)
		return 1; /* cut off: its calls fail, it can never release */
	return peer_judge(p, i, pw, NULL, 0) == VMSHM_LIVE_NO;
}

/* The mutexes the calling thread owns, so that its end abandons them even
 * when its process no longer holds a handle to one (Win32 semantics: a
 * handle's close does not release the mutex). The list lives on the heap,
 * made at a thread's first acquisition and handed to thread_ends by the
 * platform's thread-local slot when the thread ends. */
#define OWNED_MAX 64
struct owned_list {
	int n;
	struct owned_mx {
		vmshm_pool *p;
		uint32_t slot, gen;
	} e[OWNED_MAX];
};
static plat_tls owned_tls;
static int owned_tls_ok;

static void thread_ends(void *arg);

void sync_process_init(void)
{
	owned_tls_ok = plat_tls_new(&owned_tls, thread_ends) == 0;
}

static void owned_add(vmshm_pool *p, const vmshm_ref *r)
{
	struct owned_list *l = owned_tls_ok ? plat_tls_get(&owned_tls) : NULL;
	if (!l && owned_tls_ok && (l = calloc(1, sizeof(*l))) != NULL)
		plat_tls_set(&owned_tls, l); /* once per thread */
	if (!l)
		return;
	for (int i = 0; i < l->n; i++)
		if (l->e[i].p == p && l->e[i].slot == r->slot && l->e[i].gen == r->gen)
			return;
	if (l->n < OWNED_MAX)
		l->e[l->n++] = (struct owned_mx){p, r->slot, r->gen};
}

static void owned_del(vmshm_pool *p, const vmshm_ref *r)
{
	struct owned_list *l = owned_tls_ok ? plat_tls_get(&owned_tls) : NULL;
	for (int i = 0; l && i < l->n; i++)
		if (l->e[i].p == p && l->e[i].slot == r->slot && l->e[i].gen == r->gen) {
			l->e[i] = l->e[--l->n];
			return;
		}
}

static int try_mutex(vmshm_pool *p, const vmshm_ref *r, struct fmt_sync *b, int judge_owner)
{
	uint64_t me = my_owner_id(p), w = LD(&b->state);
	if (w == me) {
		ST(&b->depth, LD(&b->depth) + 1);
		return TRY_SIGNALED;
	}
	int abandoned = w == MX_ABANDONED;
	if (w != 0 && !abandoned) {
		if (!judge_owner || !owner_gone(p, w))
			return TRY_NO;
		abandoned = 1; /* its owner died holding it: take it as abandoned */
	}
	if (!CAS(&b->state, &w, me))
		return TRY_NO;
	ST(&b->depth, 1);
	owned_add(p, r);
	return abandoned ? TRY_ABANDONED : TRY_SIGNALED;
}

/* Event state: bit 0 set; bits 1-15 pulse tokens of an auto-reset event
 * (each releases one thread that waited before the pulse); bits 32-63 the
 * pulse count. */
#define EV_SET        1ull
#define EV_TOKEN      2ull
#define EV_TOKENS(w)  (((w) >> 1) & 0x7fffu)
#define EV_PULSE(w)   ((uint32_t)((w) >> 32))
#define EV_PULSE_STEP (1ull << 32)

static int try_event(struct fmt_sync *b, uint32_t pulse0)
{
	uint64_t w = LD(&b->state);
	int manual = LD(&b->param) & 1;
	for (;;) {
		int pulsed = EV_PULSE(w) != pulse0; /* a pulse since we began */
		if (manual)
			return (w & EV_SET) || pulsed ? TRY_SIGNALED : TRY_NO;
		uint64_t nw;
		if (w & EV_SET)
			nw = w & ~EV_SET; /* auto reset: exactly one waiter */
		else if (pulsed && EV_TOKENS(w))
			nw = w - EV_TOKEN; /* one pulse, one waiter */
		else
			return TRY_NO;
		if (CAS(&b->state, &w, nw))
			return TRY_SIGNALED;
	}
}

/* Pulse tokens of an event nobody waits on any more are void. */
static void void_tokens(struct fmt_sync *b)
{
	uint64_t w = LD(&b->state);
	while (EV_TOKENS(w) && !LD(&b->waiters) && !CAS(&b->state, &w, w & ~(0x7fffull << 1)))
		;
}

static int try_semaphore(struct fmt_sync *b)
{
	uint64_t w = LD(&b->state);
	while (w > 0)
		if (CAS(&b->state, &w, w - 1))
			return TRY_SIGNALED;
	return TRY_NO;
}

static int try_one(vmshm_pool *p, const vmshm_ref *r, uint32_t pulse0, int judge_owner)
{
	struct fmt_sync *b = body(p, r);
	switch (r->type) {
	case VMSHM_TYPE_EVENT:
		return try_event(b, pulse0);
	case VMSHM_TYPE_SEMAPHORE:
		return try_semaphore(b);
	case VMSHM_TYPE_MUTEX:
		return try_mutex(p, r, b, judge_owner);
	}
	return TRY_NO;
}

int sync_event_change(vmshm_pool *p, const vmshm_ref *r, int how)
{
	struct fmt_sync *b = body(p, r);
	uint64_t w = LD(&b->state);
	switch (how) {
	case SYNC_SET:
		while (!(w & 1) && !CAS(&b->state, &w, w | 1))
			;
		break;
	case SYNC_RESET:
		while ((w & 1) && !CAS(&b->state, &w, w & ~1ull))
			;
		return 0; /* releases nobody */
	case SYNC_PULSE:
		if (LD(&b->param) & 1) {
			/* Manual: every current waiter sees the pulse count move;
			 * the event stays reset. */
			while (!CAS(&b->state, &w, (w & ~EV_SET) + EV_PULSE_STEP))
				;
		} else if (LD(&b->waiters)) {
			/* Auto: one token, for one thread that waits now. */
			while (!CAS(&b->state, &w,
				    (w & ~EV_SET) + EV_PULSE_STEP +
					(EV_TOKENS(w) < 0x7fffu ? EV_TOKEN : 0)))
				;
		} else {
			return 0; /* nobody waits: the pulse is lost */
		}
		break;
	}
	signal_change(p, b);
	return 0;
}

int sync_semaphore_release(vmshm_pool *p, const vmshm_ref *r, uint32_t n, uint32_t *prev)
{
	struct fmt_sync *b = body(p, r);
	uint64_t max = LD(&b->param), w = LD(&b->state);
	do {
		if (w > max || n > max - w)
			return VMSHM_ETOOMANY;
	} while (!CAS(&b->state, &w, w + n));
	if (prev)
		*prev = (uint32_t)w;
	signal_change(p, b);
	return 0;
}

int sync_mutex_release(vmshm_pool *p, const vmshm_ref *r)
{
	struct fmt_sync *b = body(p, r);
	uint64_t me = my_owner_id(p), w = LD(&b->state);
	if (w != me)
		return VMSHM_ENOTOWNER;
	uint64_t d = LD(&b->depth);
	if (d > 1) {
		ST(&b->depth, d - 1);
		return 0;
	}
	ST(&b->depth, 0);
	owned_del(p, r);
	if (!CAS(&b->state, &w, 0))
		return VMSHM_ENOTOWNER; /* taken from us meanwhile (fenced) */
	signal_change(p, b);
	return 0;
}

/* ---- waiting -------------------------------------------------------------- */

static void reg(vmshm_pool *p, const vmshm_ref *r)
{
	_Atomic uint32_t *n = &p->waiting[r->slot];
	if (atomic_fetch_add(n, 1) == 0)
		atomic_fetch_or(&body(p, r)->waiters, 1ull << p->self);
}

static void unreg(vmshm_pool *p, const vmshm_ref *r)
{
	_Atomic uint32_t *n = &p->waiting[r->slot];
	if (atomic_fetch_sub(n, 1) != 1)
		return;
	atomic_fetch_and(&body(p, r)->waiters, ~(1ull << p->self));
	if (atomic_load(n) > 0) /* another thread began to wait meanwhile */
		atomic_fetch_or(&body(p, r)->waiters, 1ull << p->self);
	else if (r->type == VMSHM_TYPE_EVENT)
		void_tokens(body(p, r));
}

/* Sleeps until this peer is woken, or NS pass. */
static void nap(vmshm_pool *p, uint64_t wake0, uint64_t ns, unsigned *backoff_us)
{
	struct fmt_peer *me = fmt_peer(&p->L, p->self);
	if (p->judge.kind == FMT_JUDGE_LOCK && p->map.be->futex_ok &&
	    plat_futex_wait(&me->wake, (uint32_t)wake0, ns) == 0)
		return;
	if (p->map.be->wait && p->map.ivposition >= 0) {
		p->map.be->wait(&p->map, (int)((ns + 999999) / 1000000));
		return;
	}
	/* No wake-up channel reaches us: poll, backing off to the slice. */
	unsigned us = *backoff_us;
	if ((uint64_t)us * 1000 > ns)
		us = (unsigned)(ns / 1000);
	plat_sleep_us(us ? us : 1);
	if (*backoff_us < SLICE_NS / 1000)
		*backoff_us *= 2;
}

int sync_wait(vmshm_pool *p, const vmshm_ref *refs, uint32_t n, uint64_t timeout_ns,
	      uint32_t *index)
{
	uint32_t pulse0[VMSHM_WAIT_MAX];
	uint64_t start = 0, owner_checked = 0, deadline = 0, spin_until = 0;
	unsigned backoff_us = 50;
	int registered = 0, judge = 1, rc;
	for (uint32_t i = 0; i < n; i++)
		pulse0[i] = (uint32_t)(LD(&body(p, &refs[i])->state) >> 32);
	for (;;) {
		uint64_t wake0 = atomic_load(&fmt_peer(&p->L, p->self)->wake);
		for (uint32_t i = 0; i < n; i++) {
			int t = try_one(p, &refs[i], pulse0[i], judge);
			if (t != TRY_NO) {
				*index = i;
				rc = t;
				goto out;
			}
		}
		judge = 0;
		uint64_t now = plat_now_ns();
		if (!start) { /* the clock only once the first try failed */
			start = owner_checked = now;
			deadline = timeout_ns == VMSHM_INFINITE ? UINT64_MAX : now + timeout_ns;
			spin_until = now + p->spin_ns;
		}
		if (now >= deadline) {
			rc = VMSHM_ETIMEDOUT;
			goto out;
		}
		if (now < spin_until) {
			plat_yield();
			continue;
		}
		if (!registered) { /* then look once more before sleeping */
			for (uint32_t i = 0; i < n; i++)
				reg(p, &refs[i]);
			registered = 1;
			continue;
		}
		nap(p, wake0, deadline - now < SLICE_NS ? deadline - now : SLICE_NS, &backoff_us);
		if (plat_now_ns() - owner_checked >= OWNER_CHECK_NS) {
			owner_checked = plat_now_ns();
			judge = 1; /* the next round judges mutex owners */
		}
	}
out:
	if (registered)
		for (uint32_t i = 0; i < n; i++)
			unreg(p, &refs[i]);
	return rc;
}

/* ---- owners that leave ---------------------------------------------------- */

/* Mutex B, owned as W by one of ours, becomes free and abandoned. */
static void mark_abandoned(vmshm_pool *p, struct fmt_sync *b, uint64_t w)
{
	ST(&b->depth, 0);
	if (CAS(&b->state, &w, MX_ABANDONED))
		signal_change(p, b);
}

/* Marks every mutex that any thread of this attach (OWNER without its
 * thread id) owns among the objects it holds as abandoned, and wakes its
 * waiters. */
static void abandon_owned(vmshm_pool *p, uint64_t owner)
{
	for (uint32_t s = 0; s < p->L.slot_count; s++) {
		uint64_t v = dir_local_ref(p, s);
		if (!LREF_COUNT(v))
			continue;
		uint64_t sw = LD(&fmt_slot(&p->L, s)->state);
		/* we hold it: LIVE, or CLOSING while another peer's last close
		 * judges it (and keeps it) */
		if (SW_TYPE(sw) != VMSHM_TYPE_MUTEX ||
		    (SW_STATE(sw) != VMSHM_OBJ_LIVE && SW_STATE(sw) != VMSHM_OBJ_CLOSING) ||
		    SW_GEN(sw) != LREF_GEN(v))
			continue;
		vmshm_ref r;
		if (dir_ref_of(p, s, sw, &r) < 0 || !body_ok(&r)) /* we hold it already */
			continue;
		struct fmt_sync *b = body(p, &r);
		uint64_t w = LD(&b->state);
		if ((w & MX_OWNED) && (w >> 32) == (owner >> 32)) /* any thread of ours */
			mark_abandoned(p, b, w);
	}
}

/* Abandons mutex SLOT (generation GEN) if the calling thread owns it,
 * holding it meanwhile (our handles to it may all be closed). */
static void abandon_if_mine(vmshm_pool *p, uint32_t slot, uint32_t gen)
{
	uint64_t sw = LD(&fmt_slot(&p->L, slot)->state);
	vmshm_ref r;
	if (SW_GEN(sw) != gen || SW_TYPE(sw) != VMSHM_TYPE_MUTEX ||
	    SW_STATE(sw) != VMSHM_OBJ_LIVE || dir_hold(p, slot, sw, &r) < 0)
		return;
	if (!body_ok(&r)) {
		dir_unhold(p, &r);
		return;
	}
	struct fmt_sync *b = body(p, &r);
	uint64_t w = LD(&b->state);
	if (w == my_owner_id(p))
		mark_abandoned(p, b, w);
	dir_unhold(p, &r);
}

/* A thread that owned mutexes ends: each it still owns is abandoned (in
 * the attaches that are still there). */
static void thread_ends(void *arg)
{
	struct owned_list *l = arg;
	for (int i = 0; i < l->n; i++) {
		vmshm_pool *p = l->e[i].p;
		if (!pool_alive(p))
			continue;
		plat_lock_take(&p->lock);
		if (pool_usable(p) == 0)
			abandon_if_mine(p, l->e[i].slot, l->e[i].gen);
		plat_lock_give(&p->lock);
	}
	free(l);
}

void sync_track_owned(vmshm_pool *p, const vmshm_ref *r)
{
	owned_add(p, r);
}

/* Detach: every mutex any thread of this attach owns is abandoned. */
void sync_detach(vmshm_pool *p)
{
	abandon_owned(p, my_owner_id(p));
}

/* Reclaim of peer I (reclaim.c): its waiter bits go, its mutexes are
 * abandoned (their waiters learn it at once). */
void sync_scrub_peer(vmshm_pool *p, uint32_t i)
{
	const struct fmt_layout *L = &p->L;
	for (uint32_t s = 0; s < L->slot_count; s++) {
		uint64_t sw = LD(&fmt_slot(L, s)->state);
		int type = SW_TYPE(sw);
		if (SW_STATE(sw) != VMSHM_OBJ_LIVE ||
		    (type != VMSHM_TYPE_EVENT && type != VMSHM_TYPE_MUTEX &&
		     type != VMSHM_TYPE_SEMAPHORE))
			continue;
		vmshm_ref r;
		if (dir_hold(p, s, sw, &r) < 0) /* held, it cannot die under us */
			continue;
		if (!body_ok(&r)) { /* damaged: no body to touch */
			dir_unhold(p, &r);
			continue;
		}
		struct fmt_sync *b = body(p, &r);
		atomic_fetch_and(&b->waiters, ~(1ull << i));
		if (type == VMSHM_TYPE_EVENT)
			void_tokens(b);
		uint64_t w = LD(&b->state);
		if (type == VMSHM_TYPE_MUTEX && (w & MX_OWNED) && MX_IDX(w) == i &&
		    CAS(&b->state, &w, MX_ABANDONED))
			signal_change(p, b);
		dir_unhold(p, &r);
	}
}
