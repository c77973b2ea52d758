/*
 * test_fence.c - peers that stand still at the worst moment and resume
 * after others have moved on: a claimer taken over, a creator fenced by an
 * operator, a reclaimer stopped, a reclaimer whose entry is reused, a table
 * full of gone peers, and `vmshm rm` racing with a slot's reuse. Each one
 * resumes and must damage nobody: the check stays clean and every other
 * object keeps its name, holders and bytes.
 *
 * A peer is stopped at a step by VMSHM_TEST_STOP (the library raises
 * SIGSTOP there) and resumed with SIGCONT. Peer entries: docs/FORMAT.md
 * (table at 4096, 256 bytes each; state word bits 16-31 the claim stamp).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define PEER_OFF(i) (4096ull + 256ull * (i))
#define GUEST_BOOT  "VMSHM_TEST_BOOT_ID=0b0b0b0b-0000-4000-8000-0000000000aa"

static void wait_stopped(pid_t pid)
{
	int st;
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(st), "the peer did not stop at its step (status 0x%x)", st);
}

struct peer_of {
	pid_t pid;
	int index, state;
	uint32_t gen;
};

static int find_pid(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peer_of *f = arg;
	if (pi->pid == (uint64_t)f->pid) {
		f->index = (int)pi->index;
		f->state = pi->state;
		f->gen = pi->gen;
	}
	return 0;
}

static struct peer_of peer_of(vmshm_pool *p, pid_t pid)
{
	struct peer_of f = {pid, 0, -1, 0};
	cr_assert_geq(vmshm_peers(p, find_pid, &f), 0);
	return f;
}

static uint64_t state_word(int i)
{
	uint64_t w;
	tp_peek(PEER_OFF(i), &w, 8);
	return w;
}

/* An object of T's, with a pattern: it must come through untouched. */
static vmshm_ref keep(vmshm_pool *t, const char *name, uint32_t seed)
{
	vmshm_ref r;
	cr_assert_eq(vmshm_create(t, VMSHM_TYPE_SHM, name, 3 * 4096, PAGE_READWRITE, 0, &r), 0);
	pattern_fill(r.addr, r.size, seed);
	return r;
}

static void kept(vmshm_pool *t, const char *name, const vmshm_ref *r, uint32_t seed)
{
	struct vmshm_objinfo info;
	cr_assert_eq(tp_find(name, &info), 1, "%s is gone", name);
	cr_assert_eq(info.holders, 1ull << vmshm_self(t), "%s: holders 0x%llx", name,
		     (unsigned long long)info.holders);
	cr_assert_eq(info.slot, r->slot);
	cr_assert_eq(info.gen, r->gen);
	cr_assert(pattern_ok(r->addr, r->size, seed), "%s: its bytes changed", name);
}

/* A claimer stopped after its CAS to CLAIMING is taken over once its stamp
 * is old; a peer of another VM (no lock shared with it) takes the entry;
 * the claimer resumes and cannot overwrite the new occupant's identity. */
Test(fence, stalled_claimer_cannot_overwrite, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *a_argv[] = {"@", "hold", "a-obj", NULL};
	const char *b_argv[] = {"@", "hold", "b-obj", NULL};
	struct proc a = proc_start(a_argv, "VMSHM_TEST_STOP=claim");
	wait_stopped(a.pid);
	uint64_t w = state_word(1);
	cr_assert_eq(w & 0xff, VMSHM_PEER_CLAIMING, "entry 1 is not the stopped claim");

	vmshm_pool *t = tp_attach_quiet();
	cr_assert_eq(vmshm_reclaim(t), 0, "a fresh claim was taken over");
	/* 100 seconds pass (the stamp is the claim's wall-clock second). */
	uint32_t stamp = (uint32_t)(w >> 16) & 0xffff;
	w = (w & ~0xffff0000ull) | (uint64_t)((stamp - 100) & 0xffff) << 16;
	tp_poke(PEER_OFF(1), &w, 8);
	cr_assert_eq(vmshm_reclaim(t), 1, "the abandoned claim was not taken over");

	struct proc b = proc_start(b_argv, GUEST_BOOT);
	proc_expect_held(&b);
	struct peer_of pb = peer_of(t, b.pid);
	cr_assert_eq(pb.index, 1, "the guest's peer did not take entry 1 (%d)", pb.index);

	kill(a.pid, SIGCONT);
	proc_expect_held(&a);
	struct peer_of pa = peer_of(t, a.pid), pb2 = peer_of(t, b.pid);
	cr_assert_neq(pa.index, 1, "the resumed claimer kept entry 1");
	cr_assert_gt(pa.index, 0, "the resumed claimer has no entry");
	cr_assert_eq(pb2.index, 1, "the new occupant's identity was overwritten");
	cr_assert_eq(pb2.gen, pb.gen);
	cr_assert_eq(check_pool(t, "claim"), 0);

	proc_finish(&a);
	cr_assert_eq(tp_reclaim_until(t, 1), 1);
	proc_finish(&b);
	static const uint8_t guest[16] = {0x0b, 0x0b, 0x0b, 0x0b, 0, 0, 0x40, 0,
					  0x80, 0,    0,    0,    0, 0, 0,    0xaa};
	cr_assert_eq(vmshm_reclaim_vm(t, guest, -1), 1, "the guest's VM end reclaims its peer");
	cr_assert_eq(check_pool(t, "claim, after"), 0);
	vmshm_detach(t);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* A claimer killed right after its CAS to CLAIMING (before its identity):
 * a peer of the same OS instance and pool file frees the entry at once
 * (the claim's domain hint, and its lock byte released), not 30 s later. */
Test(fence, killed_claimer_freed_at_once, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *a_argv[] = {"@", "hold", "a-obj", NULL};
	struct proc a = proc_start(a_argv, "VMSHM_TEST_STOP=claim");
	wait_stopped(a.pid);
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_CLAIMING);
	vmshm_pool *t = tp_attach_quiet();
	cr_assert_eq(vmshm_reclaim(t), 0, "a claim whose claimer lives was taken over");
	proc_finish(&a);
	cr_assert_eq(tp_reclaim_until(t, 1), 1, "the killed claim was not freed");
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_FREE);
	cr_assert_eq(check_pool(t, "killed claim"), 0);
	vmshm_detach(t);
}

/* Found by the protocol model (docs/MODEL.md, finding 2): a claim stopped
 * before its identity is complete is not fenced, for nothing could ever
 * judge it then; its stamp frees it instead. */
Test(fence, incomplete_claim_is_not_fenced, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *a_argv[] = {"@", "hold", "a-obj", NULL};
	struct proc a = proc_start(a_argv, "VMSHM_TEST_STOP=claim");
	wait_stopped(a.pid);
	vmshm_pool *t = tp_attach_quiet();
	cr_assert_eq(vmshm_reclaim_peer(t, 1, VMSHM_RECLAIM_FENCE), 0,
		     "an incomplete claim was fenced");
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_CLAIMING);
	kill(a.pid, SIGCONT);
	proc_expect_held(&a); /* it goes on as if nothing happened */
	cr_assert_eq(check_pool(t, "incomplete claim"), 0);
	proc_finish(&a);
	cr_assert_eq(tp_reclaim_until(t, 1), 1);
	vmshm_detach(t);
}

/* Found by the protocol model (finding 1): while a fencer is at work (here
 * stopped right after its CAS to FENCED), the fenced entry is not
 * reclaimed even once its peer is gone, for the fencer may still be
 * clearing that index's bits; once the fencer is done, it is. */
Test(fence, fencer_at_work_blocks_reclaim, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *a_argv[] = {"@", "hold", "a-obj", NULL};
	const char *f_argv[] = {"@", "fence", "1", NULL};
	struct vmshm_objinfo info;
	struct proc a = proc_start(a_argv, NULL);
	proc_expect_held(&a);
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_ALIVE);
	struct proc f = proc_start(f_argv, "VMSHM_TEST_STOP=fence");
	wait_stopped(f.pid);
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_FENCED);
	proc_finish(&a); /* the fenced peer is gone now */
	vmshm_pool *t = tp_attach_quiet();
	usleep(100 * 1000);
	cr_assert_eq(vmshm_reclaim(t), 0, "reclaimed under a fencer at work");
	cr_assert_eq(tp_find("a-obj", &info), 1);
	kill(f.pid, SIGCONT);
	char line[64];
	cr_assert_eq(proc_line(&f, line, sizeof(line)), 0);
	cr_assert_str_eq(line, "fence=2");
	cr_assert_eq(wait_child(f.pid), 0);
	fclose(f.out);
	cr_assert_eq(tp_find("a-obj", &info), 0, "the fence did not drop the bit");
	cr_assert_eq(tp_reclaim_until(t, 1), 1, "the entry was not freed once the fence was done");
	cr_assert_eq(check_pool(t, "fencer"), 0);
	vmshm_detach(t);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* A creator stopped inside create is fenced by an operator; others create
 * the same name and more; it resumes: nothing of theirs is touched. */
Test(fence, fenced_creator_resumes, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *a_argv[] = {"@", "hold", "contested", NULL};
	struct proc a = proc_start(a_argv, "VMSHM_TEST_STOP=create");
	wait_stopped(a.pid);
	vmshm_pool *t = tp_attach_quiet();
	struct peer_of pa = peer_of(t, a.pid);
	cr_assert_gt(pa.index, 0);
	cr_assert_eq(vmshm_reclaim_peer(t, (uint32_t)pa.index, VMSHM_RECLAIM_FENCE), 2);
	cr_assert_eq(peer_of(t, a.pid).state, VMSHM_PEER_FENCED);

	vmshm_ref c = keep(t, "contested", 11);
	vmshm_ref o[4];
	char name[32];
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "other-%d", i);
		o[i] = keep(t, name, 20u + (uint32_t)i);
	}
	kill(a.pid, SIGCONT);
	cr_assert_eq(wait_child(a.pid), 1, "the fenced creator's call did not fail");
	fclose(a.out);

	kept(t, "contested", &c, 11);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "other-%d", i);
		kept(t, name, &o[i], 20u + (uint32_t)i);
	}
	cr_assert_eq(tp_reclaim_until(t, 1), 1, "the fenced entry was not freed once it was gone");
	cr_assert_eq(check_pool(t, "fenced creator"), 0);
	cr_assert_eq(tp_stats().objects, 5);
	vmshm_detach(t);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* A holder of d-obj killed, then a reclaimer of it stopped after its CAS
 * to RECLAIMING; returns the reclaimer, and T attached. */
static struct proc stopped_reclaim_of_dead(vmshm_pool **t)
{
	const char *d_argv[] = {"@", "hold", "d-obj", NULL};
	const char *r_argv[] = {"@", "reclaim", NULL};
	struct proc d = proc_start(d_argv, NULL);
	proc_expect_held(&d);
	proc_finish(&d);
	struct proc r = proc_start(r_argv, "VMSHM_TEST_STOP=reclaim");
	wait_stopped(r.pid);
	*t = tp_attach_quiet();
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_RECLAIMING);
	return r;
}

/* A reclaimer stopped midway is never taken over while it may run, even
 * once fenced; resumed, it finishes its reclaim and harms nobody. */
Test(fence, stalled_reclaimer, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	struct vmshm_objinfo info;
	vmshm_pool *t;
	struct proc r = stopped_reclaim_of_dead(&t);
	cr_assert_eq(vmshm_reclaim(t), 0, "a live reclaimer was taken over");
	struct peer_of pr = peer_of(t, r.pid);
	cr_assert_eq(vmshm_reclaim_peer(t, (uint32_t)pr.index, VMSHM_RECLAIM_FENCE), 2);
	cr_assert_eq(vmshm_reclaim(t), 0, "a fenced reclaimer that may run was taken over");
	cr_assert_eq(tp_find("d-obj", &info), 1);
	vmshm_ref k = keep(t, "t-obj", 5);

	kill(r.pid, SIGCONT);
	char line[128];
	cr_assert_eq(proc_line(&r, line, sizeof(line)), 0);
	cr_assert_str_eq(line, "reclaimed=1");
	cr_assert_eq(wait_child(r.pid), 0);
	fclose(r.out);
	cr_assert_eq(tp_find("d-obj", &info), 0, "the resumed reclaimer did not finish");
	kept(t, "t-obj", &k, 5);
	cr_assert_eq(tp_reclaim_until(t, 1), 1, "the fenced reclaimer's entry was not freed");
	cr_assert_eq(check_pool(t, "reclaimer"), 0);
	cr_assert_eq(tp_stats().peers, 1);
	vmshm_detach(t);
}

/* A reclaimer dies midway and its entry goes to a new peer: the reclaim it
 * left is taken over (the reclaimer is recorded with its generation). */
Test(fence, reclaimer_entry_reused, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	const char *n_argv[] = {"@", "hold", "n-obj", NULL};
	struct vmshm_objinfo info;
	vmshm_pool *t;
	struct proc r = stopped_reclaim_of_dead(&t);
	int ir = peer_of(t, r.pid).index;
	proc_finish(&r);
	for (int i = 0; i < 500 && vmshm_reclaim_peer(t, (uint32_t)ir, 0) == 0; i++)
		usleep(10000);
	cr_assert_eq(state_word(ir) & 0xff, VMSHM_PEER_FREE, "the dead reclaimer was not freed");
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_RECLAIMING);

	struct proc n = proc_start(n_argv, NULL);
	proc_expect_held(&n);
	cr_assert_eq(peer_of(t, n.pid).index, ir, "the new peer did not reuse the entry");
	/* N's own attach, or ours now, takes over the reclaim left under the
	 * entry's previous generation. */
	cr_assert_geq(vmshm_reclaim(t), 0);
	cr_assert_eq(state_word(1) & 0xff, VMSHM_PEER_FREE, "the abandoned reclaim is stuck");
	cr_assert_eq(tp_find("d-obj", &info), 0);
	cr_assert_eq(tp_find("n-obj", &info), 1, "the new occupant lost its object");
	cr_assert_eq(info.holders, 1ull << ir);
	cr_assert_eq(check_pool(t, "reused reclaimer"), 0);
	proc_finish(&n);
	cr_assert_eq(tp_reclaim_until(t, 1), 1);
	vmshm_detach(t);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* All 63 entries held by processes that are gone: an attach still gets in
 * (it inherits one) and reclaims the other 62. */
Test(fence, full_table_of_gone_peers, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	for (int i = 0; i < (int)VMSHM_MAX_PEERS; i++) {
		pid_t pid = spawn_child();
		if (pid == 0) {
			vmshm_pool *p;
			vmshm_ref r;
			char name[32];
			snprintf(name, sizeof(name), "gone-%d", i);
			if (vmshm_attach(tp.path, VMSHM_ATTACH_NORECLAIM, &p, NULL, 0) < 0 ||
			    vmshm_create(p, VMSHM_TYPE_SHM, name, 4096, PAGE_READWRITE, 0, &r) < 0)
				_exit(1);
			_exit(0); /* no detach: the process is simply gone */
		}
		cr_assert_eq(wait_child(pid), 0);
	}
	cr_assert_eq(tp_stats().peers, VMSHM_MAX_PEERS);
	vmshm_pool *t = tp_attach_quiet();
	cr_assert_gt(vmshm_self(t), 0);
	cr_assert_eq(vmshm_reclaim(t), (int)VMSHM_MAX_PEERS - 1);
	cr_assert_eq(tp_stats().objects, 0, "objects of gone peers are left");
	cr_assert_eq(tp_stats().peers, 1);
	cr_assert_eq(check_pool(t, "full table"), 0);
	vmshm_detach(t);
	cr_assert_eq(tp_stats().free_bytes, tp.empty.free_bytes);
}

/* `vmshm rm X` stopped after finding X's slot; X is removed and the slot
 * reused by another persisted object; the stale rm resumes: it must not
 * drop the pool's hold on that other object. */
Test(fence, stale_rm_spares_the_slots_next_object, .init = tp_setup, .fini = tp_teardown,
     .timeout = 60)
{
	const char *argv[] = {"@", "unpersist", "rm-x", NULL};
	struct vmshm_objinfo info, yinfo;
	vmshm_pool *t = tp_attach_quiet();
	vmshm_ref r;
	cr_assert_eq(vmshm_create(t, VMSHM_TYPE_SHM, "rm-x", 4096, 4, VMSHM_PERSIST, &r), 0);
	cr_assert_eq(vmshm_close(t, &r), 0);
	cr_assert_eq(tp_find("rm-x", &info), 1);

	struct proc a = proc_start(argv, "VMSHM_TEST_STOP=unpersist");
	wait_stopped(a.pid);
	cr_assert_eq(vmshm_unpersist(t, "rm-x"), 0);
	/* A name whose home is rm-x's slot takes that slot over. */
	char y[32];
	tp_name_homed_at(t, info.slot, "rm-y", y, sizeof(y));
	cr_assert_eq(vmshm_create(t, VMSHM_TYPE_SHM, y, 4096, 4, VMSHM_PERSIST, &r), 0);
	cr_assert_eq(vmshm_close(t, &r), 0);
	cr_assert_eq(tp_find(y, &yinfo), 1);
	cr_assert_eq(yinfo.slot, info.slot, "%s did not land in rm-x's old slot", y);

	kill(a.pid, SIGCONT);
	char line[64];
	cr_assert_eq(proc_line(&a, line, sizeof(line)), 0);
	cr_assert_str_eq(line, "unpersist=-2", "the stale rm did not find rm-x gone");
	cr_assert_eq(wait_child(a.pid), 0);
	fclose(a.out);
	cr_assert_eq(tp_find(y, &info), 1, "the stale rm destroyed the slot's next object");
	cr_assert_eq(info.holders, 1, "the pool's hold on %s was dropped", y);
	cr_assert_eq(check_pool(t, "stale rm"), 0);
	vmshm_detach(t);
}
