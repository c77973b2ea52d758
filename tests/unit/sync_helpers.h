/*
 * sync_helpers.h - shared code of the event, mutex and semaphore tests
 * (test_sync*.c): the A and W create and open calls behind one switch,
 * a look at one object's state, and waits run by threads of the test
 * process (which report through their struct and never assert).
 */
#ifndef VMSHM_TEST_SYNC_HELPERS_H
#define VMSHM_TEST_SYNC_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>

#include "helpers.h"

#define EV  VMSHM_TYPE_EVENT
#define MX  VMSHM_TYPE_MUTEX
#define SEM VMSHM_TYPE_SEMAPHORE
#define SHM VMSHM_TYPE_SHM

/* Asserts a BOOL call: its result and the exact last error. */
#define assert_bool(call, want, err, what)                                                         \
	do {                                                                                       \
		BOOL b_ = (call);                                                                  \
		DWORD e_ = GetLastError();                                                         \
		cr_assert_eq(!!b_, (want), "%s: returned %d, expected %d (error %u)", (what), b_,  \
			     (want), (unsigned)e_);                                                \
		cr_assert_eq(e_, (DWORD)(err), "%s: GetLastError() = %u, expected %ld", (what),    \
			     (unsigned)e_, (long)(err));                                           \
	} while (0)

/* assert_ok (aw.h) of a call, made before GetLastError() is read. */
#define assert_made(call, err, what)                                                               \
	do {                                                                                       \
		HANDLE m_ = (call);                                                                \
		assert_ok(m_, err, what);                                                          \
	} while (0)

/* Asserts a wait's result and last error. */
#define assert_wait(call, want, err, what)                                                         \
	do {                                                                                       \
		DWORD r_ = (call);                                                                 \
		DWORD e_ = GetLastError();                                                         \
		cr_assert_eq(r_, (DWORD)(want), "%s: returned 0x%x, expected 0x%x (error %u)",     \
			     (what), (unsigned)r_, (unsigned)(want), (unsigned)e_);                \
		cr_assert_eq(e_, (DWORD)(err), "%s: GetLastError() = %u, expected %ld", (what),    \
			     (unsigned)e_, (long)(err));                                           \
	} while (0)

/* Creates an object of TYPE through the A or W call (MODE): an event
 * (A manual reset, B initially set), a mutex (A initial owner), a
 * semaphore (A initial count, B maximum) or 4096 bytes of shared memory. */
HANDLE sy_create(int mode, int type, LONG a, LONG b, const char *utf8);
/* RtOpenEvent/Mutex/Semaphore/SharedMemory, A or W, with ACCESS. */
HANDLE sy_open(int mode, int type, DWORD access, const char *utf8);
/* The state of the named object (the test fails if it does not exist). */
struct vmshm_objinfo sy_info(const char *utf8);
/* Waits up to TIMEOUT_MS until N peers wait on the named object (bits in
 * its waiters word); returns how many do. */
int sy_await_waiters(const char *utf8, int n, int timeout_ms);
/* Number of bits set. */
int sy_bits(uint64_t w);

/* A wait in a thread of this process. */
struct sy_waiter {
	pthread_t t;
	int n;              /* handles */
	HANDLE h[4];        /* waited on (RtWaitForMultipleObjects if N > 1) */
	DWORD ms;           /* timeout */
	ULARGE_INTEGER *ex; /* if set: the Ex call with this timeout instead */
	int release;        /* after the wait: RtReleaseMutex(h[0]) if it got it */
	int exit_owning;    /* after the wait: pthread_exit() without a release */
	_Atomic int linger; /* after the wait: stay while it is set */
	_Atomic int started, done;
	_Atomic DWORD result, error;
	_Atomic uint64_t took_ms, end_ms;
	_Atomic BOOL released;
};
/* Starts W's wait in a new thread (W stays the caller's until joined). */
void sy_waiter_start(struct sy_waiter *w);
/* Starts a wait of H0..H(N-1) for 10 s in W (its other fields as set),
 * waits until NAME has a waiter, and checks it is still blocked 100 ms on. */
void sy_waiter_block(struct sy_waiter *w, int n, const HANDLE *h, const char *name);
/* Waits up to TIMEOUT_MS for W's wait to end: 1 ended, 0 not yet. */
int sy_waiter_ended(struct sy_waiter *w, int timeout_ms);
/* Joins W's thread (its wait must end). */
void sy_waiter_join(struct sy_waiter *w);
/* Runs FN(ARG) in a new thread and joins it. */
void sy_in_thread(void (*fn)(void *), void *arg);

#endif
