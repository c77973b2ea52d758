/*
 * test_sync_wait.c - RtWaitForSingleObject, RtWaitForMultipleObjects and
 * their Ex forms (issue 10): the result codes, 0 polls, timeouts in ms
 * and in 100 ns units, INFINITE, a satisfied wait consumes, bad handles
 * (6) and bad arguments (87), the lowest signaled index with only that
 * object consumed; and RtCloseHandle: the last handle anywhere destroys.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "aw.h"
#include "sync_helpers.h"

Test(sync_wait, result_codes)
{
	cr_assert_eq(WAIT_OBJECT_0, 0u);
	cr_assert_eq(WAIT_ABANDONED, 0x80u);
	cr_assert_eq(WAIT_ABANDONED_0, 0x80u);
	cr_assert_eq(WAIT_TIMEOUT, 0x102u);
	cr_assert_eq(WAIT_FAILED, 0xFFFFFFFFu);
	cr_assert_eq(INFINITE, 0xFFFFFFFFu);
	cr_assert_eq(MAX_WFMO, 64);
	cr_assert_eq(ERROR_NOT_OWNER, 288);
	cr_assert_eq(ERROR_TOO_MANY_POSTS, 298);
	cr_assert_eq(SYNCHRONIZE, 0x00100000u);
	cr_assert_eq(EVENT_ALL_ACCESS, 0x001F0003u);
	cr_assert_eq(EVENT_MODIFY_STATE, 0x0002u);
	cr_assert_eq(MUTEX_ALL_ACCESS, 0x001F0001u);
	cr_assert_eq(SEMAPHORE_ALL_ACCESS, 0x001F0003u);
	cr_assert_eq(SEMAPHORE_MODIFY_STATE, 0x0002u);
}

/* 0 polls: at once, WAIT_TIMEOUT, error 0; a timed wait lasts its time. */
AW_TEST(sync_wait, poll_and_timeout)
{
	HANDLE e = sy_create(mode, EV, TRUE, FALSE, "ev");
	ULARGE_INTEGER t;
	uint64_t t0;

	assert_ok(e, 0, "create");
	t0 = now_ms();
	for (int i = 0; i < 100; i++) {
		SetLastError(12345);
		assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "poll");
	}
	t.QuadPart = 0;
	assert_wait(RtWaitForSingleObjectEx(e, &t), WAIT_TIMEOUT, 0, "Ex poll");
	assert_wait(RtWaitForMultipleObjects(1, &e, FALSE, 0), WAIT_TIMEOUT, 0, "multiple poll");
	assert_wait(RtWaitForMultipleObjectsEx(1, &e, FALSE, &t), WAIT_TIMEOUT, 0,
		    "multiple Ex poll");
	cr_assert_lt(now_ms() - t0, 500, "103 polls took %llu ms",
		     (unsigned long long)(now_ms() - t0));
	t0 = now_ms();
	assert_wait(RtWaitForSingleObject(e, 150), WAIT_TIMEOUT, 0, "150 ms");
	uint64_t took = now_ms() - t0;
	cr_assert(took >= 150 && took < 1000, "a 150 ms wait took %llu ms",
		  (unsigned long long)took);
	t.QuadPart = 1500000; /* 150 ms in 100 ns units */
	t0 = now_ms();
	assert_wait(RtWaitForSingleObjectEx(e, &t), WAIT_TIMEOUT, 0, "Ex 150 ms");
	took = now_ms() - t0;
	cr_assert(took >= 150 && took < 1000, "a 1,500,000 x 100 ns wait took %llu ms",
		  (unsigned long long)took);
	t.QuadPart = 1000; /* 100 us */
	t0 = now_ms();
	assert_wait(RtWaitForMultipleObjectsEx(1, &e, FALSE, &t), WAIT_TIMEOUT, 0, "Ex 100 us");
	cr_assert_lt(now_ms() - t0, 200, "a 100 us wait took %llu ms",
		     (unsigned long long)(now_ms() - t0));
	/* Signaled: every form returns WAIT_OBJECT_0 at once. */
	assert_bool(RtSetEvent(e), 1, 0, "set");
	t.QuadPart = 0;
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_OBJECT_0, 0, "set, poll");
	assert_wait(RtWaitForSingleObject(e, INFINITE), WAIT_OBJECT_0, 0, "set, INFINITE");
	assert_wait(RtWaitForSingleObjectEx(e, &t), WAIT_OBJECT_0, 0, "set, Ex poll");
	assert_wait(RtWaitForMultipleObjectsEx(1, &e, FALSE, &t), WAIT_OBJECT_0, 0,
		    "set, multiple Ex");
}

/* INFINITE and both halves of the Ex timeout INFINITE: no time-out (the
 * waiter is still blocked after 1.2 s), released by a set. */
static void wait_forever(int mode, int form)
{
	HANDLE e = sy_create(mode, EV, FALSE, FALSE, "ev");
	struct sy_waiter w;
	ULARGE_INTEGER t;

	assert_ok(e, 0, "create");
	memset(&w, 0, sizeof w);
	t.u.LowPart = t.u.HighPart = INFINITE;
	w.ms = INFINITE;
	if (form)
		w.ex = &t;
	HANDLE h[2] = {e, e}; /* form 2: the multiple Ex of the same handle twice */
	sy_waiter_block(&w, form == 2 ? 2 : 1, h, "ev");
	usleep(1100 * 1000);
	cr_assert_eq(w.done, 0, "an infinite wait returned 0x%x", (unsigned)w.result);
	assert_bool(RtSetEvent(e), 1, 0, "set");
	sy_waiter_join(&w);
	cr_assert_eq(w.result, WAIT_OBJECT_0, "0x%x", (unsigned)w.result);
	cr_assert_eq(w.error, 0);
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_TIMEOUT, 0, "consumed");
}

AW_TEST(sync_wait, infinite)
{
	wait_forever(mode, 0);
}

AW_TEST(sync_wait, ex_infinite)
{
	wait_forever(mode, 1);
}

AW_TEST(sync_wait, multiple_ex_infinite)
{
	wait_forever(mode, 2);
}

/* A satisfied wait consumes: an auto event is reset, a semaphore is one
 * less, a mutex is the waiting thread's; a manual event stays set. */
AW_TEST(sync_wait, satisfied_wait_consumes)
{
	HANDLE a = sy_create(mode, EV, FALSE, TRUE, "auto");
	HANDLE m = sy_create(mode, EV, TRUE, TRUE, "manual");
	HANDLE s = sy_create(mode, SEM, 2, 2, "sem");
	HANDLE x = sy_create(mode, MX, FALSE, 0, "mx");

	assert_wait(RtWaitForSingleObject(a, 0), WAIT_OBJECT_0, 0, "auto event");
	cr_assert_eq(sy_info("auto").signaled, 0);
	assert_wait(RtWaitForSingleObject(m, 0), WAIT_OBJECT_0, 0, "manual event");
	cr_assert_eq(sy_info("manual").signaled, 1);
	assert_wait(RtWaitForSingleObject(s, 0), WAIT_OBJECT_0, 0, "semaphore");
	cr_assert_eq(sy_info("sem").count, 1);
	assert_wait(RtWaitForSingleObject(s, 0), WAIT_OBJECT_0, 0, "semaphore");
	cr_assert_eq(sy_info("sem").count, 0);
	assert_wait(RtWaitForSingleObject(s, 0), WAIT_TIMEOUT, 0, "semaphore at 0");
	cr_assert_eq(sy_info("mx").mx_owner, 0);
	assert_wait(RtWaitForSingleObject(x, 0), WAIT_OBJECT_0, 0, "mutex");
	struct vmshm_objinfo oi = sy_info("mx");
	cr_assert_neq(oi.mx_owner, 0);
	cr_assert_eq(oi.signaled, 0);
	assert_bool(RtReleaseMutex(x), 1, 0, "the waiter owns it");
}

/* Shared memory, closed and unknown handles: WAIT_FAILED, 6, in every
 * form, also among good handles. */
AW_TEST(sync_wait, bad_handles)
{
	void *loc;
	HANDLE shm = rt_create(mode, PAGE_READWRITE, 0, 4096, "shm", &loc);
	HANDLE e = sy_create(mode, EV, TRUE, TRUE, "ev");
	HANDLE c = sy_create(mode, SEM, 1, 1, "closed");
	HANDLE bad[] = {shm, c, NULL, (HANDLE)(uintptr_t)0x12345, (HANDLE)(uintptr_t)-1};
	ULARGE_INTEGER t = {.QuadPart = 0};

	assert_ok(shm, 0, "shm");
	assert_ok(e, 0, "event");
	assert_bool(RtCloseHandle(c), 1, 0, "close");
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		HANDLE two[2] = {e, bad[i]};

		SetLastError(0);
		assert_wait(RtWaitForSingleObject(bad[i], 0), WAIT_FAILED, ERROR_INVALID_HANDLE,
			    "single");
		assert_wait(RtWaitForSingleObject(bad[i], 100), WAIT_FAILED, ERROR_INVALID_HANDLE,
			    "single, 100 ms");
		assert_wait(RtWaitForSingleObjectEx(bad[i], &t), WAIT_FAILED, ERROR_INVALID_HANDLE,
			    "single Ex");
		assert_wait(RtWaitForMultipleObjects(2, two, FALSE, 0), WAIT_FAILED,
			    ERROR_INVALID_HANDLE, "multiple, second bad");
		assert_wait(RtWaitForMultipleObjectsEx(2, two, FALSE, &t), WAIT_FAILED,
			    ERROR_INVALID_HANDLE, "multiple Ex, second bad");
	}
	/* The good handle stayed as it was. */
	cr_assert_eq(sy_info("ev").signaled, 1);
}

/* n 0 or > 64, a NULL array, bWaitAll TRUE, a NULL Ex timeout: 87. */
AW_TEST(sync_wait, bad_arguments)
{
	HANDLE h[MAX_WFMO + 1];
	ULARGE_INTEGER t = {.QuadPart = 0};

	for (int i = 0; i <= MAX_WFMO; i++) {
		h[i] = sy_create(mode, SEM, 1, 1, NULL);
		assert_ok(h[i], 0, "semaphore");
	}
	assert_wait(RtWaitForMultipleObjects(0, h, FALSE, 0), WAIT_FAILED, ERROR_INVALID_PARAMETER,
		    "n 0");
	assert_wait(RtWaitForMultipleObjects(MAX_WFMO + 1, h, FALSE, 0), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "n 65");
	assert_wait(RtWaitForMultipleObjects(0xffffffffu, h, FALSE, 0), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "n 2^32-1");
	assert_wait(RtWaitForMultipleObjects(2, NULL, FALSE, 0), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "NULL handles");
	assert_wait(RtWaitForMultipleObjects(2, h, TRUE, 0), WAIT_FAILED, ERROR_INVALID_PARAMETER,
		    "bWaitAll TRUE");
	assert_wait(RtWaitForMultipleObjects(1, h, TRUE, INFINITE), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "bWaitAll TRUE, one handle");
	assert_wait(RtWaitForMultipleObjectsEx(0, h, FALSE, &t), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "Ex n 0");
	assert_wait(RtWaitForMultipleObjectsEx(MAX_WFMO + 1, h, FALSE, &t), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "Ex n 65");
	assert_wait(RtWaitForMultipleObjectsEx(2, h, TRUE, &t), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "Ex bWaitAll TRUE");
	assert_wait(RtWaitForMultipleObjectsEx(2, h, FALSE, NULL), WAIT_FAILED,
		    ERROR_INVALID_PARAMETER, "Ex NULL timeout");
	assert_wait(RtWaitForSingleObjectEx(h[0], NULL), WAIT_FAILED, ERROR_INVALID_PARAMETER,
		    "single Ex NULL timeout");
	/* Nothing consumed: each is still at 1; then 64 handles take the lowest. */
	for (int i = 0; i <= MAX_WFMO; i++) {
		assert_wait(RtWaitForSingleObject(h[i], 0), WAIT_OBJECT_0, 0, "still 1");
		assert_bool(RtReleaseSemaphore(h[i], 1, NULL), 1, 0, "back to 1");
	}
	assert_wait(RtWaitForMultipleObjects(MAX_WFMO, h, FALSE, 0), WAIT_OBJECT_0, 0, "n 64");
	assert_wait(RtWaitForMultipleObjects(MAX_WFMO, h, FALSE, 0), WAIT_OBJECT_0 + 1, 0,
		    "n 64 again");
}

/* Wait-any: the lowest signaled index; only that object is consumed. */
AW_TEST(sync_wait, multiple_lowest_index)
{
	HANDLE h[MAX_WFMO];
	char name[32];
	ULARGE_INTEGER t = {.QuadPart = 0};

	for (int i = 0; i < MAX_WFMO; i++) {
		snprintf(name, sizeof name, "ev-%02d", i);
		h[i] = sy_create(mode, EV, FALSE, FALSE, name);
		assert_ok(h[i], 0, name);
	}
	assert_wait(RtWaitForMultipleObjects(MAX_WFMO, h, FALSE, 0), WAIT_TIMEOUT, 0, "none set");
	static const int set[] = {63, 40, 7, 41, 0};
	for (int k = 0; k < 5; k++)
		assert_bool(RtSetEvent(h[set[k]]), 1, 0, "set");
	static const int order[] = {0, 7, 40, 41, 63};
	for (int k = 0; k < 5; k++) {
		char what[32];

		snprintf(what, sizeof what, "wait %d", k);
		DWORD r = k % 2 ? RtWaitForMultipleObjects(MAX_WFMO, h, FALSE, 0)
				: RtWaitForMultipleObjectsEx(MAX_WFMO, h, FALSE, &t);
		cr_assert_eq(r, WAIT_OBJECT_0 + (DWORD)order[k], "%s: 0x%x, expected index %d",
			     what, (unsigned)r, order[k]);
		for (int j = k + 1; j < 5; j++) {
			snprintf(name, sizeof name, "ev-%02d", order[j]);
			cr_assert_eq(sy_info(name).signaled, 1, "%s consumed by wait %d", name, k);
		}
	}
	assert_wait(RtWaitForMultipleObjects(MAX_WFMO, h, FALSE, 0), WAIT_TIMEOUT, 0, "all taken");
	/* Mixed types: a semaphore at 2 is consumed once per wait. */
	HANDLE mix[4] = {
	    sy_create(mode, EV, FALSE, FALSE, "m-ev"), sy_create(mode, SEM, 2, 5, "m-sem"),
	    sy_create(mode, EV, TRUE, TRUE, "m-man"), sy_create(mode, MX, FALSE, 0, "m-mx")};
	assert_wait(RtWaitForMultipleObjects(4, mix, FALSE, 0), WAIT_OBJECT_0 + 1, 0, "sem 2");
	assert_wait(RtWaitForMultipleObjects(4, mix, FALSE, 0), WAIT_OBJECT_0 + 1, 0, "sem 1");
	cr_assert_eq(sy_info("m-sem").count, 0);
	assert_wait(RtWaitForMultipleObjects(4, mix, FALSE, 0), WAIT_OBJECT_0 + 2, 0, "manual");
	assert_wait(RtWaitForMultipleObjects(4, mix, FALSE, 0), WAIT_OBJECT_0 + 2, 0,
		    "manual stays set");
	cr_assert_eq(sy_info("m-mx").mx_owner, 0, "the mutex was taken");
	assert_bool(RtResetEvent(mix[2]), 1, 0, "reset");
	assert_wait(RtWaitForMultipleObjects(4, mix, FALSE, 0), WAIT_OBJECT_0 + 3, 0, "mutex");
	cr_assert_neq(sy_info("m-mx").mx_owner, 0);
	assert_bool(RtReleaseMutex(mix[3]), 1, 0, "release");
}

/* A blocked wait-any is released by the object that is signaled, with
 * its index; a mutex abandoned by a thread gives WAIT_ABANDONED_0 + i. */
AW_TEST(sync_wait, multiple_blocked)
{
	HANDLE e = sy_create(mode, EV, FALSE, FALSE, "ev");
	HANDLE s = sy_create(mode, SEM, 0, 1, "sem");
	HANDLE m = sy_create(mode, MX, FALSE, 0, "mx");
	struct sy_waiter w, owner;

	for (int k = 0; k < 2; k++) {
		HANDLE h[3] = {e, s, e};

		memset(&w, 0, sizeof w);
		sy_waiter_block(&w, 3, h, "sem");
		cr_assert_eq(sy_await_waiters("ev", 1, 5000), 1);
		if (k == 0)
			assert_bool(RtReleaseSemaphore(s, 1, NULL), 1, 0, "release");
		else
			assert_bool(RtSetEvent(e), 1, 0, "set");
		sy_waiter_join(&w);
		cr_assert_eq(w.result, k == 0 ? WAIT_OBJECT_0 + 1 : WAIT_OBJECT_0, "0x%x",
			     (unsigned)w.result);
	}
	cr_assert_eq(sy_info("ev").waiters, 0, "a waiter bit left");
	cr_assert_eq(sy_info("sem").waiters, 0, "a waiter bit left");
	/* The owner thread ends owning the mutex: the blocked waiter gets
	 * WAIT_ABANDONED_0 + 2. */
	memset(&owner, 0, sizeof owner);
	owner.h[0] = m;
	owner.linger = 1;
	sy_waiter_start(&owner);
	cr_assert(sy_waiter_ended(&owner, 5000));
	cr_assert_eq(owner.result, WAIT_OBJECT_0);
	HANDLE h[3] = {e, s, m};

	memset(&w, 0, sizeof w);
	sy_waiter_block(&w, 3, h, "mx");
	owner.linger = 0;
	sy_waiter_join(&owner);
	sy_waiter_join(&w);
	cr_assert_eq(w.result, WAIT_ABANDONED_0 + 2, "0x%x", (unsigned)w.result);
}

/* ---- RtCloseHandle ------------------------------------------------------------ */

/* The object lives while any handle in any process is open; the last
 * close destroys it (its space is free again, its name unknown). */
AW_TEST(sync_close, last_handle_destroys)
{
	static const int types[] = {EV, MX, SEM};
	struct {
		_Atomic int opened, go, result;
	} *sh = shared_area(sizeof *sh);
	HANDLE cr[3], op[3], ex[3];
	char name[3][32];

	for (int i = 0; i < 3; i++) {
		snprintf(name[i], sizeof name[i], "obj-%d", i);
		cr[i] = sy_create(mode, types[i], 0, 5, name[i]);
		assert_ok(cr[i], 0, name[i]);
	}
	pid_t pid = spawn_child();
	if (pid == 0) {
		HANDLE h[3];
		int ok = 1;

		for (int i = 0; i < 3; i++) {
			h[i] = sy_open(mode, types[i], SYNCHRONIZE, name[i]);
			ok &= h[i] && GetLastError() == 0;
		}
		sh->opened = ok ? 1 : 2;
		for (uint64_t end = now_ms() + 20000; !sh->go && now_ms() < end;)
			usleep(1000);
		for (int i = 0; i < 3; i++)
			ok &= RtCloseHandle(h[i]) && GetLastError() == 0;
		sh->result = ok ? 1 : 2;
		_exit(0);
	}
	for (uint64_t end = now_ms() + 20000; !sh->opened && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(sh->opened, 1, "the child could not open the objects");
	for (int i = 0; i < 3; i++) {
		op[i] = sy_open(mode, types[i], SYNCHRONIZE, name[i]);
		assert_ok(op[i], 0, "open");
		ex[i] = sy_create(mode, types[i], 1, 5, name[i]);
		assert_ok(ex[i], ERROR_ALREADY_EXISTS, "create existing");
		assert_bool(RtCloseHandle(op[i]), 1, 0, "close");
		assert_bool(RtCloseHandle(op[i]), 0, ERROR_INVALID_HANDLE, "double close");
		assert_wait(RtWaitForSingleObject(op[i], 0), WAIT_FAILED, ERROR_INVALID_HANDLE,
			    "wait on a closed handle");
		assert_bool(RtCloseHandle(ex[i]), 1, 0, "close");
		assert_bool(RtCloseHandle(cr[i]), 1, 0, "close the creator's handle");
		cr_assert_eq(sy_info(name[i]).state, VMSHM_OBJ_LIVE,
			     "gone while the child holds it");
	}
	cr_assert_eq(tp_objects(), 3);
	/* The child's closes are the last ones. */
	sh->go = 1;
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(sh->result, 1, "the child's closes failed");
	struct vmshm_stats st = tp_stats();
	cr_assert_eq(st.objects, 0, "%u objects after the last close", st.objects);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes, "%lld bytes not freed",
		     (long long)(tp.empty.free_bytes - st.free_bytes));
	for (int i = 0; i < 3; i++) {
		SetLastError(0);
		assert_fails(sy_open(mode, types[i], SYNCHRONIZE, name[i]), ERROR_FILE_NOT_FOUND,
			     "open after the last close");
	}
	/* A new create makes a new object, with its own initial state. */
	HANDLE e = sy_create(mode, EV, TRUE, TRUE, name[0]);
	assert_ok(e, 0, "create again");
	assert_wait(RtWaitForSingleObject(e, 0), WAIT_OBJECT_0, 0, "the new object is set");
	shared_area_free(sh, sizeof *sh);
}
