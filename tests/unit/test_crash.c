/*
 * test_crash.c - processes killed with SIGKILL at random moments of
 * create/open/close loops, hundreds of times, while one long-lived process
 * holds objects with known contents. After reclaim the check is clean,
 * nothing leaks, and the survivor's bytes are intact.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aw.h"

enum { LOOPERS = 3, KILLS = 1000, CHURN_NAMES = 6, KEEP = 3 };
static const DWORD keep_size[KEEP] = {3 * 4096 + 5, 20000, 1u << 20};

struct crash {
	_Atomic int survivor_ready, survivor_go, survivor_result, survivor_closed;
	_Atomic long iterations, creates, opens, busy;
	_Atomic long unexpected;
	_Atomic DWORD last_unexpected;
	_Atomic int last_op;
	_Atomic long not_zeroed;
};

static void note(struct crash *c, int op, DWORD err)
{
	c->unexpected++;
	c->last_unexpected = err;
	c->last_op = op;
}

static void survivor(struct crash *c)
{
	HANDLE h[KEEP];
	void *loc[KEEP];
	int ok = 1;

	for (int i = 0; i < KEEP; i++) {
		char name[32];

		snprintf(name, sizeof name, "keep-%d", i);
		h[i] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, keep_size[i], name, &loc[i]);
		if (!h[i] || GetLastError() != 0)
			_exit(2);
		pattern_fill(loc[i], keep_size[i], 500 + (uint32_t)i);
	}
	c->survivor_ready = 1;
	for (uint64_t end = now_ms() + 170000; !c->survivor_go; usleep(1000))
		if (now_ms() > end)
			_exit(3);
	for (int i = 0; i < KEEP; i++)
		if (!pattern_ok(loc[i], keep_size[i], 500 + (uint32_t)i))
			ok = 0;
	c->survivor_result = ok ? 1 : 2;
	for (int i = 0; i < KEEP; i++)
		if (!RtCloseHandle(h[i]))
			c->survivor_result = 3;
	c->survivor_closed = 1;
	_exit(0);
}

static void looper(struct crash *c, uint64_t seed)
{
	HANDLE held[8];
	int nheld = 0;

	for (;;) {
		char name[32];
		void *l = NULL;
		HANDLE h;
		DWORD e, size = 1 + (DWORD)(rnd_next(&seed) % (3 * 4096));
		int op = (int)(rnd_next(&seed) % 4);

		snprintf(name, sizeof name, "churn-%d", (int)(rnd_next(&seed) % CHURN_NAMES));
		c->iterations++;
		if (op <= 1) {
			const char *n = op == 1 && rnd_next(&seed) % 4 == 0 ? NULL : name;

			h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, size, n, &l);
			e = GetLastError();
			c->creates++;
			if (h && e == 0) {
				if (!all_zero(l, size))
					c->not_zeroed++;
				memset(l, 0xc5, size);
			} else if (!h && e == ERROR_BUSY) {
				c->busy++;
			} else if (!(h && e == ERROR_ALREADY_EXISTS) &&
				   !(!h && e == ERROR_INVALID_PARAMETER)) {
				note(c, 1, e);
			}
		} else if (op == 2) {
			h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &l);
			e = GetLastError();
			c->opens++;
			if (!h && e == ERROR_BUSY)
				c->busy++;
			else if (!(h && e == 0) && !(!h && e == ERROR_FILE_NOT_FOUND))
				note(c, 2, e);
		} else {
			h = NULL;
			if (nheld > 0) {
				int i = (int)(rnd_next(&seed) % (uint64_t)nheld);

				if (!RtCloseHandle(held[i]))
					note(c, 3, GetLastError());
				held[i] = held[--nheld];
			}
		}
		if (h) {
			if (nheld == 8) {
				if (!RtCloseHandle(held[0]))
					note(c, 3, GetLastError());
				held[0] = held[--nheld];
			}
			held[nheld++] = h;
		}
	}
}

static pid_t spawn_looper(void *arg, uint64_t seed)
{
	struct crash *c = arg;
	pid_t pid = spawn_child();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		looper(c, seed);
	return pid;
}

struct keep_sum {
	int keep, others;
	uint64_t bytes;
	uint64_t holders_or;
	int not_live;
};

static int sum_keep(const struct vmshm_objinfo *o, void *arg)
{
	struct keep_sum *s = arg;

	if (o->named && strncmp(o->name, "keep-", 5) == 0) {
		s->keep++;
		s->bytes += o->pages * VMSHM_PAGE_SIZE;
		s->holders_or |= o->holders;
		s->not_live += o->state != VMSHM_OBJ_LIVE;
	} else {
		s->others++;
		fprintf(stderr, "crash: left over: slot %u '%s' state %s holders 0x%llx\n", o->slot,
			o->name, vmshm_obj_state_name(o->state), (unsigned long long)o->holders);
	}
	return 0;
}

Test(crash, sigkill_loops, .init = tp_setup, .fini = tp_teardown, .timeout = 240)
{
	struct crash *c = shared_area(sizeof *c);
	pid_t surv;
	uint64_t rnd = 0x5eed0000ull ^ (uint64_t)getpid(), t0 = now_ms();
	vmshm_pool *p;
	char why[256] = "";
	struct vmshm_stats st;
	struct keep_sum ks = {0};
	uint64_t surv_mask;
	int rc;

	surv = spawn_child();
	cr_assert_geq(surv, 0);
	if (surv == 0)
		survivor(c);
	for (uint64_t end = now_ms() + 30000; !c->survivor_ready && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(c->survivor_ready, 1, "the survivor did not start");

	kill_loopers(LOOPERS, KILLS, 3000, &rnd, spawn_looper, c);
	fprintf(stderr,
		"crash: %d kills in %.1f s; %ld iterations, %ld creates, %ld opens, %ld busy\n",
		KILLS, (double)(now_ms() - t0) / 1000, (long)c->iterations, (long)c->creates,
		(long)c->opens, (long)c->busy);
	cr_expect_eq(c->unexpected, 0, "%ld unexpected results, last: op %d error %u",
		     (long)c->unexpected, c->last_op, (unsigned)c->last_unexpected);
	cr_expect_eq(c->not_zeroed, 0, "%ld creates got memory that was not zero",
		     (long)c->not_zeroed);
	cr_assert_gt(c->iterations, KILLS, "the loops barely ran");

	/* Reclaim, then the check must be clean and only the survivor's left. */
	rc = vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "attach after the kills: %d %s", rc, why);
	rc = vmshm_reclaim(p);
	cr_assert_geq(rc, 0, "vmshm_reclaim: %d", rc);
	cr_assert_eq(check_pool(p, "crash"), 0, "faults after reclaim");
	cr_assert_geq(vmshm_list(p, sum_keep, &ks), 0);
	cr_assert_eq(ks.others, 0, "%d objects besides the survivor's", ks.others);
	cr_assert_eq(ks.keep, KEEP);
	cr_assert_eq(ks.not_live, 0);
	surv_mask = tp_peer_mask(surv);
	cr_assert_neq(surv_mask, 0, "the survivor's peer entry is gone");
	cr_assert_eq(ks.holders_or, surv_mask, "holders 0x%llx, expected the survivor 0x%llx",
		     (unsigned long long)ks.holders_or, (unsigned long long)surv_mask);
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.peers, 2, "%u peers, expected the survivor and this one", st.peers);
	cr_assert_eq(st.used_bytes, ks.bytes);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes - ks.bytes,
		     "free %llu, expected %llu: %lld bytes leaked",
		     (unsigned long long)st.free_bytes,
		     (unsigned long long)(tp.empty.free_bytes - ks.bytes),
		     (long long)(tp.empty.free_bytes - ks.bytes - st.free_bytes));
	for (int i = 0; i < KEEP; i++) {
		vmshm_ref ref;
		char name[32];

		snprintf(name, sizeof name, "keep-%d", i);
		cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, name, &ref), 0);
		cr_assert_eq(ref.size, keep_size[i]);
		cr_assert(pattern_ok(ref.addr, keep_size[i], 500 + (uint32_t)i),
			  "%s: bytes changed", name);
		cr_assert_eq(vmshm_close(p, &ref), 0);
	}

	/* The survivor checks its own bytes and closes: the pool is empty. */
	c->survivor_go = 1;
	rc = wait_child(surv);
	cr_assert_eq(rc, 0, "the survivor ended with %d", rc);
	cr_assert_eq(c->survivor_result, 1, "the survivor found its bytes changed (%d)",
		     c->survivor_result);
	cr_assert_eq(vmshm_reclaim(p), 1, "the survivor's peer entry was not reclaimed");
	assert_pool_empty(p, 1, "crash, end");
	vmshm_detach(p);
	shared_area_free(c, sizeof *c);
}
