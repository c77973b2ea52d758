/*
 * vmshm-test-helper - a separate program for the tests that need a process
 * of its own: one that ends normally while holding handles, one that holds
 * an object from another namespace, one that execs or whose main thread
 * leaves, one that forks while its threads are inside the calls.
 *
 *   vmshm-test-helper create-exit NAME       create NAME (4096 bytes), exit(0)
 *   vmshm-test-helper create-return NAME     the same, returning from main
 *   vmshm-test-helper open-write-exit NAME   open NAME, write 0x5a at 0, exit(0)
 *   vmshm-test-helper hold NAME              create NAME, print "held", sleep until killed
 *   vmshm-test-helper hold-exec NAME         create NAME, print "held", exec sleep 60
 *   vmshm-test-helper hold-thread-exit NAME  create NAME, print "held", a worker
 *                                            thread sleeps, the main thread leaves
 *   vmshm-test-helper reclaim                attach, print "reclaimed=N", then per
 *                                            peer "peer=I live=L why=..."
 *   vmshm-test-helper unpersist NAME         attach, drop the pool's hold on NAME
 *                                            (vmshm rm), print "unpersist=RC"
 *   vmshm-test-helper fence INDEX            attach, fence peer INDEX (vmshm gc --peer
 *                                            INDEX --force), print "fence=RC"
 *   vmshm-test-helper fork-exit N            4 threads loop on RtApi calls while
 *                                            N children are forked and exit(0);
 *                                            prints "hung=H of N"
 *   vmshm-test-helper one-then-threads NAME  RtApi calls on NAME while the process
 *                                            has one thread (plain loads and stores
 *                                            on its own words), then from 4 threads
 *                                            at once (atomic ones); prints one line
 *                                            per step (see the source)
 *
 * The pool is $VMSHM_POOL. Exit status 0 when every call did what it should.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "RtApi.h"
#include "vmshm.h"

#if defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define plat_single_threaded_for_test() ((int)__libc_single_threaded)
#endif
#endif
#ifndef plat_single_threaded_for_test
#define plat_single_threaded_for_test() 0
#endif

static int create_named(const char *name, void **loc)
{
	HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, loc);
	if (!h || GetLastError() != 0) {
		fprintf(stderr, "helper: create %s: error %u\n", name, (unsigned)GetLastError());
		return -1;
	}
	memset(*loc, 0x33, 4096);
	return 0;
}

static void say_held(void)
{
	printf("held\n");
	fflush(stdout);
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int print_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	(void)arg;
	printf("peer=%u live=%d why=%s\n", pi->index, pi->liveness, pi->why);
	return 0;
}

static int do_reclaim(void)
{
	vmshm_pool *p;
	char why[256] = "";
	int rc = vmshm_attach(NULL, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "helper: attach: %s\n", why);
		return 1;
	}
	printf("reclaimed=%d\n", vmshm_reclaim(p));
	vmshm_peers(p, print_peer, NULL);
	vmshm_detach(p);
	return 0;
}

static int do_unpersist(const char *name)
{
	vmshm_pool *p;
	char why[256] = "";
	if (vmshm_attach(NULL, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof(why)) < 0) {
		fprintf(stderr, "helper: attach: %s\n", why);
		return 1;
	}
	printf("unpersist=%d\n", vmshm_unpersist(p, name));
	vmshm_detach(p);
	return 0;
}

static int do_fence(uint32_t index)
{
	vmshm_pool *p;
	char why[256] = "";
	if (vmshm_attach(NULL, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof(why)) < 0) {
		fprintf(stderr, "helper: attach: %s\n", why);
		return 1;
	}
	printf("fence=%d\n", vmshm_reclaim_peer(p, index, VMSHM_RECLAIM_FENCE));
	vmshm_detach(p);
	return 0;
}

static atomic_int stop;

static void *churn(void *arg)
{
	char name[32];
	snprintf(name, sizeof(name), "fork-churn-%ld", (long)(intptr_t)arg);
	while (!atomic_load(&stop)) {
		void *loc = NULL;
		HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &loc);
		if (h)
			RtCloseHandle(h);
	}
	return NULL;
}

/* Waits up to 5 s for child PID: 0 exited, -1 hung (then killed). */
static int wait_bounded(pid_t pid)
{
	int st;
	for (int i = 0; i < 500; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return 0;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static int do_fork_exit(int n)
{
	pthread_t t[4];
	int hung = 0;
	for (intptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, churn, (void *)i);
	usleep(20000);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0)
			exit(0); /* runs the library's exit handler */
		if (pid < 0 || wait_bounded(pid) < 0)
			hung++;
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	printf("hung=%d of %d\n", hung, n);
	return hung != 0;
}

/* The calls of one_then_threads' threads: open+close of NAME (held by the
 * main thread), and create+close of a name of their own, 20,000 times. */
static void *open_close_loop(void *arg)
{
	const char *name = arg;
	char own[64];
	snprintf(own, sizeof(own), "%s-%lx", name, (unsigned long)pthread_self());
	uintptr_t bad = 0;
	for (int i = 0; i < 20000; i++) {
		void *loc;
		HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &loc);
		bad += !h || GetLastError() != 0 || !RtCloseHandle(h);
		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, own, &loc);
		bad += !h || GetLastError() != 0 || !RtCloseHandle(h);
	}
	return (void *)bad;
}

/* A process that starts with one thread (the library then changes its own
 * words with plain loads and stores) and later runs 4 more (then atomic
 * ones): the counts made in the first part hold in the second. */
static int one_then_threads(const char *name)
{
	void *loc, *loc2;
	int single = plat_single_threaded_for_test();
	HANDLE a = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &loc);
	HANDLE b = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &loc2);
	HANDLE c = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &loc2);
	int closed = RtCloseHandle(c);
	int again = RtCloseHandle(c);
	DWORD again_err = GetLastError();
	printf("single=%d handles=%d close=%d again=%d error=%u\n", single, a && b && c, closed,
	       again, (unsigned)again_err);
	pthread_t t[4];
	uintptr_t bad = 0;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, open_close_loop, (void *)name);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (uintptr_t)r;
	}
	int close_b = RtCloseHandle(b), close_a = RtCloseHandle(a);
	HANDLE gone = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &loc2);
	printf("single=%d failed=%lu close=%d,%d reopen=%d error=%u\n",
	       plat_single_threaded_for_test(), (unsigned long)bad, close_b, close_a, gone != NULL,
	       (unsigned)GetLastError());
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	void *loc = NULL;
	HANDLE h;

	if (argc == 2 && strcmp(argv[1], "reclaim") == 0)
		return do_reclaim();
	if (argc != 3) {
		fprintf(stderr, "usage: vmshm-test-helper MODE NAME (see the source)\n");
		return 2;
	}
	if (strcmp(argv[1], "fork-exit") == 0)
		return do_fork_exit(atoi(argv[2]));
	if (strcmp(argv[1], "one-then-threads") == 0)
		return one_then_threads(argv[2]);
	if (strcmp(argv[1], "unpersist") == 0)
		return do_unpersist(argv[2]);
	if (strcmp(argv[1], "fence") == 0)
		return do_fence((uint32_t)atoi(argv[2]));
	if (strcmp(argv[1], "open-write-exit") == 0) {
		h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, argv[2], &loc);
		if (!h || GetLastError() != 0) {
			fprintf(stderr, "helper: open %s: error %u\n", argv[2],
				(unsigned)GetLastError());
			return 1;
		}
		*(unsigned char *)loc = 0x5a;
		exit(0);
	}
	if (strcmp(argv[1], "create-close") == 0) { /* stops in its close (VMSHM_TEST_STOP) */
		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, argv[2], &loc);
		if (!h || GetLastError() != 0)
			return 1;
		say_held();
		return RtCloseHandle(h) ? 0 : 1;
	}
	if (create_named(argv[2], &loc) < 0)
		return 1;
	if (strcmp(argv[1], "create-exit") == 0)
		exit(0);
	if (strcmp(argv[1], "create-return") == 0)
		return 0;
	if (strcmp(argv[1], "hold") == 0) {
		say_held();
		for (;;)
			pause();
	}
	if (strcmp(argv[1], "hold-exec") == 0) {
		say_held();
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		return 1;
	}
	if (strcmp(argv[1], "hold-thread-exit") == 0) {
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
		say_held();
		pthread_exit(NULL);
	}
	fprintf(stderr, "helper: unknown mode %s\n", argv[1]);
	return 2;
}
