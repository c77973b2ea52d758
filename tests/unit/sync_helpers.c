/*
 * sync_helpers.c - see sync_helpers.h.
 */
#include "sync_helpers.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

HANDLE sy_create(int mode, int type, LONG a, LONG b, const char *utf8)
{
	const WCHAR *w = utf8 ? w16(utf8) : NULL;
	void *loc;

	switch (type) {
	case VMSHM_TYPE_EVENT:
		return mode == MODE_W ? RtCreateEventW(NULL, a, b, w)
				      : RtCreateEventA(NULL, a, b, utf8);
	case VMSHM_TYPE_MUTEX:
		return mode == MODE_W ? RtCreateMutexW(NULL, a, w) : RtCreateMutexA(NULL, a, utf8);
	case VMSHM_TYPE_SEMAPHORE:
		return mode == MODE_W ? RtCreateSemaphoreW(NULL, a, b, w)
				      : RtCreateSemaphoreA(NULL, a, b, utf8);
	default:
		return rt_create(mode, PAGE_READWRITE, 0, 4096, utf8, &loc);
	}
}

HANDLE sy_open(int mode, int type, DWORD access, const char *utf8)
{
	const WCHAR *w = utf8 ? w16(utf8) : NULL;
	void *loc;

	switch (type) {
	case VMSHM_TYPE_EVENT:
		return mode == MODE_W ? RtOpenEventW(access, FALSE, w)
				      : RtOpenEventA(access, FALSE, utf8);
	case VMSHM_TYPE_MUTEX:
		return mode == MODE_W ? RtOpenMutexW(access, FALSE, w)
				      : RtOpenMutexA(access, FALSE, utf8);
	case VMSHM_TYPE_SEMAPHORE:
		return mode == MODE_W ? RtOpenSemaphoreW(access, FALSE, w)
				      : RtOpenSemaphoreA(access, FALSE, utf8);
	default:
		return rt_open(mode, access, utf8, &loc);
	}
}

struct vmshm_objinfo sy_info(const char *utf8)
{
	struct vmshm_objinfo oi;

	memset(&oi, 0, sizeof oi);
	cr_assert_eq(tp_find(utf8, &oi), 1, "'%s' is not in the pool", utf8);
	return oi;
}

int sy_bits(uint64_t w)
{
	return __builtin_popcountll(w);
}

int sy_await_waiters(const char *utf8, int n, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	int k;

	while ((k = sy_bits(sy_info(utf8).waiters)) < n && now_ms() < end)
		usleep(1000);
	return k;
}

static void *waiter_main(void *arg)
{
	struct sy_waiter *w = arg;
	uint64_t t0 = now_ms();
	DWORD r;

	w->started = 1;
	if (w->ex)
		r = w->n > 1 ? RtWaitForMultipleObjectsEx((DWORD)w->n, w->h, FALSE, w->ex)
			     : RtWaitForSingleObjectEx(w->h[0], w->ex);
	else
		r = w->n > 1 ? RtWaitForMultipleObjects((DWORD)w->n, w->h, FALSE, w->ms)
			     : RtWaitForSingleObject(w->h[0], w->ms);
	w->error = GetLastError();
	w->end_ms = now_ms();
	w->took_ms = w->end_ms - t0;
	w->result = r;
	if (w->release && (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED))
		w->released = RtReleaseMutex(w->h[0]);
	w->done = 1;
	while (w->linger)
		usleep(1000);
	if (w->exit_owning)
		pthread_exit(NULL);
	return NULL;
}

void sy_waiter_start(struct sy_waiter *w)
{
	if (w->n == 0)
		w->n = 1;
	w->started = w->done = 0;
	w->result = 0x12345678;
	cr_assert_eq(pthread_create(&w->t, NULL, waiter_main, w), 0);
	while (!w->started)
		usleep(100);
}

void sy_waiter_block(struct sy_waiter *w, int n, const HANDLE *h, const char *name)
{
	w->n = n;
	for (int i = 0; i < n; i++)
		w->h[i] = h[i];
	if (!w->ms)
		w->ms = 10000;
	sy_waiter_start(w);
	cr_assert_eq(sy_await_waiters(name, 1, 5000), 1, "no waiter registered on '%s'", name);
	usleep(100 * 1000);
	cr_assert_eq(w->done, 0, "a wait on '%s' returned 0x%x at once", name, (unsigned)w->result);
}

int sy_waiter_ended(struct sy_waiter *w, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (!w->done && now_ms() < end)
		usleep(1000);
	return w->done;
}

void sy_waiter_join(struct sy_waiter *w)
{
	cr_assert(sy_waiter_ended(w, 30000), "a waiter thread did not end");
	pthread_join(w->t, NULL);
}

struct thread_call {
	void (*fn)(void *);
	void *arg;
};

static void *call_main(void *arg)
{
	struct thread_call *c = arg;

	c->fn(c->arg);
	return NULL;
}

void sy_in_thread(void (*fn)(void *), void *arg)
{
	struct thread_call c = {fn, arg};
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, call_main, &c), 0);
	pthread_join(t, NULL);
}
