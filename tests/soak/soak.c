/*
 * soak.c - `make soak`: thousands of SIGKILLs of processes in create/open/
 * write/verify/close loops on one pool, with reclaim and the consistency
 * check between rounds, while a survivor that is never killed holds objects
 * whose bytes must stay intact. Method and figures: docs/SOAK.md.
 *
 * Environment: SOAK_KILLS (10000), SOAK_WORKERS (4), SOAK_CHECK_EVERY (kills
 * between two checks with every process parked, 100), SOAK_STOPPED_EVERY
 * (kills between two checks with every process stopped wherever it was, 10),
 * SOAK_SEED (the driver's random seed; printed).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

enum {
	MAX_WORKERS = 32,
	NAMES = 6, /* the shared names the workers churn: name-0 .. name-5 */
	HOLD = 8,  /* references a worker holds at most */
	KEEP = 3,  /* objects only the survivor uses: keep-0 .. keep-2 */
	SHARED = 2 /* name-0 and name-1: created by the survivor, held all along */
};
static const uint64_t keep_size[KEEP] = {3 * 4096 + 5, 20000, 1u << 20};
static const uint64_t shared_size = 5 * 4096 + 123;

/* What one worker slot counts, across all the processes that fill it. */
struct wcount {
	_Atomic long iterations, creates, opens, closes, busy, nospc;
	_Atomic long unexpected, not_zeroed, stripe_bad, attach_failed;
	_Atomic int last_op, last_err;
	_Atomic unsigned parked; /* the last pause this slot has parked for */
	char pad[64];
};

struct soak {
	int nworkers;
	_Atomic unsigned pause; /* 0: run; else the pause everyone parks for */
	_Atomic int survivor_ready, survivor_quit, survivor_result;
	_Atomic long survivor_bad;
	struct wcount w[MAX_WORKERS + 1]; /* the last one is the survivor's */
};

enum { OP_ATTACH = 1, OP_CREATE, OP_OPEN, OP_CLOSE };

/* One reference a process holds, and the pattern in its own stripe. */
struct held {
	vmshm_ref ref;
	uint8_t *stripe;
	size_t len;
	uint32_t seed;
};

static void note(struct wcount *c, int op, int err)
{
	c->unexpected++;
	c->last_op = op;
	c->last_err = err;
}

/* Every process that shares a named object writes and verifies only its own
 * stripe: worker slot W the W-th of NWORKERS + 1, the survivor the last. An
 * unnamed object is the creator's alone: all of it. */
static void stripe_of(struct held *h, int named, int who, int nworkers)
{
	size_t len = named ? (size_t)(h->ref.size / (uint64_t)(nworkers + 1)) : h->ref.size;

	h->stripe = (uint8_t *)h->ref.addr + (named ? (size_t)who * len : 0);
	h->len = len;
}

static int held_ok(const struct held *h)
{
	return pattern_ok(h->stripe, h->len, h->seed);
}

static vmshm_pool *attach_or_die(struct wcount *c)
{
	vmshm_pool *p = NULL;
	char why[256] = "";
	int rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);

	if (rc < 0) {
		c->attach_failed++;
		note(c, OP_ATTACH, rc);
		fprintf(stderr, "soak: attach in pid %ld: %s %s\n", (long)getpid(),
			vmshm_strerror(rc), why);
		_exit(3);
	}
	return p;
}

/* Waits at a safe point (no call in progress) while the driver checks. */
static void park_if_asked(struct soak *s, int who, const struct held *held, int nheld)
{
	struct wcount *c = &s->w[who];
	unsigned pause = atomic_load(&s->pause);

	if (pause == 0 || c->parked == pause)
		return;
	for (int i = 0; i < nheld; i++)
		if (!held_ok(&held[i])) {
			if (who == s->nworkers)
				s->survivor_bad++;
			else
				c->stripe_bad++;
		}
	c->parked = pause;
	while (atomic_load(&s->pause) == pause)
		usleep(200);
}

static int drop(vmshm_pool *p, struct wcount *c, struct held *held, int *nheld, int i)
{
	int rc;

	if (!held_ok(&held[i]))
		c->stripe_bad++;
	rc = vmshm_close(p, &held[i].ref);
	c->closes++;
	if (rc != 0)
		note(c, OP_CLOSE, rc);
	held[i] = held[--*nheld];
	return rc;
}

/* A new reference: created (its stripe must be zero) or opened. Writes this
 * process's stripe, unless it already holds the object and its pattern. */
static void take(struct soak *s, int who, struct held *held, int *nheld, const vmshm_ref *ref,
		 int named, int created, uint64_t *rnd)
{
	struct wcount *c = &s->w[who];
	struct held *h = &held[(*nheld)++];

	h->ref = *ref;
	stripe_of(h, named, who, s->nworkers);
	/* Other workers may already write their stripes of a new named object. */
	if (created && !all_zero(h->stripe, h->len))
		c->not_zeroed++;
	for (int i = 0; i < *nheld - 1; i++)
		if (held[i].ref.slot == ref->slot && held[i].ref.gen == ref->gen) {
			h->seed = held[i].seed;
			return;
		}
	h->seed = (uint32_t)rnd_next(rnd);
	pattern_fill(h->stripe, h->len, h->seed);
}

static void worker(struct soak *s, int who, uint64_t rnd)
{
	struct wcount *c = &s->w[who];
	vmshm_pool *p = attach_or_die(c);
	struct held held[HOLD];
	int nheld = 0;

	for (;;) {
		char name[32];
		vmshm_ref ref;
		int op = (int)(rnd_next(&rnd) % 8), rc;
		uint64_t max = rnd_next(&rnd) % 4 == 0 ? 65536 : 3 * 4096;
		uint64_t size = 1 + rnd_next(&rnd) % max;

		park_if_asked(s, who, held, nheld);
		c->iterations++;
		snprintf(name, sizeof name, "name-%d", (int)(rnd_next(&rnd) % NAMES));
		if (op >= 6 || nheld == HOLD) {
			if (nheld > 0)
				drop(p, c, held, &nheld, (int)(rnd_next(&rnd) % (uint64_t)nheld));
			continue;
		}
		if (op <= 3) {
			const char *n = op == 3 ? NULL : name;

			rc = vmshm_create(p, VMSHM_TYPE_SHM, n, size, 0, 0, &ref);
			c->creates++;
			if (rc == 0 || rc == 1)
				take(s, who, held, &nheld, &ref, n != NULL, rc == 0, &rnd);
			else if (rc == VMSHM_EBUSY)
				c->busy++;
			else if (rc == VMSHM_ENOSPC || rc == VMSHM_ENOSLOT)
				c->nospc++;
			else if (rc != VMSHM_ETOOBIG)
				note(c, OP_CREATE, rc);
		} else {
			rc = vmshm_open(p, VMSHM_TYPE_SHM, name, &ref);
			c->opens++;
			if (rc == 0)
				take(s, who, held, &nheld, &ref, 1, 0, &rnd);
			else if (rc == VMSHM_EBUSY)
				c->busy++;
			else if (rc != VMSHM_ENOENT)
				note(c, OP_OPEN, rc);
		}
	}
}

static uint32_t keep_seed(int i)
{
	return 500 + (uint32_t)i;
}

static uint32_t shared_seed(int i)
{
	return 700 + (uint32_t)i;
}

/* Never killed: creates keep-* (its own) and name-0, name-1 (shared with the
 * workers, its stripe the last), verifies them at every pause and at the end,
 * then closes them. */
static void survivor(struct soak *s)
{
	int who = s->nworkers, rc, n = 0;
	struct wcount *c = &s->w[who];
	vmshm_pool *p = attach_or_die(c);
	struct held held[KEEP + SHARED];

	for (int i = 0; i < KEEP + SHARED; i++) {
		char name[32];
		uint64_t size = i < KEEP ? keep_size[i] : shared_size;
		struct held *h = &held[n];

		if (i < KEEP)
			snprintf(name, sizeof name, "keep-%d", i);
		else
			snprintf(name, sizeof name, "name-%d", i - KEEP);
		rc = vmshm_create(p, VMSHM_TYPE_SHM, name, size, 0, VMSHM_EXCL, &h->ref);
		if (rc != 0) {
			note(c, OP_CREATE, rc);
			_exit(2);
		}
		stripe_of(h, i >= KEEP, who, s->nworkers);
		h->seed = i < KEEP ? keep_seed(i) : shared_seed(i - KEEP);
		pattern_fill(h->stripe, h->len, h->seed);
		n++;
	}
	s->survivor_ready = 1;
	while (!s->survivor_quit) {
		park_if_asked(s, who, held, n);
		usleep(1000);
	}
	s->survivor_result = 1;
	for (int i = 0; i < n; i++) {
		if (!held_ok(&held[i]))
			s->survivor_result = 2;
		if (vmshm_close(p, &held[i].ref) != 0)
			s->survivor_result = 3;
	}
	vmshm_detach(p);
	_exit(0);
}

/* ---- the driver ----------------------------------------------------------- */

struct run {
	struct soak *s;
	pid_t survivor, worker[MAX_WORKERS];
	uint64_t rnd;
	long kills, checks, stopped_checks, reclaim_runs, reclaimed;
	long stopped_faults, stopped_explained;
	long claims_seen; /* abandoned claims, summed over the quiet checks */
};

static long env_long(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return def;
	n = strtol(v, &end, 0);
	cr_assert(*end == 0 && n >= lo && n <= hi, "%s=%s: expected %ld..%ld", name, v, lo, hi);
	return n;
}

static void spawn_worker(struct run *r, int i)
{
	uint64_t seed = rnd_next(&r->rnd) | 1;
	pid_t pid = spawn_child();

	if (pid == 0)
		worker(r->s, i, seed);
	r->worker[i] = pid;
}

static void kill_worker(struct run *r, int i)
{
	int rc;

	kill(r->worker[i], SIGKILL);
	rc = wait_child(r->worker[i]);
	cr_assert_eq(rc, 128 + SIGKILL, "worker %d (pid %ld) ended with %d, not by SIGKILL", i,
		     (long)r->worker[i], rc);
}

/* A fresh peer that reclaims every dead peer itself (so that they are
 * counted), then checks. Returns the number of faults. */
static int reclaim_and_check(struct run *r, const char *who, vmshm_pool **out)
{
	vmshm_pool *p;
	char why[256] = "";
	int rc = vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why);

	cr_assert_eq(rc, 0, "%s: attach: %s %s", who, vmshm_strerror(rc), why);
	rc = vmshm_reclaim(p);
	cr_assert_geq(rc, 0, "%s: vmshm_reclaim: %s", who, vmshm_strerror(rc));
	r->reclaim_runs++;
	r->reclaimed += rc;
	rc = check_pool(p, who);
	cr_assert_geq(rc, 0, "%s: vmshm_check: %s", who, vmshm_strerror(rc));
	*out = p;
	return rc;
}

static void signal_all(struct run *r, int sig)
{
	int st;

	for (int i = 0; i <= r->s->nworkers; i++) {
		pid_t pid = i < r->s->nworkers ? r->worker[i] : r->survivor;

		kill(pid, sig);
		if (sig == SIGSTOP)
			cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid, "waitpid: %s",
				     strerror(errno));
	}
}

/* With a peer stopped mid-call the one fault it may explain: between
 * dropping the last holder bit and marking the object DYING, a closing peer
 * leaves a LIVE object with no holder. Anything else is a fault. */
static void stopped_fault(const struct vmshm_fault *f, void *arg)
{
	struct run *r = arg;
	int explained = f->code == VMSHM_FAULT_HOLDERS && strstr(f->what, "no holder");

	fprintf(stderr, "soak (peers stopped mid-call): fault %s at %u: %s%s\n",
		vmshm_fault_name(f->code), f->where, f->what,
		explained ? " (a closing peer, stopped)" : "");
	if (explained)
		r->stopped_explained++;
	else
		r->stopped_faults++;
}

/* Every process stopped wherever it was, a fresh peer reclaims and checks. */
static void stopped_check(struct run *r)
{
	vmshm_pool *p;
	char why[256] = "";
	int rc;

	usleep((useconds_t)(rnd_next(&r->rnd) % 2000));
	signal_all(r, SIGSTOP);
	rc = vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "stopped check: attach: %s %s", vmshm_strerror(rc), why);
	rc = vmshm_reclaim(p);
	cr_assert_geq(rc, 0, "stopped check: vmshm_reclaim: %s", vmshm_strerror(rc));
	r->reclaim_runs++;
	r->reclaimed += rc;
	rc = vmshm_check(p, stopped_fault, r);
	cr_assert_geq(rc, 0, "stopped check: vmshm_check: %s", vmshm_strerror(rc));
	vmshm_detach(p);
	signal_all(r, SIGCONT);
	r->stopped_checks++;
	cr_assert_eq(r->stopped_faults, 0, "faults with the peers stopped (after %ld kills)",
		     r->kills);
}

struct tally {
	int not_live;
	uint64_t bytes;
};

static int tally_one(const struct vmshm_objinfo *o, void *arg)
{
	struct tally *t = arg;

	t->bytes += o->pages * VMSHM_PAGE_SIZE;
	if (o->state != VMSHM_OBJ_LIVE) {
		t->not_live++;
		fprintf(stderr, "soak: slot %u '%s' is %s at a quiet point\n", o->slot, o->name,
			vmshm_obj_state_name(o->state));
	}
	return 0;
}

static int print_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	const struct run *r = arg;
	const char *who = "a process that is not ours";

	if (pi->pid == (uint64_t)getpid())
		who = "the driver";
	else if (pi->pid == (uint64_t)r->survivor)
		who = "the survivor";
	for (int i = 0; i < r->s->nworkers; i++)
		if (pi->pid == (uint64_t)r->worker[i])
			who = "a worker";
	fprintf(stderr, "soak: peer %u gen %u %s pid %llu (%s) liveness %d reclaimer %u\n",
		pi->index, pi->gen, vmshm_peer_state_name(pi->state), (unsigned long long)pi->pid,
		who, pi->liveness, pi->reclaimer);
	return 0;
}

/* A worker killed between claiming a peer entry and writing its identity
 * leaves an entry CLAIMING with no pid: it holds nothing, the library frees
 * it once its claim stamp is stale (30 s), and no check calls it a fault. */
static int count_abandoned(const struct vmshm_peerinfo *pi, void *arg)
{
	int *n = arg;

	*n += pi->state == VMSHM_PEER_CLAIMING && pi->pid == 0;
	return 0;
}

static int abandoned_claims(vmshm_pool *p)
{
	int n = 0;

	cr_assert_geq(vmshm_peers(p, count_abandoned, &n), 0);
	return n;
}

/* Every process parked between two calls: the check must be clean, every
 * object LIVE, every dead peer reclaimed, the space fully accounted for. */
static void quiet_check(struct run *r)
{
	struct soak *s = r->s;
	unsigned pause = (unsigned)r->checks + 1;
	uint64_t end = now_ms() + 30000;
	struct vmshm_stats st;
	struct tally t = {0};
	vmshm_pool *p;
	int faults, claims;

	s->pause = pause;
	for (int i = 0; i <= s->nworkers; i++)
		while (s->w[i].parked != pause)
			cr_assert_lt(now_ms(), end, "worker slot %d did not park in 30 s", i);
	faults = reclaim_and_check(r, "soak (quiet)", &p);
	cr_assert_geq(vmshm_list(p, tally_one, &t), 0);
	cr_assert_eq(vmshm_stats(p, &st), 0);
	claims = abandoned_claims(p);
	if (st.peers != (uint32_t)(s->nworkers + 2 + claims))
		vmshm_peers(p, print_peer, r);
	vmshm_detach(p);
	r->claims_seen += claims;
	s->pause = 0;
	r->checks++;
	cr_assert_eq(faults, 0, "%d faults with every process parked (after %ld kills)", faults,
		     r->kills);
	cr_assert_eq(t.not_live, 0, "objects not LIVE with every process parked");
	cr_assert_eq(st.peers, (uint32_t)(s->nworkers + 2 + claims),
		     "%u peers, expected %d workers, the survivor, the driver and %d abandoned "
		     "claims",
		     st.peers, s->nworkers, claims);
	cr_assert_eq(st.used_bytes, t.bytes, "used %llu bytes, the objects own %llu",
		     (unsigned long long)st.used_bytes, (unsigned long long)t.bytes);
	cr_assert_eq(st.used_bytes + st.free_bytes, st.data_bytes);
}

struct survivors {
	int theirs, others;
	uint64_t bytes, holders_or;
};

static int survivor_one(const struct vmshm_objinfo *o, void *arg)
{
	struct survivors *v = arg;

	if (o->named && o->state == VMSHM_OBJ_LIVE &&
	    (strncmp(o->name, "keep-", 5) == 0 || strcmp(o->name, "name-0") == 0 ||
	     strcmp(o->name, "name-1") == 0)) {
		v->theirs++;
		v->bytes += o->pages * VMSHM_PAGE_SIZE;
		v->holders_or |= o->holders;
		return 0;
	}
	v->others++;
	fprintf(stderr, "soak: left over: slot %u '%s' %s holders 0x%llx\n", o->slot, o->name,
		vmshm_obj_state_name(o->state), (unsigned long long)o->holders);
	return 0;
}

/* The driver opens the survivor's objects and verifies its patterns. */
static void verify_survivor_bytes(vmshm_pool *p, int nworkers)
{
	for (int i = 0; i < KEEP + SHARED; i++) {
		struct held h;
		char name[32];

		if (i < KEEP)
			snprintf(name, sizeof name, "keep-%d", i);
		else
			snprintf(name, sizeof name, "name-%d", i - KEEP);
		cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, name, &h.ref), 0, "open %s", name);
		stripe_of(&h, i >= KEEP, nworkers, nworkers);
		h.seed = i < KEEP ? keep_seed(i) : shared_seed(i - KEEP);
		cr_assert(held_ok(&h), "%s: the survivor's bytes changed", name);
		cr_assert_eq(vmshm_close(p, &h.ref), 0);
	}
}

static void sum_counts(const struct soak *s, struct wcount *t)
{
	memset(t, 0, sizeof *t);
	for (int i = 0; i <= s->nworkers; i++) {
		t->iterations += s->w[i].iterations;
		t->creates += s->w[i].creates;
		t->opens += s->w[i].opens;
		t->closes += s->w[i].closes;
		t->busy += s->w[i].busy;
		t->nospc += s->w[i].nospc;
		t->unexpected += s->w[i].unexpected;
		t->not_zeroed += s->w[i].not_zeroed;
		t->stripe_bad += s->w[i].stripe_bad;
		t->attach_failed += s->w[i].attach_failed;
	}
}

static void assert_counts(const struct soak *s)
{
	struct wcount t;

	sum_counts(s, &t);
	for (int i = 0; i <= s->nworkers; i++)
		cr_assert_eq(s->w[i].unexpected, 0,
			     "worker slot %d: %ld unexpected results, last: op %d error %s", i,
			     (long)s->w[i].unexpected, s->w[i].last_op,
			     vmshm_strerror(s->w[i].last_err));
	cr_assert_eq(t.not_zeroed, 0, "%ld creates got memory that was not zero",
		     (long)t.not_zeroed);
	cr_assert_eq(t.stripe_bad, 0, "%ld stripes lost their pattern while held",
		     (long)t.stripe_bad);
	cr_assert_eq(s->survivor_bad, 0, "the survivor's bytes changed (%ld times)",
		     (long)s->survivor_bad);
}

static void progress(const struct run *r, uint64_t t0)
{
	struct wcount t;

	sum_counts(r->s, &t);
	fprintf(stderr, "soak: %ld kills, %ld iterations, %ld quiet checks, %.1f s\n", r->kills,
		(long)t.iterations, r->checks, (double)(now_ms() - t0) / 1000);
}

Test(soak, sigkill_rounds, .init = tp_setup, .fini = tp_teardown, .timeout = 7200)
{
	long kills = env_long("SOAK_KILLS", 10000, 1, 10000000);
	int nworkers = (int)env_long("SOAK_WORKERS", 4, 1, MAX_WORKERS);
	long every = env_long("SOAK_CHECK_EVERY", 100, 1, 10000000);
	long stopped_every = env_long("SOAK_STOPPED_EVERY", 10, 1, 10000000);
	uint64_t seed =
	    (uint64_t)env_long("SOAK_SEED", (long)(getpid() ^ (long)now_ms()), 1, 0x7fffffffl);
	struct run r = {.s = shared_area(sizeof *r.s), .rnd = seed | 1};
	uint64_t t0 = now_ms(), t_claims, surv_mask;
	struct survivors v = {0};
	struct vmshm_stats st;
	struct wcount t;
	vmshm_pool *p;
	int rc, claims;

	fprintf(stderr,
		"soak: %ld kills of %d workers, a quiet check every %ld kills, a stopped one "
		"every %ld, seed %llu\n",
		kills, nworkers, every, stopped_every, (unsigned long long)seed);
	r.s->nworkers = nworkers;
	r.survivor = spawn_child();
	if (r.survivor == 0)
		survivor(r.s);
	for (uint64_t end = now_ms() + 30000; !r.s->survivor_ready && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(r.s->survivor_ready, 1, "the survivor did not start");
	for (int i = 0; i < nworkers; i++)
		spawn_worker(&r, i);

	while (r.kills < kills) {
		int i = (int)(rnd_next(&r.rnd) % (uint64_t)nworkers);

		usleep((useconds_t)(rnd_next(&r.rnd) % 3000));
		kill_worker(&r, i);
		r.kills++;
		spawn_worker(&r, i);
		if (r.kills % stopped_every == 0)
			stopped_check(&r);
		if (r.kills % every == 0 || r.kills == kills) {
			quiet_check(&r);
			assert_counts(r.s);
		}
		if (r.kills % 1000 == 0)
			progress(&r, t0);
	}
	for (int i = 0; i < nworkers; i++)
		kill_worker(&r, i);
	assert_counts(r.s);

	/* Only the survivor is left: after one reclaim the check is clean and
	 * the free space is the object space less the survivor's objects. */
	rc = reclaim_and_check(&r, "soak (end)", &p);
	cr_assert_eq(rc, 0, "%d faults after the last reclaim", rc);
	claims = abandoned_claims(p);
	t_claims = now_ms();
	for (uint64_t end = now_ms() + 60000; abandoned_claims(p) && now_ms() < end;) {
		sleep(1);
		cr_assert_geq(vmshm_reclaim(p), 0);
	}
	cr_assert_geq(vmshm_list(p, survivor_one, &v), 0);
	cr_assert_eq(v.others, 0, "%d objects besides the survivor's", v.others);
	cr_assert_eq(v.theirs, KEEP + SHARED);
	surv_mask = tp_peer_mask(r.survivor);
	cr_assert_neq(surv_mask, 0, "the survivor's peer entry is gone");
	cr_assert_eq(v.holders_or, surv_mask, "holders 0x%llx, expected the survivor's 0x%llx",
		     (unsigned long long)v.holders_or, (unsigned long long)surv_mask);
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.peers, 2, "%u peers, expected the survivor and this one", st.peers);
	cr_assert_eq(st.free_bytes, st.data_bytes - v.bytes,
		     "free %llu, expected %llu: %lld bytes lost", (unsigned long long)st.free_bytes,
		     (unsigned long long)(st.data_bytes - v.bytes),
		     (long long)(st.data_bytes - v.bytes - st.free_bytes));
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes - v.bytes);
	verify_survivor_bytes(p, nworkers);

	/* The survivor verifies and closes: the pool is empty again. */
	r.s->survivor_quit = 1;
	rc = wait_child(r.survivor);
	cr_assert_eq(rc, 0, "the survivor ended with %d", rc);
	cr_assert_eq(r.s->survivor_result, 1, "the survivor's own verify or close failed (%d)",
		     r.s->survivor_result);
	assert_pool_empty(p, 1, "soak, end");
	vmshm_detach(p);

	sum_counts(r.s, &t);
	fprintf(stderr,
		"soak: %ld kills of %d workers in %.1f s: %ld worker iterations (%ld creates, "
		"%ld opens, %ld closes, %ld busy, %ld out of space); %ld quiet checks and %ld "
		"with everyone stopped mid-call, 0 faults (%ld explained by a stopped closing "
		"peer); %ld reclaim runs by the driver reclaimed %ld dead peers (the rest were "
		"reclaimed at the workers' attach); %ld abandoned claims seen by the quiet "
		"checks, %d left at the end (waited %.1f s for them); survivor bytes intact\n",
		r.kills, nworkers, (double)(now_ms() - t0) / 1000, (long)t.iterations,
		(long)t.creates, (long)t.opens, (long)t.closes, (long)t.busy, (long)t.nospc,
		r.checks, r.stopped_checks, r.stopped_explained, r.reclaim_runs, r.reclaimed,
		r.claims_seen, claims, (double)(now_ms() - t_claims) / 1000);
	shared_area_free(r.s, sizeof *r.s);
}
