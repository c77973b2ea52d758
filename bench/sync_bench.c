/*
 * sync_bench.c - the benchmark of issue 10: the RtApi events, mutexes and
 * semaphores on a vmshm pool file against their POSIX counterparts, host
 * processes, side by side in one run.
 *
 *   pingpong  two processes hand a turn back and forth: RtSetEvent +
 *             RtWaitForSingleObject on two auto-reset events, vs two named
 *             POSIX semaphores (sem_open: sem_post + sem_wait), vs a
 *             process-shared pthread condition variable (with its mutex and
 *             a turn word). One round trip = two hand-overs.
 *   mutex     uncontended RtWaitForSingleObject + RtReleaseMutex (and the
 *             native vmshm_wait + vmshm_mutex_release under it) vs
 *             pthread_mutex_lock + unlock of a process-shared robust mutex.
 *   semaphore uncontended RtReleaseSemaphore(1) + RtWaitForSingleObject vs
 *             sem_post + sem_wait.
 *   event     uncontended RtSetEvent + RtWaitForSingleObject (auto reset).
 *   contended 4 processes each take the mutex ITERS times around a short
 *             critical section (a plain increment, ~2 us), as long again
 *             outside it: the time from the call to owning it, median, p99
 *             and max over every acquisition, the share over 1 us, and the
 *             total (exact), vmshm vs the robust pthread mutex.
 *
 * Uncontended operations are timed in batches of 1,000 (clock_gettime
 * around each batch), the median batch / 1,000 reported; round trips and
 * contended acquisitions one by one. System calls per uncontended
 * operation: a second run of this program under strace, counting the calls
 * between two marker calls (write(-1, ...)), as shm_bench does.
 *
 * Usage: sync_bench [-n ROUNDS] [--no-strace]   (--trace-mode: under strace)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "RtApi.h"
#include "vmshm.h"

#define BATCH      1000u
#define BATCHES    200u
#define CONTENDERS 4
#define WARM       1000u /* untimed ping-pong rounds first */
#define MARKER     "vmshm-sync-bench:"

static char pool_path[64], sem_a[48], sem_b[48];
static pid_t children[CONTENDERS];

static void die(const char *what)
{
	fprintf(stderr, "sync_bench: %s: %s\n", what, strerror(errno));
	for (int i = 0; i < CONTENDERS; i++)
		if (children[i] > 0)
			kill(children[i], SIGKILL);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

struct stats {
	double median, p99, max; /* ns */
	double over_us;          /* the share of samples over 1 us */
};

static struct stats summarize(uint64_t *v, size_t n)
{
	size_t over = 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	while (over < n && v[n - 1 - over] > 1000)
		over++;
	return (struct stats){(double)v[n / 2], (double)v[n * 99 / 100], (double)v[n - 1],
			      (double)over / (double)n};
}

static void *shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

static HANDLE event(const char *name)
{
	HANDLE h = RtCreateEventA(NULL, FALSE, FALSE, name);
	if (!h) {
		fprintf(stderr, "sync_bench: RtCreateEventA(%s): error %u\n", name,
			(unsigned)GetLastError());
		exit(1);
	}
	return h;
}

static HANDLE mutex(const char *name)
{
	HANDLE h = RtCreateMutexA(NULL, FALSE, name);
	if (!h) {
		fprintf(stderr, "sync_bench: RtCreateMutexA(%s): error %u\n", name,
			(unsigned)GetLastError());
		exit(1);
	}
	return h;
}

static void must_wait(HANDLE h)
{
	DWORD r = RtWaitForSingleObject(h, INFINITE);
	if (r != WAIT_OBJECT_0) {
		fprintf(stderr, "sync_bench: RtWaitForSingleObject: %#x (error %u)\n", (unsigned)r,
			(unsigned)GetLastError());
		exit(1);
	}
}

/* A process-shared robust mutex and a condition variable, with a turn. */
struct px_shared {
	pthread_mutex_t m;
	pthread_cond_t c;
	volatile int turn;
};

static void px_init(struct px_shared *s)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->m, &ma);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&s->c, &ca);
	s->turn = 0;
}

static void px_lock(pthread_mutex_t *m)
{
	if (pthread_mutex_lock(m) == EOWNERDEAD)
		pthread_mutex_consistent(m);
}

/* ---- ping-pong -------------------------------------------------------------- */

enum pp { PP_VMSHM, PP_SEM, PP_COND, NPP };
static const char *const pp_label[NPP] = {"vmshm events", "POSIX sem_open", "pthread cond"};

/* One side of ROUNDS hand-overs: the parent (ME 0) starts each round and
 * times it into RTT. READY: the child's "I am set up" pipe. */
static void pingpong_side(enum pp kind, int me, uint32_t rounds, uint64_t *rtt, int ready,
			  struct px_shared *px)
{
	HANDLE ping = NULL, pong = NULL;
	sem_t *sa = NULL, *sb = NULL;
	if (kind == PP_VMSHM) {
		ping = event("bench.ping");
		pong = event("bench.pong");
	} else if (kind == PP_SEM) {
		sa = sem_open(sem_a, O_CREAT, 0600, 0);
		sb = sem_open(sem_b, O_CREAT, 0600, 0);
		if (sa == SEM_FAILED || sb == SEM_FAILED)
			die("sem_open");
	}
	char c = 1;
	if (me == 1 && write(ready, &c, 1) != 1)
		die("write");
	if (me == 0 && read(ready, &c, 1) != 1)
		die("read");
	/* The first WARM rounds are not timed (caches, the channel cache). */
	for (uint32_t i = 0; i < rounds + WARM; i++) {
		uint64_t t0 = now_ns();
		switch (kind) {
		case PP_VMSHM:
			if (me == 0) {
				RtSetEvent(ping);
				must_wait(pong);
			} else {
				must_wait(ping);
				RtSetEvent(pong);
			}
			break;
		case PP_SEM:
			if (me == 0) {
				sem_post(sa);
				while (sem_wait(sb) != 0)
					;
			} else {
				while (sem_wait(sa) != 0)
					;
				sem_post(sb);
			}
			break;
		case PP_COND:
			px_lock(&px->m);
			if (me == 0) {
				px->turn = 1;
				pthread_cond_signal(&px->c);
				while (px->turn != 0)
					pthread_cond_wait(&px->c, &px->m);
			} else {
				while (px->turn != 1)
					pthread_cond_wait(&px->c, &px->m);
				px->turn = 0;
				pthread_cond_signal(&px->c);
			}
			pthread_mutex_unlock(&px->m);
			break;
		default:
			break;
		}
		if (me == 0 && i >= WARM)
			rtt[i - WARM] = now_ns() - t0;
	}
	if (ping) {
		RtCloseHandle(ping);
		RtCloseHandle(pong);
	}
	if (sa) {
		sem_close(sa);
		sem_close(sb);
	}
}

static struct stats pingpong(enum pp kind, uint32_t rounds)
{
	int fds[2];
	uint64_t *rtt = malloc(rounds * sizeof(*rtt));
	struct px_shared *px = shared(sizeof(*px));
	if (!rtt || pipe(fds) < 0)
		die("pipe");
	px_init(px);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pingpong_side(kind, 1, rounds, NULL, fds[1], px);
		_exit(0);
	}
	children[0] = pid;
	pingpong_side(kind, 0, rounds, rtt, fds[0], px);
	waitpid(pid, NULL, 0);
	children[0] = 0;
	close(fds[0]);
	close(fds[1]);
	munmap(px, sizeof(*px));
	sem_unlink(sem_a);
	sem_unlink(sem_b);
	struct stats s = summarize(rtt, rounds);
	free(rtt);
	return s;
}

/* ---- uncontended operations -------------------------------------------------- */

enum op { OP_RT_MUTEX, OP_NATIVE_MUTEX, OP_PX_MUTEX, OP_RT_SEM, OP_PX_SEM, OP_RT_EVENT, NOPS };
static const char *const op_label[NOPS] = {"RtWaitForSingleObject + RtReleaseMutex",
					   "vmshm_wait + vmshm_mutex_release",
					   "pthread_mutex_lock + unlock (robust, pshared)",
					   "RtReleaseSemaphore + RtWaitForSingleObject",
					   "sem_post + sem_wait (sem_open)",
					   "RtSetEvent + RtWaitForSingleObject (auto)"};
static const int op_vmshm[NOPS] = {1, 1, 0, 1, 0, 1};
static const char *const op_key[NOPS] = {"rt-mutex", "native-mutex", "px-mutex",
					 "rt-sem",   "px-sem",       "rt-event"};

struct objs {
	HANDLE mx, sem, ev;
	vmshm_pool *pool;
	vmshm_ref mref;
	struct px_shared *px;
	sem_t *psem;
};

static void objs_open(struct objs *o)
{
	char why[256];
	o->mx = mutex("bench.mx");
	o->sem = RtCreateSemaphoreA(NULL, 0, 1000000, "bench.sem");
	o->ev = event("bench.ev");
	if (!o->sem)
		die("RtCreateSemaphoreA");
	if (vmshm_attach(pool_path, 0, &o->pool, why, sizeof(why)) < 0 ||
	    vmshm_mutex_create(o->pool, "bench.nmx", 0, 0, &o->mref) < 0) {
		fprintf(stderr, "sync_bench: native attach: %s\n", why);
		exit(1);
	}
	o->px = shared(sizeof(*o->px));
	px_init(o->px);
	o->psem = sem_open(sem_a, O_CREAT, 0600, 0);
	if (o->psem == SEM_FAILED)
		die("sem_open");
}

static void objs_close(struct objs *o)
{
	RtCloseHandle(o->mx);
	RtCloseHandle(o->sem);
	RtCloseHandle(o->ev);
	vmshm_close(o->pool, &o->mref);
	vmshm_detach(o->pool);
	munmap(o->px, sizeof(*o->px));
	sem_close(o->psem);
	sem_unlink(sem_a);
}

static void run_op(struct objs *o, enum op op, uint32_t n)
{
	uint32_t idx;
	for (uint32_t i = 0; i < n; i++) {
		switch (op) {
		case OP_RT_MUTEX:
			must_wait(o->mx);
			RtReleaseMutex(o->mx);
			break;
		case OP_NATIVE_MUTEX:
			vmshm_wait(o->pool, &o->mref, 1, VMSHM_INFINITE, &idx);
			vmshm_mutex_release(o->pool, &o->mref);
			break;
		case OP_PX_MUTEX:
			px_lock(&o->px->m);
			pthread_mutex_unlock(&o->px->m);
			break;
		case OP_RT_SEM:
			RtReleaseSemaphore(o->sem, 1, NULL);
			must_wait(o->sem);
			break;
		case OP_PX_SEM:
			sem_post(o->psem);
			sem_wait(o->psem);
			break;
		case OP_RT_EVENT:
			RtSetEvent(o->ev);
			must_wait(o->ev);
			break;
		default:
			break;
		}
	}
}

/* ns per operation: the median of BATCHES batches, the ops interleaved. */
static void uncontended(struct objs *o, double ns[NOPS])
{
	static uint64_t t[NOPS][BATCHES];
	for (int op = 0; op < NOPS; op++)
		run_op(o, (enum op)op, 10 * BATCH);
	for (uint32_t b = 0; b < BATCHES; b++) {
		for (int op = 0; op < NOPS; op++) {
			uint64_t t0 = now_ns();
			run_op(o, (enum op)op, BATCH);
			t[op][b] = now_ns() - t0;
		}
	}
	for (int op = 0; op < NOPS; op++)
		ns[op] = summarize(t[op], BATCHES).median / BATCH;
}

/* ---- contended ------------------------------------------------------------------ */

struct contended {
	volatile uint64_t counter;
	uint64_t lat[]; /* CONTENDERS x iterations, ns from the call to owning */
};

static void contender(int vm, int k, uint32_t iters, struct contended *c, struct px_shared *px,
		      int go)
{
	HANDLE mx = vm ? mutex("bench.cmx") : NULL;
	char ch;
	if (read(go, &ch, 1) != 1)
		_exit(1);
	for (uint32_t i = 0; i < iters; i++) {
		uint64_t t0 = now_ns();
		if (vm)
			must_wait(mx);
		else
			px_lock(&px->m);
		c->lat[(size_t)k * iters + i] = now_ns() - t0;
		c->counter = c->counter + 1;
		for (volatile int w = 0; w < 2000; w++) /* ~2 us inside */
			;
		if (vm)
			RtReleaseMutex(mx);
		else
			pthread_mutex_unlock(&px->m);
		for (volatile int w = 0; w < 2000; w++) /* and as long outside */
			;
	}
	if (mx)
		RtCloseHandle(mx);
}

static struct stats contend(int vm, uint32_t iters, uint64_t *total)
{
	size_t size = sizeof(struct contended) + (size_t)CONTENDERS * iters * sizeof(uint64_t);
	struct contended *c = shared(size);
	struct px_shared *px = shared(sizeof(*px));
	int go[2];
	px_init(px);
	if (pipe(go) < 0)
		die("pipe");
	for (int k = 0; k < CONTENDERS; k++) {
		children[k] = fork();
		if (children[k] < 0)
			die("fork");
		if (children[k] == 0) {
			close(go[1]);
			contender(vm, k, iters, c, px, go[0]);
			_exit(0);
		}
	}
	close(go[0]);
	usleep(100000); /* each has attached and opened the mutex */
	char ones[CONTENDERS] = {0};
	if (write(go[1], ones, CONTENDERS) != CONTENDERS)
		die("write");
	close(go[1]);
	for (int k = 0; k < CONTENDERS; k++) {
		waitpid(children[k], NULL, 0);
		children[k] = 0;
	}
	*total = c->counter;
	struct stats s = summarize(c->lat, (size_t)CONTENDERS * iters);
	munmap(c, size);
	munmap(px, sizeof(*px));
	return s;
}

/* ---- system calls, counted under strace ----------------------------------------- */

static void marker(const char *what, int op)
{
	char buf[80];
	int len = snprintf(buf, sizeof(buf), MARKER "%s:%s", what, op_key[op]);
	if (write(-1, buf, (size_t)len) >= 0) /* fails at once: only strace sees it */
		exit(1);
}

static int trace_main(void)
{
	struct objs o;
	objs_open(&o);
	for (int op = 0; op < NOPS; op++) {
		run_op(&o, (enum op)op, BATCH);
		marker("begin", op);
		run_op(&o, (enum op)op, BATCH);
		marker("end", op);
	}
	objs_close(&o);
	return 0;
}

/* Per operation: system calls between its markers, / BATCH; -1 if strace
 * cannot run. */
static void count_syscalls(double sys[NOPS])
{
	char self[4096], trace[] = "/tmp/vmshm-sync-bench-XXXXXX", line[1024];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int fd = mkstemp(trace), status = -1;
	for (int op = 0; op < NOPS; op++)
		sys[op] = -1;
	if (len <= 0 || fd < 0)
		return;
	close(fd);
	self[len] = 0;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execlp("strace", "strace", "-qq", "-s", "80", "-o", trace, self, "--trace-mode",
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		unlink(trace);
		return;
	}
	FILE *f = fopen(trace, "r");
	int in = -1;
	long count = 0;
	while (f && fgets(line, sizeof(line), f)) {
		const char *m = strstr(line, MARKER);
		char what[8], key[24];
		if (m && sscanf(m + strlen(MARKER), "%7[a-z]:%23[a-z-]", what, key) == 2) {
			for (int op = 0; op < NOPS; op++) {
				if (strcmp(key, op_key[op]) != 0)
					continue;
				if (strcmp(what, "begin") == 0) {
					in = op;
					count = 0;
				} else if (in == op) {
					sys[op] = (double)count / BATCH;
					in = -1;
				}
			}
		} else if (in >= 0 && strncmp(line, "---", 3) != 0 &&
			   strncmp(line, "+++", 3) != 0) {
			count++;
		}
	}
	if (f)
		fclose(f);
	unlink(trace);
}

/* ---- report -------------------------------------------------------------------- */

static const char *verdict(int ok)
{
	return ok ? "met" : "MISSED";
}

int main(int argc, char **argv)
{
	uint32_t rounds = 20000, iters = 20000;
	int strace = 1, trace_mode = 0, only = -1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			rounds = iters = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--no-strace") == 0)
			strace = 0;
		else if (strcmp(argv[i], "--trace-mode") == 0)
			trace_mode = 1;
		else if (strcmp(argv[i], "--pingpong") == 0 && i + 1 < argc)
			only = atoi(argv[++i]); /* one ping-pong run (e.g. under strace -c) */
		else {
			fprintf(stderr, "usage: sync_bench [-n ROUNDS] [--no-strace]\n");
			return 2;
		}
	}
	if (rounds < 100)
		rounds = iters = 100;
	/* The strace run inherits the pool and the names of its parent. */
	if (!trace_mode) {
		snprintf(pool_path, sizeof(pool_path), "/dev/shm/vmshm-sync-bench-%d.pool",
			 (int)getpid());
		if (vmshm_pool_create(pool_path, 16u << 20, 1024, 0) < 0) {
			fprintf(stderr, "sync_bench: cannot create %s\n", pool_path);
			return 1;
		}
		setenv("VMSHM_POOL", pool_path, 1);
		char pid[16];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("VMSHM_BENCH_PID", pid, 1);
	} else {
		snprintf(pool_path, sizeof(pool_path), "%s", getenv("VMSHM_POOL"));
	}
	snprintf(sem_a, sizeof(sem_a), "/vmshm-sync-bench-a-%s", getenv("VMSHM_BENCH_PID"));
	snprintf(sem_b, sizeof(sem_b), "/vmshm-sync-bench-b-%s", getenv("VMSHM_BENCH_PID"));
	if (trace_mode)
		return trace_main();
	if (only >= 0 && only < NPP) {
		struct stats s = pingpong((enum pp)only, rounds);
		printf("%s: median %.1f us\n", pp_label[only], s.median / 1e3);
		unlink(pool_path);
		return 0;
	}

	printf("sync_bench: host processes on one pool file (%s), %ld CPUs online; "
	       "VMSHM_SPIN_US=%s\n",
	       pool_path, sysconf(_SC_NPROCESSORS_ONLN),
	       getenv("VMSHM_SPIN_US") ? getenv("VMSHM_SPIN_US") : "(unset, no spin)");

	/* Ping-pong: each kind twice, alternating, the better median kept. */
	struct stats pp[NPP] = {0};
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < NPP; k++) {
			struct stats s = pingpong((enum pp)k, rounds);
			if (pass == 0 || s.median < pp[k].median)
				pp[k] = s;
		}
	printf("\nevent ping-pong between two processes, %u round trips (better of 2 runs):\n",
	       rounds);
	printf("  %-20s %10s %10s %10s\n", "", "median", "p99", "max");
	for (int k = 0; k < NPP; k++)
		printf("  %-20s %8.1f us %7.1f us %7.1f us\n", pp_label[k], pp[k].median / 1e3,
		       pp[k].p99 / 1e3, pp[k].max / 1e3);
	double r_sem = pp[PP_VMSHM].median / pp[PP_SEM].median;
	double r_cond = pp[PP_VMSHM].median / pp[PP_COND].median;
	printf("  vmshm / POSIX semaphores: %.2fx (target <= 1.2x: %s); vmshm / pthread cond: "
	       "%.2fx\n",
	       r_sem, verdict(r_sem <= 1.2), r_cond);

	struct objs o;
	double ns[NOPS], sys[NOPS];
	objs_open(&o);
	uncontended(&o, ns);
	objs_close(&o);
	if (strace)
		count_syscalls(sys);
	else
		for (int op = 0; op < NOPS; op++)
			sys[op] = -1;
	printf("\nuncontended, one process (median of %u batches of %u; system calls per "
	       "operation under strace):\n",
	       BATCHES, BATCH);
	for (int op = 0; op < NOPS; op++) {
		char sc[32] = "not counted";
		if (sys[op] >= 0)
			snprintf(sc, sizeof(sc), "%.2f syscalls", sys[op]);
		printf("  %-46s %7.1f ns  %s\n", op_label[op], ns[op], sc);
	}
	double r_mx = ns[OP_RT_MUTEX] / ns[OP_PX_MUTEX];
	int nosys = 1;
	for (int op = 0; op < NOPS; op++)
		if (op_vmshm[op] && sys[op] != 0)
			nosys = 0;
	printf("  RtApi mutex / pthread robust mutex: %.2fx (target <= 2x: %s); native / pthread: "
	       "%.2fx\n",
	       r_mx, verdict(r_mx <= 2.0), ns[OP_NATIVE_MUTEX] / ns[OP_PX_MUTEX]);
	printf("  no system call on the uncontended vmshm paths: %s\n",
	       sys[0] < 0 ? "not counted (--no-strace, or no strace)" : verdict(nosys));

	uint64_t tot_vm, tot_px;
	struct stats cv = contend(1, iters, &tot_vm);
	struct stats cp = contend(0, iters, &tot_px);
	printf("\ncontended mutex, %d processes x %u acquisitions (time from the call to owning "
	       "it):\n",
	       CONTENDERS, iters);
	printf("  %-28s median %7.2f us  p99 %8.1f us  max %8.1f us  >1 us %4.1f%%  total %llu%s\n",
	       "vmshm (RtWaitForSingleObject)", cv.median / 1e3, cv.p99 / 1e3, cv.max / 1e3,
	       cv.over_us * 100, (unsigned long long)tot_vm,
	       tot_vm == (uint64_t)CONTENDERS * iters ? " (exact)" : " WRONG");
	printf("  %-28s median %7.2f us  p99 %8.1f us  max %8.1f us  >1 us %4.1f%%  total %llu%s\n",
	       "pthread robust mutex", cp.median / 1e3, cp.p99 / 1e3, cp.max / 1e3,
	       cp.over_us * 100, (unsigned long long)tot_px,
	       tot_px == (uint64_t)CONTENDERS * iters ? " (exact)" : " WRONG");
	unlink(pool_path);
	return tot_vm == (uint64_t)CONTENDERS * iters ? 0 : 1;
}
