/*
 * test_threads.c - many threads of one process create, open and close at
 * once: every call's handle and last error are right for its own thread,
 * handle values are unique, nothing is left behind.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aw.h"
#include "internal.h"

enum { THREADS = 8, ITER = 300, SHARED_NAMES = 4, HANDLES_PER_ITER = 3 };

struct worker {
	int id;
	pthread_t tid;
	_Atomic int *go;
	int failures;
	char first_failure[200];
	HANDLE seen[ITER * HANDLES_PER_ITER];
	int nseen;
};

static void fail(struct worker *w, const char *what, int it, DWORD err)
{
	if (!w->failures++)
		snprintf(w->first_failure, sizeof w->first_failure,
			 "thread %d iteration %d: %s (GetLastError() = %u)", w->id, it, what,
			 (unsigned)err);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);

	while (!atomic_load(w->go))
		;
	for (int it = 0; it < ITER; it++) {
		char own[32], shared[32], missing[32];
		void *l1 = NULL, *l2 = NULL, *l3 = NULL;
		HANDLE h1, h2, h3;
		DWORD e;
		size_t size = 1 + rnd_next(&rnd) % 9000;

		snprintf(own, sizeof own, "own-%d-%d", w->id, it);
		snprintf(shared, sizeof shared, "shared-%d", (int)(rnd_next(&rnd) % SHARED_NAMES));
		snprintf(missing, sizeof missing, "missing-%d-%d", w->id, it);

		/* A name of its own: created (0), opened (0), same bytes. */
		SetLastError(1000 + (DWORD)w->id);
		h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, (DWORD)size, own, &l1);
		e = GetLastError();
		if (!h1 || e != 0) {
			fail(w, "create of its own name", it, e);
			continue;
		}
		w->seen[w->nseen++] = h1;
		if (!all_zero(l1, size))
			fail(w, "own object not zero-filled", it, 0);
		pattern_fill(l1, size, (uint32_t)(w->id * ITER + it));
		SetLastError(1);
		h2 = RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, w16(own), &l2);
		e = GetLastError();
		if (!h2 || e != 0)
			fail(w, "open of its own name", it, e);
		else {
			w->seen[w->nseen++] = h2;
			if (!pattern_ok(l2, size, (uint32_t)(w->id * ITER + it)))
				fail(w, "own object shows other bytes", it, 0);
		}

		/* A name shared by all threads: created or opened. */
		SetLastError(2);
		h3 = RtCreateSharedMemoryA(SHM_MAP_ALL_ACCESS, 0, 64, shared, &l3);
		e = GetLastError();
		if (!h3 || (e != 0 && e != ERROR_ALREADY_EXISTS))
			fail(w, "create of a shared name", it, e);
		else
			w->seen[w->nseen++] = h3;

		/* Failures are reported to this thread only. */
		if (RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, missing, &l2) ||
		    (e = GetLastError()) != ERROR_FILE_NOT_FOUND)
			fail(w, "open of a missing name", it, e);
		if (RtCloseHandle(NULL) || (e = GetLastError()) != ERROR_INVALID_HANDLE)
			fail(w, "close of NULL", it, e);

		SetLastError(3);
		if (!RtCloseHandle(h1) || (e = GetLastError()) != 0)
			fail(w, "close of the created handle", it, e);
		if (h2 && (!RtCloseHandle(h2) || (e = GetLastError()) != 0))
			fail(w, "close of the opened handle", it, e);
		if (h3 && (!RtCloseHandle(h3) || (e = GetLastError()) != 0))
			fail(w, "close of the shared handle", it, e);
		if (RtCloseHandle(h1) || (e = GetLastError()) != ERROR_INVALID_HANDLE)
			fail(w, "double close", it, e);
	}
	return NULL;
}

static int cmp_handle(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (const HANDLE *)a, y = (uintptr_t) * (const HANDLE *)b;

	return x < y ? -1 : x > y;
}

Test(threads, create_open_close, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	static struct worker w[THREADS];
	static HANDLE all[THREADS * ITER * HANDLES_PER_ITER];
	_Atomic int go = 0;
	size_t n = 0;
	struct vmshm_stats st;

	rt_warm();
	for (int i = 0; i < THREADS; i++) {
		w[i].id = i;
		w[i].go = &go;
		cr_assert_eq(pthread_create(&w[i].tid, NULL, work, &w[i]), 0);
	}
	atomic_store(&go, 1);
	for (int i = 0; i < THREADS; i++)
		pthread_join(w[i].tid, NULL);
	for (int i = 0; i < THREADS; i++) {
		cr_expect_eq(w[i].failures, 0, "%d failures, first: %s", w[i].failures,
			     w[i].first_failure);
		memcpy(all + n, w[i].seen, (size_t)w[i].nseen * sizeof(HANDLE));
		n += (size_t)w[i].nseen;
	}
	cr_assert_eq(n, (size_t)THREADS * ITER * HANDLES_PER_ITER, "only %zu handles", n);
	qsort(all, n, sizeof all[0], cmp_handle);
	for (size_t i = 1; i < n; i++)
		cr_assert_neq(all[i], all[i - 1], "handle %p given out twice", all[i]);

	st = tp_stats();
	cr_assert_eq(st.objects, 0, "%u objects left", st.objects);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	cr_assert_eq(tp_check("threads"), 0);
}

/* SetLastError/GetLastError are per thread. */
static void *set_and_read(void *arg)
{
	DWORD v = (DWORD)(uintptr_t)arg;
	int bad = 0;

	for (int i = 0; i < 100000; i++) {
		SetLastError(v + (DWORD)i);
		if (GetLastError() != v + (DWORD)i)
			bad++;
	}
	return (void *)(uintptr_t)bad;
}

Test(threads, last_error_per_thread)
{
	pthread_t t[4];

	SetLastError(4242);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, set_and_read,
					    (void *)(uintptr_t)(1000000u * (unsigned)(i + 1))),
			     0);
	for (int i = 0; i < 4; i++) {
		void *bad;

		pthread_join(t[i], &bad);
		cr_assert_eq((uintptr_t)bad, 0, "thread %d saw another thread's last error", i);
	}
	cr_assert_eq(GetLastError(), 4242);
	cr_assert_eq(RtGetLastError(), 4242);
}

/* A process of one thread closes, counts and destroys with plain loads and
 * stores on its own words; when it starts threads, the atomic steps take
 * over from the same counts: two handles held across the switch, 4 threads
 * x 20,000 open+close of that name and create+close of their own, then the
 * last close destroys it. A second close of one handle fails in both modes. */
Test(threads, one_thread_then_many, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	const char *argv[] = {"@", "one-then-threads", "st-name", NULL};
	const char *out = proc_run(argv, NULL);
	cr_assert_str_eq(out, "single=1 handles=1 close=1 again=0 error=6\n"
			      "single=0 failed=0 close=1,1 reopen=0 error=2\n");
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	cr_assert_eq(tp_check("one-then-threads"), 0);
}

/* One thread creates a name and closes it (destroying it) in a loop while
 * another thread of the same process opens and closes it: the opener often
 * finds the object the moment it is published, before the creator's call
 * has returned. Every close must succeed (no reference lost: the creator
 * counts its own before the object can be found, and an opener never drops
 * a holder bit it did not add), every open gives a handle or
 * ERROR_FILE_NOT_FOUND, and nothing is left. Before the fix, hundreds of
 * closes per run failed. */
struct race_arg {
	_Atomic int stop;
	long creates, opens, bad_closes, wrong_codes;
};

static void *race_creator(void *arg)
{
	struct race_arg *a = arg;
	uint64_t end = now_ms() + 1500;
	while (now_ms() < end) {
		for (int i = 0; i < 1000; i++) {
			void *loc;
			HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "race", &loc);
			if (!h) {
				a->wrong_codes++;
				continue;
			}
			a->creates++;
			if (!RtCloseHandle(h))
				a->bad_closes++;
		}
	}
	atomic_store(&a->stop, 1);
	return NULL;
}

Test(threads, create_while_another_opens, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	static struct race_arg a;
	long opens = 0, bad_closes = 0, wrong_codes = 0;
	pthread_t t;

	rt_warm();
	cr_assert_eq(pthread_create(&t, NULL, race_creator, &a), 0);
	while (!atomic_load(&a.stop)) {
		void *loc;
		HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "race", &loc);
		if (!h) {
			wrong_codes += GetLastError() != ERROR_FILE_NOT_FOUND;
			continue;
		}
		opens++;
		if (!RtCloseHandle(h))
			bad_closes++;
	}
	pthread_join(t, NULL);
	cr_log_info("threads: %ld creates, %ld opens of the object being created", a.creates,
		    opens);
	cr_assert_eq(bad_closes + a.bad_closes, 0, "%ld closes failed (opener %ld, creator %ld)",
		     bad_closes + a.bad_closes, bad_closes, a.bad_closes);
	cr_assert_eq(wrong_codes + a.wrong_codes, 0, "%ld calls failed otherwise",
		     wrong_codes + a.wrong_codes);
	cr_assert_gt(opens, 0, "the opener never found the object");
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	cr_assert_eq(tp_check("create-while-open"), 0);
}

/* 4 threads create or open one of 3 names at random, open it again while
 * they hold it (it must be there, at the same address), and close both
 * handles in either order, for 1.5 s: no call fails but a not-found open,
 * and nothing is left. (On the library before the create fix, tens of
 * re-opens and closes a run failed.) */
static void *mixed_worker(void *arg)
{
	long *fails = arg;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (uint64_t)(uintptr_t)fails;
	uint64_t end = now_ms() + 1500;
	while (now_ms() < end) {
		char name[16];
		void *p, *q;
		uint64_t r = rnd_next(&rnd);
		snprintf(name, sizeof name, "mixed-%u", (unsigned)(r % 3));
		HANDLE h = (r >> 8) & 1 ? RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &p)
					: RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &p);
		if (!h) {
			*fails += GetLastError() != ERROR_FILE_NOT_FOUND;
			continue;
		}
		HANDLE h2 = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &q);
		*fails += !h2 || GetLastError() != 0 || q != p;
		HANDLE first = (r >> 9) & 1 ? h : h2, second = first == h ? h2 : h;
		*fails += first && !RtCloseHandle(first);
		*fails += second && !RtCloseHandle(second);
	}
	return NULL;
}

Test(threads, held_object_stays_while_others_churn, .init = tp_setup, .fini = tp_teardown,
     .timeout = 60)
{
	pthread_t t[4];
	static long fails[4];

	rt_warm();
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, mixed_worker, &fails[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(fails[i], 0, "thread %d: %ld calls failed", i, fails[i]);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	cr_assert_eq(tp_check("mixed"), 0);
}

/* The first calls of a process's threads, all at once: one thread attaches
 * the pool, and the others, which read "no attach" (or, in a forked child,
 * the parent's attach) just before, must make their call on that attach,
 * not fail with ERROR_INVALID_HANDLE. Each round is a child process forked
 * before its first call: a never-attached one (the parent holds the object
 * through the native API, which leaves the RtApi calls unattached), then
 * one forked from a parent attached through RtApi. */
enum { FIRST_THREADS = 4, FIRST_ROUNDS = 40 };
static _Atomic int first_go;

static void *first_call(void *arg)
{
	int *failed = arg;
	void *loc;
	while (!atomic_load(&first_go))
		;
	HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "first", &loc);
	*failed = !h || GetLastError() != 0 || *(volatile unsigned char *)loc != 0x5a ||
		  !RtCloseHandle(h);
	return NULL;
}

/* Forks a child whose FIRST_THREADS threads make their first call at once;
 * returns how many of them failed (or 100 if the child did not exit). */
static int first_calls_in_child(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t[FIRST_THREADS];
		int failed[FIRST_THREADS], n = 0;
		for (int i = 0; i < FIRST_THREADS; i++)
			if (pthread_create(&t[i], NULL, first_call, &failed[i]) != 0)
				_exit(100);
		atomic_store(&first_go, 1);
		for (int i = 0; i < FIRST_THREADS; i++) {
			pthread_join(t[i], NULL);
			n += failed[i];
		}
		exit(n); /* the at-exit handler detaches the child's peer */
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

Test(threads, first_calls_race_the_attach, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	char why[256];
	vmshm_pool *p;
	vmshm_ref r;
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, "first", 4096, PAGE_READWRITE, 0, &r), 0);
	memset(r.addr, 0x5a, 4096);
	int fresh = 0, forked = 0;
	for (int i = 0; i < FIRST_ROUNDS; i++)
		fresh += first_calls_in_child();
	void *loc;
	HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "first", &loc);
	cr_assert_not_null(h);
	for (int i = 0; i < FIRST_ROUNDS; i++)
		forked += first_calls_in_child();
	cr_expect_eq(fresh, 0, "never-attached children: %d first calls failed", fresh);
	cr_expect_eq(forked, 0, "children of an attached parent: %d first calls failed", forked);
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(vmshm_close(p, &r), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_check("first-calls"), 0);
}

/* Twice as many threads of one attach as there are lanes open and close
 * one name that another attach holds, as fast as they can: the threads
 * that share a lane race on its count of the slot all the time (a loser
 * takes the turn, LREF_TURN, and the others wait for it). Every call
 * succeeds, and afterwards each lane's count word is exactly generation
 * and 0 (or 0, never used): no busy mark and no turn bit left behind,
 * which would make every later call of the process on that slot wait. */
enum { TURN_THREADS = 2 * FMT_HOLD_LANES, TURN_PAIRS = 50000 };
static vmshm_pool *turn_pool;

static void *turn_worker(void *arg)
{
	long *fails = arg;
	for (int i = 0; i < TURN_PAIRS; i++) {
		vmshm_ref r;
		if (vmshm_open(turn_pool, VMSHM_TYPE_SHM, "turns", &r) != 0 ||
		    vmshm_close(turn_pool, &r) != 0)
			(*fails)++;
	}
	return NULL;
}

Test(threads, race_on_count_leaves_word_clean, .init = tp_setup, .fini = tp_teardown,
     .timeout = 120)
{
	char why[256];
	vmshm_pool *holder;
	vmshm_ref held;
	pthread_t t[TURN_THREADS];
	long fails[TURN_THREADS] = {0};
	cr_assert_eq(vmshm_attach(tp.path, 0, &holder, why, sizeof why), 0, "%s", why);
	cr_assert_eq(vmshm_create(holder, VMSHM_TYPE_SHM, "turns", 4096, PAGE_READWRITE, 0, &held),
		     0);
	cr_assert_eq(vmshm_attach(tp.path, 0, &turn_pool, why, sizeof why), 0, "%s", why);
	for (int i = 0; i < TURN_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, turn_worker, &fails[i]), 0);
	for (int i = 0; i < TURN_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < TURN_THREADS; i++)
		cr_expect_eq(fails[i], 0, "thread %d: %ld pairs failed", i, fails[i]);
	int used = 0;
	for (uint32_t lane = 0; lane < FMT_HOLD_LANES; lane++) {
		uint64_t v = atomic_load(&turn_pool->lanes[lane][held.slot]);
		cr_assert(v == 0 || v == LREF_MAKE(held.gen, 0), "lane %u's count word: %#llx",
			  lane, (unsigned long long)v);
		used += v != 0;
	}
	cr_assert_eq(used, FMT_HOLD_LANES, "%d lanes used by %d threads", used, TURN_THREADS);
	vmshm_detach(turn_pool);
	cr_assert_eq(vmshm_close(holder, &held), 0);
	vmshm_detach(holder);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_check("turns"), 0);
}
