/*
 * hot_loop.c - the loop that docs/BENCHMARKS.md profiles ("where the time
 * goes"): one call pair in a tight loop, timed in batches of 20,000 with
 * the fastest batch printed (the figure least disturbed by the machine's
 * other work). Run it under `perf record` to see where the time goes.
 *
 *   hot_loop open   [PAIRS]  RtOpenSharedMemoryA + RtCloseHandle, the object
 *                            held only by another process
 *   hot_loop held   [PAIRS]  the same while this process holds it too
 *   hot_loop create [PAIRS]  RtCreateSharedMemoryA + RtCloseHandle of a new
 *                            name (1,024 names in turn)
 *   hot_loop native-open | native-held | native-create [PAIRS]
 *                            the same with vmshm_open/vmshm_create +
 *                            vmshm_close (no RtApi handle, no last error)
 *   hot_loop boost-find [PAIRS], hot_loop boost-create [PAIRS]
 *                            Boost.Interprocess find, and construct+destroy,
 *                            in a segment holding the target and 10 objects
 *
 * The object is named "bench-open", or $HOT_LOOP_NAME. PAIRS defaults to
 * 2,000,000. A third argument "threaded" starts (and
 * joins) a thread first: the process then counts as one with threads, and
 * the library changes its own words with atomic instructions (a process of
 * one thread uses plain loads and stores). Not run by `make bench`; built
 * by it.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "RtApi.h"
#include "boost_peer.h"
#include "vmshm.h"

#define BATCH 20000L

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char names[1024][16];

static int boost;
static vmshm_pool *native;                /* the native modes' attach */
static const char *target = "bench-open"; /* HOT_LOOP_NAME, if set */

static void *no_op(void *arg)
{
	return arg;
}

static int pair(int create, long i)
{
	if (boost)
		return create ? bx_create_destroy(names[i & 1023]) : bx_find(target);
	if (native) {
		vmshm_ref r;
		int rc = create ? vmshm_create(native, VMSHM_TYPE_SHM, names[i & 1023], 4096,
					       PAGE_READWRITE, 0, &r)
				: vmshm_open(native, VMSHM_TYPE_SHM, target, &r);
		return rc == 0 && vmshm_close(native, &r) == 0 ? 0 : -1;
	}
	void *p;
	HANDLE h = create ? RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, names[i & 1023], &p)
			  : RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, target, &p);
	if (!h || (create && GetLastError() != 0))
		return -1;
	return RtCloseHandle(h) ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "open";
	if (getenv("HOT_LOOP_NAME"))
		target = getenv("HOT_LOOP_NAME");
	long pairs = argc > 2 ? atol(argv[2]) : 2000000;
	int threaded = argc > 3 && strcmp(argv[3], "threaded") == 0;
	boost = strncmp(mode, "boost-", 6) == 0;
	int use_native = strncmp(mode, "native-", 7) == 0;
	const char *m = boost ? mode + 6 : use_native ? mode + 7 : mode;
	int create = strcmp(m, "create") == 0, held = !boost && strcmp(m, "held") == 0;
	if (!create && !held && strcmp(m, boost ? "find" : "open") != 0) {
		fprintf(stderr,
			"usage: %s [native-]open|held|create | boost-find|boost-create "
			"[PAIRS [threaded]]\n",
			argv[0]);
		return 2;
	}
	char pool[64];
	snprintf(pool, sizeof(pool), "/dev/shm/vmshm-hot-%d.pool", (int)getpid());
	if (vmshm_pool_create(pool, 96ull << 20, 32768, 0) < 0)
		return 1;
	setenv("VMSHM_POOL", pool, 1);
	for (int i = 0; i < 1024; i++)
		snprintf(names[i], sizeof(names[i]), "new-%d", i);
	int ready[2];
	if (pipe(ready) < 0)
		return 1;
	pid_t holder = fork(); /* holds the object, as its own peer */
	if (holder == 0) {
		void *p;
		if (RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, target, &p) &&
		    write(ready[1], "x", 1) == 1)
			pause();
		_exit(1);
	}
	char c, boost_seg[64];
	int rc = 1;
	void *p;
	HANDLE keep = NULL;
	vmshm_ref keep_ref;
	char why[256];
	if (holder < 0 || read(ready[0], &c, 1) != 1)
		goto out;
	if (use_native && (vmshm_attach(pool, 0, &native, why, sizeof(why)) < 0 ||
			   (held && vmshm_open(native, VMSHM_TYPE_SHM, target, &keep_ref) < 0)))
		goto out;
	if (held && !use_native &&
	    !(keep = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, target, &p)))
		goto out;
	snprintf(boost_seg, sizeof(boost_seg), "vmshm-hot-%d-boost", (int)getpid());
	if (boost && (bx_setup(boost_seg, 96ull << 20, target) < 0 || bx_set_live(10) < 0))
		goto out;
	pthread_t t;
	if (threaded && (pthread_create(&t, NULL, no_op, NULL) != 0 || pthread_join(t, NULL) != 0))
		goto out;
	if (pair(create, 0) < 0) /* attaches */
		goto out;
	double best = 1e12;
	for (long b = 0; b < pairs / BATCH; b++) {
		uint64_t t0 = now_ns();
		for (long i = b * BATCH; i < (b + 1) * BATCH; i++)
			if (pair(create, i) < 0)
				goto out;
		double ns = (double)(now_ns() - t0) / BATCH;
		best = ns < best ? ns : best;
	}
	printf("%s%s: %.1f ns per pair (fastest batch of %ld)\n", mode,
	       threaded ? " (a process with threads)" : "", best, BATCH);
	rc = 0;
out:
	if (keep)
		RtCloseHandle(keep);
	if (native)
		vmshm_detach(native); /* closes keep_ref */
	if (boost)
		bx_cleanup();
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
	unlink(pool);
	return rc;
}
