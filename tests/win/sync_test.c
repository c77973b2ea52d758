/*
 * sync_test.c - the rules of the RtApi events, mutexes, semaphores and
 * waits in a Windows build of RtApi.dll (run under Wine by run.sh), A and
 * W: every row of the table with its exact codes. The pool is $VMSHM_POOL.
 * The multi-process and crash cases are the Linux suites' and xsync's.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "RtApi.h"
#include "check.h"

/* A name in both forms: "sync-N-<tag>" and its UTF-16 copy. */
struct name {
	char a[64];
	WCHAR w[64];
};

static struct name nm(int w, const char *tag)
{
	static int n;
	struct name r;
	snprintf(r.a, sizeof(r.a), "sync-%d-%s-%s", n++, w ? "w" : "a", tag);
	for (size_t i = 0; i <= strlen(r.a); i++)
		r.w[i] = (WCHAR)r.a[i];
	return r;
}

static HANDLE ev(int w, BOOL manual, BOOL set, const struct name *n)
{
	return w ? RtCreateEventW(NULL, manual, set, n ? n->w : NULL)
		 : RtCreateEventA(NULL, manual, set, n ? n->a : NULL);
}

static HANDLE mx(int w, BOOL own, const struct name *n)
{
	return w ? RtCreateMutexW(NULL, own, n ? n->w : NULL) : RtCreateMutexA(NULL, own, n->a);
}

static HANDLE sem(int w, LONG init, LONG max, const struct name *n)
{
	return w ? RtCreateSemaphoreW(NULL, init, max, n->w)
		 : RtCreateSemaphoreA(NULL, init, max, n->a);
}

static void creates(int w)
{
	struct name e = nm(w, "ev"), m = nm(w, "mx"), s = nm(w, "sem");
	HANDLE h = ev(w, FALSE, FALSE, &e);
	CHECK(h && GetLastError() == 0, "new event: %p %lu", h, GetLastError());
	HANDLE h2 = ev(w, TRUE, TRUE, &e);
	CHECK(h2 && GetLastError() == ERROR_ALREADY_EXISTS, "existing event: %lu", GetLastError());
	CHECK(RtWaitForSingleObject(h2, 0) == WAIT_TIMEOUT, "flags of an existing event ignored");
	CHECK(mx(w, FALSE, &e) == NULL, "mutex over an event");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "mutex over an event");
	CHECK(sem(w, 0, 1, &e) == NULL, "semaphore over an event");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "semaphore over an event");
	void *loc = NULL;
	CHECK(RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, e.a, &loc) == NULL, "shm over event");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "shared memory over an event");
	HANDLE u = ev(w, FALSE, TRUE, NULL);
	CHECK(u && GetLastError() == 0, "unnamed event");
	CHECK(RtWaitForSingleObject(u, 0) == WAIT_OBJECT_0, "unnamed event set at creation");
	HANDLE hm = mx(w, FALSE, &m), hs = sem(w, 2, 5, &s);
	CHECK(hm && hs, "mutex and semaphore");
	HANDLE hs2 = sem(w, 0, 1, &s);
	CHECK(hs2 && GetLastError() == ERROR_ALREADY_EXISTS, "existing semaphore: 183");
	LONG prev = -1;
	CHECK(RtReleaseSemaphore(hs2, 1, &prev) && prev == 2, "its counts kept: prev %ld", prev);
	HANDLE all[] = {h, h2, u, hm, hs, hs2};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		CHECK(RtCloseHandle(all[i]), "close %zu", i);
}

static void opens(int w)
{
	struct name e = nm(w, "ev"), none = nm(w, "none");
	HANDLE h = ev(w, FALSE, FALSE, &e);
	HANDLE o =
	    w ? RtOpenEventW(SYNCHRONIZE, FALSE, e.w) : RtOpenEventA(SYNCHRONIZE, FALSE, e.a);
	CHECK(o && GetLastError() == 0, "open an event: %lu", GetLastError());
	if (o)
		RtCloseHandle(o);
	o = w ? RtOpenEventW(EVENT_ALL_ACCESS, FALSE, none.w) : RtOpenEventA(0, FALSE, none.a);
	CHECK(o == NULL, "open of no such event");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "open of no such event");
	o = w ? RtOpenMutexW(MUTEX_ALL_ACCESS, FALSE, e.w) : RtOpenMutexA(0, FALSE, e.a);
	CHECK(o == NULL, "open of an event as a mutex");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "open of another type");
	o = w ? RtOpenSemaphoreW(SEMAPHORE_ALL_ACCESS, FALSE, NULL)
	      : RtOpenSemaphoreA(SEMAPHORE_MODIFY_STATE, FALSE, NULL);
	CHECK(o == NULL, "open with a NULL name");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "open with a NULL name");
	RtCloseHandle(h);
}

static void events(int w)
{
	struct name a = nm(w, "auto"), m = nm(w, "manual");
	HANDLE ha = ev(w, FALSE, FALSE, &a), hm = ev(w, TRUE, FALSE, &m);
	CHECK(RtSetEvent(ha) && RtWaitForSingleObject(ha, 0) == WAIT_OBJECT_0, "auto: set, wait");
	CHECK(RtWaitForSingleObject(ha, 0) == WAIT_TIMEOUT, "auto: the wait reset it");
	CHECK(RtSetEvent(hm), "manual set");
	CHECK(RtWaitForSingleObject(hm, 0) == WAIT_OBJECT_0 &&
		  RtWaitForSingleObject(hm, 0) == WAIT_OBJECT_0,
	      "manual: every wait passes until reset");
	CHECK(RtResetEvent(hm) && RtWaitForSingleObject(hm, 0) == WAIT_TIMEOUT, "manual: reset");
	CHECK(RtPulseEvent(hm) && RtWaitForSingleObject(hm, 0) == WAIT_TIMEOUT,
	      "manual: a pulse with no waiter is lost");
	CHECK(RtPulseEvent(ha) && RtWaitForSingleObject(ha, 0) == WAIT_TIMEOUT,
	      "auto: a pulse with no waiter is lost");
	CHECK(!RtSetEvent(NULL), "set of NULL");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "set of NULL");
	RtCloseHandle(ha);
	RtCloseHandle(hm);
}

struct other {
	HANDLE h;
	BOOL ok;
	DWORD err;
};

static DWORD WINAPI release_elsewhere(LPVOID arg)
{
	struct other *o = arg;
	SetLastError(0);
	o->ok = RtReleaseMutex(o->h);
	o->err = GetLastError();
	return 0;
}

static void mutexes(int w)
{
	struct name m = nm(w, "mx");
	HANDLE h = mx(w, TRUE, &m);
	CHECK(h && GetLastError() == 0, "new mutex, owned");
	HANDLE h2 = mx(w, TRUE, &m);
	CHECK(h2 && GetLastError() == ERROR_ALREADY_EXISTS, "existing mutex: 183");
	CHECK(RtWaitForSingleObject(h, 0) == WAIT_OBJECT_0, "recursive: owner waits again");
	struct other o = {h, TRUE, 0};
	HANDLE t = CreateThread(NULL, 0, release_elsewhere, &o, 0, NULL);
	WaitForSingleObject(t, INFINITE);
	CloseHandle(t);
	CHECK(!o.ok && o.err == ERROR_NOT_OWNER, "release by another thread: %d %lu", o.ok, o.err);
	CHECK(RtReleaseMutex(h) && RtReleaseMutex(h), "release twice (owned twice)");
	CHECK(!RtReleaseMutex(h), "release once more");
	CHECK_ERR(GetLastError(), ERROR_NOT_OWNER, "release of a free mutex");
	RtCloseHandle(h);
	RtCloseHandle(h2);
}

static void semaphores(int w)
{
	struct name s = nm(w, "sem");
	CHECK(sem(w, 0, 0, &s) == NULL, "max 0");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "max 0");
	CHECK(sem(w, 3, 2, &s) == NULL, "initial past max");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "initial past max");
	CHECK(sem(w, -1, 2, &s) == NULL, "negative initial");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "negative initial");
	HANDLE h = sem(w, 1, 2, &s);
	LONG prev = -1;
	CHECK(!RtReleaseSemaphore(h, 0, &prev), "release 0");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "release 0");
	CHECK(!RtReleaseSemaphore(h, 2, &prev), "release past max");
	CHECK_ERR(GetLastError(), ERROR_TOO_MANY_POSTS, "release past max");
	CHECK(RtReleaseSemaphore(h, 1, &prev) && prev == 1, "release 1: prev %ld", prev);
	CHECK(RtWaitForSingleObject(h, 0) == WAIT_OBJECT_0 &&
		  RtWaitForSingleObject(h, 0) == WAIT_OBJECT_0 &&
		  RtWaitForSingleObject(h, 0) == WAIT_TIMEOUT,
	      "two waits take the count 2, the third times out");
	RtCloseHandle(h);
}

static void waits(int w)
{
	struct name n[3] = {nm(w, "w0"), nm(w, "w1"), nm(w, "w2")};
	HANDLE h[3];
	for (int i = 0; i < 3; i++)
		h[i] = ev(w, FALSE, FALSE, &n[i]);
	RtSetEvent(h[2]);
	RtSetEvent(h[1]);
	CHECK(RtWaitForMultipleObjects(3, h, FALSE, 0) == WAIT_OBJECT_0 + 1, "lowest signaled");
	CHECK(RtWaitForSingleObject(h[2], 0) == WAIT_OBJECT_0, "only that one consumed");
	CHECK(RtWaitForMultipleObjects(0, h, FALSE, 0) == WAIT_FAILED, "n 0");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "n 0");
	CHECK(RtWaitForMultipleObjects(MAX_WFMO + 1, h, FALSE, 0) == WAIT_FAILED, "n 65");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "n 65");
	CHECK(RtWaitForMultipleObjects(3, h, TRUE, 0) == WAIT_FAILED, "bWaitAll");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "bWaitAll");
	DWORD t0 = GetTickCount();
	CHECK(RtWaitForSingleObject(h[0], 100) == WAIT_TIMEOUT, "100 ms timeout");
	/* GetTickCount moves in steps of 10-16 ms. */
	CHECK(GetTickCount() - t0 >= 80, "the timeout waited: %lu ms", GetTickCount() - t0);
	ULARGE_INTEGER zero, inf, ms50;
	zero.QuadPart = 0;
	inf.QuadPart = ~0ull;
	ms50.QuadPart = 500000; /* 100 ns units */
	CHECK(RtWaitForSingleObjectEx(h[0], NULL) == WAIT_FAILED, "Ex NULL");
	CHECK_ERR(GetLastError(), ERROR_INVALID_PARAMETER, "Ex NULL");
	CHECK(RtWaitForSingleObjectEx(h[0], &zero) == WAIT_TIMEOUT, "Ex 0 polls");
	CHECK(RtWaitForMultipleObjectsEx(3, h, FALSE, &ms50) == WAIT_TIMEOUT, "Ex 50 ms");
	RtSetEvent(h[0]);
	CHECK(RtWaitForSingleObjectEx(h[0], &inf) == WAIT_OBJECT_0, "Ex INFINITE on a set event");
	void *loc = NULL;
	struct name s = nm(w, "shm");
	HANDLE sh = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, s.a, &loc);
	CHECK(RtWaitForSingleObject(sh, 0) == WAIT_FAILED, "wait on shared memory");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "wait on shared memory");
	RtCloseHandle(sh);
	RtCloseHandle(h[0]);
	CHECK(RtWaitForSingleObject(h[0], 0) == WAIT_FAILED, "wait on a closed handle");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "wait on a closed handle");
	CHECK(RtWaitForSingleObject((HANDLE)(ULONG_PTR)0x7777770, 0) == WAIT_FAILED, "unknown");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "wait on an unknown handle");
	RtCloseHandle(h[1]);
	RtCloseHandle(h[2]);
}

int main(void)
{
	for (int w = 0; w < 2; w++) {
		creates(w);
		opens(w);
		events(w);
		mutexes(w);
		semaphores(w);
		waits(w);
	}
	return check_summary();
}
