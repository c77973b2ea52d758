/*
 * xsync.c - events and a mutex across the OS boundary: a Windows process
 * (xsync.exe under Wine, VMSHM_POOL=Z:\dev\shm\...) and a Linux process
 * (xsync-linux, VMSHM_POOL=/dev/shm/...) on one pool file at the same time.
 * The same source builds both.
 *
 *   xsync lin|win [ROUNDS [INCREMENTS]]
 *
 * 1. Each side sets its own manual-reset event xs.up.<side> and waits for
 *    the other's (Wine starts slowly): the two meet through the pool alone.
 * 2. ROUNDS event round trips: lin sets xs.ping and waits for xs.pong, win
 *    waits for xs.ping and sets xs.pong (auto-reset events). lin prints
 *    the round trip. Neither side can wake the other through the kernel: a
 *    Windows process cannot futex-wake a Linux one, nor the reverse, so
 *    each finds the change at its next bounded check (Linux: a futex sleep
 *    of at most 10 ms; Wine: polling, backing off from 50 us to 10 ms).
 * 3. Both add INCREMENTS to a plain counter in the region xs.ctr, a load
 *    and a store 10 us apart under the mutex xs.mx, 10 us of work outside
 *    it: the total is exact, the two were never inside at once, and each
 *    saw the other take the mutex between two of its own increments.
 * Each side ends with "N passed, M failed".
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

#include "RtApi.h"
#include "vmshm.h"
#include "check.h"

#define MEET_MS 120000 /* the Wine side may take long to start */

static int is_win;

static uint64_t now_us(void)
{
#ifdef _WIN32
	LARGE_INTEGER f, c;
	QueryPerformanceFrequency(&f);
	QueryPerformanceCounter(&c);
	return (uint64_t)(c.QuadPart / f.QuadPart * 1000000 +
			  c.QuadPart % f.QuadPart * 1000000 / f.QuadPart);
#else
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
#endif
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Sets this side's event STEP and waits for the other side's. */
static int meet(const char *step)
{
	char mine[48], theirs[48];
	snprintf(mine, sizeof mine, "xs.%s.%s", step, is_win ? "win" : "lin");
	snprintf(theirs, sizeof theirs, "xs.%s.%s", step, is_win ? "lin" : "win");
	HANDLE a = RtCreateEventA(NULL, TRUE, FALSE, mine);
	HANDLE b = RtCreateEventA(NULL, TRUE, FALSE, theirs);
	CHECK(a && b, "RtCreateEventA(%s, %s): error %lu", mine, theirs,
	      (unsigned long)GetLastError());
	if (!a || !b)
		return -1;
	CHECK(RtSetEvent(a), "RtSetEvent(%s): error %lu", mine, (unsigned long)GetLastError());
	DWORD r = RtWaitForSingleObject(b, MEET_MS);
	CHECK(r == WAIT_OBJECT_0, "waiting for %s: %#lx", theirs, (unsigned long)r);
	/* Both keep their handles until the end: a last close would destroy
	 * the event before the other side saw it set. */
	return r == WAIT_OBJECT_0 ? 0 : -1;
}

static void pingpong(int rounds)
{
	HANDLE ping = RtCreateEventA(NULL, FALSE, FALSE, "xs.ping");
	HANDLE pong = RtCreateEventA(NULL, FALSE, FALSE, "xs.pong");
	uint64_t *rtt = calloc((size_t)rounds, sizeof(*rtt)), sum = 0;
	int i, bad = 0;
	CHECK(ping && pong && rtt, "RtCreateEventA(xs.ping, xs.pong): error %lu",
	      (unsigned long)GetLastError());
	if (!ping || !pong || !rtt || meet("pp"))
		return;
	for (i = 0; i < rounds && !bad; i++) {
		DWORD r;
		if (!is_win) {
			uint64_t t0 = now_us();
			RtSetEvent(ping);
			r = RtWaitForSingleObject(pong, 10000);
			rtt[i] = now_us() - t0;
			sum += rtt[i];
		} else {
			r = RtWaitForSingleObject(ping, 10000);
			if (r == WAIT_OBJECT_0)
				RtSetEvent(pong);
		}
		bad = r != WAIT_OBJECT_0;
		CHECK(!bad, "round %d: RtWaitForSingleObject: %#lx (error %lu)", i,
		      (unsigned long)r, (unsigned long)GetLastError());
	}
	if (!bad && !is_win) {
		qsort(rtt, (size_t)rounds, sizeof(*rtt), cmp_u64);
		printf("[lin] event ping-pong Linux <-> Wine: %d round trips, median %.2f ms, mean "
		       "%.2f ms, min %.2f ms, max %.2f ms (no kernel wake-up across the OS "
		       "boundary: each side finds the change at its next check, <= 10 ms)\n",
		       rounds, rtt[rounds / 2] / 1e3, (double)sum / rounds / 1e3, rtt[0] / 1e3,
		       rtt[rounds - 1] / 1e3);
		/* Bounded: no round trip waits much longer than the two checks. */
		CHECK(rtt[rounds / 2] < 30000, "median round trip %llu us",
		      (unsigned long long)rtt[rounds / 2]);
	} else if (!bad) {
		printf("[win] answered %d events\n", rounds);
	}
	fflush(stdout);
	free(rtt);
	RtCloseHandle(ping);
	RtCloseHandle(pong);
}

struct counter {
	volatile uint64_t value;
	_Atomic uint64_t inside;
};

/* Spins for US microseconds (a critical section, or work outside it). */
static void busy(unsigned us)
{
	uint64_t end = now_us() + us;
	while (now_us() < end)
		;
}

static void counter(int incs)
{
	void *loc = NULL;
	HANDLE mx = RtCreateMutexA(NULL, FALSE, "xs.mx");
	HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "xs.ctr", &loc);
	struct counter *c = loc;
	uint64_t t0, worst = 0, last = UINT64_MAX;
	int i, overlap = 0, turns = 0;
	CHECK(mx && h, "RtCreateMutexA(xs.mx) / xs.ctr: error %lu", (unsigned long)GetLastError());
	if (!mx || !h || meet("mx"))
		return;
	t0 = now_us();
	for (i = 0; i < incs; i++) {
		uint64_t w = now_us();
		DWORD r = RtWaitForSingleObject(mx, 30000);
		if (r != WAIT_OBJECT_0) {
			CHECK(0, "increment %d: RtWaitForSingleObject(xs.mx): %#lx", i,
			      (unsigned long)r);
			break;
		}
		w = now_us() - w;
		worst = w > worst ? w : worst;
		overlap += atomic_fetch_add(&c->inside, 1) != 0;
		uint64_t v = c->value;
		turns += last != UINT64_MAX && v != last + 1; /* the other side was in between */
		busy(10);
		c->value = last = v + 1;
		atomic_fetch_sub(&c->inside, 1);
		if (!RtReleaseMutex(mx)) {
			CHECK(0, "RtReleaseMutex(xs.mx): error %lu", (unsigned long)GetLastError());
			break;
		}
		busy(10);
	}
	CHECK(overlap == 0, "%d times the other side was inside the mutex too", overlap);
	printf("%s%d increments under xs.mx in %llu ms; the mutex went to the other side and back "
	       "%d times; longest wait %.2f ms\n",
	       check_side, i, (unsigned long long)((now_us() - t0) / 1000), turns, worst / 1e3);
	/* The two really shared it: each saw the other's increments between
	 * its own. */
	CHECK(turns > 0, "the other side never took the mutex between two of ours");
	if (meet("mxdone") == 0)
		CHECK(c->value == 2ull * (uint64_t)incs, "counter %llu, expected 2 x %d",
		      (unsigned long long)c->value, incs);
	if (!is_win && c->value == 2ull * (uint64_t)incs)
		printf("[lin] mutex counter: Linux + Wine, 2 x %d increments = %llu, exact\n", incs,
		       (unsigned long long)c->value);
	meet("end"); /* the other side has read the counter too */
	RtCloseHandle(mx);
	RtCloseHandle(h);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2 || (strcmp(argv[1], "win") != 0 && strcmp(argv[1], "lin") != 0)) {
		fprintf(stderr, "usage: xsync lin|win [ROUNDS [INCREMENTS]]\n");
		return 2;
	}
	is_win = strcmp(argv[1], "win") == 0;
	check_side = is_win ? "[win] " : "[lin] ";
	int rounds = argc > 2 ? atoi(argv[2]) : 200, incs = argc > 3 ? atoi(argv[3]) : 2000;
	if (meet("up") == 0) {
		pingpong(rounds);
		counter(incs);
	}
	return check_summary();
}
