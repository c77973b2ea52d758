/*
 * platform_posix.c - lib/platform.h for Linux, and the thread-local
 * GetLastError/SetLastError of RtApi.h.
 */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/futex.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "RtApi.h"
#include "internal.h"

_Thread_local uint32_t plat_last_error; /* internal.h: rt_set_error */

DWORD GetLastError(void)
{
	return plat_last_error;
}

void SetLastError(DWORD code)
{
	plat_last_error = code;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

/* starttime (field 22) of /proc/self/stat: shown by vmshm peers, never used
 * to judge liveness. 0 when /proc is missing or another namespace's. */
static uint64_t self_start(void)
{
	char buf[1024];
	if (read_file("/proc/self/stat", buf, sizeof(buf)) < 0)
		return 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || p[1] != ' ')
		return 0;
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return 0;
		p++;
	}
	return strtoull(p, NULL, 10);
}

static uint8_t boot_id[16];
static int boot_ok;

static void boot_init(void)
{
	char buf[64];
	if (read_file("/proc/sys/kernel/random/boot_id", buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = 0;
		boot_ok = vmshm_parse_uuid(buf, boot_id) == 0;
	}
}

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;

int plat_identity(struct plat_ident *id)
{
	memset(id, 0, sizeof(*id));
	pthread_once(&boot_once, boot_init);
	if (!boot_ok)
		return VMSHM_EIO;
	id->os = VMSHM_OS_LINUX;
	id->pid = (uint64_t)getpid();
	id->start_time = self_start();
	memcpy(id->boot_id, boot_id, 16);
	/* The tests' stand-in for a process of another OS instance (a guest):
	 * nobody here can judge it, as for a real one. */
	const char *fake = getenv("VMSHM_TEST_BOOT_ID");
	if (fake && *fake && (id->foreign = 1, vmshm_parse_uuid(fake, id->boot_id) < 0))
		return VMSHM_EIO;
	char comm[32];
	if (read_file("/proc/self/comm", comm, sizeof(comm)) > 0) {
		comm[strcspn(comm, "\n")] = 0;
		comm[sizeof(id->comm) - 1] = 0;
		memcpy(id->comm, comm, sizeof(id->comm));
	}
	return 0;
}

/* Linux peers are judged by their kernel lock (plat_peer_lock_held), never
 * by a pid read through a /proc that may belong to another pid namespace. */
int plat_liveness(uint32_t os, uint64_t pid, uint64_t start_time, const uint8_t boot[16])
{
	(void)os;
	(void)pid;
	(void)start_time;
	(void)boot;
	return VMSHM_LIVE_UNKNOWN;
}

/* Peer I's lock byte: far past any pool's end, so that no other user of the
 * file's locks (none is known) meets it by chance. */
#define PEER_LOCK_BASE (1ll << 40)

static int ofd_lock(int fd, int cmd, short type, uint32_t index, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	fl->l_type = type;
	fl->l_whence = SEEK_SET;
	fl->l_start = PEER_LOCK_BASE + (off_t)index;
	fl->l_len = 1;
	int rc;
	while ((rc = fcntl(fd, cmd, fl)) < 0 && errno == EINTR)
		;
	return rc;
}

int plat_peer_lock(int fd, uint32_t index)
{
	struct flock fl;
	if (fd < 0)
		return VMSHM_ENOTSUP;
	if (ofd_lock(fd, F_OFD_SETLK, F_WRLCK, index, &fl) == 0)
		return 0;
	return errno == EAGAIN || errno == EACCES ? VMSHM_EBUSY : VMSHM_ENOTSUP;
}

void plat_peer_unlock(int fd, uint32_t index)
{
	struct flock fl;
	if (fd >= 0)
		ofd_lock(fd, F_OFD_SETLK, F_UNLCK, index, &fl);
}

int plat_peer_lock_held(int fd, uint32_t index)
{
	struct flock fl;
	if (fd < 0)
		return VMSHM_ENOTSUP;
	/* Asks whether a read lock could be had: any write lock of another
	 * open file description on the byte says no. */
	if (ofd_lock(fd, F_OFD_GETLK, F_RDLCK, index, &fl) < 0)
		return VMSHM_EIO;
	return fl.l_type != F_UNLCK;
}

void plat_close_fd(int fd)
{
	if (fd >= 0)
		close(fd);
}

void plat_stop_self(void)
{
	raise(SIGSTOP);
}

int plat_file_id(int fd, uint64_t *dev, uint64_t *ino)
{
	struct stat st;
	*dev = *ino = 0;
	if (fd < 0 || fstat(fd, &st) < 0)
		return VMSHM_ENOTSUP;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	return 0;
}

uint64_t plat_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t plat_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t plat_wall_coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void plat_yield(void)
{
	sched_yield();
}

void plat_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void plat_sleep_us(unsigned us)
{
	struct timespec ts = {us / 1000000u, (long)(us % 1000000u) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void plat_random(void *buf, size_t len)
{
	if (getrandom(buf, len, 0) == (ssize_t)len)
		return;
	uint64_t x = plat_now_ns() ^ ((uint64_t)getpid() << 32);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		((uint8_t *)buf)[i] = (uint8_t)x;
	}
}

_Static_assert(sizeof(pthread_mutex_t) <= sizeof(((plat_lock *)0)->impl), "lock size");

void plat_lock_init(plat_lock *l)
{
	pthread_mutex_init((pthread_mutex_t *)l->impl, NULL);
}

void plat_lock_take(plat_lock *l)
{
	pthread_mutex_lock((pthread_mutex_t *)l->impl);
}

void plat_lock_give(plat_lock *l)
{
	pthread_mutex_unlock((pthread_mutex_t *)l->impl);
}

_Atomic uint64_t plat_forks;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void in_child(void)
{
	atomic_fetch_add(&plat_forks, 1);
}

static void fork_register(void)
{
	pthread_atfork(NULL, NULL, in_child);
}

static _Atomic int fork_registered;

uint64_t plat_fork_epoch(void)
{
	/* Called on every call of the library: one load once registered. */
	if (!atomic_load_explicit(&fork_registered, memory_order_acquire)) {
		pthread_once(&fork_once, fork_register);
		atomic_store_explicit(&fork_registered, 1, memory_order_release);
	}
	return atomic_load_explicit(&plat_forks, memory_order_relaxed);
}

/* The futex word is the low half of a 64-bit pool word (little-endian). */
int plat_futex_wait(_Atomic uint64_t *word, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, val, &ts, NULL, 0) == 0)
		return 0;
	return errno == ENOSYS ? VMSHM_ENOTSUP : 0;
}

void plat_futex_wake(_Atomic uint64_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

uint32_t plat_thread_id(void)
{
	static _Thread_local uint32_t tid;
	if (!tid)
		tid = (uint32_t)syscall(SYS_gettid);
	return tid;
}

/* plat_tls: the values live in a thread-local array (platform.h: get and
 * set are inline); the pthread key only runs the destructor at a thread's
 * exit, and is set once per thread, the first time a value is set. */
static void (*tls_dtor[PLAT_TLS_MAX])(void *);
static pthread_key_t tls_key[PLAT_TLS_MAX];
static _Atomic unsigned tls_n;
_Thread_local void *plat_tls_val[PLAT_TLS_MAX];
_Thread_local unsigned char plat_tls_armed[PLAT_TLS_MAX];

static void tls_exit(void *arg)
{
	unsigned k = (unsigned)(uintptr_t)arg - 1;
	void *v = plat_tls_val[k];
	plat_tls_val[k] = NULL;
	if (v)
		tls_dtor[k](v);
}

int plat_tls_new(plat_tls *t, void (*dtor)(void *))
{
	unsigned k = atomic_fetch_add(&tls_n, 1);
	if (k >= PLAT_TLS_MAX)
		return -1;
	tls_dtor[k] = dtor;
	if (pthread_key_create(&tls_key[k], tls_exit) != 0)
		return -1;
	t->key = k;
	return 0;
}

void plat_tls_arm(unsigned k)
{
	plat_tls_armed[k] = 1;
	pthread_setspecific(tls_key[k], (void *)(uintptr_t)(k + 1));
}

void plat_on_fork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	pthread_atfork(prepare, parent, child);
}

void plat_once(void (*fn)(void))
{
	/* One pthread_once per distinct function is enough for the library. */
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	static void (*done[8])(void);
	pthread_mutex_lock(&m);
	for (int i = 0; i < 8; i++) {
		if (done[i] == fn)
			break;
		if (!done[i]) {
			done[i] = fn;
			fn();
			break;
		}
	}
	pthread_mutex_unlock(&m);
}

void plat_at_exit(void (*fn)(void))
{
	atexit(fn);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void plat_prefault(void *addr, uint64_t len)
{
	if (madvise(addr, (size_t)len, MADV_POPULATE_WRITE) == 0)
		return;
	/* Older kernels, or device memory: touch each page with a write that
	 * changes nothing (an atomic OR of zero). */
	long page = sysconf(_SC_PAGESIZE);
	for (uint64_t off = 0; off < len; off += (uint64_t)page)
		atomic_fetch_or((_Atomic uint64_t *)((char *)addr + off), 0);
}

const char *plat_getenv(const char *name)
{
	return getenv(name);
}

void plat_debug(const char *msg)
{
	fprintf(stderr, "vmshm: %s\n", msg);
}
