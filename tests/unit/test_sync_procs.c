/*
 * test_sync_procs.c - events, mutexes and semaphores between processes on
 * one host pool (issue 10): a counter incremented under one mutex by 8
 * processes, producers and consumers on semaphores, event handoffs between
 * two processes, a pulse with 4 waiting processes, a wait-any of 64
 * handles in another process; and the CPU a blocked waiter uses (a figure).
 *
 * Children only _exit(): they count what went wrong in a shared area and
 * the test process asserts. Every wait of a child is bounded.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "aw.h"
#include "sync_helpers.h"

#define CHILD_WAIT_MS 10000

static void wait_all(const pid_t *pid, int n)
{
	for (int i = 0; i < n; i++) {
		int rc = wait_child(pid[i]);
		cr_assert_eq(rc, 0, "child %d ended with %d", i, rc);
	}
}

static double secs_since(uint64_t t0)
{
	return (double)(now_ms() - t0) / 1000;
}

/* ---- 8 processes x N increments under one mutex ----------------------- */

enum { MX_PROCS = 8, MX_INCREMENTS = 100000 };

struct counter {
	_Atomic int ready;
	long value; /* plain: only the mutex keeps it exact */
	_Atomic long abandoned, failed, inside;
	_Atomic int overlap;
};

static void counter_child(struct counter *c, int id)
{
	HANDLE m = id % 2 ? RtOpenMutexA(SYNCHRONIZE, FALSE, "counter")
			  : RtOpenMutexW(SYNCHRONIZE, FALSE, w16("counter"));

	if (!m || proc_barrier(&c->ready, MX_PROCS, 30000) < 0)
		_exit(2);
	for (int i = 0; i < MX_INCREMENTS; i++) {
		DWORD r = RtWaitForSingleObject(m, CHILD_WAIT_MS);

		if (r == WAIT_ABANDONED)
			c->abandoned++;
		else if (r != WAIT_OBJECT_0) {
			c->failed++;
			continue;
		}
		if (atomic_fetch_add(&c->inside, 1) != 0)
			c->overlap = 1;
		c->value++;
		if (i % 64 == 0)
			sched_yield(); /* now and then, others must wait for it */
		atomic_fetch_sub(&c->inside, 1);
		if (!RtReleaseMutex(m))
			c->failed++;
	}
	_exit(0);
}

Test(sync_procs, mutex_counter, .init = tp_setup, .fini = tp_teardown)
{
	struct counter *c = shared_area(sizeof *c);
	pid_t pid[MX_PROCS];
	HANDLE m = RtCreateMutexA(NULL, FALSE, "counter");
	uint64_t t0;

	assert_ok(m, 0, "create");
	t0 = now_ms();
	for (int i = 0; i < MX_PROCS; i++) {
		pid[i] = spawn_child();
		if (pid[i] == 0)
			counter_child(c, i);
	}
	wait_all(pid, MX_PROCS);
	fprintf(stderr, "sync_procs: %d processes x %d increments under one mutex: %.2f s\n",
		MX_PROCS, MX_INCREMENTS, secs_since(t0));
	cr_assert_eq(c->failed, 0, "%ld waits or releases failed", (long)c->failed);
	cr_assert_eq(c->abandoned, 0);
	cr_assert_eq(c->overlap, 0, "two processes inside at once");
	cr_assert_eq(c->value, (long)MX_PROCS * MX_INCREMENTS, "total %ld, expected %ld", c->value,
		     (long)MX_PROCS * MX_INCREMENTS);
	struct vmshm_objinfo oi = sy_info("counter");
	cr_assert_eq(oi.mx_owner, 0, "left owned");
	cr_assert_eq(oi.abandoned, 0, "left abandoned");
	cr_assert_eq(oi.waiters, 0, "waiter bits left: 0x%llx", (unsigned long long)oi.waiters);
}

/* ---- producers and consumers: a ring of 8 under two semaphores --------- */

enum { PRODUCERS = 2, CONSUMERS = 2, TOKENS = 100000, RING = 8 };

struct ring {
	_Atomic int ready;
	uint32_t slot[RING];
	uint32_t head, tail; /* under the mutex */
	_Atomic int taken;   /* tokens consumers took (claims) */
	_Atomic uint8_t seen[TOKENS];
	_Atomic long failed, bad_token;
};

static void ring_child(struct ring *r, int id)
{
	HANDLE items = RtOpenSemaphoreA(SYNCHRONIZE, FALSE, "items");
	HANDLE spaces = RtOpenSemaphoreW(SEMAPHORE_MODIFY_STATE, FALSE, w16("spaces"));
	HANDLE m = RtOpenMutexA(SYNCHRONIZE, FALSE, "ring");
	int producer = id < PRODUCERS;

	if (!items || !spaces || !m || proc_barrier(&r->ready, PRODUCERS + CONSUMERS, 30000) < 0)
		_exit(2);
	for (;;) {
		uint32_t token = 0;

		if (producer) {
			/* Producer I makes tokens I, I + PRODUCERS, ... */
			static uint32_t next;
			if (next == 0)
				next = (uint32_t)id + 1;
			if (next > TOKENS)
				break;
			token = next - 1;
			next += PRODUCERS;
		} else if (atomic_fetch_add(&r->taken, 1) >= TOKENS) {
			break;
		}
		if (RtWaitForSingleObject(producer ? spaces : items, CHILD_WAIT_MS) !=
			WAIT_OBJECT_0 ||
		    RtWaitForSingleObject(m, CHILD_WAIT_MS) != WAIT_OBJECT_0) {
			r->failed++;
			_exit(3);
		}
		if (producer)
			r->slot[r->tail++ % RING] = token;
		else
			token = r->slot[r->head++ % RING];
		if (!RtReleaseMutex(m) || !RtReleaseSemaphore(producer ? items : spaces, 1, NULL)) {
			r->failed++;
			_exit(3);
		}
		if (!producer) {
			if (token >= TOKENS)
				r->bad_token++;
			else
				r->seen[token]++;
		}
	}
	_exit(0);
}

Test(sync_procs, semaphore_producers_consumers, .init = tp_setup, .fini = tp_teardown)
{
	struct ring *r = shared_area(sizeof *r);
	pid_t pid[PRODUCERS + CONSUMERS];
	HANDLE items = RtCreateSemaphoreA(NULL, 0, RING, "items");
	HANDLE spaces = RtCreateSemaphoreA(NULL, RING, RING, "spaces");
	HANDLE m = RtCreateMutexA(NULL, FALSE, "ring");
	uint64_t t0 = now_ms();

	cr_assert(items && spaces && m);
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
		pid[i] = spawn_child();
		if (pid[i] == 0)
			ring_child(r, i);
	}
	wait_all(pid, PRODUCERS + CONSUMERS);
	fprintf(stderr,
		"sync_procs: %d producers, %d consumers, %d tokens through %d slots: %.2f s\n",
		PRODUCERS, CONSUMERS, TOKENS, RING, secs_since(t0));
	cr_assert_eq(r->failed, 0);
	cr_assert_eq(r->bad_token, 0);
	int twice = 0, never = 0;
	for (int t = 0; t < TOKENS; t++) {
		twice += r->seen[t] > 1;
		never += r->seen[t] == 0;
	}
	cr_assert_eq(twice + never, 0, "%d tokens consumed twice, %d never", twice, never);
	cr_assert_eq(sy_info("items").count, 0);
	cr_assert_eq(sy_info("spaces").count, RING);
	assert_wait(RtWaitForSingleObject(items, 0), WAIT_TIMEOUT, 0, "no token left");
}

/* ---- event handoffs between two processes ------------------------------- */

enum { HANDOFFS = 100000 };

struct handoff {
	_Atomic int ready;
	_Atomic uint32_t baton;
	_Atomic long lost, out_of_order, failed;
};

/* Side 0 passes odd numbers with "ping", side 1 even ones with "pong":
 * each handoff is one set and one wait of an auto event. */
static void handoff_child(struct handoff *h, int side)
{
	HANDLE mine = RtOpenEventA(SYNCHRONIZE, FALSE, side ? "ping" : "pong");
	HANDLE theirs = RtOpenEventA(EVENT_MODIFY_STATE, FALSE, side ? "pong" : "ping");

	if (!mine || !theirs || proc_barrier(&h->ready, 2, 30000) < 0)
		_exit(2);
	for (uint32_t n = (uint32_t)side; n < HANDOFFS; n += 2) {
		if (n > 0) {
			DWORD r = RtWaitForSingleObject(mine, CHILD_WAIT_MS);
			if (r == WAIT_TIMEOUT) {
				h->lost++;
				_exit(3);
			}
			if (r != WAIT_OBJECT_0) {
				h->failed++;
				_exit(3);
			}
			if (h->baton != n)
				h->out_of_order++;
		}
		h->baton = n + 1;
		if (!RtSetEvent(theirs))
			h->failed++;
	}
	_exit(0);
}

Test(sync_procs, event_handoffs, .init = tp_setup, .fini = tp_teardown)
{
	struct handoff *h = shared_area(sizeof *h);
	pid_t pid[2];
	HANDLE ping = RtCreateEventA(NULL, FALSE, FALSE, "ping");
	HANDLE pong = RtCreateEventW(NULL, FALSE, FALSE, w16("pong"));
	uint64_t t0 = now_ms();

	cr_assert(ping && pong);
	for (int i = 0; i < 2; i++) {
		pid[i] = spawn_child();
		if (pid[i] == 0)
			handoff_child(h, i);
	}
	wait_all(pid, 2);
	double s = secs_since(t0);
	fprintf(stderr,
		"sync_procs: %d event handoffs between two processes: %.2f s (%.1f us each)\n",
		HANDOFFS, s, s * 1e6 / HANDOFFS);
	cr_assert_eq(h->lost, 0, "a handoff was lost");
	cr_assert_eq(h->failed, 0);
	cr_assert_eq(h->out_of_order, 0);
	cr_assert_eq(h->baton, HANDOFFS);
}

/* ---- a pulse with 4 waiting processes ------------------------------------ */

enum { PULSE_WAITERS = 4 };

struct pulse {
	_Atomic DWORD result[PULSE_WAITERS];
	_Atomic uint64_t took_ms[PULSE_WAITERS];
};

static void pulse_waiter(struct pulse *p, int i, int ms)
{
	HANDLE e = RtOpenEventA(SYNCHRONIZE, FALSE, "pulse");
	uint64_t t0 = now_ms();

	p->result[i] = e ? RtWaitForSingleObject(e, (DWORD)ms) : 0xdead;
	p->took_ms[i] = now_ms() - t0;
	_exit(0);
}

static void pulse_4(BOOL manual)
{
	struct pulse *p = shared_area(sizeof *p);
	pid_t pid[PULSE_WAITERS];
	HANDLE e = RtCreateEventA(NULL, manual, FALSE, "pulse");
	int released = 0, timed_out = 0;
	const int ms = 2000;

	assert_ok(e, 0, "create");
	for (int i = 0; i < PULSE_WAITERS; i++) {
		pid[i] = spawn_child();
		if (pid[i] == 0)
			pulse_waiter(p, i, ms);
	}
	cr_assert_eq(sy_await_waiters("pulse", PULSE_WAITERS, 5000), PULSE_WAITERS,
		     "the 4 processes did not all wait");
	assert_bool(RtPulseEvent(e), 1, 0, "pulse");
	wait_all(pid, PULSE_WAITERS);
	for (int i = 0; i < PULSE_WAITERS; i++) {
		if (p->result[i] == WAIT_OBJECT_0) {
			released++;
			cr_assert_lt(p->took_ms[i], ms, "released late");
		} else if (p->result[i] == WAIT_TIMEOUT) {
			timed_out++;
		}
	}
	cr_assert_eq(released, manual ? PULSE_WAITERS : 1, "%s pulse released %d of %d",
		     manual ? "a manual" : "an auto", released, PULSE_WAITERS);
	cr_assert_eq(released + timed_out, PULSE_WAITERS);
	struct vmshm_objinfo oi = sy_info("pulse");
	cr_assert_eq(oi.signaled, 0, "set after the pulse");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "after the pulse");
}

Test(sync_procs, manual_pulse_4_waiters, .init = tp_setup, .fini = tp_teardown)
{
	pulse_4(TRUE);
}

Test(sync_procs, auto_pulse_4_waiters, .init = tp_setup, .fini = tp_teardown)
{
	pulse_4(FALSE);
}

/* ---- a wait-any of 64 handles in another process -------------------------- */

enum { WFMO_LAST = 3 }; /* rounds after three events were set at once */

struct wfmo {
	_Atomic int ready, go;
	_Atomic DWORD result[MAX_WFMO + WFMO_LAST];
};

static void wfmo_child(struct wfmo *w)
{
	/* A semaphore: the child may answer the last rounds faster than the
	 * parent takes them (an auto-reset event set twice releases once). */
	HANDLE h[MAX_WFMO], ack = RtOpenSemaphoreA(SEMAPHORE_MODIFY_STATE, FALSE, "ack");

	for (int i = 0; i < MAX_WFMO; i++) {
		char name[32];

		snprintf(name, sizeof name, "ev-%02d", i);
		h[i] = i % 2 ? RtOpenEventA(SYNCHRONIZE, FALSE, name)
			     : RtOpenEventW(SYNCHRONIZE, FALSE, w16(name));
		if (!h[i])
			_exit(2);
	}
	w->ready = 1;
	for (int k = 0; k < MAX_WFMO + WFMO_LAST; k++) {
		if (k == MAX_WFMO)
			for (uint64_t end = now_ms() + CHILD_WAIT_MS; !w->go && now_ms() < end;)
				usleep(1000);
		w->result[k] = RtWaitForMultipleObjects(MAX_WFMO, h, FALSE, CHILD_WAIT_MS);
		if (!ack || !RtReleaseSemaphore(ack, 1, NULL))
			_exit(3);
	}
	_exit(0);
}

Test(sync_procs, wait_any_64_handles, .init = tp_setup, .fini = tp_teardown)
{
	struct wfmo *w = shared_area(sizeof *w);
	HANDLE h[MAX_WFMO], ack = RtCreateSemaphoreA(NULL, 0, MAX_WFMO + WFMO_LAST, "ack");
	int order[MAX_WFMO];
	uint64_t seed = 0x64646464ull ^ (uint64_t)getpid();

	for (int i = 0; i < MAX_WFMO; i++) {
		char name[32];

		snprintf(name, sizeof name, "ev-%02d", i);
		h[i] = RtCreateEventA(NULL, FALSE, FALSE, name);
		cr_assert_not_null(h[i]);
		order[i] = i;
	}
	for (int i = MAX_WFMO - 1; i > 0; i--) {
		int j = (int)(rnd_next(&seed) % (uint64_t)(i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	pid_t pid = spawn_child();
	if (pid == 0)
		wfmo_child(w);
	/* Each event in a random order, while the child waits on all 64. */
	for (int k = 0; k < MAX_WFMO; k++) {
		char name[32];

		snprintf(name, sizeof name, "ev-%02d", order[k]);
		if (k == 0)
			cr_assert_eq(sy_await_waiters(name, 1, 5000), 1, "the child does not wait");
		assert_bool(RtSetEvent(h[order[k]]), 1, 0, "set");
		assert_wait(RtWaitForSingleObject(ack, CHILD_WAIT_MS), WAIT_OBJECT_0, 0, "ack");
		cr_assert_eq(w->result[k], WAIT_OBJECT_0 + (DWORD)order[k],
			     "round %d: 0x%x, expected index %d", k, (unsigned)w->result[k],
			     order[k]);
	}
	/* Three set before the child looks again: the lowest first, each once. */
	static const int three[WFMO_LAST] = {63, 7, 40}, lowest[WFMO_LAST] = {7, 40, 63};
	for (int k = 0; k < WFMO_LAST; k++)
		assert_bool(RtSetEvent(h[three[k]]), 1, 0, "set");
	w->go = 1;
	for (int k = 0; k < WFMO_LAST; k++) {
		assert_wait(RtWaitForSingleObject(ack, CHILD_WAIT_MS), WAIT_OBJECT_0, 0, "ack");
		cr_assert_eq(w->result[MAX_WFMO + k], WAIT_OBJECT_0 + (DWORD)lowest[k],
			     "with 7, 40 and 63 set, wait %d: 0x%x, expected index %d", k,
			     (unsigned)w->result[MAX_WFMO + k], lowest[k]);
	}
	cr_assert_eq(wait_child(pid), 0);
	for (int i = 0; i < MAX_WFMO; i++) {
		char name[32];

		snprintf(name, sizeof name, "ev-%02d", i);
		cr_assert_eq(sy_info(name).signaled, 0, "%s left set", name);
	}
}

/* ---- a blocked waiter's CPU: a figure ------------------------------------- */

static uint64_t cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

Test(sync_procs, blocked_waiter_cpu_figure, .init = tp_setup, .fini = tp_teardown)
{
	struct {
		_Atomic DWORD result;
		_Atomic uint64_t cpu_us, wall_ms;
	} *f = shared_area(sizeof *f);
	HANDLE e = RtCreateEventA(NULL, FALSE, FALSE, "idle");

	assert_ok(e, 0, "create");
	pid_t pid = spawn_child();
	if (pid == 0) {
		HANDLE o = RtOpenEventA(SYNCHRONIZE, FALSE, "idle");
		uint64_t c0 = cpu_us(), t0 = now_ms();

		f->result = o ? RtWaitForSingleObject(o, 1000) : 0xdead;
		f->cpu_us = cpu_us() - c0;
		f->wall_ms = now_ms() - t0;
		_exit(0);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(f->result, WAIT_TIMEOUT);
	fprintf(stderr,
		"sync_procs: a waiter blocked %llu ms used %.2f ms of CPU (%.3f%% of a core)\n",
		(unsigned long long)f->wall_ms, f->cpu_us / 1000.0,
		f->cpu_us / 10.0 / (double)f->wall_ms);
	/* Generous: the figure, not this bound, is the measure (target < 1%). */
	cr_assert_lt(f->cpu_us, 100000u, "a blocked waiter used %llu us of CPU in 1 s",
		     (unsigned long long)f->cpu_us);
}
