/*
 * test_sync.c - the rules of the RtApi events, mutexes and semaphores
 * (issue 10), each with its exact result and last error, through the A
 * and the W calls: create and open, set/reset/pulse, mutex ownership,
 * semaphore counts, and the creates' one namespace with shared memory.
 * Waits that must block run in threads of the test process.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aw.h"
#include "sync_helpers.h"

static const char *type_name(int type)
{
	return type == EV ? "event" : type == MX ? "mutex" : type == SEM ? "semaphore" : "shm";
}

/* Default arguments of sy_create per type: an auto event, reset; a free
 * mutex; a semaphore 1 of 10. */
static HANDLE make(int mode, int type, const char *name)
{
	return sy_create(mode, type, type == SEM ? 1 : 0, type == SEM ? 10 : 0, name);
}

/* ---- create and open: the one namespace ------------------------------ */

AW_TEST(sync_event, create_new)
{
	HANDLE a, m;

	SetLastError(12345);
	a = sy_create(mode, EV, FALSE, TRUE, "ev");
	assert_ok(a, 0, "new auto event");
	m = sy_create(mode, EV, TRUE, FALSE, "ev-m");
	assert_ok(m, 0, "new manual event");
	struct vmshm_objinfo oi = sy_info("ev");
	cr_assert_eq(oi.type, EV);
	cr_assert_eq(oi.manual, 0);
	cr_assert_eq(oi.signaled, 1);
	oi = sy_info("ev-m");
	cr_assert_eq(oi.manual, 1);
	cr_assert_eq(oi.signaled, 0);
	cr_assert_neq(a, m);
}

/* The existing event is opened (183) and both flags are ignored. */
AW_TEST(sync_event, create_existing_ignores_flags)
{
	HANDLE a = sy_create(mode, EV, FALSE, FALSE, "ev"), b;

	assert_ok(a, 0, "new");
	b = sy_create(mode, EV, TRUE, TRUE, "ev");
	assert_ok(b, ERROR_ALREADY_EXISTS, "existing");
	cr_assert_neq(a, b, "two creates, one handle value");
	struct vmshm_objinfo oi = sy_info("ev");
	cr_assert_eq(oi.manual, 0, "the second create made it manual");
	cr_assert_eq(oi.signaled, 0, "the second create set it");
	cr_assert_eq(tp_objects(), 1);
	/* Both handles are one object: set through one, consumed by the other. */
	assert_bool(RtSetEvent(b), 1, 0, "set through the second handle");
	assert_wait(RtWaitForSingleObject(a, 0), WAIT_OBJECT_0, 0, "wait on the first");
	assert_wait(RtWaitForSingleObject(b, 0), WAIT_TIMEOUT, 0, "auto reset by that wait");
}

AW_TEST(sync_mutex, create_existing_not_owned)
{
	HANDLE a = sy_create(mode, MX, FALSE, 0, "mx"), b;

	assert_ok(a, 0, "new, not owned");
	cr_assert_eq(sy_info("mx").mx_owner, 0);
	b = sy_create(mode, MX, TRUE, 0, "mx");
	assert_ok(b, ERROR_ALREADY_EXISTS, "existing, bInitialOwner TRUE");
	cr_assert_eq(sy_info("mx").mx_owner, 0, "an existing mutex became owned");
	assert_bool(RtReleaseMutex(b), 0, ERROR_NOT_OWNER, "release of a mutex never owned");
}

AW_TEST(sync_sem, create_existing_keeps_counts)
{
	HANDLE a = sy_create(mode, SEM, 2, 5, "sem"), b;
	LONG prev = -1;

	assert_ok(a, 0, "new 2 of 5");
	assert_wait(RtWaitForSingleObject(a, 0), WAIT_OBJECT_0, 0, "take one");
	b = sy_create(mode, SEM, 0, 9, "sem");
	assert_ok(b, ERROR_ALREADY_EXISTS, "existing, other counts");
	struct vmshm_objinfo oi = sy_info("sem");
	cr_assert_eq(oi.count, 1, "count %u, expected 1", oi.count);
	cr_assert_eq(oi.max, 5, "max %u, expected 5", oi.max);
	assert_bool(RtReleaseSemaphore(b, 4, &prev), 1, 0, "release up to the old maximum");
	cr_assert_eq(prev, 1);
	assert_bool(RtReleaseSemaphore(b, 1, &prev), 0, ERROR_TOO_MANY_POSTS, "past 5");
}

/* Every pair of types: a create of another type on a used name fails
 * with 6 and changes nothing. */
AW_TEST(sync_event, create_other_type)
{
	static const int types[] = {SHM, EV, MX, SEM};

	for (int i = 0; i < 4; i++) {
		char name[32];
		HANDLE h;

		snprintf(name, sizeof name, "held-by-%s", type_name(types[i]));
		h = make(mode, types[i], name);
		assert_ok(h, 0, name);
	}
	struct snapshot before, after;
	snap_take(&before);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) {
			char name[32], what[96];

			if (i == j)
				continue;
			snprintf(name, sizeof name, "held-by-%s", type_name(types[i]));
			snprintf(what, sizeof what, "create %s on a %s's name", type_name(types[j]),
				 type_name(types[i]));
			SetLastError(0);
			assert_fails(make(mode, types[j], name), ERROR_INVALID_HANDLE, what);
			snprintf(what, sizeof what, "open %s on a %s's name", type_name(types[j]),
				 type_name(types[i]));
			SetLastError(0);
			assert_fails(
			    sy_open(mode, types[j], types[j] == SHM ? SHM_MAP_ALL_ACCESS : 0, name),
			    ERROR_INVALID_HANDLE, what);
		}
	snap_take(&after);
	snap_assert_same(&before, &after, "creates and opens of another type");
}

/* A NULL name: a new object each time, in no name; usable by handle. */
AW_TEST(sync_event, unnamed)
{
	static const int types[] = {EV, MX, SEM};
	HANDLE h[3][2];

	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++) {
			SetLastError(12345);
			h[i][k] = make(mode, types[i], NULL);
			assert_ok(h[i][k], 0, type_name(types[i]));
		}
	cr_assert_eq(tp_objects(), 6, "two unnamed objects of each type are six objects");
	/* Distinct objects: setting one leaves the other. */
	assert_bool(RtSetEvent(h[0][0]), 1, 0, "set");
	assert_wait(RtWaitForSingleObject(h[0][1], 0), WAIT_TIMEOUT, 0, "the other event");
	assert_wait(RtWaitForSingleObject(h[0][0], 0), WAIT_OBJECT_0, 0, "the event set");
	assert_wait(RtWaitForSingleObject(h[2][0], 0), WAIT_OBJECT_0, 0, "semaphore 1");
	assert_wait(RtWaitForSingleObject(h[2][0], 0), WAIT_TIMEOUT, 0, "semaphore 0");
	assert_wait(RtWaitForSingleObject(h[2][1], 0), WAIT_OBJECT_0, 0, "the other semaphore");
	assert_wait(RtWaitForSingleObject(h[1][0], 0), WAIT_OBJECT_0, 0, "a free mutex");
	assert_bool(RtReleaseMutex(h[1][0]), 1, 0, "release");
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 2; k++)
			assert_bool(RtCloseHandle(h[i][k]), 1, 0, "close");
	cr_assert_eq(tp_objects(), 0, "closed unnamed objects stay");
}

AW_TEST(sync_event, open_rules)
{
	static const int types[] = {EV, MX, SEM};
	static const DWORD access[] = {0,
				       SYNCHRONIZE,
				       EVENT_ALL_ACCESS,
				       EVENT_MODIFY_STATE,
				       MUTEX_ALL_ACCESS,
				       SEMAPHORE_ALL_ACCESS,
				       SEMAPHORE_MODIFY_STATE,
				       0xffffffffu};

	for (int i = 0; i < 3; i++) {
		char name[32], what[96];

		snprintf(name, sizeof name, "a-%s", type_name(types[i]));
		snprintf(what, sizeof what, "open %s not created", type_name(types[i]));
		SetLastError(0);
		assert_fails(sy_open(mode, types[i], SYNCHRONIZE, name), ERROR_FILE_NOT_FOUND,
			     what);
		snprintf(what, sizeof what, "open %s NULL name", type_name(types[i]));
		SetLastError(0);
		assert_fails(sy_open(mode, types[i], SYNCHRONIZE, NULL), ERROR_INVALID_PARAMETER,
			     what);
		assert_made(make(mode, types[i], name), 0, "create");
		for (unsigned k = 0; k < sizeof access / sizeof access[0]; k++) {
			snprintf(what, sizeof what, "open %s access 0x%x", type_name(types[i]),
				 (unsigned)access[k]);
			SetLastError(12345);
			HANDLE h = sy_open(mode, types[i], access[k], name);
			assert_ok(h, 0, what);
			assert_bool(RtCloseHandle(h), 1, 0, "close");
		}
	}
	/* The W open with an invalid name: as for shared memory, 123. */
	if (mode == MODE_W) {
		const WCHAR lone[] = {0xd800, 'x', 0};
		SetLastError(0);
		assert_fails(RtOpenEventW(0, FALSE, lone), ERROR_INVALID_NAME, "lone surrogate");
	}
	/* The opened object is the created one. */
	HANDLE e = sy_open(mode, EV, EVENT_MODIFY_STATE, "a-event");
	assert_ok(e, 0, "open");
	assert_bool(RtSetEvent(e), 1, 0, "set through the opened handle");
	cr_assert_eq(sy_info("a-event").signaled, 1);
}

/* ---- events ------------------------------------------------------------- */

/* Starts N threads waiting on H (MS) and waits until they are blocked. */
static void start_waiters(struct sy_waiter *w, int n, HANDLE h, DWORD ms, const char *name)
{
	for (int i = 0; i < n; i++) {
		memset(&w[i], 0, sizeof w[i]);
		w[i].h[0] = h;
		w[i].ms = ms;
		sy_waiter_start(&w[i]);
	}
	cr_assert_eq(sy_await_waiters(name, 1, 5000), 1, "the waiters did not register");
	usleep(100 * 1000); /* every thread past its first look, asleep */
	for (int i = 0; i < n; i++)
		cr_assert_eq(w[i].done, 0, "waiter %d returned 0x%x at once", i,
			     (unsigned)w[i].result);
}

static int count_done(struct sy_waiter *w, int n, DWORD result)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		k += w[i].done && w[i].result == result;
	return k;
}

static void ended_all(struct sy_waiter *w, int n, int timeout_ms)
{
	for (int i = 0; i < n; i++)
		sy_waiter_ended(&w[i], timeout_ms);
}

AW_TEST(sync_event, manual_set_releases_all_until_reset)
{
	struct sy_waiter w[3];
	HANDLE e = sy_create(mode, EV, TRUE, FALSE, "ev");

	assert_ok(e, 0, "create");
	start_waiters(w, 3, e, 10000, "ev");
	assert_bool(RtSetEvent(e), 1, 0, "set");
	ended_all(w, 3, 2000);
	cr_assert_eq(count_done(w, 3, WAIT_OBJECT_0), 3, "%d of 3 waiters released",
		     count_done(w, 3, WAIT_OBJECT_0));
	for (int i = 0; i < 3; i++)
		sy_waiter_join(&w[i]);
	/* Later waiters too, as long as it stays set. */
	for (int i = 0; i < 5; i++)
		assert_wait(RtWaitForSingleObject(e, 0), WAIT_OBJECT_0, 0, "a later wait");
	cr_assert_eq(sy_info("ev").signaled, 1);
	assert_bool(RtSetEvent(e), 1, 0, "set again");
	assert_bool(RtResetEvent(e), 1, 0, "reset");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "after reset");
	assert_bool(RtResetEvent(e), 1, 0, "reset a reset event");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "still reset");
}

AW_TEST(sync_event, auto_set_releases_one)
{
	struct sy_waiter w[3];
	HANDLE e = sy_create(mode, EV, FALSE, FALSE, "ev");

	assert_ok(e, 0, "create");
	start_waiters(w, 3, e, 10000, "ev");
	for (int k = 1; k <= 3; k++) {
		assert_bool(RtSetEvent(e), 1, 0, "set");
		usleep(300 * 1000);
		cr_assert_eq(count_done(w, 3, WAIT_OBJECT_0), k,
			     "after %d sets, %d of 3 waiters released", k,
			     count_done(w, 3, WAIT_OBJECT_0));
		cr_assert_eq(sy_info("ev").signaled, 0, "the release did not reset it");
	}
	for (int i = 0; i < 3; i++)
		sy_waiter_join(&w[i]);
	/* Nobody waits: it stays set for the next waiter, once (not a count). */
	assert_bool(RtSetEvent(e), 1, 0, "set, no waiter");
	assert_bool(RtSetEvent(e), 1, 0, "set twice");
	usleep(50 * 1000);
	cr_assert_eq(sy_info("ev").signaled, 1, "the set was lost");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_OBJECT_0, 0, "the next waiter");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "and only it");
	assert_bool(RtSetEvent(e), 1, 0, "set");
	assert_bool(RtResetEvent(e), 1, 0, "reset");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "after reset");
}

AW_TEST(sync_event, manual_pulse)
{
	struct sy_waiter w[3];
	HANDLE e = sy_create(mode, EV, TRUE, FALSE, "ev");

	assert_ok(e, 0, "create");
	/* With no waiter the pulse is lost. */
	assert_bool(RtPulseEvent(e), 1, 0, "pulse, no waiter");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "after a lost pulse");
	start_waiters(w, 3, e, 10000, "ev");
	assert_bool(RtPulseEvent(e), 1, 0, "pulse");
	ended_all(w, 3, 2000);
	cr_assert_eq(count_done(w, 3, WAIT_OBJECT_0), 3, "%d of 3 waiters released",
		     count_done(w, 3, WAIT_OBJECT_0));
	for (int i = 0; i < 3; i++)
		sy_waiter_join(&w[i]);
	cr_assert_eq(sy_info("ev").signaled, 0, "still set after the pulse");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "a later wait");
	/* A pulse of a set manual event leaves it reset. */
	assert_bool(RtSetEvent(e), 1, 0, "set");
	assert_bool(RtPulseEvent(e), 1, 0, "pulse a set event");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "after the pulse");
}

AW_TEST(sync_event, auto_pulse)
{
	struct sy_waiter w[3];
	HANDLE e = sy_create(mode, EV, FALSE, FALSE, "ev");

	assert_ok(e, 0, "create");
	assert_bool(RtPulseEvent(e), 1, 0, "pulse, no waiter");
	usleep(20 * 1000);
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "after a lost pulse");
	start_waiters(w, 3, e, 10000, "ev");
	assert_bool(RtPulseEvent(e), 1, 0, "pulse");
	usleep(300 * 1000);
	cr_assert_eq(count_done(w, 3, WAIT_OBJECT_0), 1, "%d of 3 waiters released",
		     count_done(w, 3, WAIT_OBJECT_0));
	cr_assert_eq(count_done(w, 3, WAIT_TIMEOUT) + count_done(w, 3, WAIT_FAILED), 0);
	cr_assert_eq(sy_info("ev").signaled, 0, "left set after the pulse");
	/* One pulse at a time (each taken before the next). */
	for (int k = 2; k <= 3; k++) {
		assert_bool(RtPulseEvent(e), 1, 0, "another pulse");
		for (uint64_t end = now_ms() + 2000;
		     count_done(w, 3, WAIT_OBJECT_0) < k && now_ms() < end;)
			usleep(1000);
		usleep(100 * 1000);
		cr_assert_eq(count_done(w, 3, WAIT_OBJECT_0), k, "%d of 3 released by %d pulses",
			     count_done(w, 3, WAIT_OBJECT_0), k);
	}
	for (int i = 0; i < 3; i++)
		sy_waiter_join(&w[i]);
	cr_assert_eq(sy_info("ev").signaled, 0);
	/* Pulses with nobody waiting are lost, even several. */
	assert_bool(RtPulseEvent(e), 1, 0, "pulse, no waiter");
	assert_bool(RtPulseEvent(e), 1, 0, "pulse, no waiter");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "after lost pulses");
}

/* Pulses back to back on an auto-reset event, with two threads waiting:
 * each pulse releases one of them (a pulse is not merged into the one
 * before it), and none is left over for a later waiter. */
AW_TEST(sync_event, auto_pulses_back_to_back)
{
	struct sy_waiter w[2];
	HANDLE e = sy_create(mode, EV, FALSE, FALSE, "ev");

	assert_ok(e, 0, "create");
	start_waiters(w, 2, e, 10000, "ev");
	assert_bool(RtPulseEvent(e), 1, 0, "first pulse");
	assert_bool(RtPulseEvent(e), 1, 0, "second pulse");
	for (uint64_t end = now_ms() + 3000; count_done(w, 2, WAIT_OBJECT_0) < 2 && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(count_done(w, 2, WAIT_OBJECT_0), 2, "%d of 2 released by 2 pulses",
		     count_done(w, 2, WAIT_OBJECT_0));
	for (int i = 0; i < 2; i++)
		sy_waiter_join(&w[i]);
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "a pulse left over");
}

/* Calls on a handle of another type, or no handle: 6. */
AW_TEST(sync_event, wrong_handles)
{
	HANDLE e = make(mode, EV, "ev"), m = make(mode, MX, "mx"), s = make(mode, SEM, "sem");
	HANDLE shm = make(mode, SHM, "shm");
	HANDLE bad[] = {m, s, shm, NULL, (HANDLE)(uintptr_t)0x5a5a5a5a};
	LONG prev = 77;

	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_bool(RtSetEvent(bad[i]), 0, ERROR_INVALID_HANDLE, "set");
		assert_bool(RtResetEvent(bad[i]), 0, ERROR_INVALID_HANDLE, "reset");
		assert_bool(RtPulseEvent(bad[i]), 0, ERROR_INVALID_HANDLE, "pulse");
	}
	HANDLE not_mx[] = {e, s, shm, NULL};
	for (unsigned i = 0; i < sizeof not_mx / sizeof not_mx[0]; i++)
		assert_bool(RtReleaseMutex(not_mx[i]), 0, ERROR_INVALID_HANDLE, "release mutex");
	HANDLE not_sem[] = {e, m, shm, NULL};
	for (unsigned i = 0; i < sizeof not_sem / sizeof not_sem[0]; i++)
		assert_bool(RtReleaseSemaphore(not_sem[i], 1, &prev), 0, ERROR_INVALID_HANDLE,
			    "release semaphore");
	cr_assert_eq(prev, 77, "lpPreviousCount written by a failed call");
	cr_assert_eq(sy_info("sem").count, 1);
}

/* ---- mutexes ------------------------------------------------------------- */

AW_TEST(sync_mutex, owned_only_when_created)
{
	HANDLE m = sy_create(mode, MX, TRUE, 0, "mx"), f;

	assert_ok(m, 0, "create owned");
	struct vmshm_objinfo oi = sy_info("mx");
	cr_assert_neq(oi.mx_owner, 0, "not owned");
	cr_assert_eq(oi.signaled, 0);
	assert_bool(RtReleaseMutex(m), 1, 0, "release by the creator");
	cr_assert_eq(sy_info("mx").mx_owner, 0);
	assert_bool(RtReleaseMutex(m), 0, ERROR_NOT_OWNER, "release once more");
	f = sy_create(mode, MX, FALSE, 0, "free");
	assert_ok(f, 0, "create not owned");
	cr_assert_eq(sy_info("free").mx_owner, 0);
	assert_bool(RtReleaseMutex(f), 0, ERROR_NOT_OWNER, "release of a free mutex");
}

struct other_thread {
	HANDLE h;
	DWORD wait, wait_err;
	BOOL rel;
	DWORD rel_err;
};

/* In another thread: a poll of the mutex, then a release. */
static void poll_and_release(void *arg)
{
	struct other_thread *o = arg;

	o->wait = RtWaitForSingleObject(o->h, 0);
	o->wait_err = GetLastError();
	o->rel = RtReleaseMutex(o->h);
	o->rel_err = GetLastError();
}

/* In another thread: only a release. */
static void release_only(void *arg)
{
	struct other_thread *o = arg;

	o->rel = RtReleaseMutex(o->h);
	o->rel_err = GetLastError();
}

AW_TEST(sync_mutex, recursive_per_thread)
{
	HANDLE m = sy_create(mode, MX, TRUE, 0, "mx");
	struct other_thread o;

	assert_ok(m, 0, "create owned");
	for (int i = 0; i < 3; i++)
		assert_wait(RtWaitForSingleObject(m, 0), WAIT_OBJECT_0, 0, "owner waits again");
	HANDLE m2 = sy_open(mode, MX, SYNCHRONIZE, "mx");
	assert_ok(m2, 0, "open");
	assert_wait(RtWaitForSingleObject(m2, INFINITE), WAIT_OBJECT_0, 0,
		    "owner, another handle, INFINITE");
	/* Depth 5: four releases keep it, the fifth frees it. */
	for (int i = 0; i < 4; i++) {
		memset(&o, 0, sizeof o);
		o.h = m;
		sy_in_thread(poll_and_release, &o);
		cr_assert_eq(o.wait, WAIT_TIMEOUT, "another thread got it at depth %d", 5 - i);
		cr_assert_eq(o.rel, 0);
		cr_assert_eq(o.rel_err, ERROR_NOT_OWNER);
		assert_bool(RtReleaseMutex(i % 2 ? m : m2), 1, 0, "release");
	}
	cr_assert_neq(sy_info("mx").mx_owner, 0, "freed before the last release");
	assert_bool(RtReleaseMutex(m), 1, 0, "the last release");
	cr_assert_eq(sy_info("mx").mx_owner, 0);
	assert_bool(RtReleaseMutex(m), 0, ERROR_NOT_OWNER, "one release too many");
	memset(&o, 0, sizeof o);
	o.h = m;
	sy_in_thread(poll_and_release, &o);
	cr_assert_eq(o.wait, WAIT_OBJECT_0, "another thread after the last release: 0x%x",
		     (unsigned)o.wait);
	cr_assert_eq(o.rel, 1, "its release: error %u", (unsigned)o.rel_err);
}

AW_TEST(sync_mutex, release_by_non_owner)
{
	HANDLE m = sy_create(mode, MX, FALSE, 0, "mx");
	struct other_thread o = {m, 0, 0, 0, 0};

	assert_ok(m, 0, "create");
	assert_wait(RtWaitForSingleObject(m, 0), WAIT_OBJECT_0, 0, "take");
	struct vmshm_objinfo before = sy_info("mx");
	sy_in_thread(release_only, &o);
	cr_assert_eq(o.rel, FALSE);
	cr_assert_eq(o.rel_err, ERROR_NOT_OWNER, "error %u", (unsigned)o.rel_err);
	struct vmshm_objinfo after = sy_info("mx");
	cr_assert_eq(after.mx_owner, before.mx_owner);
	cr_assert_eq(after.mx_thread, before.mx_thread, "the owner changed");
	assert_bool(RtReleaseMutex(m), 1, 0, "the owner releases");
}

/* A waiter blocked on an owned mutex gets it when the owner releases. */
AW_TEST(sync_mutex, waiter_gets_it_on_release)
{
	HANDLE m = sy_create(mode, MX, TRUE, 0, "mx");
	struct sy_waiter w;

	assert_ok(m, 0, "create owned");
	memset(&w, 0, sizeof w);
	w.release = 1;
	sy_waiter_block(&w, 1, &m, "mx");
	assert_bool(RtReleaseMutex(m), 1, 0, "release");
	sy_waiter_join(&w);
	cr_assert_eq(w.result, WAIT_OBJECT_0, "0x%x", (unsigned)w.result);
	cr_assert_eq(w.released, 1, "the waiter did not own it");
	cr_assert_eq(sy_info("mx").mx_owner, 0);
}

/* An owner thread that ends owning it (pthread_exit, or returning from its
 * start function) abandons it: the next waiter gets 0x80 and owns it, the
 * waiters after it get WAIT_OBJECT_0. */
static void abandon_in_thread(int mode, int pthread_exit_it, int waiter_blocked)
{
	HANDLE m = sy_create(mode, MX, FALSE, 0, "mx");
	struct sy_waiter owner, w;
	uint64_t t_end;

	assert_ok(m, 0, "create");
	memset(&w, 0, sizeof w);
	w.h[0] = m;
	w.ms = 5000;
	w.linger = 1;
	memset(&owner, 0, sizeof owner);
	owner.h[0] = m;
	owner.ms = 0;
	owner.exit_owning = pthread_exit_it;
	owner.linger = waiter_blocked;
	sy_waiter_start(&owner);
	cr_assert(sy_waiter_ended(&owner, 5000));
	cr_assert_eq(owner.result, WAIT_OBJECT_0, "the owner thread: 0x%x", (unsigned)owner.result);
	if (waiter_blocked)
		sy_waiter_block(&w, 1, &m, "mx");
	t_end = now_ms();
	owner.linger = 0;
	pthread_join(owner.t, NULL);
	if (!waiter_blocked) {
		struct vmshm_objinfo oi = sy_info("mx");
		cr_assert_eq(oi.abandoned, 1, "not marked abandoned");
		cr_assert_eq(oi.mx_owner, 0);
		sy_waiter_start(&w);
	}
	cr_assert(sy_waiter_ended(&w, 5000));
	cr_assert_eq(w.result, WAIT_ABANDONED, "the next waiter: 0x%x (error %u)",
		     (unsigned)w.result, (unsigned)w.error);
	cr_assert_eq(w.error, 0);
	cr_assert_lt(w.end_ms - t_end, 1000, "abandoned after %llu ms",
		     (unsigned long long)(w.end_ms - t_end));
	struct vmshm_objinfo oi = sy_info("mx");
	cr_assert_neq(oi.mx_owner, 0, "the waiter does not own it");
	cr_assert_eq(oi.abandoned, 0);
	w.linger = 0;
	sy_waiter_join(&w);
	/* The waiter's thread ended owning it too: abandoned again. */
	assert_wait(RtWaitForSingleObject(m, 1000), WAIT_ABANDONED, 0, "the waiter thread ended");
	assert_bool(RtReleaseMutex(m), 1, 0, "release");
	assert_wait(RtWaitForSingleObject(m, 0), WAIT_OBJECT_0, 0, "after the release");
	assert_bool(RtReleaseMutex(m), 1, 0, "release");
}

AW_TEST(sync_mutex, thread_exit_abandons)
{
	abandon_in_thread(mode, 1, 0);
}

AW_TEST(sync_mutex, thread_exit_abandons_blocked_waiter)
{
	abandon_in_thread(mode, 1, 1);
}

AW_TEST(sync_mutex, thread_return_abandons)
{
	abandon_in_thread(mode, 0, 1);
}

/* ---- semaphores ------------------------------------------------------------ */

AW_TEST(sync_sem, create_bad_counts)
{
	static const LONG bad[][2] = {{0, 0}, {0, -1},
				      {1, 0}, {-1, 5},
				      {6, 5}, {-2147483647 - 1, 1},
				      {2, 1}, {0, -2147483647 - 1}};
	struct snapshot before, after;

	snap_take(&before);
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char what[64];

		snprintf(what, sizeof what, "initial %ld max %ld", (long)bad[i][0],
			 (long)bad[i][1]);
		SetLastError(0);
		assert_fails(sy_create(mode, SEM, bad[i][0], bad[i][1], "sem"),
			     ERROR_INVALID_PARAMETER, what);
		SetLastError(0);
		assert_fails(sy_create(mode, SEM, bad[i][0], bad[i][1], NULL),
			     ERROR_INVALID_PARAMETER, what);
	}
	snap_take(&after);
	snap_assert_same(&before, &after, "bad semaphore creates");
	/* The edges are accepted. */
	assert_made(sy_create(mode, SEM, 0, 1, "s01"), 0, "0 of 1");
	assert_made(sy_create(mode, SEM, 7, 7, "s77"), 0, "7 of 7");
	assert_made(sy_create(mode, SEM, 2147483647, 2147483647, "smax"), 0, "LONG_MAX");
	cr_assert_eq(sy_info("s77").count, 7);
	cr_assert_eq(sy_info("smax").max, 2147483647u);
	/* With the counts wrong, an existing name does not matter: 87. */
	SetLastError(0);
	assert_fails(sy_create(mode, SEM, 3, 2, "s77"), ERROR_INVALID_PARAMETER, "bad, existing");
}

AW_TEST(sync_sem, release_rules)
{
	HANDLE s = sy_create(mode, SEM, 1, 3, "sem");
	LONG prev = -5;

	assert_ok(s, 0, "create 1 of 3");
	assert_bool(RtReleaseSemaphore(s, 0, &prev), 0, ERROR_INVALID_PARAMETER, "count 0");
	assert_bool(RtReleaseSemaphore(s, -1, &prev), 0, ERROR_INVALID_PARAMETER, "count -1");
	assert_bool(RtReleaseSemaphore(s, -2147483647 - 1, &prev), 0, ERROR_INVALID_PARAMETER,
		    "count LONG_MIN");
	cr_assert_eq(prev, -5, "lpPreviousCount written by a failed call");
	cr_assert_eq(sy_info("sem").count, 1);
	assert_bool(RtReleaseSemaphore(s, 3, &prev), 0, ERROR_TOO_MANY_POSTS, "1 + 3 > 3");
	assert_bool(RtReleaseSemaphore(s, 2147483647, &prev), 0, ERROR_TOO_MANY_POSTS,
		    "1 + LONG_MAX");
	cr_assert_eq(sy_info("sem").count, 1, "count changed by a failed release");
	assert_bool(RtReleaseSemaphore(s, 1, &prev), 1, 0, "1 + 1");
	cr_assert_eq(prev, 1);
	assert_bool(RtReleaseSemaphore(s, 1, NULL), 1, 0, "2 + 1, no lpPreviousCount");
	cr_assert_eq(sy_info("sem").count, 3);
	assert_bool(RtReleaseSemaphore(s, 1, &prev), 0, ERROR_TOO_MANY_POSTS, "at the maximum");
	cr_assert_eq(sy_info("sem").count, 3);
	for (int i = 0; i < 3; i++)
		assert_wait(RtWaitForSingleObject(s, 0), WAIT_OBJECT_0, 0, "take");
	assert_wait(RtWaitForSingleObject(s, 0), WAIT_TIMEOUT, 0, "empty");
	assert_bool(RtReleaseSemaphore(s, 3, &prev), 1, 0, "0 + 3");
	cr_assert_eq(prev, 0);
	cr_assert_eq(sy_info("sem").count, 3);
}

/* A release of N wakes up to N blocked waiters, each taking one. */
AW_TEST(sync_sem, release_wakes_count_waiters)
{
	struct sy_waiter w[3];
	HANDLE s = sy_create(mode, SEM, 0, 10, "sem");
	LONG prev = -1;

	assert_ok(s, 0, "create 0 of 10");
	start_waiters(w, 3, s, 10000, "sem");
	assert_bool(RtReleaseSemaphore(s, 2, &prev), 1, 0, "release 2");
	cr_assert_eq(prev, 0);
	usleep(300 * 1000);
	cr_assert_eq(count_done(w, 3, WAIT_OBJECT_0), 2, "%d of 3 released by a release of 2",
		     count_done(w, 3, WAIT_OBJECT_0));
	cr_assert_eq(sy_info("sem").count, 0);
	assert_bool(RtReleaseSemaphore(s, 4, &prev), 1, 0, "release 4");
	cr_assert_eq(prev, 0);
	for (int i = 0; i < 3; i++)
		sy_waiter_join(&w[i]);
	cr_assert_eq(count_done(w, 3, WAIT_OBJECT_0), 3);
	cr_assert_eq(sy_info("sem").count, 3, "count %u, expected 4 - 1", sy_info("sem").count);
}
