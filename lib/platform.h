/*
 * platform.h - the small OS layer under libvmshm. Everything that differs
 * between Linux and Windows lives behind these calls: process identity and
 * liveness, thread-local error, time, a process-local lock, fork handling.
 * platform_posix.c implements it for Linux, platform_win32.c for Windows.
 */
#ifndef VMSHM_PLATFORM_H
#define VMSHM_PLATFORM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Who this process is, as recorded in its peer entry. */
struct plat_ident {
	uint32_t os; /* VMSHM_OS_LINUX or VMSHM_OS_WINDOWS */
	uint64_t pid;
	uint64_t start_time; /* Linux: starttime of /proc/PID/stat (clock ticks since boot);
			      * Windows: process creation FILETIME */
	uint8_t boot_id[16]; /* identity of this OS instance (one per VM boot) */
	char comm[16];       /* short program name, NUL-terminated */
	int foreign;         /* VMSHM_TEST_BOOT_ID: stands in for another OS instance */
};

/* Fills ID for the calling process. 0 or a VMSHM_E* code. */
int plat_identity(struct plat_ident *id);

/* Windows' judge of a peer recorded with judge kind "process": is the
 * process with this identity alive? VMSHM_LIVE_YES / NO, or
 * VMSHM_LIVE_UNKNOWN (another OS instance or OS, or any doubt: an
 * OpenProcess failure other than "no such process" is not a NO). A stopped
 * process is alive; a pid reused by another process is NO. On Linux peers
 * are judged by their kernel lock instead, and this returns UNKNOWN. */
int plat_liveness(uint32_t os, uint64_t pid, uint64_t start_time, const uint8_t boot_id[16]);

/* The kernel lock that says "attach I of this OS instance is open" (Linux:
 * an OFD write lock on one byte of the lock file FD, dropped by the kernel
 * when the last descriptor of that open file closes: exit, exec, close).
 * plat_peer_lock: 0 taken, VMSHM_EBUSY held by another open file,
 * VMSHM_ENOTSUP no such lock here. plat_peer_lock_held: 1 held by another
 * open file, 0 not held, < 0 cannot tell. plat_file_id: the file's device
 * and inode numbers (0 or VMSHM_ENOTSUP). Windows: VMSHM_ENOTSUP. */
int plat_peer_lock(int fd, uint32_t index);
void plat_peer_unlock(int fd, uint32_t index);
int plat_peer_lock_held(int fd, uint32_t index);
int plat_file_id(int fd, uint64_t *dev, uint64_t *ino);
/* Closes FD if it is not -1 (the lock file, at detach). */
void plat_close_fd(int fd);
/* Stops the calling process until it is continued (Linux: SIGSTOP); a
 * no-op on Windows. For the tests' VMSHM_TEST_STOP only. */
void plat_stop_self(void);

/* Monotonic nanoseconds; wall-clock nanoseconds since 1970. */
uint64_t plat_now_ns(void);
uint64_t plat_wall_ns(void);
/* Wall-clock nanoseconds to the clock's tick (a few ms), cheaper: for times
 * that are only shown, such as an object's creation time. */
uint64_t plat_wall_coarse_ns(void);
/* Lets another thread or process run (used while a bounded wait spins). */
void plat_yield(void);
void plat_sleep_us(unsigned us);
/* One short pause of a spin-wait loop (the CPU's pause hint). */
void plat_relax(void);

/* Random bytes for pool identities; never fails (falls back to time). */
void plat_random(void *buf, size_t len);

/* A process-local lock (never placed in shared memory). */
typedef struct plat_lock {
	void *impl[8]; /* room for a pthread_mutex_t or an SRWLOCK */
} plat_lock;
void plat_lock_init(plat_lock *l);
void plat_lock_take(plat_lock *l);
void plat_lock_give(plat_lock *l);

/* Counts forks: the child of a fork sees a larger value than its parent
 * saw. Reading it costs no system call. plat_fork_epoch also starts the
 * count (once); plat_fork_epoch_now, one load, is for the calls made after
 * it started (on an attach, which read plat_fork_epoch). */
uint64_t plat_fork_epoch(void);
extern _Atomic uint64_t plat_forks; /* stays 0 where there is no fork */
static inline uint64_t plat_fork_epoch_now(void)
{
	return atomic_load_explicit(&plat_forks, memory_order_relaxed);
}

/* 1 while this process has only the calling thread, and no other thread can
 * appear before the caller makes one: then words that only this process
 * uses need no locked instruction (glibc's __libc_single_threaded, which is
 * set false by the first pthread_create, never set back while threads
 * may run). 0 where it cannot be known (Windows, other C libraries). */
#if defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define PLAT_HAVE_SINGLE_THREADED 1
#endif
#endif
static inline int plat_single_threaded(void)
{
#ifdef PLAT_HAVE_SINGLE_THREADED
	return __libc_single_threaded;
#else
	return 0;
#endif
}

/* Waiting on a 32-bit word of a shared file mapping, across processes of
 * one OS instance (Linux: futex without the private flag).
 * plat_futex_wait: returns when *ADDR != VAL, on a wake, or after TIMEOUT_NS;
 * VMSHM_ENOTSUP where there is no such wait (Windows: the caller polls).
 * plat_futex_wake wakes every waiter on ADDR. */
int plat_futex_wait(_Atomic uint64_t *word, uint32_t val, uint64_t timeout_ns);
void plat_futex_wake(_Atomic uint64_t *word);
/* The calling thread's id (Linux: gettid; Windows: GetCurrentThreadId). */
uint32_t plat_thread_id(void);

/* Registers handlers run around fork() (pthread_atfork): PREPARE in the
 * forking thread before, PARENT and CHILD after. A no-op on Windows. */
void plat_on_fork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* Runs FN once per process, thread-safely (initialisation of globals). */
void plat_once(void (*fn)(void));

/* A thread-local pointer with a destructor run at the exit of each thread
 * whose value is not NULL (pthread keys; fiber-local storage on Windows).
 * plat_tls_new: 0, or -1 when none is left. get and set cost no system call
 * and take no lock. */
typedef struct plat_tls {
	unsigned long key;
} plat_tls;
int plat_tls_new(plat_tls *t, void (*dtor)(void *));
#ifdef _WIN32
void *plat_tls_get(const plat_tls *t);
void plat_tls_set(const plat_tls *t, void *v);
#else
/* POSIX: the values live in a thread-local array, so get and set are
 * inline loads and stores; the first set of a value in a thread arms the
 * destructor (plat_tls_arm, once per thread and key). */
#define PLAT_TLS_MAX 4
extern _Thread_local void *plat_tls_val[PLAT_TLS_MAX];
extern _Thread_local unsigned char plat_tls_armed[PLAT_TLS_MAX];
void plat_tls_arm(unsigned key);
static inline void *plat_tls_get(const plat_tls *t)
{
	return plat_tls_val[t->key];
}
static inline void plat_tls_set(const plat_tls *t, void *v)
{
	plat_tls_val[t->key] = v;
	if (v && !plat_tls_armed[t->key])
		plat_tls_arm((unsigned)t->key);
}
#endif

/* Registers FN to run at normal process exit. */
void plat_at_exit(void (*fn)(void));

/* Maps LEN bytes at ADDR (a shared mapping of the pool) into this process
 * now, writable, so that later accesses take no page fault. Never changes a
 * value (concurrent peers may be writing there). */
void plat_prefault(void *addr, uint64_t len);

/* Environment lookup (getenv / GetEnvironmentVariable); NULL if unset. */
const char *plat_getenv(const char *name);

/* Writes a one-line message to stderr (debug output). */
void plat_debug(const char *msg);

#endif
