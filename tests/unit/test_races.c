/*
 * test_races.c - races between live peers: different names landing on one
 * probe chain at the same instant (a 16-slot directory filled at once), and
 * open/create racing the last close of the same names.
 */
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "aw.h"

enum { CHAIN_PROCS = 8, CHAIN_NAMES = 2 };

struct chain {
	_Atomic int go;
	_Atomic int ok, wrong;
	_Atomic DWORD last_err;
};

/* Every slot of a 16-slot directory taken by 16 creates at once: all
 * succeed, none is lost, every name opens onto its own bytes. */
Test(races, one_chain_many_names, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct chain *c = shared_area(sizeof *c);
	pid_t pid[CHAIN_PROCS];
	uint32_t cap;
	void *loc = NULL;

	tp_remove();
	tp_make(4u << 20, 16);
	cap = tp.empty.object_capacity;
	cr_assert_eq(cap, CHAIN_PROCS * CHAIN_NAMES, "a 16-slot directory has %u slots", cap);
	for (int i = 0; i < CHAIN_PROCS; i++) {
		pid[i] = spawn_child();
		if (pid[i] == 0) {
			HANDLE h[CHAIN_NAMES];
			void *l[CHAIN_NAMES];

			if (proc_barrier(&c->go, CHAIN_PROCS, 30000) < 0)
				_exit(3);
			for (int k = 0; k < CHAIN_NAMES; k++) {
				char name[32];

				snprintf(name, sizeof name, "chain-%d-%d", i, k);
				h[k] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &l[k]);
				if (h[k] && GetLastError() == 0) {
					pattern_fill(l[k], 4096, (uint32_t)(i * 10 + k));
					c->ok++;
				} else {
					c->last_err = GetLastError();
					c->wrong++;
				}
			}
			/* Hold them until the parent has looked. */
			for (;;)
				pause();
		}
	}
	for (uint64_t end = now_ms() + 30000; (uint32_t)(c->ok + c->wrong) < cap && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(c->wrong, 0, "%d creates failed, last error %u", c->wrong,
		     (unsigned)c->last_err);
	cr_assert_eq((uint32_t)c->ok, cap);
	cr_assert_eq(tp_objects(), cap);
	cr_assert_eq(tp_check("one chain"), 0);
	for (int i = 0; i < CHAIN_PROCS; i++)
		for (int k = 0; k < CHAIN_NAMES; k++) {
			char name[32];
			HANDLE h;

			snprintf(name, sizeof name, "chain-%d-%d", i, k);
			h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, name, &loc);
			assert_ok(h, 0, name);
			cr_assert(pattern_ok(loc, 4096, (uint32_t)(i * 10 + k)), "%s: other bytes",
				  name);
			cr_assert(RtCloseHandle(h));
		}
	/* Full: one more name fails cleanly. */
	assert_fails(RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "one-more", &loc),
		     ERROR_NOT_ENOUGH_MEMORY, "create in a full 16-slot directory");
	for (int i = 0; i < CHAIN_PROCS; i++) {
		kill(pid[i], SIGKILL);
		wait_child(pid[i]);
	}
	shared_area_free(c, sizeof *c);
}

enum { CHURN_PROCS = 4, CHURN_MS = 3000, TOKENS = 64 * CHURN_PROCS };

struct churn {
	_Atomic int go;
	_Atomic long creates0, creates183, opens0, opens2, closes;
	_Atomic long wrong, not_zeroed, stale_bytes;
	_Atomic DWORD last_err;
	_Atomic int last_op;
};

/* Create, open and close of two names from four processes for 3 s: every
 * result is one the rules allow, every new object is zeroed (so no create
 * ever joins an object past its last close), a held object never changes
 * under its holder, and nothing is left at the end. */
Test(races, churn_against_last_close, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	struct churn *c = shared_area(sizeof *c);
	pid_t pid[CHURN_PROCS];
	struct vmshm_stats st;

	for (int i = 0; i < CHURN_PROCS; i++) {
		pid[i] = spawn_child();
		if (pid[i] == 0) {
			uint64_t rnd = 0x1234567ull * (uint64_t)(i + 1), end;

			if (proc_barrier(&c->go, CHURN_PROCS, 30000) < 0)
				_exit(3);
			end = now_ms() + CHURN_MS;
			while (now_ms() < end) {
				const char *name = rnd_next(&rnd) % 2 ? "churn-a" : "churn-b";
				void *l = NULL;
				HANDLE h;
				DWORD e;

				if (rnd_next(&rnd) % 2) {
					h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 8192, name,
								  &l);
					e = GetLastError();
					if (h && e == 0) {
						/* The words before TOKENS are the
						 * holders' tokens (others may already
						 * write theirs); the rest is written
						 * by the object's creator only. */
						c->creates0++;
						if (!all_zero((char *)l + TOKENS, 8192 - TOKENS))
							c->not_zeroed++;
						memset((char *)l + TOKENS, 0x5a, 8192 - TOKENS);
					} else if (h && e == ERROR_ALREADY_EXISTS) {
						c->creates183++;
					} else {
						c->wrong++;
						c->last_err = e;
						c->last_op = 1;
						continue;
					}
				} else {
					h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name,
								&l);
					e = GetLastError();
					if (!h && e == ERROR_FILE_NOT_FOUND) {
						c->opens2++;
						continue;
					}
					if (!h || e != 0) {
						c->wrong++;
						c->last_err = e;
						c->last_op = 2;
						continue;
					}
					c->opens0++;
				}
				/* While held, the object stays: a token written
				 * into this process's own word survives a yield
				 * (a destroyed and re-created object would be
				 * zero-filled under it). Cleared before close. */
				{
					volatile uint64_t *word = (uint64_t *)l + 8 * i;
					uint64_t token =
					    (uint64_t)getpid() << 32 | (uint64_t)c->closes;

					*word = token;
					sched_yield();
					if (*word != token)
						c->stale_bytes++;
					*word = 0;
				}
				if (!RtCloseHandle(h)) {
					c->wrong++;
					c->last_err = GetLastError();
					c->last_op = 3;
				}
				c->closes++;
			}
			_exit(0);
		}
	}
	for (int i = 0; i < CHURN_PROCS; i++)
		cr_expect_eq(wait_child(pid[i]), 0);
	fprintf(stderr, "churn: %ld new, %ld existing, %ld opened, %ld not found, %ld closes\n",
		(long)c->creates0, (long)c->creates183, (long)c->opens0, (long)c->opens2,
		(long)c->closes);
	cr_assert_eq(c->wrong, 0, "%ld results outside the rules, last: op %d error %u",
		     (long)c->wrong, c->last_op, (unsigned)c->last_err);
	cr_assert_eq(c->not_zeroed, 0, "%ld new objects were not zero-filled", (long)c->not_zeroed);
	cr_assert_eq(c->stale_bytes, 0, "%ld times a held object changed under its holder",
		     (long)c->stale_bytes);
	cr_assert_gt(c->creates0, 10, "the names were hardly ever re-created");
	cr_assert_gt(c->opens0, 10);
	cr_assert_gt(c->opens2, 10);
	st = tp_stats();
	cr_assert_eq(st.objects, 0, "%u objects left", st.objects);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	shared_area_free(c, sizeof *c);
}
