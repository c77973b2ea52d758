/*
 * helpers.h - shared code of the vmshm unit tests: a private pool per test,
 * snapshots of a pool for "nothing changed" checks, UTF-8 to UTF-16 for the
 * W calls, and a results area shared with forked children.
 *
 * Every test runs in its own process (Criterion forks one per test). The
 * RtApi layer attaches its pool once per process, at its first call, so a
 * test that uses RtApi calls sets VMSHM_POOL before its first call (the
 * fixture tp_setup does) and never shares its process with another test.
 */
#ifndef VMSHM_TEST_HELPERS_H
#define VMSHM_TEST_HELPERS_H

#include <stdatomic.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "RtApi.h"
#include "vmshm.h"

#define TP_DEFAULT_SIZE  (16ull << 20)
#define SNAP_MAX_OBJECTS 64

/* The pool of the running test. */
struct tpool {
	char path[128];
	uint64_t size;
	struct vmshm_stats empty; /* statistics of the pool right after creation */
};
extern struct tpool tp;

/* Creates a pool file of SIZE bytes with room for OBJECTS objects (0: the
 * default) under /dev/shm with a name unique to this process, records its
 * empty statistics and sets VMSHM_POOL to it. Fails the test on error. */
void tp_make(uint64_t size, uint32_t objects);
/* Removes the pool file (if any). */
void tp_remove(void);
/* Criterion fixtures: a default pool (16 MiB, default capacity). */
void tp_setup(void);
void tp_teardown(void);

/* Writes / reads LEN bytes of the pool file at OFF, behind the library's
 * back (to damage or inspect the format). Fail the test on error. */
void tp_poke(uint64_t off, const void *bytes, size_t len);
void tp_peek(uint64_t off, void *bytes, size_t len);

/* Statistics of the current pool through an observer attach. */
struct vmshm_stats tp_stats(void);

/* Everything a test may compare before and after a call that must change
 * nothing: statistics and every object (slot, generation, state, holders). */
struct snap_obj {
	uint32_t slot, gen;
	int type, state, named;
	uint64_t size, offset, pages, holders;
	uint32_t protect;
	char name[VMSHM_NAME_MAX_BYTES + 1];
};
struct snapshot {
	struct vmshm_stats st;
	unsigned nobj;
	struct snap_obj obj[SNAP_MAX_OBJECTS];
	int truncated;
};
void snap_take(struct snapshot *s);
/* Fails the test (with WHAT in the message) if A and B differ. */
void snap_assert_same(const struct snapshot *a, const struct snapshot *b, const char *what);

/* Observer-attached look at one named object: 1 found (INFO filled), 0 not. */
int tp_find(const char *utf8, struct vmshm_objinfo *info);
/* Number of objects, through an observer attach. */
uint32_t tp_objects(void);
/* Runs vmshm_check through an observer attach; prints each fault to stderr
 * with the prefix WHO. Returns the number of faults (< 0 on error). */
int tp_check(const char *who);
int check_pool(vmshm_pool *p, const char *who);
/* Fails the test (WHO in the message) unless the pool P is as it was made:
 * no object, PEERS peer entries, all the space free in one run, no fault. */
void assert_pool_empty(vmshm_pool *p, uint32_t peers, const char *who);

/* The peer indices (bit mask) of peers whose pid is PID. */
uint64_t tp_peer_mask(pid_t pid);
/* Writes into OUT (LEN bytes) a name PREFIX-N whose home slot in P's pool is
 * SLOT. */
void tp_name_homed_at(vmshm_pool *p, uint32_t slot, const char *prefix, char *out, size_t len);

/* Makes the RtApi layer attach (an open of a name that does not exist). */
void rt_warm(void);

/* UTF-8 (valid) to a NUL-terminated UTF-16 string in a static rotating
 * buffer (8 buffers of 4096 units per thread); the W calls of the tests use it. */
const WCHAR *w16(const char *utf8);
/* Length in code units of a UTF-16 string. */
size_t w16len(const WCHAR *s);

/* The A and W calls behind one switch, for tests written once for both. */
enum { MODE_A = 0, MODE_W = 1 };
HANDLE rt_create(int mode, DWORD prot, DWORD high, DWORD low, const char *utf8, void **loc);
HANDLE rt_open(int mode, DWORD access, const char *utf8, void **loc);

/* Fills LEN bytes at P with a pattern derived from SEED; checks it. */
void pattern_fill(void *p, size_t len, uint32_t seed);
int pattern_ok(const void *p, size_t len, uint32_t seed);
/* 1 if LEN bytes at P are all zero. */
int all_zero(const void *p, size_t len);

/* A MAP_SHARED anonymous mapping that survives fork (results of children). */
void *shared_area(size_t len);
void shared_area_free(void *p, size_t len);

/* A barrier for N processes on a counter in a shared area. Returns 0, or -1
 * after TIMEOUT_MS (the caller reports it and _exit()s). */
int proc_barrier(_Atomic int *counter, int n, int timeout_ms);

/* fork() for tests: the child dies with the test process (a stopped or
 * looping child never outlives a failed test), and tp_teardown kills and
 * reaps every child the test did not wait for. Returns 0 in the child. */
pid_t spawn_child(void);
/* SIGKILLs and reaps every child of spawn_child() not yet waited for. */
void reap_children(void);
/* Waits for PID; returns its exit code, or 128 + signal, or -1. */
int wait_child(pid_t pid);

/* Starts N (at most 16) looper processes with SPAWN(ARG, seed) and SIGKILLs
 * one at random KILLS times, after up to MAX_GAP_US each, starting another
 * in its place; then kills and reaps them all. Fails the test if a looper
 * ended by itself. */
void kill_loopers(int n, int kills, unsigned max_gap_us, uint64_t *rnd,
		  pid_t (*spawn)(void *arg, uint64_t seed), void *arg);

/* Monotonic milliseconds. */
uint64_t now_ms(void);

/* xorshift64* random numbers, seeded per test. */
uint64_t rnd_next(uint64_t *state);

/* A program a test started (proc_start), with its standard output. */
struct proc {
	pid_t pid;
	FILE *out;
};
/* The vmshm-test-helper program beside the test binary. */
const char *helper_path(void);
/* Starts ARGV (NULL-terminated; "@" stands for the helper's path) as a
 * spawn_child() with its standard output on a pipe; ENV_KV ("NAME=value",
 * or NULL) is added to its environment. */
struct proc proc_start(const char *const *argv, const char *env_kv);
/* Reads P's next output line into BUF (no newline): 0, or -1 at its end. */
int proc_line(struct proc *p, char *buf, size_t len);
/* Fails the test unless P's next line is "held". */
void proc_expect_held(struct proc *p);
/* SIGKILLs P and reaps it. */
void proc_finish(struct proc *p);
/* Runs ARGV to its end, checks exit 0; returns its output (static). */
const char *proc_run(const char *const *argv, const char *env_kv);
/* An attach of the test's pool that reclaims nothing by itself. */
vmshm_pool *tp_attach_quiet(void);
/* Reclaims until COUNT peers are, for up to 5 s; returns how many. */
int tp_reclaim_until(vmshm_pool *p, int count);
#endif
