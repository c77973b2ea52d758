/*
 * test_procs.c - several processes on one pool: the 16-process create race,
 * fork (the child is another peer), reclaim of a killed holder, a stopped
 * holder that must not be reclaimed, and normal exit closing handles.
 *
 * Forked children only _exit(): they report through a shared anonymous
 * mapping and the parent asserts.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aw.h"

/* ---- 16 processes race to create and open the same 100 names ---------- */

enum { PROCS = 16, NAMES = 100, OBJSIZE = 6000 };

struct race {
	_Atomic int start, created, verified;
	_Atomic int creator[NAMES]; /* child that saw 0, -1 none */
	_Atomic int zero[NAMES], exist[NAMES], other[NAMES];
	_Atomic int bad_bytes, bad_open, bad_close, dup_creator, not_zeroed, timeouts;
	_Atomic DWORD other_err;
};

static void race_child(struct race *r, int id)
{
	HANDLE h[NAMES];
	void *loc[NAMES];
	int backwards = id % 2, wide = (id / 2) % 2;

	if (proc_barrier(&r->start, PROCS, 30000) < 0) {
		r->timeouts++;
		_exit(3);
	}
	for (int i = 0; i < NAMES; i++) {
		int k = backwards ? NAMES - 1 - i : i;
		char name[32];
		DWORD e;

		snprintf(name, sizeof name, "race-%03d", k);
		SetLastError(12345);
		h[k] = wide ? RtCreateSharedMemoryW(PAGE_READWRITE, 0, OBJSIZE, w16(name), &loc[k])
			    : RtCreateSharedMemoryA(PAGE_READWRITE, 0, OBJSIZE, name, &loc[k]);
		e = GetLastError();
		if (h[k] && e == 0) {
			int none = -1;

			r->zero[k]++;
			if (!atomic_compare_exchange_strong(&r->creator[k], &none, id))
				r->dup_creator++;
			if (!all_zero(loc[k], OBJSIZE))
				r->not_zeroed++;
			pattern_fill(loc[k], OBJSIZE, (uint32_t)(k * 1000 + id));
		} else if (h[k] && e == ERROR_ALREADY_EXISTS) {
			r->exist[k]++;
		} else {
			r->other[k]++;
			r->other_err = e;
			h[k] = NULL;
		}
	}
	if (proc_barrier(&r->created, PROCS, 60000) < 0) {
		r->timeouts++;
		_exit(3);
	}
	for (int k = 0; k < NAMES; k++) {
		char name[32];
		void *l = NULL;
		HANDLE o;
		int c = r->creator[k];

		if (!h[k])
			continue;
		if (c < 0 || !pattern_ok(loc[k], OBJSIZE, (uint32_t)(k * 1000 + c)))
			r->bad_bytes++;
		snprintf(name, sizeof name, "race-%03d", k);
		o = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, name, &l);
		if (!o || GetLastError() != 0) {
			r->bad_open++;
			continue;
		}
		if (c < 0 || !pattern_ok(l, OBJSIZE, (uint32_t)(k * 1000 + c)))
			r->bad_bytes++;
		if (!RtCloseHandle(o))
			r->bad_close++;
	}
	if (proc_barrier(&r->verified, PROCS, 60000) < 0) {
		r->timeouts++;
		_exit(3);
	}
	for (int k = 0; k < NAMES; k++)
		if (h[k] && (!RtCloseHandle(h[k]) || GetLastError() != 0))
			r->bad_close++;
	_exit(0);
}

struct fault_count {
	int total, peer_dead;
};

static void count_fault(const struct vmshm_fault *f, void *arg)
{
	struct fault_count *c = arg;

	c->total++;
	if (f->code == VMSHM_FAULT_PEER_DEAD)
		c->peer_dead++;
	else
		fprintf(stderr, "fault %s at %u: %s\n", vmshm_fault_name(f->code), f->where,
			f->what);
}

Test(procs, race_16_processes_100_names, .init = tp_setup, .fini = tp_teardown, .timeout = 180)
{
	struct race *r = shared_area(sizeof *r);
	pid_t pid[PROCS];
	struct vmshm_stats st;
	struct fault_count fc = {0, 0};
	vmshm_pool *p;
	char why[256] = "";
	int rc;

	for (int k = 0; k < NAMES; k++)
		r->creator[k] = -1;
	for (int i = 0; i < PROCS; i++) {
		pid[i] = spawn_child();
		cr_assert_geq(pid[i], 0, "fork: %s", strerror(errno));
		if (pid[i] == 0)
			race_child(r, i);
	}
	for (int i = 0; i < PROCS; i++) {
		rc = wait_child(pid[i]);
		cr_expect_eq(rc, 0, "child %d ended with %d", i, rc);
	}
	cr_assert_eq(r->timeouts, 0, "children timed out at a barrier");
	for (int k = 0; k < NAMES; k++) {
		cr_expect_eq(r->zero[k], 1, "race-%03d: %d creators (error 0)", k, r->zero[k]);
		cr_expect_eq(r->exist[k], PROCS - 1, "race-%03d: %d saw 183", k, r->exist[k]);
		cr_expect_eq(r->other[k], 0, "race-%03d: %d other results (last error %u)", k,
			     r->other[k], (unsigned)r->other_err);
	}
	cr_assert_eq(r->dup_creator, 0);
	cr_assert_eq(r->not_zeroed, 0, "%d creators got memory that was not zero", r->not_zeroed);
	cr_assert_eq(r->bad_bytes, 0, "%d views showed other bytes than the creator's",
		     r->bad_bytes);
	cr_assert_eq(r->bad_open, 0, "%d opens failed", r->bad_open);
	cr_assert_eq(r->bad_close, 0, "%d closes failed", r->bad_close);

	/* All closed: nothing left, before any reclaim. */
	st = tp_stats();
	cr_assert_eq(st.objects, 0, "%u objects left after every handle closed", st.objects);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes, "%lld bytes not returned",
		     (long long)(tp.empty.free_bytes - st.free_bytes));
	cr_assert_eq(st.largest_free, tp.empty.largest_free, "free space not coalesced");

	/* The children _exit()ed without detaching: their peer entries are the
	 * only faults before a reclaim, and none after. */
	rc = vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &p, why,
			  sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	rc = vmshm_check(p, count_fault, &fc);
	vmshm_detach(p);
	cr_assert_eq(rc, fc.total);
	cr_assert_eq(fc.total, fc.peer_dead, "%d faults besides dead peers",
		     fc.total - fc.peer_dead);
	cr_assert_eq(fc.peer_dead, PROCS, "%d dead peers reported, %d children exited",
		     fc.peer_dead, PROCS);
	rc = vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	rc = vmshm_reclaim(p);
	cr_assert_eq(rc, PROCS, "vmshm_reclaim reclaimed %d peers, %d children exited", rc, PROCS);
	cr_assert_eq(check_pool(p, "race"), 0, "faults after reclaim");
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.peers, 1, "%u peers after reclaim, expected this one", st.peers);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	vmshm_detach(p);
	shared_area_free(r, sizeof *r);
}

/* ---- fork: the child is another peer ---------------------------------- */

struct forkres {
	_Atomic int step;
	DWORD close_ok, close_err, query_ok, query_err, open_err, bytes_ok, close2_ok, create_err;
	int open_ok;
};

Test(procs, fork_child_is_another_peer, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct forkres *fr = shared_area(sizeof *fr);
	void *l1 = NULL, *l2 = NULL;
	HANDLE h, h2;
	pid_t pid;
	struct vmshm_objinfo info;
	uint64_t mine;
	vmshm_pool *p;
	char why[256] = "";
	int rc;

	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 8192, "forked", &l1);
	assert_ok(h, 0, "create");
	pattern_fill(l1, 8192, 1);
	h2 = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "forked", &l2);
	assert_ok(h2, 0, "open");
	mine = tp_peer_mask(getpid());
	cr_assert_neq(mine, 0, "no peer entry for this process");

	pid = spawn_child();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		SHARED_MEMORY_INFO qi;
		void *l = NULL, *lc = NULL;
		HANDLE o, c;

		SetLastError(0);
		fr->close_ok = (DWORD)RtCloseHandle(h);
		fr->close_err = GetLastError();
		SetLastError(0);
		fr->query_ok = (DWORD)RtQuerySharedMemory(h2, &qi);
		fr->query_err = GetLastError();
		o = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "forked", &l);
		fr->open_err = GetLastError();
		fr->open_ok = o != NULL;
		if (o) {
			fr->bytes_ok = (DWORD)pattern_ok(l, 8192, 1);
			((unsigned char *)l)[0] = 0xab;
			fr->close2_ok = (DWORD)RtCloseHandle(o);
		}
		c = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "child-own", &lc);
		fr->create_err = c ? GetLastError() : 0xffffffffu;
		fr->step = 1;
		_exit(0);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(fr->step, 1);
	cr_expect_eq(fr->close_ok, 0, "the child closed an inherited handle");
	cr_expect_eq(fr->close_err, ERROR_INVALID_HANDLE, "child close: %u",
		     (unsigned)fr->close_err);
	cr_expect_eq(fr->query_ok, 0, "the child queried an inherited handle");
	cr_expect_eq(fr->query_err, ERROR_INVALID_HANDLE);
	cr_expect(fr->open_ok, "the child could not open the name: %u", (unsigned)fr->open_err);
	cr_expect_eq(fr->open_err, 0);
	cr_expect(fr->bytes_ok, "the child saw other bytes");
	cr_expect(fr->close2_ok, "the child could not close its own handle");
	cr_expect_eq(fr->create_err, 0, "child create: %u", (unsigned)fr->create_err);

	/* The parent's references are intact; the child's write is seen. */
	cr_assert_eq(tp_find("forked", &info), 1, "the child's close dropped the object");
	cr_assert_eq(info.holders, mine, "holders 0x%llx, expected 0x%llx",
		     (unsigned long long)info.holders, (unsigned long long)mine);
	cr_assert_eq(((unsigned char *)l1)[0], 0xab);
	{
		static unsigned char want[8192];

		pattern_fill(want, sizeof want, 1);
		cr_assert_eq(memcmp((char *)l2 + 1, want + 1, 8191), 0, "bytes after 0 changed");
	}
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(tp_find("forked", &info), 1, "one close dropped both references");
	cr_assert(RtCloseHandle(h2));
	cr_assert_eq(tp_find("forked", &info), 0);

	/* What the child left open is dropped by reclaim, not before. */
	cr_assert_eq(tp_find("child-own", &info), 1);
	rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	cr_assert_eq(tp_find("child-own", &info), 0, "attach did not reclaim the dead child");
	cr_assert_eq(check_pool(p, "fork"), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	shared_area_free(fr, sizeof *fr);
}

/* ---- reclaim of a process killed while holding handles ------------------ */

struct holder {
	_Atomic int ready;
	int create_fail;
};

/* A child that creates "only-child", "both" and an unnamed object, then waits. */
static pid_t spawn_holder(struct holder *hd)
{
	pid_t pid = spawn_child();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		void *l = NULL;
		HANDLE h;

		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 10000, "only-child", &l);
		if (!h || GetLastError())
			hd->create_fail++;
		else
			pattern_fill(l, 10000, 71);
		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 20000, "both", &l);
		if (!h || GetLastError())
			hd->create_fail++;
		else
			pattern_fill(l, 20000, 72);
		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 5000, NULL, &l);
		if (!h || GetLastError())
			hd->create_fail++;
		hd->ready = 1;
		for (;;)
			pause();
	}
	for (uint64_t end = now_ms() + 30000; !hd->ready && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(hd->ready, 1, "the holder did not start");
	cr_assert_eq(hd->create_fail, 0, "the holder's creates failed");
	return pid;
}

static void kill_and_wait(pid_t pid)
{
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);
}

Test(reclaim, killed_holder, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct holder *hd = shared_area(sizeof *hd);
	vmshm_pool *p;
	vmshm_ref both;
	struct vmshm_objinfo info;
	struct vmshm_stats st;
	char why[256] = "";
	pid_t pid;
	int rc, self;

	pid = spawn_holder(hd);
	rc = vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	self = vmshm_self(p);
	cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, "both", &both), 0);
	cr_assert_eq(tp_objects(), 3);
	cr_assert_eq(vmshm_reclaim(p), 0, "reclaim took a live holder");
	cr_assert_eq(tp_objects(), 3);

	kill_and_wait(pid);
	rc = vmshm_reclaim(p);
	cr_assert_eq(rc, 1, "vmshm_reclaim reclaimed %d peers, expected 1", rc);
	cr_assert_eq(vmshm_reclaim(p), 0, "a second reclaim found more");

	cr_assert_eq(tp_find("only-child", &info), 0, "an object only the dead held survives");
	cr_assert_eq(tp_find("both", &info), 1, "an object another peer holds was destroyed");
	cr_assert_eq(info.holders, 1ull << self);
	cr_assert(pattern_ok(both.addr, 20000, 72), "the survivor's bytes changed");
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.objects, 1, "%u objects, expected 'both' only", st.objects);
	cr_assert_eq(st.peers, 1);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes - info.pages * VMSHM_PAGE_SIZE);
	cr_assert_eq(check_pool(p, "reclaim"), 0);
	cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, "only-child", &both), VMSHM_ENOENT);
	cr_assert_eq(vmshm_close(p, &both), 0);
	vmshm_detach(p);
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	shared_area_free(hd, sizeof *hd);
}

/* Attaching runs the reclaim. */
Test(reclaim, at_attach, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct holder *hd = shared_area(sizeof *hd);
	vmshm_pool *p, *q;
	vmshm_ref both;
	struct vmshm_objinfo info;
	char why[256] = "";
	pid_t pid;
	int rc;

	pid = spawn_holder(hd);
	rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, "both", &both), 0);
	kill_and_wait(pid);
	cr_assert_eq(tp_objects(), 3, "an observer attach reclaimed");
	rc = vmshm_attach(tp.path, 0, &q, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	cr_assert_eq(tp_find("only-child", &info), 0, "attach did not reclaim the dead holder");
	cr_assert_eq(tp_objects(), 1);
	cr_assert_eq(tp_find("both", &info), 1);
	cr_assert(pattern_ok(both.addr, 20000, 72));
	cr_assert_eq(vmshm_reclaim(q), 0);
	cr_assert_eq(check_pool(q, "at-attach"), 0);
	vmshm_detach(q);
	vmshm_detach(p);
	cr_assert_eq(tp_objects(), 0, "detach left the object behind");
	cr_assert_eq(tp_stats().peers, 0, "detach left its peer entry");
	shared_area_free(hd, sizeof *hd);
}

struct peer_find {
	pid_t pid;
	int found, state, liveness;
};

static int find_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peer_find *f = arg;

	if (pi->pid == (uint64_t)f->pid) {
		f->found++;
		f->state = pi->state;
		f->liveness = pi->liveness;
	}
	return 0;
}

/* A stopped process is slow, not dead. */
Test(reclaim, stopped_holder_is_kept, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct holder *hd = shared_area(sizeof *hd);
	vmshm_pool *p, *q;
	struct peer_find pf;
	struct vmshm_objinfo info;
	char why[256] = "";
	pid_t pid;
	int rc, st;

	pid = spawn_holder(hd);
	kill(pid, SIGSTOP);
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(st));

	rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	cr_assert_eq(vmshm_reclaim(p), 0, "a stopped process was reclaimed");
	rc = vmshm_attach(tp.path, 0, &q, why, sizeof why);
	cr_assert_eq(rc, 0, "%s", why);
	vmshm_detach(q);
	cr_assert_eq(tp_objects(), 3, "objects of a stopped process were dropped");
	cr_assert_eq(tp_find("only-child", &info), 1);
	cr_assert_eq(info.holders, tp_peer_mask(pid));
	pf = (struct peer_find){pid, 0, 0, 0};
	cr_assert_geq(vmshm_peers(p, find_peer, &pf), 0);
	cr_assert_eq(pf.found, 1);
	cr_assert_eq(pf.state, VMSHM_PEER_ALIVE);
	cr_assert_eq(pf.liveness, VMSHM_LIVE_YES);
	cr_assert_eq(check_pool(p, "stopped"), 0);

	kill(pid, SIGCONT);
	kill_and_wait(pid);
	cr_assert_eq(vmshm_reclaim(p), 1);
	cr_assert_eq(tp_objects(), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	shared_area_free(hd, sizeof *hd);
}

/* ---- normal exit closes the process's handles -------------------------- */

static int run_helper(const char *mode, const char *name)
{
	char exe[PATH_MAX], helper[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	pid_t pid;

	cr_assert_gt(n, 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(helper, sizeof helper, "%s/vmshm-test-helper", exe);
	cr_assert_eq(access(helper, X_OK), 0, "no helper program %s", helper);
	pid = spawn_child();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execl(helper, helper, mode, name, (char *)NULL);
		_exit(127);
	}
	return wait_child(pid);
}

Test(procs, exit_closes_handles, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct vmshm_objinfo info;
	struct vmshm_stats st;
	void *l = NULL;
	HANDLE h;
	int rc;

	rc = run_helper("create-exit", "exit-1");
	cr_assert_eq(rc, 0, "helper create-exit: %d", rc);
	cr_assert_eq(tp_find("exit-1", &info), 0, "exit() left the object alive");
	rc = run_helper("create-return", "exit-2");
	cr_assert_eq(rc, 0, "helper create-return: %d", rc);
	cr_assert_eq(tp_find("exit-2", &info), 0, "return from main left the object alive");
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	cr_assert_eq(st.peers, 0, "a process that exited normally left its peer entry");
	cr_assert_eq(tp_check("exit"), 0);

	/* Another process's exit leaves this process's reference alone. */
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "exit-3", &l);
	assert_ok(h, 0, "create");
	pattern_fill(l, 4096, 42);
	rc = run_helper("open-write-exit", "exit-3");
	cr_assert_eq(rc, 0, "helper open-write-exit: %d", rc);
	cr_assert_eq(tp_find("exit-3", &info), 1, "another process's exit destroyed the object");
	cr_assert_eq(info.holders, tp_peer_mask(getpid()));
	cr_assert_eq(((unsigned char *)l)[0], 0x5a, "the helper's write is not seen");
	{
		unsigned char want[4096];

		pattern_fill(want, sizeof want, 42);
		cr_assert_eq(memcmp((char *)l + 1, want + 1, 4095), 0, "bytes after 0 changed");
	}
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(tp_objects(), 0);
}
