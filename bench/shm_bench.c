/*
 * shm_bench.c - the benchmarks of issues 2 and 12: the RtApi shared-memory
 * calls on a vmshm pool against POSIX shared memory and against
 * Boost.Interprocess (bench/boost_peer.cpp), side by side in one process.
 *
 *   open   RtOpenSharedMemoryA + RtCloseHandle of an existing name
 *          vs shm_open + mmap + munmap + close of an existing object;
 *   create RtCreateSharedMemoryA + RtCloseHandle of a new name (created and
 *          destroyed every iteration) vs shm_open(O_CREAT) + ftruncate +
 *          mmap + munmap + close + shm_unlink; 4096-byte regions everywhere;
 *   Boost  find<Region>(name) of an existing object, and
 *          construct<Region>(name)() + destroy<Region>(name) of a new one, in
 *          one managed_shared_memory segment.
 *
 * Each with 10, 1,000 and 10,000 other live objects: a forked "holder"
 * process creates them in the pool with RtCreateSharedMemoryA and keeps them
 * open, so this process holds none of them; the same number of POSIX objects
 * exists in /dev/shm and in the Boost segment. One iteration (one open+close
 * or create+close pair) is timed with clock_gettime(CLOCK_MONOTONIC); each
 * live count is visited four times, spread over the run, and in each visit
 * vmshm, POSIX and Boost run in alternating rounds. Page faults per
 * iteration come from getrusage() around an untimed loop; system calls per
 * iteration from a second run of this program under strace, which counts
 * the calls between two marker calls. docs/BENCHMARKS.md explains the
 * method and the results.
 *
 * Usage: shm_bench [-n ITERATIONS] [--no-strace]
 * (--trace-mode is the run that the program starts under strace.)
 */
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "RtApi.h"
#include "boost_peer.h"
#include "vmshm.h"

#define REGION       4096u
#define POOL_SIZE    (96ull << 20)
#define POOL_OBJECTS 32768u
#define NEW_NAMES    1024u /* the create case cycles through this many names */
#define ROUNDS       3     /* per visit, vmshm and POSIX alternate ROUNDS times */
#define MAX_LIVE     10000u
#define WARMUP       1000u  /* untimed iterations before each case */
#define WARMUP_START 10000u /* untimed iterations of each case before the first */
#define COUNT_ITERS  2000u  /* iterations of the fault and system call counts */
#define MARKER       "vmshm-bench:"
#define BATCH        32u /* iterations per clock pair in the batched rounds */

static const uint32_t live_counts[] = {10, 1000, MAX_LIVE};
#define NCOUNTS (sizeof(live_counts) / sizeof(live_counts[0]))
/* Each live count is visited four times, in an order that spreads every
 * count over the whole run, so that a slow spell of the machine weighs on
 * all three alike. */
static const uint32_t visit_order[] = {0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 2, 1};
#define NVISITS          (sizeof(visit_order) / sizeof(visit_order[0]))
#define VISITS_PER_COUNT (NVISITS / NCOUNTS)

enum op {
	OP_VM_OPEN,      /* open+close, the object not otherwise held by us */
	OP_VM_OPEN_HELD, /* open+close while we hold another handle to it */
	OP_PX_OPEN,
	OP_VM_CREATE,
	OP_PX_CREATE,
	OP_BX_FIND,   /* Boost find of an existing name */
	OP_BX_CREATE, /* Boost construct+destroy of a new name */
	NOPS
};

static const char *const op_label[NOPS] = {"vm-open",   "vm-open-held", "px-open",  "vm-create",
					   "px-create", "bx-find",      "bx-create"};

struct result {
	double median, p999; /* ns per iteration, each iteration timed alone */
	double batched;      /* median ns per iteration, timed BATCH at a time */
	double faults;       /* minor + major page faults per iteration */
	double syscalls;     /* per iteration; < 0: not counted */
	long preempted;      /* involuntary context switches during the timed loops */
};

/* Everything the run creates, for the cleanup. */
static struct {
	char pool[128];   /* the pool file on /dev/shm */
	char prefix[32];  /* of the POSIX object names */
	char boost[64];   /* the Boost segment's name */
	pid_t holder;     /* the process that holds the live vmshm objects */
	pid_t strace;     /* the strace run, while it runs */
	int cmd_fd;       /* to the holder: how many live objects to hold */
	int ack_fd;       /* from the holder: done */
	uint32_t px_live; /* POSIX live objects created so far */
	int px_target;    /* the POSIX object of the open case exists */
	char trace[64];   /* the strace output file */
	int trace_mode;
} B = {.holder = -1, .strace = -1, .cmd_fd = -1, .ack_fd = -1};

static char vm_new_names[NEW_NAMES][32];
static char px_new_names[NEW_NAMES][96];
static char px_target_name[96];
static HANDLE held_handle;
static uint64_t attach_ns; /* our first RtApi call, which attaches the pool */

static void px_name(char *buf, size_t len, const char *what, uint32_t i)
{
	snprintf(buf, len, "%s-%s-%u", B.prefix, what, i);
}

static void cleanup(void)
{
	char name[96];
	if (B.cmd_fd >= 0) {
		close(B.cmd_fd); /* the holder sees EOF and exits, closing its handles */
		B.cmd_fd = -1;
	}
	if (B.holder > 0) {
		waitpid(B.holder, NULL, 0);
		B.holder = -1;
	}
	while (B.px_live > 0) {
		px_name(name, sizeof(name), "live", --B.px_live);
		shm_unlink(name);
	}
	if (B.px_target) {
		shm_unlink(px_target_name);
		B.px_target = 0;
	}
	if (B.prefix[0]) {
		for (uint32_t i = 0; i < NEW_NAMES; i++)
			shm_unlink(px_new_names[i]); /* left over only if a run was cut short */
		B.prefix[0] = 0;
	}
	if (B.pool[0]) {
		unlink(B.pool);
		B.pool[0] = 0;
	}
	if (B.boost[0]) {
		bx_cleanup();
		B.boost[0] = 0;
	}
	if (B.trace[0]) {
		unlink(B.trace);
		B.trace[0] = 0;
	}
}

static void on_signal(int sig)
{
	if (B.strace > 0) {
		kill(B.strace, SIGTERM); /* strace passes it on to the traced run */
		waitpid(B.strace, NULL, 0);
	}
	if (B.holder > 0)
		kill(B.holder, SIGKILL);
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void die(const char *what)
{
	fprintf(stderr, "shm_bench: %s (errno %d %s, GetLastError %u)\n", what, errno,
		strerror(errno), (unsigned)GetLastError());
	cleanup();
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the holder process -------------------------------------------------- */

/* Holds the target object "bench-open" and live-0 .. live-(N-1), creating or
 * closing objects on each command N; exits, closing them all, when the
 * command pipe closes. */
static void holder_main(int cmd_fd, int ack_fd)
{
	static HANDLE live[MAX_LIVE];
	char name[32];
	void *p;
	uint32_t have = 0, want;
	if (!RtCreateSharedMemoryA(PAGE_READWRITE, 0, REGION, "bench-open", &p) ||
	    GetLastError() != 0)
		_exit(2);
	while (read(cmd_fd, &want, sizeof(want)) == (ssize_t)sizeof(want)) {
		if (want > MAX_LIVE)
			_exit(3);
		for (; have < want; have++) {
			snprintf(name, sizeof(name), "live-%u", have);
			live[have] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, REGION, name, &p);
			if (!live[have] || GetLastError() != 0)
				_exit(4);
		}
		for (; have > want; have--)
			if (!RtCloseHandle(live[have - 1]))
				_exit(5);
		if (write(ack_fd, &have, sizeof(have)) != (ssize_t)sizeof(have))
			_exit(6);
	}
	exit(0); /* normal exit: the RtApi layer closes the handles */
}

static void start_holder(void)
{
	int cmd[2], ack[2];
	if (pipe(cmd) < 0 || pipe(ack) < 0)
		die("pipe");
	fflush(NULL);
	B.holder = fork();
	if (B.holder < 0)
		die("fork");
	if (B.holder == 0) {
		signal(SIGINT, SIG_DFL); /* the cleanup is the parent's */
		signal(SIGTERM, SIG_DFL);
		close(cmd[1]);
		close(ack[0]);
		holder_main(cmd[0], ack[1]);
	}
	close(cmd[0]);
	close(ack[1]);
	B.cmd_fd = cmd[1];
	B.ack_fd = ack[0];
}

/* Brings the live objects to N: the holder's in the pool, ours in /dev/shm. */
static void set_live(uint32_t n)
{
	uint32_t done;
	char name[96];
	if (write(B.cmd_fd, &n, sizeof(n)) != (ssize_t)sizeof(n) ||
	    read(B.ack_fd, &done, sizeof(done)) != (ssize_t)sizeof(done) || done != n)
		die("the holder process failed to create the live objects");
	for (; B.px_live < n; B.px_live++) {
		px_name(name, sizeof(name), "live", B.px_live);
		int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || ftruncate(fd, REGION) < 0)
			die("shm_open of a live POSIX object");
		close(fd);
	}
	for (; B.px_live > n; B.px_live--) {
		px_name(name, sizeof(name), "live", B.px_live - 1);
		if (shm_unlink(name) < 0)
			die("shm_unlink of a live POSIX object");
	}
	if (bx_set_live(n) < 0)
		die("Boost construct/destroy of the live objects");
}

/* ---- one iteration of each operation ------------------------------------- */

static int vm_open(uint32_t i)
{
	void *p;
	(void)i;
	HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "bench-open", &p);
	return h && RtCloseHandle(h) ? 0 : -1;
}

static int px_open(uint32_t i)
{
	(void)i;
	int fd = shm_open(px_target_name, O_RDWR, 0);
	if (fd < 0)
		return -1;
	void *p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || munmap(p, REGION) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int vm_create(uint32_t i)
{
	void *p;
	HANDLE h =
	    RtCreateSharedMemoryA(PAGE_READWRITE, 0, REGION, vm_new_names[i % NEW_NAMES], &p);
	if (!h || GetLastError() != 0)
		return -1; /* 183 would mean the name was not new */
	return RtCloseHandle(h) ? 0 : -1;
}

static int px_create(uint32_t i)
{
	const char *name = px_new_names[i % NEW_NAMES];
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return -1;
	void *p = MAP_FAILED;
	if (ftruncate(fd, REGION) == 0)
		p = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	int rc = p != MAP_FAILED && munmap(p, REGION) == 0 ? 0 : -1;
	if (close(fd) < 0 || shm_unlink(name) < 0)
		rc = -1;
	return rc;
}

static int bx_find_op(uint32_t i)
{
	(void)i;
	return bx_find("bench-open");
}

static int bx_create_op(uint32_t i)
{
	return bx_create_destroy(vm_new_names[i % NEW_NAMES]);
}

static int (*const op_fn[NOPS])(uint32_t) = {vm_open,   vm_open,    px_open,     vm_create,
					     px_create, bx_find_op, bx_create_op};

static void run_untimed(enum op op, uint32_t iters)
{
	for (uint32_t i = 0; i < iters; i++)
		if (op_fn[op](i) < 0)
			die(op_label[op]);
}

/* ---- measuring ------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Times each of ITERS iterations of OP into S (at offset FROM). */
static void run_timed(enum op op, uint32_t *s, uint32_t from, uint32_t iters)
{
	int (*fn)(uint32_t) = op_fn[op];
	for (uint32_t i = from; i < from + iters; i++) {
		uint64_t t0 = now_ns();
		int rc = fn(i);
		uint64_t t1 = now_ns();
		if (rc < 0)
			die(op_label[op]);
		s[i] = (uint32_t)(t1 - t0 > UINT32_MAX ? UINT32_MAX : t1 - t0);
	}
}

/* Times ITERS iterations of OP in batches of BATCH into S (at offset FROM):
 * one sample per batch, in tenths of a ns per iteration. A clock pair costs
 * 20-30 ns here and reads in steps of about 10 ns, so a single pair of
 * calls that takes 30-40 ns is measured better this way; the per-iteration
 * rounds give the tails. */
static void run_batched(enum op op, uint32_t *s, uint32_t from, uint32_t iters)
{
	int (*fn)(uint32_t) = op_fn[op];
	for (uint32_t b = 0; b < iters / BATCH; b++) {
		uint32_t i0 = from * BATCH + b * BATCH;
		int rc = 0;
		uint64_t t0 = now_ns();
		for (uint32_t i = i0; i < i0 + BATCH; i++)
			rc |= fn(i);
		uint64_t t1 = now_ns();
		if (rc < 0)
			die(op_label[op]);
		uint64_t tenths = (t1 - t0) * 10 / BATCH;
		s[from + b] = (uint32_t)(tenths > UINT32_MAX ? UINT32_MAX : tenths);
	}
}

static void summarize(uint32_t *s, uint32_t n, struct result *r)
{
	qsort(s, n, sizeof(*s), cmp_u32);
	r->median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + (double)s[n / 2]) / 2;
	uint32_t k = (uint32_t)((n * 999ull + 999) / 1000); /* ceil(0.999 n) */
	r->p999 = s[k ? k - 1 : 0];
}

static long faults_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt + ru.ru_majflt;
}

static long preemptions_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nivcsw;
}

/* Page faults per iteration of OP, over an untimed loop. */
static double count_faults(enum op op)
{
	long f0 = faults_now();
	run_untimed(op, COUNT_ITERS);
	return (double)(faults_now() - f0) / COUNT_ITERS;
}

static void hold_target(int on);

/* Runs OP untimed (TIMED 0), or into S[FROM..FROM+ITERS-1] one by one and
 * then ITERS more in batches into SB[FROM/BATCH..], holding a second handle
 * to the target object during the "held" case. */
static void run_case(enum op op, uint32_t iters, int timed, uint32_t *s, uint32_t *sb,
		     uint32_t from, struct result *res)
{
	if (op == OP_VM_OPEN_HELD)
		hold_target(1);
	if (!timed) {
		run_untimed(op, iters);
	} else {
		long cs = preemptions_now();
		run_timed(op, s, from, iters);
		res->preempted += preemptions_now() - cs;
		run_batched(op, sb, from / BATCH, iters);
	}
	if (op == OP_VM_OPEN_HELD)
		hold_target(0);
}

/* Where the calls' stack falls, modulo a page, against the pages of the
 * data they touch moves an open+close pair here by up to 10 ns (a load
 * that follows a store to another address with the same low 12 bits
 * waits for it; docs/BENCHMARKS.md): one run, one placing, is a lottery.
 * So every round runs at its own depth, 16 bytes apart over the 4 KiB,
 * the same for the operations it compares, and the medians are taken over
 * many placings. */
static unsigned round_depth(void)
{
	static unsigned round;
	return (round++ * 65u % 256u) * 16u; /* 65 is prime to 256: all 256 depths */
}

/* Runs one round of the case at DEPTH bytes further down the stack. */
static void run_case_at(unsigned depth, enum op op, uint32_t iters, uint32_t *s, uint32_t *sb,
			uint32_t from, struct result *res)
{
	volatile char *pad = alloca(depth + 16);
	pad[0] = 0;
	run_case(op, iters, 1, s, sb, from, res);
	pad[depth] = 0; /* the pad lives until the round has run */
}

/* One visit of a live count: for each of OPS a warm-up and the page fault
 * count, then ROUNDS alternating rounds of PER timed iterations each, stored
 * in SAMPLES[op] from FROM on. */
static void visit(const enum op *ops, int nops, uint32_t per, uint32_t from,
		  uint32_t *samples[NOPS], uint32_t *batched[NOPS], struct result *res)
{
	for (int k = 0; k < nops; k++) {
		enum op op = ops[k];
		run_case(op, WARMUP, 0, NULL, NULL, 0, &res[op]);
		if (op == OP_VM_OPEN_HELD)
			hold_target(1);
		double f = count_faults(op);
		res[op].faults = f > res[op].faults ? f : res[op].faults;
		if (op == OP_VM_OPEN_HELD)
			hold_target(0);
	}
	for (uint32_t r = 0; r < ROUNDS; r++) {
		unsigned depth = round_depth();
		for (int k = 0; k < nops; k++)
			run_case_at(depth, ops[k], per, samples[ops[k]], batched[ops[k]],
				    from + r * per, &res[ops[k]]);
	}
}

/* Median cost of a null system call, for scale. */
static double syscall_cost(void)
{
	static uint32_t s[20000];
	for (uint32_t i = 0; i < 20000; i++) {
		uint64_t t0 = now_ns();
		syscall(SYS_getppid);
		uint64_t t1 = now_ns();
		s[i] = (uint32_t)(t1 - t0);
	}
	struct result r;
	summarize(s, 20000, &r);
	return r.median;
}

static double clock_overhead(void)
{
	static uint32_t s[100000];
	for (uint32_t i = 0; i < 100000; i++) {
		uint64_t t0 = now_ns();
		uint64_t t1 = now_ns();
		s[i] = (uint32_t)(t1 - t0);
	}
	struct result r;
	summarize(s, 100000, &r);
	return r.median;
}

/* ---- setup ---------------------------------------------------------------- */

static void setup(void)
{
	pid_t me = getpid();
	snprintf(B.pool, sizeof(B.pool), "/dev/shm/vmshm-bench-%d.pool", (int)me);
	snprintf(B.prefix, sizeof(B.prefix), "/vmshm-bench-%d", (int)me);
	for (uint32_t i = 0; i < NEW_NAMES; i++) {
		snprintf(vm_new_names[i], sizeof(vm_new_names[i]), "new-%u", i);
		px_name(px_new_names[i], sizeof(px_new_names[i]), "new", i);
	}
	snprintf(px_target_name, sizeof(px_target_name), "%s-target", B.prefix);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	int rc = vmshm_pool_create(B.pool, POOL_SIZE, POOL_OBJECTS, 0);
	if (rc < 0) {
		fprintf(stderr, "shm_bench: pool create %s: %s\n", B.pool, vmshm_strerror(rc));
		B.pool[0] = 0;
		exit(1);
	}
	setenv("VMSHM_POOL", B.pool, 1);
	snprintf(B.boost, sizeof(B.boost), "vmshm-bench-%d-boost", (int)me);
	if (bx_setup(B.boost, POOL_SIZE, "bench-open") < 0)
		die("Boost.Interprocess segment");
	start_holder(); /* before our first RtApi call: the holder is its own peer */
	set_live(live_counts[0]);

	int fd = shm_open(px_target_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		die("shm_open of the POSIX target");
	B.px_target = 1;
	if (ftruncate(fd, REGION) < 0)
		die("ftruncate of the POSIX target");
	close(fd);

	/* Our first call attaches the pool (mmap with MAP_POPULATE). */
	void *p;
	uint64_t t0 = now_ns();
	HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "bench-open", &p);
	attach_ns = now_ns() - t0;
	if (!h || !RtCloseHandle(h))
		die("first RtOpenSharedMemoryA (attach)");
}

static void hold_target(int on)
{
	void *p;
	if (on) {
		held_handle = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "bench-open", &p);
		if (!held_handle)
			die("RtOpenSharedMemoryA (hold)");
	} else if (!RtCloseHandle(held_handle)) {
		die("RtCloseHandle (hold)");
	}
}

/* ---- system calls, counted under strace ------------------------------------ */

static void marker(const char *what, enum op op, uint32_t n)
{
	char buf[80];
	int len = snprintf(buf, sizeof(buf), MARKER "%s:%s:%u", what, op_label[op], n);
	/* A call that fails at once (fd -1): only strace sees it. */
	if (write(-1, buf, (size_t)len) >= 0)
		die("marker write succeeded");
}

/* The run under strace: the same setup, then COUNT_ITERS untimed iterations
 * of each operation between a begin and an end marker. */
static int trace_main(void)
{
	setup();
	for (uint32_t c = 0; c < NCOUNTS; c++) {
		set_live(live_counts[c]);
		for (int op = 0; op < NOPS; op++) {
			if (op == OP_VM_OPEN_HELD)
				hold_target(1);
			run_untimed(op, WARMUP);
			marker("begin", op, live_counts[c]);
			run_untimed(op, COUNT_ITERS);
			marker("end", op, live_counts[c]);
			if (op == OP_VM_OPEN_HELD)
				hold_target(0);
		}
	}
	cleanup();
	return 0;
}

/* Finds MARKER "begin:OP:N" / "end:OP:N" in a strace line; returns 1 (begin),
 * 2 (end) or 0, with OP and N. */
static int parse_marker(const char *line, int *op, uint32_t *n)
{
	const char *m = strstr(line, MARKER);
	char what[8], label[24];
	unsigned v;
	if (!m || sscanf(m + strlen(MARKER), "%7[a-z]:%23[a-z-]:%u", what, label, &v) != 3)
		return 0;
	for (int k = 0; k < NOPS; k++) {
		if (strcmp(label, op_label[k]) == 0) {
			*op = k;
			*n = v;
			return strcmp(what, "begin") == 0 ? 1 : strcmp(what, "end") == 0 ? 2 : 0;
		}
	}
	return 0;
}

/* Runs this program under strace -f and counts, for each operation and
 * live count, the system calls between its two markers made by the process
 * that wrote them. Returns 0, or -1 if strace could not run. */
static int count_syscalls(struct result res[NCOUNTS][NOPS])
{
	char self[4096], trace[] = "/tmp/vmshm-bench-trace-XXXXXX";
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int fd = mkstemp(trace);
	if (len <= 0 || fd < 0)
		return -1;
	close(fd);
	snprintf(B.trace, sizeof(B.trace), "%s", trace);
	self[len] = 0;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execlp("strace", "strace", "-f", "-qq", "-s", "80", "-o", trace, self,
		       "--trace-mode", (char *)NULL);
		_exit(127);
	}
	int status = -1;
	B.strace = pid;
	int waited = pid > 0 ? waitpid(pid, &status, 0) : -1;
	B.strace = -1;
	if (waited < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		cleanup();
		return -1;
	}
	FILE *f = fopen(trace, "r");
	if (!f) {
		cleanup();
		return -1;
	}
	char line[1024];
	long in_pid = -1, count = 0;
	while (fgets(line, sizeof(line), f)) {
		long lpid = strtol(line, NULL, 10);
		int op;
		uint32_t n;
		int kind = parse_marker(line, &op, &n);
		if (kind == 1) {
			in_pid = lpid;
			count = 0;
		} else if (kind == 2 && lpid == in_pid) {
			for (uint32_t c = 0; c < NCOUNTS; c++)
				if (live_counts[c] == n)
					res[c][op].syscalls = (double)count / COUNT_ITERS;
			in_pid = -1;
		} else if (in_pid >= 0 && lpid == in_pid) {
			const char *rest = strchr(line, ' ');
			rest = rest ? rest + strspn(rest, " ") : line;
			/* not a resumed half, a signal or an exit line */
			if (strncmp(rest, "<...", 4) != 0 && strncmp(rest, "---", 3) != 0 &&
			    strncmp(rest, "+++", 3) != 0)
				count++;
		}
	}
	fclose(f);
	cleanup();
	return 0;
}

/* ---- report ------------------------------------------------------------- */

static const char *verdict(int ok)
{
	return ok ? "met" : "MISSED";
}

static void print_machine(void)
{
	char line[256], model[128] = "?";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	printf("machine: %s, %ld CPUs online, Linux %s\n", model, sysconf(_SC_NPROCESSORS_ONLN),
	       u.release);
}

static void print_report(struct result res[NCOUNTS][NOPS], double clk, double sc, uint32_t iters,
			 int counted)
{
	static const struct {
		const char *title;
		enum op vm, px;
		const char *peer; /* the other side's name in the table */
		double target;    /* peer/vmshm of the medians at least */
		int batched;      /* judged on the batched medians */
	} rows[] = {
	    {"open+close, object held only by another process", OP_VM_OPEN, OP_PX_OPEN, "POSIX", 20,
	     0},
	    {"open+close, object also held by this process", OP_VM_OPEN_HELD, OP_PX_OPEN, "POSIX",
	     20, 0},
	    {"create+close of a new name (destroyed each time)", OP_VM_CREATE, OP_PX_CREATE,
	     "POSIX", 10, 0},
	    {"open+close not held vs Boost.Interprocess find", OP_VM_OPEN, OP_BX_FIND, "Boost", 1,
	     1},
	    {"open+close held vs Boost.Interprocess find", OP_VM_OPEN_HELD, OP_BX_FIND, "Boost", 1,
	     1},
	    {"create+close vs Boost.Interprocess construct+destroy", OP_VM_CREATE, OP_BX_CREATE,
	     "Boost", 2, 1},
	};
	printf("\nns per iteration (one open+close, create+close, find or construct+destroy), "
	       "%u iterations per cell:\n%u visits of each live count, of %d rounds that "
	       "alternate vmshm, POSIX and Boost;\nclock_gettime overhead (included in every "
	       "med and p999 figure): %.0f ns; one getppid() system call: %.0f ns;\n"
	       "batch = median ns per iteration over as many more iterations timed %u at a time "
	       "(1/%u of the clock);\nthe Boost targets are judged on the batch medians\n",
	       iters, (unsigned)VISITS_PER_COUNT, ROUNDS, clk, sc, BATCH, BATCH);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const char *peer = rows[r].peer;
		char med[16], p999[16];
		snprintf(med, sizeof(med), "%s med", peer);
		snprintf(p999, sizeof(p999), "%s p999", peer);
		printf("\n%s (target: %s/vmshm >= %.0fx)\n", rows[r].title, peer, rows[r].target);
		printf("  %-7s %10s %10s %10s %10s %9s %9s", "live", "vmshm med", "vmshm p999", med,
		       p999, "ratio med", "ratio p999");
		if (rows[r].batched)
			printf(" %11s %11s %11s", "vmshm batch", "Boost batch", "ratio batch");
		printf("  target\n");
		for (uint32_t c = 0; c < NCOUNTS; c++) {
			const struct result *v = &res[c][rows[r].vm], *p = &res[c][rows[r].px];
			double rm = p->median / v->median, rp = p->p999 / v->p999;
			double rb = p->batched / v->batched;
			printf("  %-7u %10.0f %10.0f %10.0f %10.0f %8.2fx %9.2fx", live_counts[c],
			       v->median, v->p999, p->median, p->p999, rm, rp);
			if (rows[r].batched)
				printf(" %11.1f %11.1f %10.2fx", v->batched, p->batched, rb);
			printf("  %s\n", verdict((rows[r].batched ? rb : rm) >= rows[r].target));
		}
		const struct result *lo = &res[0][rows[r].vm], *hi = &res[NCOUNTS - 1][rows[r].vm];
		const struct result *plo = &res[0][rows[r].px],
				    *phi = &res[NCOUNTS - 1][rows[r].px];
		double flat = hi->median / lo->median;
		printf("  flat: vmshm median at %u / at %u objects = %.2f (%s: within 1.25; "
		       "%s: %.2f)\n",
		       live_counts[NCOUNTS - 1], live_counts[0], flat, verdict(flat <= 1.25), peer,
		       phi->median / plo->median);
	}

	printf(
	    "\nper iteration after attach: flt = page faults (getrusage, %u untimed iterations),\n"
	    "sys = system calls (strace -f between two markers, %u iterations);\n"
	    "csw = times this process was preempted during all %u timed iterations of the cell\n",
	    COUNT_ITERS, COUNT_ITERS, iters);
	printf("  %-11s", "live");
	for (int op = 0; op < NOPS; op++)
		printf(" %12s", op_label[op]);
	printf("\n");
	for (uint32_t c = 0; c < NCOUNTS; c++) {
		printf("  %-7u flt ", live_counts[c]);
		for (int op = 0; op < NOPS; op++)
			printf(" %12.3f", res[c][op].faults);
		printf("\n  %-7u csw ", live_counts[c]);
		for (int op = 0; op < NOPS; op++)
			printf(" %12ld", res[c][op].preempted);
		printf("\n  %-7u sys ", live_counts[c]);
		for (int op = 0; op < NOPS; op++) {
			if (counted && res[c][op].syscalls >= 0)
				printf(" %12.3f", res[c][op].syscalls);
			else
				printf(" %12s", "-");
		}
		printf("\n");
	}
	if (!counted)
		printf("  (system calls not counted: strace is not installed or failed)\n");
	static const enum op vm_ops[] = {OP_VM_OPEN, OP_VM_OPEN_HELD, OP_VM_CREATE};
	int zero = 1;
	for (uint32_t c = 0; c < NCOUNTS; c++) {
		for (size_t k = 0; k < sizeof(vm_ops) / sizeof(vm_ops[0]); k++) {
			zero &= res[c][vm_ops[k]].faults == 0;
			if (counted)
				zero &= res[c][vm_ops[k]].syscalls == 0;
		}
	}
	const char *v = verdict(zero);
	if (!counted)
		v = zero ? "met for page faults; system calls not counted" : "MISSED";
	printf("  no system call or page fault per vmshm open/close/create: %s\n", v);
}

int main(int argc, char **argv)
{
	uint32_t iters = 48000;
	int use_strace = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trace-mode") == 0) {
			B.trace_mode = 1;
		} else if (strcmp(argv[i], "--no-strace") == 0) {
			use_strace = 0;
		} else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			iters = (uint32_t)strtoul(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: %s [-n ITERATIONS] [--no-strace]\n", argv[0]);
			return 2;
		}
	}
	if (B.trace_mode)
		return trace_main();
	const uint32_t unit = VISITS_PER_COUNT * ROUNDS;
	iters = iters < unit * BATCH * 4 ? unit * BATCH * 4 : iters / (unit * BATCH) * unit * BATCH;
	uint32_t per = iters / unit;

	static struct result res[NCOUNTS][NOPS];
	static uint32_t *samples[NCOUNTS][NOPS], *batched[NCOUNTS][NOPS];
	for (uint32_t c = 0; c < NCOUNTS; c++) {
		for (int op = 0; op < NOPS; op++) {
			res[c][op].syscalls = -1;
			samples[c][op] = malloc(iters * sizeof(uint32_t));
			batched[c][op] = malloc(iters / BATCH * sizeof(uint32_t));
			if (!samples[c][op] || !batched[c][op])
				die("malloc");
			/* touched now, so that no page fault lands in a timed loop */
			memset(samples[c][op], 0, iters * sizeof(uint32_t));
			memset(batched[c][op], 0, iters / BATCH * sizeof(uint32_t));
		}
	}

	double clk = clock_overhead(), sc = syscall_cost();
	uint64_t t0 = now_ns();
	setup();
	print_machine();
	printf("vmshm benchmark: pool %s (%llu MiB, %u directory slots), region %u bytes\n", B.pool,
	       POOL_SIZE >> 20, POOL_OBJECTS, REGION);
	printf("  attach (first RtOpenSharedMemoryA, maps the pool and faults in its tables): %.2f "
	       "ms\n",
	       (double)attach_ns / 1e6);
	for (int op = 0; op < NOPS; op++)
		run_case(op, WARMUP_START, 0, NULL, NULL, 0, NULL);

	const enum op open_ops[] = {OP_VM_OPEN, OP_VM_OPEN_HELD, OP_PX_OPEN, OP_BX_FIND};
	const enum op create_ops[] = {OP_VM_CREATE, OP_PX_CREATE, OP_BX_CREATE};
	uint32_t visits[NCOUNTS] = {0};
	for (uint32_t v = 0; v < NVISITS; v++) {
		uint32_t c = visit_order[v], from = visits[c]++ * ROUNDS * per;
		set_live(live_counts[c]);
		printf("  %u live objects: measuring...\n", live_counts[c]);
		fflush(stdout);
		visit(open_ops, 4, per, from, samples[c], batched[c], res[c]);
		visit(create_ops, 3, per, from, samples[c], batched[c], res[c]);
	}
	for (uint32_t c = 0; c < NCOUNTS; c++) {
		for (int op = 0; op < NOPS; op++) {
			struct result b;
			summarize(batched[c][op], iters / BATCH, &b);
			summarize(samples[c][op], iters, &res[c][op]);
			res[c][op].batched = b.median / 10;
		}
	}
	cleanup();
	int counted = 0;
	if (use_strace) {
		printf("  counting system calls under strace...\n");
		fflush(stdout);
		counted = count_syscalls(res) == 0;
	}
	print_report(res, clk, sc, iters, counted);
	printf("\ntotal time %.1f s; pool and /dev/shm objects removed\n",
	       (double)(now_ns() - t0) / 1e9);
	for (uint32_t c = 0; c < NCOUNTS; c++) {
		for (int op = 0; op < NOPS; op++) {
			free(samples[c][op]);
			free(batched[c][op]);
		}
	}
	return 0;
}
