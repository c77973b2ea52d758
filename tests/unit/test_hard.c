/*
 * test_hard.c - the hard cases that need a precise setup: a creator stopped
 * midway (ERROR_BUSY after the bounded wait; rolled back once it is dead),
 * the peer table full, native references after fork, a reused pid, a peer
 * of another VM, survivors reclaiming at once, objects held by the pool.
 *
 * Peer entries are rewritten through the file where a case needs an
 * identity no real process can have here; offsets are those of
 * docs/FORMAT.md (peer table at 4096, 256 bytes per entry: the state word,
 * then identity words tagged with the entry's generation in bits 32-63:
 * word 1 OS and judge, 2 ivshmem peer ID, 3 pid, 4-5 start stamp, 6-9 boot
 * id).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aw.h"

#define PEER_OFF(i)     (4096ull + 256ull * (i))
#define IDENT_OFF(i, k) (PEER_OFF(i) + 8ull + 8ull * (k))
enum { ID_IVPOS = 1, ID_PID = 2, ID_START = 3, ID_BOOT = 5 };

/* Rewrites the data half of identity word K of entry I, keeping its tag. */
static void ident_poke(int i, int k, uint32_t data)
{
	uint64_t w;

	tp_peek(IDENT_OFF(i, k), &w, 8);
	w = (w & ~0xffffffffull) | data;
	tp_poke(IDENT_OFF(i, k), &w, 8);
}

static uint32_t ident_peek(int i, int k)
{
	uint64_t w;

	tp_peek(IDENT_OFF(i, k), &w, 8);
	return (uint32_t)w;
}

static int lowest_bit(uint64_t mask)
{
	cr_assert_neq(mask, 0, "no peer entry");
	cr_assert_eq(mask & (mask - 1), 0, "more than one peer entry: 0x%llx",
		     (unsigned long long)mask);
	return __builtin_ctzll(mask);
}

static double secs_since(uint64_t t0)
{
	return (double)(now_ms() - t0) / 1000.0;
}

/* ---- a creator stopped midway ----------------------------------------- */

struct slow {
	_Atomic int started, rounds, fail;
};

enum { SLOW_SIZE = 192u << 20 };

/* Creates and destroys "slow" (192 MiB: zero-filling takes a while) forever. */
static void slow_creator(struct slow *s)
{
	vmshm_pool *p;
	char why[256];

	if (vmshm_attach(tp.path, 0, &p, why, sizeof why) < 0)
		_exit(2);
	s->started = 1;
	for (;;) {
		vmshm_ref ref;
		int rc = vmshm_create(p, VMSHM_TYPE_SHM, "slow", SLOW_SIZE, PAGE_READWRITE,
				      VMSHM_EXCL, &ref);

		if (rc != 0) {
			s->fail = rc;
			_exit(3);
		}
		((unsigned char *)ref.addr)[0] = 0x99;
		s->rounds++;
		vmshm_close(p, &ref);
	}
}

struct creating {
	uint32_t owner;
	int found;
};

static int find_creating(const struct vmshm_objinfo *o, void *arg)
{
	struct creating *c = arg;

	if (o->state == VMSHM_OBJ_CREATING && o->owner == c->owner)
		c->found = 1;
	return c->found;
}

/* Starts slow_creator and stops it while its slot is CREATING. */
static pid_t stop_midway(struct slow *s)
{
	vmshm_pool *obs;
	char why[256] = "";
	struct creating c = {0, 0};
	pid_t pid = spawn_child();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0)
		slow_creator(s);
	for (uint64_t end = now_ms() + 30000; !s->started && now_ms() < end;)
		usleep(1000);
	cr_assert(s->started, "the creator did not start");
	c.owner = (uint32_t)lowest_bit(tp_peer_mask(pid));
	cr_assert_eq(vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &obs,
				  why, sizeof why),
		     0, "%s", why);
	for (uint64_t end = now_ms() + 60000; now_ms() < end;) {
		c.found = 0;
		vmshm_list(obs, find_creating, &c);
		if (!c.found)
			continue;
		kill(pid, SIGSTOP);
		cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
		c.found = 0;
		vmshm_list(obs, find_creating, &c);
		if (c.found)
			break;
		kill(pid, SIGCONT);
	}
	vmshm_detach(obs);
	cr_assert_eq(s->fail, 0, "the creator failed: %d", s->fail);
	cr_assert(c.found, "never caught the creator midway (%d rounds)", s->rounds);
	return pid;
}

Test(hard, stuck_creator_busy, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	struct slow *s = shared_area(sizeof *s);
	pid_t pid;
	uint64_t t0;
	void *loc = NULL;
	HANDLE h;
	DWORD e;
	double dt;

	tp_remove();
	tp_make(256u << 20, 0);
	rt_warm();
	pid = stop_midway(s);

	/* Create waits for the live creator, bounded, then gives up. */
	t0 = now_ms();
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "slow", &loc);
	e = GetLastError();
	dt = secs_since(t0);
	cr_expect_null(h, "create returned a handle while another peer is midway");
	cr_expect_eq(e, ERROR_BUSY, "create during a stuck create: %u, expected 170", (unsigned)e);
	cr_expect(dt >= 1.0 && dt <= 20.0, "the bounded wait took %.2f s", dt);

	/* Open never waits: the object is not there yet. */
	t0 = now_ms();
	h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "slow", &loc);
	e = GetLastError();
	dt = secs_since(t0);
	cr_expect_null(h);
	cr_expect_eq(e, ERROR_FILE_NOT_FOUND, "open during a stuck create: %u", (unsigned)e);
	cr_expect_lt(dt, 0.5, "open waited %.2f s", dt);

	/* Other names are not held up. */
	t0 = now_ms();
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "other", &loc);
	assert_ok(h, 0, "create of another name");
	cr_expect_lt(secs_since(t0), 0.5);

	/* A stopped creator is alive: reclaim leaves it alone. */
	{
		vmshm_pool *p;
		char why[256] = "";

		cr_assert_eq(vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why), 0);
		cr_expect_eq(vmshm_reclaim(p), 0, "a stopped creator was reclaimed");
		vmshm_detach(p);
	}

	/* Once it goes on, the name exists. */
	kill(pid, SIGCONT);
	{
		int r0 = s->rounds;

		for (uint64_t end = now_ms() + 30000; s->rounds == r0 && now_ms() < end;)
			usleep(1000);
		cr_assert_gt(s->rounds, r0, "the creator did not go on");
	}
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);
	cr_assert(RtCloseHandle(h));
	shared_area_free(s, sizeof *s);
}

Test(hard, dead_creator_rolled_back, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	struct slow *s = shared_area(sizeof *s);
	pid_t pid;
	uint64_t t0;
	void *loc = NULL;
	HANDLE h;
	struct vmshm_stats st;
	struct vmshm_objinfo info;

	tp_remove();
	tp_make(256u << 20, 0);
	rt_warm();
	pid = stop_midway(s);
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);

	/* The dead creator's half-made object is rolled back: a new one, zeroed. */
	t0 = now_ms();
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 8192, "slow", &loc);
	assert_ok(h, 0, "create over a dead creator's half-made object");
	cr_expect_lt(secs_since(t0), 5.0, "create took %.2f s", secs_since(t0));
	cr_assert(all_zero(loc, 8192));
	cr_assert_eq(tp_find("slow", &info), 1);
	cr_assert_eq(info.size, 8192);
	cr_assert(RtCloseHandle(h));
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes, "the half-made object's space leaked");
	cr_assert_eq(tp_check("dead creator"), 0);
	shared_area_free(s, sizeof *s);
}

/* ---- the peer table full -------------------------------------------------- */

Test(hard, peer_table_full, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	static vmshm_pool *p[VMSHM_MAX_PEERS];
	vmshm_pool *extra = NULL;
	struct snapshot before, after;
	char why[256] = "";
	void *loc = NULL;
	HANDLE h;
	int rc;

	for (unsigned i = 0; i < VMSHM_MAX_PEERS; i++) {
		rc = vmshm_attach(tp.path, 0, &p[i], why, sizeof why);
		cr_assert_eq(rc, 0, "attach %u: %d %s", i, rc, why);
	}
	snap_take(&before);
	cr_assert_eq(before.st.peers, VMSHM_MAX_PEERS);
	why[0] = 0;
	rc = vmshm_attach(tp.path, 0, &extra, why, sizeof why);
	cr_assert_eq(rc, VMSHM_ENOPEER, "attach to a full peer table: %d", rc);
	cr_assert_neq(why[0], 0, "no reason given");
	SetLastError(0);
	assert_fails(RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "x", &loc),
		     ERROR_NOT_ENOUGH_MEMORY, "RtApi with the peer table full");
	snap_take(&after);
	snap_assert_same(&before, &after, "peer table full");

	vmshm_detach(p[0]);
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "x", &loc);
	assert_ok(h, 0, "RtApi after a peer left");
	cr_assert(RtCloseHandle(h));
	for (unsigned i = 1; i < VMSHM_MAX_PEERS; i++)
		vmshm_detach(p[i]);
	cr_assert_eq(tp_stats().peers, 1);
}

/* ---- native references after fork ------------------------------------------ */

struct stale {
	int close_rc, create_rc, open_rc, done;
};

Test(hard, native_refs_stale_after_fork, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct stale *sr = shared_area(sizeof *sr);
	vmshm_pool *p;
	vmshm_ref ref;
	struct vmshm_objinfo info;
	char why[256] = "";
	pid_t pid;

	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, "st", 4096, PAGE_READWRITE, 0, &ref), 0);
	pid = spawn_child();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		vmshm_ref r2;

		sr->close_rc = vmshm_close(p, &ref);
		sr->create_rc =
		    vmshm_create(p, VMSHM_TYPE_SHM, "st2", 4096, PAGE_READWRITE, 0, &r2);
		sr->open_rc = vmshm_open(p, VMSHM_TYPE_SHM, "st", &r2);
		sr->done = 1;
		_exit(0);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(sr->done, 1);
	cr_expect_eq(sr->close_rc, VMSHM_ESTALE, "close in the child: %d", sr->close_rc);
	cr_expect_eq(sr->create_rc, VMSHM_ESTALE, "create in the child: %d", sr->create_rc);
	cr_expect_eq(sr->open_rc, VMSHM_ESTALE, "open in the child: %d", sr->open_rc);
	cr_assert_eq(tp_find("st", &info), 1);
	cr_assert_eq(info.holders, 1ull << vmshm_self(p));
	cr_assert_eq(tp_find("st2", &info), 0);
	cr_assert_eq(vmshm_close(p, &ref), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_objects(), 0);
	shared_area_free(sr, sizeof *sr);
}

/* ---- identities: a reused pid, another VM ------------------------------------ */

struct holder2 {
	_Atomic int ready;
	int fail;
};

/* A child holding "held-<tag>" through RtApi, then stopped. */
static pid_t stopped_holder(struct holder2 *hd, const char *name)
{
	pid_t pid = spawn_child();
	int st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		void *l = NULL;
		HANDLE h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &l);

		hd->fail = !h || GetLastError() != 0;
		hd->ready = 1;
		for (;;)
			pause();
	}
	for (uint64_t end = now_ms() + 30000; !hd->ready && now_ms() < end;)
		usleep(1000);
	cr_assert(hd->ready && !hd->fail, "the holder did not create %s", name);
	kill(pid, SIGSTOP);
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	return pid;
}

Test(hard, pid_and_start_are_not_judged, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct holder2 *hd = shared_area(sizeof *hd);
	vmshm_pool *p;
	struct vmshm_objinfo info;
	char why[256] = "";
	pid_t pid;
	int idx;

	pid = stopped_holder(hd, "held-reuse");
	idx = lowest_bit(tp_peer_mask(pid));
	cr_assert_eq(vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why), 0);
	cr_assert_eq(vmshm_reclaim(p), 0, "a live, stopped holder was reclaimed");
	cr_assert_eq(tp_find("held-reuse", &info), 1);

	/* The entry now names another start stamp and a pid nobody has: its
	 * kernel lock is what counts, and the holder still has it. */
	ident_poke(idx, ID_START, ident_peek(idx, ID_START) + 1);
	ident_poke(idx, ID_PID, 0x7ffffff0u);
	cr_assert_eq(vmshm_reclaim(p), 0, "a live holder was reclaimed for its pid");
	cr_assert_eq(tp_find("held-reuse", &info), 1);
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);
	cr_assert_eq(vmshm_reclaim(p), 1, "a killed holder was not reclaimed");
	cr_assert_eq(tp_find("held-reuse", &info), 0);
	cr_assert_eq(check_pool(p, "pid ignored"), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	shared_area_free(hd, sizeof *hd);
}

struct liveness {
	pid_t pid;
	int liveness, found;
};

static int get_liveness(const struct vmshm_peerinfo *pi, void *arg)
{
	struct liveness *l = arg;

	if (pi->pid == (uint64_t)l->pid) {
		l->found++;
		l->liveness = pi->liveness;
	}
	return 0;
}

Test(hard, other_vm_only_by_reclaim_vm, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	static const uint8_t other_vm[16] = {0x6f, 0x74, 0x68, 0x65, 0x72, 0x2d, 0x76, 0x6d,
					     0x2d, 0x62, 0x6f, 0x6f, 0x74, 0x2d, 0x69, 0x64};
	static const uint8_t nobody[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	struct holder2 *hd = shared_area(sizeof *hd);
	vmshm_pool *p;
	struct vmshm_objinfo info;
	struct liveness lv;
	char why[256] = "";
	pid_t pid;
	int idx;

	pid = stopped_holder(hd, "held-vm");
	idx = lowest_bit(tp_peer_mask(pid));
	for (int k = 0; k < 4; k++) {
		uint32_t v;

		memcpy(&v, other_vm + 4 * k, 4);
		ident_poke(idx, ID_BOOT + k, v);
	}
	/* Gone from here, but a peer of another VM cannot be judged by pid. */
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);

	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(vmshm_reclaim(p), 0, "a peer of another VM was reclaimed by pid");
	cr_assert_eq(tp_find("held-vm", &info), 1);
	lv = (struct liveness){pid, 0, 0};
	cr_assert_geq(vmshm_peers(p, get_liveness, &lv), 0);
	cr_assert_eq(lv.found, 1);
	cr_assert_eq(lv.liveness, VMSHM_LIVE_UNKNOWN);
	cr_assert_eq(check_pool(p, "other vm"), 0, "a peer that cannot be judged is a fault");

	cr_assert_eq(vmshm_reclaim_vm(p, nobody, -1), 0, "reclaim_vm of an unknown VM");
	cr_assert_eq(tp_find("held-vm", &info), 1);
	cr_assert_eq(vmshm_reclaim_vm(p, other_vm, -1), 1);
	cr_assert_eq(tp_find("held-vm", &info), 0);
	cr_assert_eq(tp_peer_mask(pid), 0);
	cr_assert_eq(check_pool(p, "other vm, after"), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
	shared_area_free(hd, sizeof *hd);
}

/* ---- survivors reclaim at once -------------------------------------------- */

enum { DEAD = 10, RECLAIMERS = 8 };

struct rec {
	_Atomic int ready, go, fail;
	int got[RECLAIMERS];
	int rc[RECLAIMERS];
};

Test(hard, concurrent_reclaim_once, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	struct rec *r = shared_area(sizeof *r);
	pid_t dead[DEAD], rp[RECLAIMERS];
	struct vmshm_stats st;
	int total = 0;

	for (int i = 0; i < DEAD; i++) {
		dead[i] = spawn_child();
		cr_assert_geq(dead[i], 0);
		if (dead[i] == 0) {
			char name[32];
			void *l = NULL;

			snprintf(name, sizeof name, "own-%d", i);
			if (!RtCreateSharedMemoryA(PAGE_READWRITE, 0, 5000, name, &l) ||
			    !RtCreateSharedMemoryA(PAGE_READWRITE, 0, 5000, "common", &l) ||
			    !RtCreateSharedMemoryA(PAGE_READWRITE, 0, 100, NULL, &l))
				r->fail++;
			r->ready++;
			for (;;)
				pause();
		}
	}
	for (uint64_t end = now_ms() + 30000; r->ready < DEAD && now_ms() < end;)
		usleep(1000);
	cr_assert_eq(r->ready, DEAD);
	cr_assert_eq(r->fail, 0);
	cr_assert_eq(tp_objects(), 2 * DEAD + 1);
	for (int i = 0; i < DEAD; i++) {
		kill(dead[i], SIGKILL);
		cr_assert_eq(wait_child(dead[i]), 128 + SIGKILL);
	}
	for (int i = 0; i < RECLAIMERS; i++) {
		rp[i] = spawn_child();
		cr_assert_geq(rp[i], 0);
		if (rp[i] == 0) {
			vmshm_pool *p;
			char why[256];

			r->rc[i] =
			    vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why);
			if (r->rc[i] < 0)
				_exit(2);
			if (proc_barrier(&r->go, RECLAIMERS, 30000) < 0)
				_exit(3);
			r->got[i] = vmshm_reclaim(p);
			vmshm_detach(p);
			_exit(0);
		}
	}
	for (int i = 0; i < RECLAIMERS; i++) {
		int rc = wait_child(rp[i]);

		cr_expect_eq(rc, 0, "reclaimer %d ended with %d (attach %d)", i, rc, r->rc[i]);
		cr_expect_geq(r->got[i], 0, "reclaimer %d: vmshm_reclaim = %d", i, r->got[i]);
		total += r->got[i];
	}
	cr_assert_eq(total, DEAD, "%d peers reclaimed in all, %d were dead", total, DEAD);
	st = tp_stats();
	cr_assert_eq(st.objects, 0, "%u objects left", st.objects);
	cr_assert_eq(st.peers, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	cr_assert_eq(tp_check("concurrent reclaim"), 0);
	shared_area_free(r, sizeof *r);
}

/* ---- objects held by the pool itself ------------------------------------------ */

Test(hard, persistent_objects, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *p;
	vmshm_ref ref;
	struct vmshm_objinfo info;
	char why[256] = "";
	void *l = NULL;
	HANDLE h;

	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(
	    vmshm_create(p, VMSHM_TYPE_SHM, "kept", 5000, PAGE_READWRITE, VMSHM_PERSIST, &ref), 0);
	pattern_fill(ref.addr, 5000, 61);
	cr_assert_eq(vmshm_close(p, &ref), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_find("kept", &info), 1, "a persistent object died with its creator");
	cr_assert_eq(info.holders, 1, "holders 0x%llx, expected the pool's own hold",
		     (unsigned long long)info.holders);

	h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "kept", &l);
	assert_ok(h, 0, "open of a persistent object");
	cr_assert(pattern_ok(l, 5000, 61));
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(tp_find("kept", &info), 1,
		     "the last RtApi close destroyed a persistent object");

	h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "kept", &l);
	assert_ok(h, 0, "open again");
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(vmshm_unpersist(p, "kept"), 0);
	cr_assert_eq(vmshm_unpersist(p, "kept"), VMSHM_ENOENT);
	cr_assert_eq(vmshm_unpersist(p, "never-made"), VMSHM_ENOENT);
	cr_assert_eq(tp_find("kept", &info), 1, "unpersist destroyed an object with a handle");
	cr_assert(pattern_ok(l, 5000, 61));
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(tp_find("kept", &info), 0);
	vmshm_detach(p);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* A VM named by its ivshmem peer ID: only its peers are reclaimed. */
Test(hard, reclaim_vm_by_ivposition, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct holder2 *hd = shared_area(sizeof *hd);
	vmshm_pool *p;
	struct vmshm_objinfo info;
	char why[256] = "";
	uint64_t word;
	pid_t pid;
	int idx;

	pid = stopped_holder(hd, "held-ivpos");
	idx = lowest_bit(tp_peer_mask(pid));
	word = ident_peek(idx, ID_IVPOS);
	cr_assert_eq(word, 0xffffffffu, "a file-backed peer has ivposition %d", (int32_t)word);
	/* Peers of another VM with peer ID 7: other boot id, so not judged here. */
	ident_poke(idx, ID_IVPOS, 7);
	ident_poke(idx, ID_BOOT, ident_peek(idx, ID_BOOT) ^ 1);

	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(vmshm_reclaim_vm(p, NULL, 8), 0, "reclaim_vm of peer ID 8");
	cr_assert_eq(tp_find("held-ivpos", &info), 1);
	cr_assert_eq(vmshm_reclaim_vm(p, NULL, 7), 1, "reclaim_vm of peer ID 7");
	cr_assert_eq(tp_find("held-ivpos", &info), 0);
	cr_assert_eq(tp_peer_mask(pid), 0);
	cr_assert_eq(vmshm_self(p) > 0, 1);
	cr_assert_eq(tp_peer_mask(getpid()), 1ull << vmshm_self(p), "the caller was reclaimed");
	cr_assert_eq(check_pool(p, "ivposition"), 0);
	vmshm_detach(p);
	shared_area_free(hd, sizeof *hd);
}

/* A reclaimer that dies midway: its work is taken over, but only once it is
 * gone (state word of a peer: bits 0-7 state, 8-15 reclaimer). */
Test(hard, reclaimer_dies_midway, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct holder2 *ha = shared_area(sizeof *ha), *hb = shared_area(sizeof *hb);
	vmshm_pool *p;
	struct vmshm_objinfo info;
	struct vmshm_stats st;
	char why[256] = "";
	uint64_t w, wb;
	pid_t a, b;
	int ia, ib, rc;

	a = stopped_holder(ha, "held-a");
	b = stopped_holder(hb, "held-b");
	ia = lowest_bit(tp_peer_mask(a));
	ib = lowest_bit(tp_peer_mask(b));
	/* A is being reclaimed by B (as if B had won the CAS to RECLAIMING):
	 * reclaimer B and, in bits 16-31, B's generation. */
	tp_peek(PEER_OFF(ib), &wb, 8);
	tp_peek(PEER_OFF(ia), &w, 8);
	cr_assert_eq(w & 0xff, VMSHM_PEER_ALIVE);
	w = (w & ~0xffffffffull) | VMSHM_PEER_RECLAIMING | (uint64_t)ib << 8 |
	    ((wb >> 32) & 0xffff) << 16;
	tp_poke(PEER_OFF(ia), &w, 8);
	kill(a, SIGKILL);
	cr_assert_eq(wait_child(a), 128 + SIGKILL);

	cr_assert_eq(vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof why), 0, "%s",
		     why);
	/* B lives (stopped): nobody else may touch A. */
	rc = vmshm_reclaim(p);
	cr_assert_eq(rc, 0, "reclaim took over from a live reclaimer (%d)", rc);
	cr_assert_eq(tp_find("held-a", &info), 1, "A's object dropped while B reclaims it");
	cr_assert_eq(tp_find("held-b", &info), 1);

	kill(b, SIGKILL);
	cr_assert_eq(wait_child(b), 128 + SIGKILL);
	rc = vmshm_reclaim(p);
	cr_assert_eq(rc, 2, "reclaimed %d peers: expected B, and A taken over from B", rc);
	cr_assert_eq(tp_find("held-a", &info), 0);
	cr_assert_eq(tp_find("held-b", &info), 0);
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.peers, 1);
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
	cr_assert_eq(check_pool(p, "reclaimer died"), 0);
	vmshm_detach(p);
	shared_area_free(ha, sizeof *ha);
	shared_area_free(hb, sizeof *hb);
}
