/*
 * sync_tsan.c - events, mutexes and semaphores between threads of one
 * process under ThreadSanitizer (a plain program, as threads_tsan.c):
 * four threads increment a plain counter under one RtApi mutex, two pass
 * an auto event back and forth, two pass tokens through a semaphore, one
 * thread ends owning a second mutex (the next waiter gets WAIT_ABANDONED),
 * and a native attach (another peer of this process) sets and waits on an
 * event meanwhile. Plain data is shared only through the RtApi threads'
 * one mapping, so TSan sees the library's atomics order it.
 *
 * Output ends with "tsan-test: N passed, M failed".
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "RtApi.h"
#include "tsan_pool.h"
#include "vmshm.h"

enum { COUNTERS = 4, INCREMENTS = 2000, HANDOFFS = 2000, TOKENS = 2000 };

static char path[128];
static _Atomic int failures;
static long counter; /* under the mutex "count" */
static long baton;   /* passed with the events "ping" and "pong" */

static void fail(const char *what, long code)
{
	if (atomic_fetch_add(&failures, 1) < 10)
		fprintf(stderr, "sync-tsan: %s (%ld)\n", what, code);
}

static void *counter_thread(void *arg)
{
	HANDLE m = RtOpenMutexA(SYNCHRONIZE, FALSE, "count");

	(void)arg;
	for (int i = 0; i < INCREMENTS && m; i++) {
		DWORD r = RtWaitForSingleObject(m, 10000);
		if (r != WAIT_OBJECT_0) {
			fail("counter wait", (long)r);
			continue;
		}
		counter++;
		if (!RtReleaseMutex(m))
			fail("counter release", (long)GetLastError());
	}
	if (!m || !RtCloseHandle(m))
		fail("counter open/close", (long)GetLastError());
	return NULL;
}

static void *handoff_thread(void *arg)
{
	int side = (int)(intptr_t)arg;
	HANDLE mine = RtOpenEventA(SYNCHRONIZE, FALSE, side ? "ping" : "pong");
	HANDLE theirs = RtOpenEventA(EVENT_MODIFY_STATE, FALSE, side ? "pong" : "ping");

	for (long n = side; n < HANDOFFS && mine && theirs; n += 2) {
		if (n > 0) {
			DWORD r = RtWaitForSingleObject(mine, 10000);
			if (r != WAIT_OBJECT_0)
				fail("handoff wait", (long)r);
			if (baton != n)
				fail("handoff out of order", baton);
		}
		baton = n + 1;
		if (!RtSetEvent(theirs))
			fail("handoff set", (long)GetLastError());
	}
	RtCloseHandle(mine);
	RtCloseHandle(theirs);
	return NULL;
}

static long slots[TOKENS];

static void *sem_thread(void *arg)
{
	int producer = (int)(intptr_t)arg;
	HANDLE s = RtOpenSemaphoreA(SYNCHRONIZE, FALSE, "tokens");

	for (int i = 0; i < TOKENS && s; i++) {
		if (producer) {
			slots[i] = i + 1;
			if (!RtReleaseSemaphore(s, 1, NULL))
				fail("release", (long)GetLastError());
		} else {
			DWORD r = RtWaitForSingleObject(s, 10000);
			if (r != WAIT_OBJECT_0)
				fail("token wait", (long)r);
			else if (slots[i] != i + 1)
				fail("token", slots[i]);
		}
	}
	RtCloseHandle(s);
	return NULL;
}

static void *abandoner(void *arg)
{
	HANDLE m = arg;
	DWORD r = RtWaitForSingleObject(m, 0);

	if (r != WAIT_OBJECT_0)
		fail("abandoner wait", (long)r);
	return NULL; /* owning it */
}

/* Another peer of this process: sets and waits on its own event. */
static void *native_thread(void *arg)
{
	vmshm_pool *p;
	vmshm_ref r;
	char why[256] = "";

	(void)arg;
	if (vmshm_attach(path, 0, &p, why, sizeof why) < 0) {
		fail("native attach", 0);
		return NULL;
	}
	if (vmshm_event_create(p, "native", 0, 0, 0, &r) < 0) {
		fail("native create", 0);
	} else {
		for (int i = 0; i < 500; i++) {
			vmshm_event_set(p, &r);
			if (vmshm_wait(p, &r, 1, 1000000000ull, NULL) != VMSHM_WAIT_SIGNALED)
				fail("native wait", i);
		}
		vmshm_close(p, &r);
	}
	vmshm_detach(p);
	return NULL;
}

int main(void)
{
	pthread_t t[COUNTERS + 5], a;
	struct vmshm_stats empty;
	int n = 0, passed = 0, failed = 0;

	if (tsan_pool_make(path, sizeof path, "sync-tsan", 16u << 20, &empty) < 0) {
		printf("tsan-test: 0 passed, 1 failed\n");
		return 1;
	}

	HANDLE h[5] = {
	    RtCreateMutexA(NULL, FALSE, "count"), RtCreateEventA(NULL, FALSE, FALSE, "ping"),
	    RtCreateEventA(NULL, FALSE, FALSE, "pong"),
	    RtCreateSemaphoreA(NULL, 0, TOKENS, "tokens"), RtCreateMutexA(NULL, FALSE, NULL)};
	for (int i = 0; i < 5; i++)
		if (!h[i])
			fail("create", i);
	for (int i = 0; i < COUNTERS; i++)
		pthread_create(&t[n++], NULL, counter_thread, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[n++], NULL, handoff_thread, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[n++], NULL, sem_thread, (void *)(intptr_t)i);
	pthread_create(&t[n++], NULL, native_thread, NULL);
	pthread_create(&a, NULL, abandoner, h[4]);
	pthread_join(a, NULL);
	DWORD r = RtWaitForSingleObject(h[4], 5000);
	if (r != WAIT_ABANDONED)
		fail("after the owner thread ended", (long)r);
	else if (!RtReleaseMutex(h[4]))
		fail("release of the abandoned mutex", (long)GetLastError());
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	if (counter != (long)COUNTERS * INCREMENTS)
		fail("counter total", counter);
	for (int i = 0; i < 5; i++)
		if (!RtCloseHandle(h[i]))
			fail("close", i);

	if (atomic_load(&failures) == 0)
		passed++;
	else
		failed++;
	if (tsan_pool_clean(path, "sync-tsan", &empty) == 0)
		passed++;
	else
		failed++;
	printf("tsan-test: %d passed, %d failed (sync: counter %ld, %d handoffs, %d tokens)\n",
	       passed, failed, counter, HANDOFFS, TOKENS);
	return failed ? 1 : 0;
}
