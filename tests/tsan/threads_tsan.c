/*
 * threads_tsan.c - many threads of one process on one pool, under
 * ThreadSanitizer (which cannot run Criterion, so this is a plain program):
 * four threads share the RtApi layer (one handle table, one peer), four
 * more each attach natively (four peers) and race on the same names, one
 * thread lists, checks and reclaims meanwhile. Every result must be one
 * the rules allow; at the end the pool is empty and the check is clean.
 * TSan reports make the process exit non-zero.
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

enum { RT_THREADS = 4, NATIVE_THREADS = 4, ITER = 3000, NAMES = 4 };

static char path[128];
static _Atomic int failures;
static _Atomic int stop;

static void fail(const char *who, int it, const char *what, long code)
{
	if (atomic_fetch_add(&failures, 1) < 10)
		fprintf(stderr, "tsan-test: %s iteration %d: %s (%ld)\n", who, it, what, code);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void *rt_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(id + 1);
	char who[32];

	snprintf(who, sizeof who, "rt thread %d", id);
	for (int it = 0; it < ITER; it++) {
		char own[32], shared[32];
		void *l1 = NULL, *l2 = NULL;
		DWORD size = 1 + (DWORD)(rnd(&s) % 9000), e;
		HANDLE h1, h2;

		snprintf(own, sizeof own, "rt-%d-%d", id, it);
		snprintf(shared, sizeof shared, "ts-%d", (int)(rnd(&s) % NAMES));
		h1 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, size, own, &l1);
		if (!h1 || GetLastError() != 0) {
			fail(who, it, "create of its own name", (long)GetLastError());
			continue;
		}
		memset(l1, id + 1, size);
		h2 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 64, shared, &l2);
		e = GetLastError();
		if (!h2 && e != ERROR_INVALID_PARAMETER && e != ERROR_INVALID_HANDLE)
			fail(who, it, "create of a shared name", (long)e);
		if (h2 && e != 0 && e != ERROR_ALREADY_EXISTS)
			fail(who, it, "create of a shared name: error", (long)e);
		if (RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "never-made", &l2) ||
		    GetLastError() != ERROR_FILE_NOT_FOUND)
			fail(who, it, "open of a missing name", (long)GetLastError());
		if (!RtCloseHandle(h1))
			fail(who, it, "close", (long)GetLastError());
		if (h2 && !RtCloseHandle(h2))
			fail(who, it, "close of the shared handle", (long)GetLastError());
		if (RtCloseHandle(h1) || GetLastError() != ERROR_INVALID_HANDLE)
			fail(who, it, "double close", (long)GetLastError());
	}
	return NULL;
}

static void *native_thread(void *arg)
{
	int id = (int)(intptr_t)arg;
	uint64_t s = 0x2545f4914f6cdd1dull * (uint64_t)(id + 1);
	vmshm_pool *p;
	vmshm_ref held[8];
	int nheld = 0;
	char why[256] = "", who[32];
	int rc = vmshm_attach(path, 0, &p, why, sizeof why);

	snprintf(who, sizeof who, "native thread %d", id);
	if (rc < 0) {
		fail(who, 0, why, rc);
		return NULL;
	}
	for (int it = 0; it < ITER; it++) {
		char name[32];
		vmshm_ref ref;
		int op = (int)(rnd(&s) % 3);

		snprintf(name, sizeof name, "ts-%d", (int)(rnd(&s) % NAMES));
		if (op == 0) {
			rc = vmshm_create(p, VMSHM_TYPE_SHM, rnd(&s) % 5 ? name : NULL,
					  1 + rnd(&s) % 20000, PAGE_READWRITE, 0, &ref);
			if (rc == 0 || rc == 1) {
				if (rc == 0)
					memset(ref.addr, 0x77, ref.size);
				held[nheld++] = ref;
			} else if (rc != VMSHM_ETOOBIG) {
				fail(who, it, "create", rc);
			}
		} else if (op == 1) {
			rc = vmshm_open(p, VMSHM_TYPE_SHM, name, &ref);
			if (rc == 0)
				held[nheld++] = ref;
			else if (rc != VMSHM_ENOENT)
				fail(who, it, "open", rc);
		}
		if ((op == 2 || nheld == 8) && nheld > 0) {
			int i = (int)(rnd(&s) % (uint64_t)nheld);

			rc = vmshm_close(p, &held[i]);
			if (rc < 0)
				fail(who, it, "close", rc);
			held[i] = held[--nheld];
		}
	}
	while (nheld > 0)
		if (vmshm_close(p, &held[--nheld]) < 0)
			fail(who, ITER, "final close", -1);
	vmshm_detach(p);
	return NULL;
}

static int count_obj(const struct vmshm_objinfo *o, void *arg)
{
	(void)o;
	(*(int *)arg)++;
	return 0;
}

static void *watcher(void *arg)
{
	vmshm_pool *p;
	char why[256] = "";

	(void)arg;
	if (vmshm_attach(path, 0, &p, why, sizeof why) < 0) {
		fail("watcher", 0, why, -1);
		return NULL;
	}
	while (!atomic_load(&stop)) {
		struct vmshm_stats st;
		int n = 0;

		vmshm_stats(p, &st);
		vmshm_list(p, count_obj, &n);
		vmshm_check(p, NULL, NULL); /* may see changes midway: no verdict */
		if (vmshm_reclaim(p) != 0)
			fail("watcher", 0, "reclaimed a live peer", -1);
	}
	vmshm_detach(p);
	return NULL;
}

int main(void)
{
	pthread_t rt[RT_THREADS], nat[NATIVE_THREADS], w;
	struct vmshm_stats empty;
	int passed = 0, failed = 0;

	if (tsan_pool_make(path, sizeof path, "tsan", 32u << 20, &empty) < 0) {
		printf("tsan-test: 0 passed, 1 failed\n");
		return 1;
	}

	pthread_create(&w, NULL, watcher, NULL);
	for (int i = 0; i < RT_THREADS; i++)
		pthread_create(&rt[i], NULL, rt_thread, (void *)(intptr_t)i);
	for (int i = 0; i < NATIVE_THREADS; i++)
		pthread_create(&nat[i], NULL, native_thread, (void *)(intptr_t)i);
	for (int i = 0; i < RT_THREADS; i++)
		pthread_join(rt[i], NULL);
	for (int i = 0; i < NATIVE_THREADS; i++)
		pthread_join(nat[i], NULL);
	atomic_store(&stop, 1);
	pthread_join(w, NULL);

	if (atomic_load(&failures) == 0)
		passed++;
	else
		failed++;
	if (tsan_pool_clean(path, "tsan-test", &empty) == 0)
		passed++;
	else
		failed++;
	printf("tsan-test: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
