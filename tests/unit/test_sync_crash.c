/*
 * test_sync_crash.c - owners and waiters that end badly (issue 10): a
 * mutex owner SIGKILLed (the next waiter gets WAIT_ABANDONED within 1 s,
 * also while the dead owner is an unreaped zombie), an owner thread that
 * ends while its process lives on, and hundreds of SIGKILLs at random
 * moments of wait/set/release loops: the survivor goes on, and after
 * reclaim the check is clean, no waiter bit is left and nothing leaks.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aw.h"
#include "sync_helpers.h"

#define ABANDON_MS 1000 /* a waiter learns of a dead owner by itself within this */

struct owner_kill {
	_Atomic int owned;
	_Atomic DWORD result;
	_Atomic uint64_t end_ms;
};

/* Takes the mutex (by a thread that then ends, if THREAD), says so, and
 * stays until killed. */
static void *take_it(void *arg)
{
	struct owner_kill *k = arg;
	HANDLE m = RtOpenMutexA(SYNCHRONIZE, FALSE, "mx");

	if (m && RtWaitForSingleObject(m, 0) == WAIT_OBJECT_0)
		k->owned = 1;
	return NULL;
}

static void owner_child(struct owner_kill *k, int thread)
{
	if (thread) {
		pthread_t t;
		if (pthread_create(&t, NULL, take_it, k) != 0 || pthread_join(t, NULL) != 0)
			_exit(2);
	} else {
		take_it(k);
	}
	for (;;)
		pause();
}

static void waiter_child(struct owner_kill *k)
{
	HANDLE m = RtOpenMutexW(SYNCHRONIZE, FALSE, w16("mx"));

	k->result = m ? RtWaitForSingleObject(m, 10000) : 0xdead;
	k->end_ms = now_ms();
	_exit(0); /* owning it: the test process finds it abandoned again */
}

static pid_t start_owner(struct owner_kill *k, int thread)
{
	pid_t pid = spawn_child();

	if (pid == 0)
		owner_child(k, thread);
	for (uint64_t end = now_ms() + 10000; !k->owned && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(k->owned, 1, "the owner did not take the mutex");
	return pid;
}

/* The test process: waits, times it, and checks it owns the mutex. */
static void expect_abandoned(HANDLE m, uint64_t t0, const char *what)
{
	DWORD r = RtWaitForSingleObject(m, 5000);
	uint64_t took = now_ms() - t0;

	cr_assert_eq(r, WAIT_ABANDONED, "%s: 0x%x (error %u)", what, (unsigned)r,
		     (unsigned)GetLastError());
	cr_assert_lt(took, ABANDON_MS, "%s: after %llu ms", what, (unsigned long long)took);
	fprintf(stderr, "sync_crash: %s: WAIT_ABANDONED after %llu ms\n", what,
		(unsigned long long)took);
	assert_bool(RtReleaseMutex(m), 1, 0, "release");
	assert_wait(RtWaitForSingleObject(m, 0), WAIT_OBJECT_0, 0, "free again");
	assert_bool(RtReleaseMutex(m), 1, 0, "release");
}

/* The owner process is killed while another process waits. */
Test(sync_crash, owner_killed, .init = tp_setup, .fini = tp_teardown)
{
	struct owner_kill *k = shared_area(sizeof *k);
	HANDLE m = RtCreateMutexA(NULL, FALSE, "mx");

	assert_ok(m, 0, "create");
	pid_t owner = start_owner(k, 0);
	pid_t waiter = spawn_child();
	if (waiter == 0)
		waiter_child(k);
	cr_assert_eq(sy_await_waiters("mx", 1, 5000), 1, "the waiter does not wait");
	usleep(100 * 1000);
	cr_assert_eq(k->end_ms, 0, "the waiter returned 0x%x", (unsigned)k->result);
	uint64_t t_kill = now_ms();
	kill(owner, SIGKILL);
	cr_assert_eq(wait_child(owner), 128 + SIGKILL);
	cr_assert_eq(wait_child(waiter), 0);
	cr_assert_eq(k->result, WAIT_ABANDONED, "the waiter: 0x%x", (unsigned)k->result);
	cr_assert_lt(k->end_ms - t_kill, ABANDON_MS, "the waiter learnt it after %llu ms",
		     (unsigned long long)(k->end_ms - t_kill));
	fprintf(stderr,
		"sync_crash: owner SIGKILLed: the waiting process got WAIT_ABANDONED "
		"after %llu ms\n",
		(unsigned long long)(k->end_ms - t_kill));
	/* The waiter ended owning it: the test process finds it abandoned. */
	expect_abandoned(m, now_ms(), "the waiter exited owning it");
}

/* The killed owner is this process's child, not reaped while we wait. */
Test(sync_crash, owner_killed_zombie, .init = tp_setup, .fini = tp_teardown)
{
	struct owner_kill *k = shared_area(sizeof *k);
	HANDLE m = RtCreateMutexA(NULL, FALSE, "mx");

	assert_ok(m, 0, "create");
	pid_t owner = start_owner(k, 0);
	uint64_t t_kill = now_ms();
	kill(owner, SIGKILL);
	expect_abandoned(m, t_kill, "owner SIGKILLed, a zombie");
	cr_assert_eq(wait_child(owner), 128 + SIGKILL);
}

/* The owner thread ends; its process lives on. */
Test(sync_crash, owner_thread_exits, .init = tp_setup, .fini = tp_teardown)
{
	struct owner_kill *k = shared_area(sizeof *k);
	HANDLE m = RtCreateMutexA(NULL, FALSE, "mx");

	assert_ok(m, 0, "create");
	uint64_t t0 = now_ms();
	pid_t owner = start_owner(k, 1);
	expect_abandoned(m, t0, "owner thread of another process ended");
	kill(owner, SIGKILL);
	wait_child(owner);
}

/* ---- SIGKILLs at random moments of wait/set/release loops ------------------ */

enum { LOOPERS = 3, KILLS = 500, SEM_START = 1000 };
static const char *const obj_names[] = {"k-mx", "k-sem", "k-auto", "k-manual"};
#define NOBJ 4

struct kill_loops {
	_Atomic int survivor_ready, stop, survivor_stopped, survivor_closed;
	_Atomic long iterations, survivor_iterations, abandoned, stuck, unexpected;
	_Atomic DWORD last_unexpected;
	_Atomic int last_op;
};

static void unexpected(struct kill_loops *c, int op, DWORD what)
{
	c->unexpected++;
	c->last_unexpected = what;
	c->last_op = op;
}

/* One step of the loops: 0 mutex, 1 semaphore (give, then take), 2 auto
 * event, 3 manual event, 4 a wait-any of all four. */
static void step(struct kill_loops *c, HANDLE *h, uint64_t *seed)
{
	int op = (int)(rnd_next(seed) % 5);
	DWORD r;

	switch (op) {
	case 0:
		r = RtWaitForSingleObject(h[0], 3000);
		if (r == WAIT_ABANDONED)
			c->abandoned++;
		else if (r == WAIT_TIMEOUT)
			c->stuck++;
		else if (r != WAIT_OBJECT_0)
			unexpected(c, op, r);
		if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) {
			if (rnd_next(seed) % 4 == 0)
				usleep((useconds_t)(rnd_next(seed) % 300));
			if (!RtReleaseMutex(h[0]))
				unexpected(c, 10, GetLastError());
		}
		break;
	case 1:
		if (!RtReleaseSemaphore(h[1], 1, NULL))
			unexpected(c, 11, GetLastError());
		r = RtWaitForSingleObject(h[1], 3000);
		if (r == WAIT_TIMEOUT)
			c->stuck++;
		else if (r != WAIT_OBJECT_0)
			unexpected(c, op, r);
		break;
	case 2:
		if (!RtSetEvent(h[2]))
			unexpected(c, 12, GetLastError());
		r = RtWaitForSingleObject(h[2], (DWORD)(rnd_next(seed) % 3));
		if (r != WAIT_OBJECT_0 && r != WAIT_TIMEOUT)
			unexpected(c, op, r);
		break;
	case 3: {
		int k = (int)(rnd_next(seed) % 3);
		BOOL ok = k == 0   ? RtSetEvent(h[3])
			  : k == 1 ? RtResetEvent(h[3])
				   : RtPulseEvent(h[3]);
		if (!ok)
			unexpected(c, 13, GetLastError());
		r = RtWaitForSingleObject(h[3], (DWORD)(rnd_next(seed) % 3));
		if (r != WAIT_OBJECT_0 && r != WAIT_TIMEOUT)
			unexpected(c, op, r);
		break;
	}
	default:
		r = RtWaitForMultipleObjects(NOBJ, h, FALSE, (DWORD)(rnd_next(seed) % 3));
		if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED_0) {
			c->abandoned += r == WAIT_ABANDONED_0;
			if (!RtReleaseMutex(h[0]))
				unexpected(c, 10, GetLastError());
		} else if (r == WAIT_OBJECT_0 + 1) {
			if (!RtReleaseSemaphore(h[1], 1, NULL)) /* the token back */
				unexpected(c, 11, GetLastError());
		} else if (r != WAIT_OBJECT_0 + 2 && r != WAIT_OBJECT_0 + 3 && r != WAIT_TIMEOUT) {
			unexpected(c, op, r);
		}
		break;
	}
}

static void open_all(HANDLE *h, int create)
{
	for (int i = 0; i < NOBJ; i++) {
		const char *n = obj_names[i];
		if (create)
			h[i] = i == 0   ? RtCreateMutexA(NULL, FALSE, n)
			       : i == 1 ? RtCreateSemaphoreA(NULL, SEM_START, 1000000, n)
					: RtCreateEventA(NULL, i == 3, FALSE, n);
		else
			h[i] = i == 0   ? RtOpenMutexA(SYNCHRONIZE, FALSE, n)
			       : i == 1 ? RtOpenSemaphoreA(SYNCHRONIZE, FALSE, n)
					: RtOpenEventA(SYNCHRONIZE, FALSE, n);
		if (!h[i])
			_exit(2);
	}
}

static void looper(struct kill_loops *c, uint64_t seed)
{
	HANDLE h[NOBJ];

	open_all(h, 0);
	for (;;) {
		step(c, h, &seed);
		c->iterations++;
	}
}

static void survivor(struct kill_loops *c, uint64_t seed)
{
	HANDLE h[NOBJ];

	open_all(h, 1);
	c->survivor_ready = 1;
	while (!c->stop) {
		step(c, h, &seed);
		c->survivor_iterations++;
	}
	c->survivor_stopped = 1;
	while (c->stop != 2)
		usleep(1000);
	for (int i = 0; i < NOBJ; i++)
		if (!RtCloseHandle(h[i]))
			unexpected(c, 20, GetLastError());
	c->survivor_closed = 1;
	_exit(0);
}

static pid_t spawn_looper(void *arg, uint64_t seed)
{
	struct kill_loops *c = arg;
	pid_t pid = spawn_child();

	if (pid == 0)
		looper(c, seed);
	return pid;
}

struct left {
	int ours, others;
	uint64_t waiters, bytes;
	uint32_t mx_owner;
};

static int sum_left(const struct vmshm_objinfo *o, void *arg)
{
	struct left *l = arg;

	if (o->named && strncmp(o->name, "k-", 2) == 0) {
		l->ours++;
		l->waiters |= o->waiters;
		l->bytes += o->pages * VMSHM_PAGE_SIZE;
		if (o->type == VMSHM_TYPE_MUTEX)
			l->mx_owner = o->mx_owner;
	} else {
		l->others++;
	}
	return 0;
}

Test(sync_crash, sigkill_wait_loops, .init = tp_setup, .fini = tp_teardown, .timeout = 240)
{
	struct kill_loops *c = shared_area(sizeof *c);
	uint64_t rnd = 0x51c0000ull ^ (uint64_t)getpid(), t0 = now_ms();
	pid_t surv;
	struct left l = {0};
	char why[256] = "";
	vmshm_pool *p;
	int rc;

	surv = spawn_child();
	if (surv == 0)
		survivor(c, rnd_next(&rnd));
	for (uint64_t end = now_ms() + 20000; !c->survivor_ready && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(c->survivor_ready, 1, "the survivor did not start");
	kill_loopers(LOOPERS, KILLS, 8000, &rnd, spawn_looper, c);
	/* The survivor goes on after the last kill. */
	long s0 = c->survivor_iterations;
	usleep(300 * 1000);
	long s1 = c->survivor_iterations;
	c->stop = 1;
	for (uint64_t end = now_ms() + 10000; !c->survivor_stopped && now_ms() < end;)
		usleep(1000);
	fprintf(stderr,
		"sync_crash: %d kills in %.1f s; %ld looper and %ld survivor steps, %ld abandoned "
		"mutexes, survivor +%ld steps in the 300 ms after\n",
		KILLS, (double)(now_ms() - t0) / 1000, (long)c->iterations,
		(long)c->survivor_iterations, (long)c->abandoned, s1 - s0);
	cr_assert_eq(c->survivor_stopped, 1, "the survivor is stuck");
	cr_assert_gt(s1, s0, "the survivor made no progress after the kills");
	cr_assert_eq(c->unexpected, 0, "%ld unexpected results, last: op %d 0x%x",
		     (long)c->unexpected, c->last_op, (unsigned)c->last_unexpected);
	cr_assert_eq(c->stuck, 0, "%ld mutex or semaphore waits timed out after 3 s",
		     (long)c->stuck);
	cr_assert_gt(c->iterations, KILLS, "the loops barely ran");

	/* Reclaim: a clean check, the survivor's four objects, no waiter bit,
	 * the mutex not owned by a dead peer. */
	rc = vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "attach: %d %s", rc, why);
	cr_assert_geq(vmshm_reclaim(p), 0);
	cr_assert_eq(check_pool(p, "sync_crash"), 0, "faults after reclaim");
	cr_assert_geq(vmshm_list(p, sum_left, &l), 0);
	cr_assert_eq(l.ours, NOBJ);
	cr_assert_eq(l.others, 0, "%d other objects left", l.others);
	cr_assert_eq(l.waiters, 0, "waiter bits left: 0x%llx", (unsigned long long)l.waiters);
	cr_assert_eq(l.mx_owner, 0, "the mutex is owned by peer %u", l.mx_owner);
	struct vmshm_stats st;
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.peers, 2, "%u peers, expected the survivor and this one", st.peers);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes - l.bytes, "%lld bytes leaked",
		     (long long)(tp.empty.free_bytes - l.bytes - st.free_bytes));
	/* The survivor closes its handles: nothing is left. */
	c->stop = 2;
	cr_assert_eq(wait_child(surv), 0);
	cr_assert_eq(c->survivor_closed, 1);
	cr_assert_eq(c->unexpected, 0, "the survivor's closes failed");
	cr_assert_eq(vmshm_reclaim(p), 1, "the survivor's peer entry was not reclaimed");
	assert_pool_empty(p, 1, "sync_crash, end");
	vmshm_detach(p);
}
