/*
 * helpers.c - see helpers.h.
 */
#include "helpers.h"
#include "format.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct tpool tp;

static unsigned tp_counter;

void tp_make(uint64_t size, uint32_t objects)
{
	vmshm_pool *p;
	char why[256] = "";
	int rc;

	snprintf(tp.path, sizeof tp.path, "/dev/shm/vmshm-test-%ld-%u", (long)getpid(),
		 tp_counter++);
	unlink(tp.path);
	tp.size = size;
	rc = vmshm_pool_create(tp.path, size, objects, 0);
	cr_assert_eq(rc, 0, "vmshm_pool_create(%s, %llu, %u) = %d (%s)", tp.path,
		     (unsigned long long)size, objects, rc, vmshm_strerror(rc));
	rc = vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &p, why,
			  sizeof why);
	cr_assert_eq(rc, 0, "observer attach of a new pool: %d (%s) %s", rc, vmshm_strerror(rc),
		     why);
	rc = vmshm_stats(p, &tp.empty);
	cr_assert_eq(rc, 0, "vmshm_stats: %d", rc);
	vmshm_detach(p);
	cr_assert_eq(tp.empty.objects, 0);
	cr_assert_eq(tp.empty.peers, 0);
	cr_assert_eq(tp.empty.used_bytes, 0);
	cr_assert_eq(tp.empty.pool_size, size);
	setenv("VMSHM_POOL", tp.path, 1);
}

void tp_remove(void)
{
	if (tp.path[0])
		unlink(tp.path);
	tp.path[0] = 0;
}

void tp_setup(void)
{
	tp_make(TP_DEFAULT_SIZE, 0);
}

void tp_teardown(void)
{
	reap_children();
	tp_remove();
}

static vmshm_pool *observer(void)
{
	vmshm_pool *p = NULL;
	char why[256] = "";
	int rc = vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &p, why,
			      sizeof why);

	cr_assert_eq(rc, 0, "observer attach of %s: %d (%s) %s", tp.path, rc, vmshm_strerror(rc),
		     why);
	return p;
}

struct vmshm_stats tp_stats(void)
{
	struct vmshm_stats st;
	vmshm_pool *p = observer();
	int rc = vmshm_stats(p, &st);

	vmshm_detach(p);
	cr_assert_eq(rc, 0, "vmshm_stats: %d", rc);
	return st;
}

static int snap_one(const struct vmshm_objinfo *o, void *arg)
{
	struct snapshot *s = arg;
	struct snap_obj *d;

	if (s->nobj == SNAP_MAX_OBJECTS) {
		s->truncated = 1;
		return 1;
	}
	d = &s->obj[s->nobj++];
	memset(d, 0, sizeof *d);
	d->slot = o->slot;
	d->gen = o->gen;
	d->type = o->type;
	d->state = o->state;
	d->named = o->named;
	d->size = o->size;
	d->offset = o->offset;
	d->pages = o->pages;
	d->holders = o->holders;
	d->protect = o->protect;
	memcpy(d->name, o->name, sizeof d->name);
	return 0;
}

void snap_take(struct snapshot *s)
{
	vmshm_pool *p = observer();
	int rc;

	memset(s, 0, sizeof *s);
	rc = vmshm_stats(p, &s->st);
	cr_assert_eq(rc, 0, "vmshm_stats: %d", rc);
	rc = vmshm_list(p, snap_one, s);
	vmshm_detach(p);
	cr_assert_geq(rc, 0, "vmshm_list: %d", rc);
	cr_assert_not(s->truncated, "snapshot: more than %d objects", SNAP_MAX_OBJECTS);
}

void snap_assert_same(const struct snapshot *a, const struct snapshot *b, const char *what)
{
	cr_assert_eq(a->st.used_bytes, b->st.used_bytes, "%s: used bytes %llu -> %llu", what,
		     (unsigned long long)a->st.used_bytes, (unsigned long long)b->st.used_bytes);
	cr_assert_eq(a->st.free_bytes, b->st.free_bytes, "%s: free bytes %llu -> %llu", what,
		     (unsigned long long)a->st.free_bytes, (unsigned long long)b->st.free_bytes);
	cr_assert_eq(a->st.largest_free, b->st.largest_free, "%s: largest free run changed", what);
	cr_assert_eq(a->st.objects, b->st.objects, "%s: objects %u -> %u", what, a->st.objects,
		     b->st.objects);
	cr_assert_eq(a->st.peers, b->st.peers, "%s: peers %u -> %u", what, a->st.peers,
		     b->st.peers);
	cr_assert_eq(a->nobj, b->nobj, "%s: listed objects %u -> %u", what, a->nobj, b->nobj);
	for (unsigned i = 0; i < a->nobj; i++)
		cr_assert_eq(memcmp(&a->obj[i], &b->obj[i], sizeof a->obj[i]), 0,
			     "%s: object in slot %u ('%s') changed", what, a->obj[i].slot,
			     a->obj[i].name);
}

struct find_arg {
	const char *name;
	struct vmshm_objinfo *info;
	int found;
};

static int find_one(const struct vmshm_objinfo *o, void *arg)
{
	struct find_arg *f = arg;

	if (!o->named || strcmp(o->name, f->name) != 0)
		return 0;
	*f->info = *o;
	f->found++;
	return 0;
}

int tp_find(const char *utf8, struct vmshm_objinfo *info)
{
	struct find_arg f = {utf8, info, 0};
	vmshm_pool *p = observer();
	int rc = vmshm_list(p, find_one, &f);

	vmshm_detach(p);
	cr_assert_geq(rc, 0, "vmshm_list: %d", rc);
	cr_assert_leq(f.found, 1, "the name '%s' is listed %d times", utf8, f.found);
	return f.found;
}

uint32_t tp_objects(void)
{
	return tp_stats().objects;
}

static void print_fault(const struct vmshm_fault *f, void *arg)
{
	fprintf(stderr, "%s: fault %s at %u: %s\n", (const char *)arg, vmshm_fault_name(f->code),
		f->where, f->what);
}

int check_pool(vmshm_pool *p, const char *who)
{
	return vmshm_check(p, print_fault, (void *)who);
}

void assert_pool_empty(vmshm_pool *p, uint32_t peers, const char *who)
{
	struct vmshm_stats st;

	cr_assert_eq(vmshm_stats(p, &st), 0, "%s: vmshm_stats", who);
	cr_assert_eq(st.objects, 0, "%s: %u objects left", who, st.objects);
	cr_assert_eq(st.peers, peers, "%s: %u peers, expected %u", who, st.peers, peers);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes, "%s: %lld bytes not returned", who,
		     (long long)(tp.empty.free_bytes - st.free_bytes));
	cr_assert_eq(st.largest_free, tp.empty.largest_free, "%s: free space not coalesced", who);
	cr_assert_eq(check_pool(p, who), 0, "%s: faults", who);
}

int tp_check(const char *who)
{
	vmshm_pool *p = observer();
	int n = check_pool(p, who);

	vmshm_detach(p);
	return n;
}

struct peer_arg {
	pid_t pid;
	uint64_t mask;
};

static int peer_one(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peer_arg *a = arg;

	if (pi->pid == (uint64_t)a->pid && pi->state != VMSHM_PEER_FREE && pi->index < 64)
		a->mask |= 1ull << pi->index;
	return 0;
}

void tp_name_homed_at(vmshm_pool *p, uint32_t slot, const char *prefix, char *out, size_t len)
{
	struct fmt_layout L;
	cr_assert_eq(fmt_load(vmshm_base(p), vmshm_size(p), &L, NULL, 0), 0);
	for (int i = 0;; i++) {
		snprintf(out, len, "%s-%d", prefix, i);
		if ((fmt_hash(out, strlen(out)) & L.slot_mask) == slot)
			return;
	}
}

uint64_t tp_peer_mask(pid_t pid)
{
	struct peer_arg a = {pid, 0};
	vmshm_pool *p = observer();
	int rc = vmshm_peers(p, peer_one, &a);

	vmshm_detach(p);
	cr_assert_geq(rc, 0, "vmshm_peers: %d", rc);
	return a.mask;
}

void rt_warm(void)
{
	void *loc = NULL;
	HANDLE h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "vmshm-test-warm-up", &loc);

	cr_assert_null(h, "warm-up open of a missing name returned a handle");
	cr_assert_eq(GetLastError(), ERROR_FILE_NOT_FOUND, "warm-up open: GetLastError() = %u",
		     (unsigned)GetLastError());
}

const WCHAR *w16(const char *utf8)
{
	static _Thread_local WCHAR buf[8][4096];
	static _Thread_local unsigned next;
	WCHAR *out = buf[next++ % 8];
	const unsigned char *s = (const unsigned char *)utf8;
	size_t n = 0;

	while (*s) {
		uint32_t c;
		int more;

		if (*s < 0x80) {
			c = *s++;
			more = 0;
		} else if ((*s & 0xe0) == 0xc0) {
			c = *s++ & 0x1f;
			more = 1;
		} else if ((*s & 0xf0) == 0xe0) {
			c = *s++ & 0x0f;
			more = 2;
		} else {
			c = *s++ & 0x07;
			more = 3;
		}
		while (more-- > 0) {
			cr_assert_eq(*s & 0xc0, 0x80, "w16: invalid UTF-8 in a test string");
			c = c << 6 | (*s++ & 0x3f);
		}
		cr_assert_lt(n + 2, 4096u, "w16: test string too long");
		if (c >= 0x10000) {
			c -= 0x10000;
			out[n++] = (WCHAR)(0xd800 | c >> 10);
			out[n++] = (WCHAR)(0xdc00 | (c & 0x3ff));
		} else {
			out[n++] = (WCHAR)c;
		}
	}
	out[n] = 0;
	return out;
}

size_t w16len(const WCHAR *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

HANDLE rt_create(int mode, DWORD prot, DWORD high, DWORD low, const char *utf8, void **loc)
{
	if (mode == MODE_W)
		return RtCreateSharedMemoryW(prot, high, low, utf8 ? w16(utf8) : NULL, loc);
	return RtCreateSharedMemoryA(prot, high, low, utf8, loc);
}

HANDLE rt_open(int mode, DWORD access, const char *utf8, void **loc)
{
	if (mode == MODE_W)
		return RtOpenSharedMemoryW(access, FALSE, utf8 ? w16(utf8) : NULL, loc);
	return RtOpenSharedMemoryA(access, FALSE, utf8, loc);
}

static uint8_t pattern_byte(size_t i, uint32_t seed)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ seed * 40503u;

	x ^= x >> 13;
	return (uint8_t)(x ^ x >> 7 ^ 0x5a);
}

void pattern_fill(void *p, size_t len, uint32_t seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		b[i] = pattern_byte(i, seed);
}

int pattern_ok(const void *p, size_t len, uint32_t seed)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != pattern_byte(i, seed))
			return 0;
	return 1;
}

int all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

void *shared_area(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED, "mmap of a shared area: %s", strerror(errno));
	return p;
}

void shared_area_free(void *p, size_t len)
{
	munmap(p, len);
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int proc_barrier(_Atomic int *c, int n, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	atomic_fetch_add(c, 1);
	while (atomic_load(c) < n) {
		if (now_ms() > end)
			return -1;
		sched_yield();
	}
	return 0;
}

#define MAX_CHILDREN 256
static pid_t children[MAX_CHILDREN];

static void forget_child(pid_t pid)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

pid_t spawn_child(void)
{
	pid_t parent = getpid(), pid;
	int i;

	for (i = 0; i < MAX_CHILDREN && children[i]; i++)
		;
	cr_assert_lt(i, MAX_CHILDREN, "more than %d children alive", MAX_CHILDREN);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		return 0;
	}
	children[i] = pid;
	return pid;
}

void reap_children(void)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (!children[i])
			continue;
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
		children[i] = 0;
	}
}

void kill_loopers(int n, int kills, unsigned max_gap_us, uint64_t *rnd,
		  pid_t (*spawn)(void *arg, uint64_t seed), void *arg)
{
	pid_t loop[16];

	cr_assert(n > 0 && n <= 16);
	for (int i = 0; i < n; i++)
		loop[i] = spawn(arg, rnd_next(rnd) | 1);
	for (int k = 0; k < kills; k++) {
		int i = (int)(rnd_next(rnd) % (uint64_t)n), rc;

		usleep((useconds_t)(rnd_next(rnd) % max_gap_us));
		kill(loop[i], SIGKILL);
		rc = wait_child(loop[i]);
		cr_assert_eq(rc, 128 + SIGKILL, "a looper ended with %d", rc);
		loop[i] = spawn(arg, rnd_next(rnd) | 1);
	}
	for (int i = 0; i < n; i++) {
		kill(loop[i], SIGKILL);
		wait_child(loop[i]);
	}
}

int wait_child(pid_t pid)
{
	int st;

	forget_child(pid);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

uint64_t rnd_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ull;
}

void tp_poke(uint64_t off, const void *bytes, size_t len)
{
	int fd = open(tp.path, O_RDWR);

	cr_assert_geq(fd, 0, "open %s: %s", tp.path, strerror(errno));
	cr_assert_eq(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
	close(fd);
}

void tp_peek(uint64_t off, void *bytes, size_t len)
{
	int fd = open(tp.path, O_RDONLY);

	cr_assert_geq(fd, 0, "open %s: %s", tp.path, strerror(errno));
	cr_assert_eq(pread(fd, bytes, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* ---- programs the tests start ------------------------------------------ */

const char *helper_path(void)
{
	static char path[PATH_MAX + 32];
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(path, sizeof(path), "%s/vmshm-test-helper", exe);
	cr_assert_eq(access(path, X_OK), 0, "no helper program %s", path);
	return path;
}

/* Starts ARGV (NULL-terminated; "@" stands for the helper's path) with its
 * standard output on a pipe; ENV_KV ("NAME=value", or NULL) is added. */
struct proc proc_start(const char *const *argv, const char *env_kv)
{
	const char *h = helper_path();
	int fd[2];
	cr_assert_eq(pipe(fd), 0);
	pid_t pid = spawn_child();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char *args[16];
		int i;
		for (i = 0; argv[i] && i < 15; i++)
			args[i] = (char *)(strcmp(argv[i], "@") == 0 ? h : argv[i]);
		args[i] = NULL;
		dup2(fd[1], 1);
		close(fd[0]);
		close(fd[1]);
		if (env_kv)
			putenv((char *)env_kv);
		execvp(args[0], args);
		_exit(127);
	}
	close(fd[1]);
	return (struct proc){pid, fdopen(fd[0], "r")};
}

/* Reads the next line of P's output into BUF (bounded wait). */
int proc_line(struct proc *p, char *buf, size_t len)
{
	if (!fgets(buf, (int)len, p->out))
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

void proc_expect_held(struct proc *p)
{
	char line[64] = "";
	cr_assert_eq(proc_line(p, line, sizeof(line)), 0, "the holder said nothing");
	cr_assert_str_eq(line, "held");
}

void proc_finish(struct proc *p)
{
	kill(p->pid, SIGKILL);
	wait_child(p->pid);
	fclose(p->out);
}

/* Runs ARGV to its end; returns its output (static) and checks exit 0. */
const char *proc_run(const char *const *argv, const char *env_kv)
{
	static char all[4096];
	char line[256];
	struct proc p = proc_start(argv, env_kv);
	all[0] = 0;
	while (proc_line(&p, line, sizeof(line)) == 0) {
		strncat(all, line, sizeof(all) - strlen(all) - 2);
		strcat(all, "\n");
	}
	fclose(p.out);
	cr_assert_eq(wait_child(p.pid), 0, "%s exited badly; output: %s", argv[0], all);
	return all;
}

vmshm_pool *tp_attach_quiet(void)
{
	vmshm_pool *p;
	char why[256] = "";
	cr_assert_eq(vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof(why)), 0, "%s",
		     why);
	return p;
}

/* Reclaims until COUNT peers are reclaimed, for up to 5 s (a killed
 * process's files close a moment after its death). */
int tp_reclaim_until(vmshm_pool *p, int count)
{
	int n = 0;
	for (int i = 0; i < 500 && n < count; i++) {
		int rc = vmshm_reclaim(p);
		cr_assert_geq(rc, 0);
		n += rc;
		if (n < count)
			usleep(10000);
	}
	return n;
}
