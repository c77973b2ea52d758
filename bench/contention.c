/*
 * contention.c - the contention benchmark of issue 12: 1, 2 and 4
 * contenders, processes (one peer each) or threads of one process (one
 * peer), each opening and closing in a loop either one name that all of
 * them open, or a name of its own. Per call (open and close apart): the
 * median, p99 and p99.9 in ns, the most compare-and-swap retries and busy
 * waits any one call needed, and how many calls needed more retries than
 * there are contenders.
 *
 * The objects are created and held by a separate holder process, so every
 * open by a contender process sets its hold bit and every close clears it
 * (format 5.0: in the contender's own hold word; its holder bit, set at
 * its first open, stays). Threads of one process share one peer: the first
 * open sets the bit, the others count on the process-local reference.
 *
 * The same shapes run Boost.Interprocess's find (bench/boost_peer.cpp: one
 * managed_shared_memory segment made before the contenders fork, with the
 * same names), the comparison peer of shm_bench.c, and a bare shared
 * count: each "open" one atomic +1 and each "close" one -1 on a word, the
 * least any design pays that keeps an object's reference count in shared
 * memory. And the machine's own floor is measured first: two threads on
 * two CPUs handing one cache line back and forth, the least a call pays
 * that must write a line the other CPU wrote last.
 *
 * The retries come from the counters of a bench build of the library
 * (-DVMSHM_BENCH_COUNTERS, bench/build.mk): every failed compare-and-swap
 * and every protocol step done again counts one retry; every pause while
 * another thread of the same process sets or clears the hold bit, or a
 * closer judges the object (CLOSING), or
 * while one that lost a race on the process's count takes its turn, counts
 * one wait. The normal library has no counters at all.
 *
 * Usage: contention [-n ITERATIONS]   (per contender and case; default 200000)
 * docs/BENCHMARKS.md explains the method and the results.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "RtApi.h"
#include "boost_peer.h"
#include "vmshm.h"

/* The bench build's per-thread counters (lib/internal.h). */
extern _Thread_local uint64_t vmshm_bench_retries, vmshm_bench_waits;

#define MAX_CONTENDERS 4
#define WARMUP         2000u
#define REGION         4096u

enum { CALL_OPEN, CALL_CLOSE, NCALLS };

struct sample {
	uint32_t ns;
	uint32_t retries;
	uint32_t waits;
};

/* Shared with the forked contenders (MAP_SHARED); the samples follow it,
 * ITERS per contender and call. */
struct shared {
	_Atomic int ready;
	_Atomic int failed;
	uint64_t start[MAX_CONTENDERS], end[MAX_CONTENDERS]; /* of the timed loop */
	uint64_t cpu[MAX_CONTENDERS];                        /* CPU time in it */
	double handoff_ns; /* one cache-line hand-off between two CPUs */
	_Atomic uint64_t line __attribute__((aligned(64))); /* the line handed off */
	struct {
		_Atomic uint64_t n __attribute__((aligned(64)));
	} count[MAX_CONTENDERS]; /* the bare shared counts, a line each */
};

static struct shared *S;
static uint32_t iters = 200000;
static char pool[128];
static pid_t holder = -1;
static int holder_fd = -1;
static char segment[64]; /* the Boost segment's name */
/* What the contenders call: vmshm, Boost's find (the peer), or a bare
 * shared count (the floor of any design that keeps a reference count in
 * shared memory: +1 for the open, -1 for the close, nothing else). */
enum { DO_VMSHM, DO_BOOST, DO_COUNT, DO_TIGHT };
static int doing = DO_VMSHM;

static struct sample *samples(int who, int call)
{
	return (struct sample *)((char *)S + sizeof(struct shared)) +
	       ((size_t)who * NCALLS + (size_t)call) * iters;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

static void name_of(char *buf, size_t len, int who, int same)
{
	if (same)
		snprintf(buf, len, "c-shared");
	else
		snprintf(buf, len, "c-%d", who);
}

/* The barrier of the contenders: every one ready, then all go. */
static void start_together(int n)
{
	atomic_fetch_add(&S->ready, 1);
	while (atomic_load(&S->ready) < n)
		;
}

/* The clock of vmshm's calls: none in the tight loop (DO_TIGHT). */
static uint64_t call_clock(void)
{
	return doing == DO_TIGHT ? 0 : now_ns();
}

/* One open+close of NAME, each call timed (but in the tight loop) and
 * counted apart into *SO and *SC. 0, or -1 when a call failed. */
static int vmshm_pair(const char *name, struct sample *so, struct sample *sc)
{
	void *p;
	vmshm_bench_retries = vmshm_bench_waits = 0;
	uint64_t t0 = call_clock();
	HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &p);
	uint64_t t1 = call_clock();
	*so = (struct sample){(uint32_t)(t1 - t0), (uint32_t)vmshm_bench_retries,
			      (uint32_t)vmshm_bench_waits};
	vmshm_bench_retries = vmshm_bench_waits = 0;
	t0 = call_clock();
	BOOL ok = h && RtCloseHandle(h);
	t1 = call_clock();
	*sc = (struct sample){(uint32_t)(t1 - t0), (uint32_t)vmshm_bench_retries,
			      (uint32_t)vmshm_bench_waits};
	return ok ? 0 : -1;
}

/* The peer's call: one Boost find of NAME, timed into *SO (*SC stays 0). */
static int boost_find(const char *name, struct sample *so, struct sample *sc)
{
	uint64_t t0 = now_ns();
	int rc = bx_find(name);
	uint64_t t1 = now_ns();
	*so = (struct sample){(uint32_t)(t1 - t0), 0, 0};
	*sc = (struct sample){0, 0, 0};
	return rc;
}

/* The floor's "open" and "close": +1 and -1 on one shared word, the
 * contenders' common one for one name (NAME "c-shared"), else their own. */
static int count_pair(const char *name, struct sample *so, struct sample *sc)
{
	int who = strcmp(name, "c-shared") == 0 ? 0 : atoi(name + 2);
	_Atomic uint64_t *c = &S->count[who].n;
	uint64_t t0 = now_ns();
	atomic_fetch_add(c, 1);
	uint64_t t1 = now_ns();
	*so = (struct sample){(uint32_t)(t1 - t0), 0, 0};
	t0 = now_ns();
	atomic_fetch_sub(c, 1);
	t1 = now_ns();
	*sc = (struct sample){(uint32_t)(t1 - t0), 0, 0};
	return 0;
}

/* One contender: warm-up (the attach happens there), the barrier, then
 * ITERS rounds of vmshm_pair (or boost_find, or count_pair). */
static void contend(int who, int n, int same)
{
	char name[32];
	/* Contender K on CPU K mod the CPUs: the scheduler would often put
	 * two on one CPU of this small machine, and they would not contend. */
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(who % sysconf(_SC_NPROCESSORS_ONLN), &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	name_of(name, sizeof(name), who, same);
	int (*round)(const char *, struct sample *, struct sample *) =
	    doing == DO_BOOST   ? boost_find
	    : doing == DO_COUNT ? count_pair
				: vmshm_pair;
	struct sample scratch[NCALLS];
	for (uint32_t i = 0; i < WARMUP; i++) {
		if (round(name, &scratch[0], &scratch[1]) < 0) {
			atomic_fetch_add(&S->failed, 1);
			break;
		}
	}
	start_together(n);
	struct sample *so = samples(who, CALL_OPEN), *sc = samples(who, CALL_CLOSE);
	uint64_t cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	S->start[who] = now_ns();
	for (uint32_t i = 0; i < iters; i++) {
		if (round(name, &so[i], &sc[i]) < 0) {
			atomic_fetch_add(&S->failed, 1);
			return;
		}
	}
	S->end[who] = now_ns();
	S->cpu[who] = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
}

/* How many contenders ran at once on average: their CPU time in the
 * timed loops over the span from the first start to the last end. */
static double overlap(int n)
{
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
	for (int who = 0; who < n; who++) {
		lo = S->start[who] < lo ? S->start[who] : lo;
		hi = S->end[who] > hi ? S->end[who] : hi;
		sum += S->cpu[who];
	}
	return hi > lo ? (double)sum / (double)(hi - lo) : 0;
}

struct targ {
	int who, n, same;
};

static void *thread_main(void *arg)
{
	struct targ *t = arg;
	contend(t->who, t->n, t->same);
	return NULL;
}

/* Runs N contenders, as processes or as threads of one (forked) process. */
static int run(int n, int threads, int same)
{
	atomic_store(&S->ready, 0);
	atomic_store(&S->failed, 0);
	fflush(NULL);
	pid_t pids[MAX_CONTENDERS];
	int nproc = threads ? 1 : n;
	for (int k = 0; k < nproc; k++) {
		pids[k] = fork();
		if (pids[k] < 0)
			return -1;
		if (pids[k] > 0)
			continue;
		if (!threads) {
			contend(k, n, same);
			exit(0); /* normal exit: the process detaches */
		}
		pthread_t th[MAX_CONTENDERS];
		struct targ ta[MAX_CONTENDERS];
		for (int t = 0; t < n; t++) {
			ta[t] = (struct targ){t, n, same};
			if (pthread_create(&th[t], NULL, thread_main, &ta[t]) != 0)
				_exit(1);
		}
		for (int t = 0; t < n; t++)
			pthread_join(th[t], NULL);
		exit(0);
	}
	int bad = 0;
	for (int k = 0; k < nproc; k++) {
		int st;
		if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	return bad || atomic_load(&S->failed) ? -1 : 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	double med, p99, p999;
	uint32_t max_retries, max_waits;
	uint32_t over; /* calls that needed more retries than there are contenders */
};

static uint32_t rank(const uint32_t *v, uint32_t n, double q)
{
	uint32_t k = (uint32_t)(q * n + 0.999999);
	return v[k ? k - 1 : 0];
}

static void summarize(int n, int call, struct stats *st)
{
	uint32_t total = (uint32_t)n * iters;
	uint32_t *v = malloc(total * sizeof(*v));
	if (!v) {
		perror("malloc");
		exit(1);
	}
	memset(st, 0, sizeof(*st));
	for (int who = 0; who < n; who++) {
		const struct sample *s = samples(who, call);
		for (uint32_t i = 0; i < iters; i++) {
			v[(uint32_t)who * iters + i] = s[i].ns;
			if (s[i].retries > st->max_retries)
				st->max_retries = s[i].retries;
			if (s[i].retries > (uint32_t)n)
				st->over++;
			if (s[i].waits > st->max_waits)
				st->max_waits = s[i].waits;
		}
	}
	qsort(v, total, sizeof(*v), cmp_u32);
	st->med = total % 2 ? v[total / 2] : (v[total / 2 - 1] + (double)v[total / 2]) / 2;
	st->p99 = rank(v, total, 0.99);
	st->p999 = rank(v, total, 0.999);
	free(v);
}

/* Runs a case up to ATTEMPTS times and keeps the run whose contenders ran
 * most at once (on a machine shared with other work they are often not
 * scheduled together); stops at the first run where they overlapped for
 * 90% of the time the CPUs allow. */
#define ATTEMPTS 5
static int measure(int n, int threads, int same, struct stats st[NCALLS], double *ov)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double enough = 0.9 * (double)(n < cpus ? n : cpus);
	*ov = -1;
	for (int a = 0; a < ATTEMPTS && *ov < enough; a++) {
		if (run(n, threads, same) < 0)
			return -1;
		double o = overlap(n);
		if (o <= *ov)
			continue;
		*ov = o;
		for (int call = 0; call < NCALLS; call++)
			summarize(n, call, &st[call]);
	}
	return 0;
}

static void cleanup(void)
{
	if (holder_fd >= 0) {
		close(holder_fd); /* the holder exits and closes its handles */
		holder_fd = -1;
	}
	if (holder > 0) {
		waitpid(holder, NULL, 0);
		holder = -1;
	}
	if (pool[0]) {
		unlink(pool);
		pool[0] = 0;
	}
	if (segment[0]) {
		bx_cleanup();
		segment[0] = 0;
	}
}

/* The machine's floor: threads on CPU 0 and CPU 1 take turns on one word
 * (each waits for the other's value, then writes its own), HANDOFFS turns;
 * the time per turn is one hand-off of a cache line between the two. Run
 * in a child process, so that this one (whose forks are the contender
 * processes) starts no thread. */
#define HANDOFFS 200000u
static void *handoff_turns(void *arg)
{
	uint64_t k = (uint64_t)(uintptr_t)arg;
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET((int)k, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus);
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < HANDOFFS; i++) {
		while (atomic_load_explicit(&S->line, memory_order_acquire) != 2 * i + k)
			;
		atomic_store_explicit(&S->line, 2 * i + k + 1, memory_order_release);
	}
	if (k == 0)
		S->handoff_ns = (double)(now_ns() - t0) / (2.0 * HANDOFFS);
	return NULL;
}

static double line_handoff(void)
{
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return 0;
	S->handoff_ns = 0;
	atomic_store(&S->line, 0);
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t t[2];
		for (uintptr_t k = 0; k < 2; k++)
			pthread_create(&t[k], NULL, handoff_turns, (void *)k);
		for (int k = 0; k < 2; k++)
			pthread_join(t[k], NULL);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, NULL, 0) < 0)
		return 0;
	return S->handoff_ns;
}

/* Interrupted (or the output pipe closed): the pool goes too. Contenders
 * inherit it; whichever process gets the signal stops the holder and
 * removes the pool (doing it twice is harmless). */
static void on_signal(int sig)
{
	if (holder > 0)
		kill(holder, SIGKILL);
	if (pool[0])
		unlink(pool);
	if (segment[0]) {
		char path[96];
		snprintf(path, sizeof(path), "/dev/shm/%s", segment);
		unlink(path);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Creates the names every case opens and holds them until its pipe closes. */
static int start_holder(void)
{
	int fds[2], ack[2];
	if (pipe(fds) < 0 || pipe(ack) < 0)
		return -1;
	fflush(NULL);
	holder = fork();
	if (holder < 0)
		return -1;
	if (holder == 0) {
		char name[32], c = 1;
		void *p;
		close(fds[1]);
		close(ack[0]);
		for (int who = -1; who < MAX_CONTENDERS; who++) {
			name_of(name, sizeof(name), who, who < 0);
			if (!RtCreateSharedMemoryA(PAGE_READWRITE, 0, REGION, name, &p))
				_exit(2);
		}
		if (write(ack[1], &c, 1) != 1 || read(fds[0], &c, 1) < 0)
			_exit(3);
		exit(0);
	}
	close(fds[0]);
	close(ack[1]);
	holder_fd = fds[1];
	char c;
	int ok = read(ack[0], &c, 1) == 1;
	close(ack[0]);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			iters = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [-n ITERATIONS]\n", argv[0]);
			return 2;
		}
	}
	if (iters < 1000)
		iters = 1000;
	size_t len =
	    sizeof(struct shared) + (size_t)MAX_CONTENDERS * NCALLS * iters * sizeof(struct sample);
	S = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(S, 0, len);
	snprintf(pool, sizeof(pool), "/dev/shm/vmshm-contention-%d.pool", (int)getpid());
	int rc = vmshm_pool_create(pool, 16ull << 20, 1024, 0);
	if (rc < 0) {
		fprintf(stderr, "contention: pool create %s: %s\n", pool, vmshm_strerror(rc));
		return 1;
	}
	setenv("VMSHM_POOL", pool, 1);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, on_signal);
	if (start_holder() < 0) {
		fprintf(stderr, "contention: the holder process failed\n");
		cleanup();
		return 1;
	}
	snprintf(segment, sizeof(segment), "vmshm-contention-%d", (int)getpid());
	int bx = bx_setup(segment, 16u << 20, "c-shared");
	for (int who = 0; who < MAX_CONTENDERS && bx == 0; who++) {
		char name[32];
		name_of(name, sizeof(name), who, 0);
		bx = bx_construct(name);
	}
	if (bx < 0) {
		fprintf(stderr, "contention: the Boost segment failed\n");
		cleanup();
		return 1;
	}

	printf(
	    "\ncontention: RtOpenSharedMemoryA and RtCloseHandle of a 4096-byte object held by "
	    "another process,\nand Boost.Interprocess's find of an object of the same name "
	    "(the peer, one segment);\n%u timed calls of each per contender and case, after "
	    "%u untimed; ns per call (clock_gettime included);\nretries = most "
	    "compare-and-swap retries of one call, > n = how many calls needed more retries than "
	    "there\nare contenders, waits = most pauses of one call on a busy local reference "
	    "or for another\nthread's turn; targets (vmshm): median <= 3x the same case with 1 "
	    "contender, retries <= contenders;\nat once = how many contenders ran at the same time "
	    "on "
	    "average (their CPU time in the timed loops / the\nspan of all); the best of up to "
	    "%d runs by that measure\n",
	    iters, WARMUP, ATTEMPTS);
	printf("hand-off = the machine's floor, measured before each section: one cache line "
	       "handed between CPU 0\nand CPU 1 (two threads taking turns on one word), the "
	       "least a call pays that writes a line the\nother CPU wrote last (it moves with "
	       "where the host runs the two vCPUs)\n");
	printf("count +1 / -1 = the floor of any design that keeps an object's reference count in "
	       "shared memory:\nthe same contenders, each \"open\" one atomic +1 and each "
	       "\"close\" one -1 on a bare word (one word\nfor one name, a word each otherwise), "
	       "timed the same way\n");
	printf("tight = vmshm's calls again with no clock between them, as fast as they go: only "
	       "the retries\nand waits are counted (the same ITERATIONS pairs per contender); "
	       "target: retries <= contenders\n");
	static const char *const call_name[NCALLS] = {"open", "close"};
	int all_met = 1;
	for (int threads = 0; threads <= 1; threads++) {
		for (int same = 1; same >= 0; same--) {
			double ho = line_handoff();
			printf("\n%s, %s (hand-off %.0f ns)\n",
			       threads ? "threads of one process (one peer)"
				       : "processes (one peer each)",
			       same ? "one name for all" : "a name each", ho);
			printf("  %-11s %-11s %8s %8s %8s %8s %8s %6s %8s %8s  %s\n", "call",
			       "contenders", "median", "p99", "p99.9", "x 1", "retries", "> n",
			       "waits", "at once", "target");
			struct stats base[NCALLS], bbase, cbase[NCALLS];
			for (int n = 1; n <= MAX_CONTENDERS; n *= 2) {
				struct stats st[NCALLS], bst[NCALLS], cst[NCALLS], tst[NCALLS];
				double ov, bov, cov, tov;
				doing = DO_VMSHM;
				int rc = measure(n, threads, same, st, &ov);
				doing = DO_BOOST;
				rc = rc < 0 ? rc : measure(n, threads, same, bst, &bov);
				doing = DO_COUNT;
				rc = rc < 0 ? rc : measure(n, threads, same, cst, &cov);
				doing = DO_TIGHT;
				if (rc < 0 || measure(n, threads, same, tst, &tov) < 0) {
					fprintf(stderr, "contention: a contender failed\n");
					cleanup();
					return 1;
				}
				for (int call = 0; call < NCALLS; call++) {
					if (n == 1)
						base[call] = st[call];
					double x = st[call].med / base[call].med;
					int met = x <= 3.0 && st[call].max_retries <= (uint32_t)n;
					all_met &= met;
					printf("  vmshm %-5s %-11d %8.0f %8.0f %8.0f %7.2fx %8u "
					       "%6u %8u "
					       "%8.2f  %s\n",
					       call_name[call], n, st[call].med, st[call].p99,
					       st[call].p999, x, st[call].max_retries,
					       st[call].over, st[call].max_waits, ov,
					       met ? "met" : "MISSED");
				}
				if (n == 1)
					bbase = bst[CALL_OPEN];
				printf("  Boost find  %-11d %8.0f %8.0f %8.0f %7.2fx %8s %6s %8s "
				       "%8.2f  "
				       "(peer)\n",
				       n, bst[CALL_OPEN].med, bst[CALL_OPEN].p99,
				       bst[CALL_OPEN].p999, bst[CALL_OPEN].med / bbase.med, "-",
				       "-", "-", bov);
				for (int call = 0; call < NCALLS; call++) {
					if (n == 1)
						cbase[call] = cst[call];
					printf(
					    "  count %-5s %-11d %8.0f %8.0f %8.0f %7.2fx %8s %6s "
					    "%8s %8.2f  (floor)\n",
					    call == CALL_OPEN ? "+1" : "-1", n, cst[call].med,
					    cst[call].p99, cst[call].p999,
					    cst[call].med / cbase[call].med, "-", "-", "-", cov);
				}
				for (int call = 0; call < NCALLS; call++) {
					int met = tst[call].max_retries <= (uint32_t)n;
					all_met &= met;
					printf("  tight %-5s %-11d %8s %8s %8s %8s %8u %6u %8u "
					       "%8.2f  %s\n",
					       call_name[call], n, "-", "-", "-", "-",
					       tst[call].max_retries, tst[call].over,
					       tst[call].max_waits, tov, met ? "met" : "MISSED");
				}
			}
		}
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	printf("\ncontention targets: %s (%ld CPUs online: with more contenders than CPUs a "
	       "contender preempted midway weighs on the tails)\n",
	       all_met ? "all met" : "some MISSED", cpus);
	cleanup();
	return 0;
}
