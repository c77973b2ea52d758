/*
 * test_holding.c - who holds an object (docs/FORMAT.md, "Holding"): a
 * peer keeps its holder bit after its last close, so that opening and
 * closing again write only its own hold word; the last close of any peer
 * still destroys the object; a last close stopped or killed midway through
 * its judgment (CLOSING) neither loses the object of a peer that holds it
 * nor keeps one that nobody holds.
 *
 * Offsets are those of docs/FORMAT.md: slots_off at 64, holds_off at 120,
 * hold_stride at 128 and hold_lanes at 132 in the header; in a slot, state
 * at 0 and holders at 8; lane L of peer I's hold word for slot S at
 * holds_off + I * hold_stride + L * (hold_stride / hold_lanes) + (S / 64) *
 * 8, bit S % 64.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"

static uint64_t slot_word(uint32_t slot, unsigned off)
{
	uint64_t slots, v;
	tp_peek(64, &slots, 8);
	tp_peek(slots + 256ull * slot + off, &v, 8);
	return v;
}

/* The hold bit of lane LANE of PEER for SLOT. */
static int lane_bit(uint32_t peer, uint32_t lane, uint32_t slot)
{
	uint64_t holds, v;
	uint32_t stride, lanes;
	tp_peek(120, &holds, 8);
	tp_peek(128, &stride, 4);
	tp_peek(132, &lanes, 4);
	tp_peek(holds + (uint64_t)peer * stride + lane * (stride / lanes) + (slot / 64) * 8, &v, 8);
	return (int)(v >> (slot % 64) & 1);
}

/* How many lanes of PEER hold SLOT. */
static int hold_bit(uint32_t peer, uint32_t slot)
{
	int n = 0;
	for (uint32_t lane = 0; lane < 8; lane++)
		n += lane_bit(peer, lane, slot);
	return n;
}

static vmshm_pool *attach(void)
{
	vmshm_pool *p = NULL;
	char why[256] = "";
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	return p;
}

/* B opens and closes an object A holds, again and again: its holder bit
 * stays after its first close, so the holder word is written once; its
 * hold bit follows its handle; the listing shows who holds it now. */
Test(holding, reopen_writes_only_the_own_hold_word, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach(), *b = attach();
	uint32_t ia = vmshm_self(a), ib = vmshm_self(b);
	vmshm_ref held, r;
	struct vmshm_objinfo info;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "hold", 4096, PAGE_READWRITE, 0, &held), 0);
	cr_assert_eq(slot_word(held.slot, 8), 1ull << ia, "a new object's holder word");
	cr_assert_eq(hold_bit(ia, held.slot), 1, "the creator's hold bit");

	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "hold", &r), 0);
	uint64_t both = (1ull << ia) | (1ull << ib);
	cr_assert_eq(slot_word(held.slot, 8), both);
	cr_assert_eq(hold_bit(ib, held.slot), 1);
	cr_assert_eq(tp_find("hold", &info), 1);
	cr_assert_eq(info.holders, both, "listed holders 0x%llx", (unsigned long long)info.holders);
	cr_assert_eq(vmshm_close(b, &r), 0);
	cr_assert_eq(slot_word(held.slot, 8), both, "the holder bit is kept after the close");
	cr_assert_eq(hold_bit(ib, held.slot), 0, "the hold bit goes with the last handle");
	cr_assert_eq(tp_find("hold", &info), 1);
	cr_assert_eq(info.holders, 1ull << ia, "listed holders 0x%llx after B's close",
		     (unsigned long long)info.holders);

	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "hold", &r), 0);
		cr_assert_eq(hold_bit(ib, held.slot), 1);
		cr_assert_eq(vmshm_close(b, &r), 0);
		cr_assert_eq(hold_bit(ib, held.slot), 0);
	}
	cr_assert_eq(slot_word(held.slot, 8), both);

	/* B's detach takes its kept holder bit away. */
	vmshm_detach(b);
	cr_assert_eq(slot_word(held.slot, 8), 1ull << ia, "holder word 0x%llx after B's detach",
		     (unsigned long long)slot_word(held.slot, 8));
	cr_assert_eq(vmshm_close(a, &held), 0);
	vmshm_detach(a);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_check("holding"), 0);
}

/* A kept holder bit keeps nothing alive: whichever peer closes last, the
 * object goes, and the name is free for a new, zeroed object. */
Test(holding, kept_bit_does_not_keep_the_object, .init = tp_setup, .fini = tp_teardown)
{
	for (int last = 0; last < 2; last++) {
		vmshm_pool *a = attach(), *b = attach();
		vmshm_ref ra, rb, again;
		cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "kept", 4096, PAGE_READWRITE, 0, &ra),
			     0);
		memset(ra.addr, 0x5a, 4096);
		cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "kept", &rb), 0);
		/* B opens and closes once more, so that its bit is kept */
		cr_assert_eq(vmshm_close(b, &rb), 0);
		cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "kept", &rb), 0);
		cr_assert_eq(vmshm_close(last ? a : b, last ? &ra : &rb), 0);
		cr_assert_eq(tp_stats().objects, 1, "closed by %s first: the object went early",
			     last ? "A" : "B");
		cr_assert_eq(vmshm_close(last ? b : a, last ? &rb : &ra), 0);
		cr_assert_eq(tp_stats().objects, 0, "the last close of %s left the object",
			     last ? "B" : "A");
		cr_assert_eq(vmshm_open(a, VMSHM_TYPE_SHM, "kept", &again), VMSHM_ENOENT);
		cr_assert_eq(
		    vmshm_create(b, VMSHM_TYPE_SHM, "kept", 4096, PAGE_READWRITE, 0, &again), 0);
		cr_assert(all_zero(again.addr, 4096), "the new object is not zeroed");
		cr_assert_eq(vmshm_close(b, &again), 0);
		vmshm_detach(b);
		vmshm_detach(a);
		cr_assert_eq(tp_check("holding"), 0);
	}
}

/* A child that creates "judged", closes its last handle and stops inside
 * the judgment (CLOSING). */
static struct proc closer_stopped_in_judgment(void)
{
	const char *argv[] = {"@", "create-close", "judged", NULL};
	struct proc c = proc_start(argv, "VMSHM_TEST_STOP=closing");
	proc_expect_held(&c);
	int st;
	cr_assert_eq(waitpid(c.pid, &st, WUNTRACED), c.pid);
	cr_assert(WIFSTOPPED(st), "the closer did not stop in its judgment (status 0x%x)", st);
	return c;
}

/* An open waits for a stopped judgment, bounded (VMSHM_EBUSY while the
 * child is stopped); once it is killed, the open reclaims it, judges the
 * object again and finds nobody holds it: not found, nothing left. */
Test(holding, last_close_killed_while_judging, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	vmshm_pool *a = attach();
	struct proc c = closer_stopped_in_judgment();
	struct vmshm_objinfo info;
	cr_assert_eq(tp_find("judged", &info), 1);
	cr_assert_eq(info.state, VMSHM_OBJ_CLOSING, "state %s", vmshm_obj_state_name(info.state));
	cr_assert_str_eq(vmshm_obj_state_name(info.state), "closing");
	cr_assert_eq(info.holders, 0, "listed holders 0x%llx", (unsigned long long)info.holders);

	vmshm_ref r;
	cr_assert_eq(vmshm_open(a, VMSHM_TYPE_SHM, "judged", &r), VMSHM_EBUSY,
		     "an open while the closer is stopped");
	proc_finish(&c);
	cr_assert_eq(vmshm_open(a, VMSHM_TYPE_SHM, "judged", &r), VMSHM_ENOENT,
		     "the open after the closer died");
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	vmshm_detach(a);
	cr_assert_eq(tp_check("holding"), 0);
}

/* The same met by vmshm_unpersist (vmshm rm): busy while the closer is
 * stopped; once it is killed, the remove reclaims it as an open does, and
 * the object, which nobody holds and the pool did not keep, is gone. */
Test(holding, remove_meets_a_killed_judgment, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	vmshm_pool *a = attach();
	struct proc c = closer_stopped_in_judgment();
	cr_assert_eq(vmshm_unpersist(a, "judged"), VMSHM_EBUSY,
		     "a remove while the closer is stopped");
	proc_finish(&c);
	cr_assert_eq(vmshm_unpersist(a, "judged"), VMSHM_ENOENT,
		     "the remove after the closer died");
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	vmshm_detach(a);
	cr_assert_eq(tp_check("holding"), 0);
}

/* The same, but A holds the object too: the judgment the child left is
 * rolled back by the reclaim and the object stays A's, bytes and all. */
Test(holding, judgment_of_a_dead_closer_is_rolled_back, .init = tp_setup, .fini = tp_teardown,
     .timeout = 60)
{
	vmshm_pool *a = attach();
	vmshm_ref held;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "rolled", 4096, PAGE_READWRITE, 0, &held), 0);
	pattern_fill(held.addr, 4096, 7);
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t pid = spawn_child();
	if (pid == 0) {
		vmshm_pool *c = NULL;
		vmshm_ref r;
		char why[256], ok = 1;
		if (vmshm_attach(tp.path, 0, &c, why, sizeof why) != 0 ||
		    vmshm_open(c, VMSHM_TYPE_SHM, "rolled", &r) != 0)
			_exit(1);
		if (write(go[1], &ok, 1) != 1)
			_exit(2);
		vmshm_close(c, &r); /* A holds it: the judgment ends at once */
		if (write(go[1], &ok, 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	char c1;
	cr_assert_eq(read(go[0], &c1, 1), 1);
	cr_assert_eq(read(go[0], &c1, 1), 1);
	struct vmshm_objinfo info;
	cr_assert_eq(tp_find("rolled", &info), 1);
	cr_assert_eq(info.state, VMSHM_OBJ_LIVE, "a judgment with a holder left it %s",
		     vmshm_obj_state_name(info.state));
	/* Now forge what a judgment stopped at its worst moment leaves:
	 * CLOSING by the child (the owner field, bits 32-39). */
	uint64_t slots, w = slot_word(held.slot, 0);
	uint64_t child = (uint64_t)__builtin_ctzll(tp_peer_mask(pid));
	uint64_t cw = (w & ~(0xfull << 24) & ~(0xffull << 32)) | (5ull << 24) | (child << 32);
	tp_peek(64, &slots, 8);
	tp_poke(slots + 256ull * held.slot, &cw, 8);
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);
	cr_assert_eq(tp_reclaim_until(a, 1), 1, "the dead closer reclaimed");
	cr_assert_eq(tp_find("rolled", &info), 1, "the held object is gone");
	cr_assert_eq(info.state, VMSHM_OBJ_LIVE, "state %s", vmshm_obj_state_name(info.state));
	cr_assert_eq(info.gen, held.gen);
	cr_assert_eq(info.holders, 1ull << vmshm_self(a));
	cr_assert(pattern_ok(held.addr, 4096, 7), "its bytes changed");
	vmshm_ref r;
	cr_assert_eq(vmshm_open(a, VMSHM_TYPE_SHM, "rolled", &r), 0);
	cr_assert_eq(vmshm_close(a, &r), 0);
	cr_assert_eq(vmshm_close(a, &held), 0);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	vmshm_detach(a);
	cr_assert_eq(tp_check("holding"), 0);
}

/* An open of NAME in another thread. */
struct open_job {
	vmshm_pool *p;
	const char *name;
	vmshm_ref ref;
	int rc;
};

static void *open_in_thread(void *arg)
{
	struct open_job *j = arg;
	j->rc = vmshm_open(j->p, VMSHM_TYPE_SHM, j->name, &j->ref);
	return NULL;
}

/* A holder opens its object again while another peer's last close is
 * stopped inside its judgment (CLOSING, forged as above, but the closer
 * stays alive): an object that is held stays, so the open gets one more
 * reference at once, from this thread and from another, where it waited
 * two seconds for VMSHM_EBUSY before. A peer that holds nothing waits. */
Test(holding, holder_reopens_while_another_judges, .init = tp_setup, .fini = tp_teardown,
     .timeout = 60)
{
	vmshm_pool *a = attach(), *b = attach();
	vmshm_ref held, r, rb;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "rejoin", 4096, PAGE_READWRITE, 0, &held), 0);
	pattern_fill(held.addr, 4096, 9);
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t pid = spawn_child();
	if (pid == 0) {
		vmshm_pool *c = NULL;
		char why[256], ok = 1;
		if (vmshm_attach(tp.path, 0, &c, why, sizeof why) != 0 || write(go[1], &ok, 1) != 1)
			_exit(1);
		pause();
		_exit(3);
	}
	char c1;
	cr_assert_eq(read(go[0], &c1, 1), 1);
	uint64_t slots, w = slot_word(held.slot, 0);
	uint64_t child = (uint64_t)__builtin_ctzll(tp_peer_mask(pid));
	uint64_t cw = (w & ~(0xfull << 24) & ~(0xffull << 32)) | (5ull << 24) | (child << 32);
	tp_peek(64, &slots, 8);
	tp_poke(slots + 256ull * held.slot, &cw, 8);

	cr_assert_eq(vmshm_open(a, VMSHM_TYPE_SHM, "rejoin", &r), 0, "the holder's open");
	cr_assert_eq(r.slot, held.slot);
	cr_assert_eq(r.gen, held.gen);
	cr_assert(pattern_ok(r.addr, 4096, 9));
	struct open_job o = {a, "rejoin", {0}, -1};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, open_in_thread, &o), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(o.rc, 0, "the holder's open from another thread");
	cr_assert_eq(o.ref.gen, held.gen);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "rejoin", &rb), VMSHM_EBUSY,
		     "a peer that holds nothing waits for the judgment");
	cr_assert_eq(vmshm_close(a, &o.ref), 0);
	cr_assert_eq(vmshm_close(a, &r), 0);
	cr_assert_eq(slot_word(held.slot, 0), cw, "the closes of extra references judged");

	tp_poke(slots + 256ull * held.slot, &w, 8); /* the closer decides: kept */
	cr_assert_eq(vmshm_close(a, &held), 0);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);
	cr_assert_eq(tp_reclaim_until(a, 1), 1, "the dead child reclaimed");
	vmshm_detach(b);
	vmshm_detach(a);
	cr_assert_eq(tp_check("holding"), 0);
}

/* Runs PAIRS rounds of a child that attaches and, round I, opens NAME
 * (CHURN: creates it on even rounds, and "not found" on odd ones is no
 * failure), then closes it; exits with its failures (at most 99). */
enum { HOLD_PAIRS = 200000 };

static pid_t open_close_child(const char *name, int pairs, int churn)
{
	pid_t pid = spawn_child();
	if (pid != 0)
		return pid;
	vmshm_pool *c = NULL;
	char why[256];
	long fails = 0;
	if (vmshm_attach(tp.path, 0, &c, why, sizeof why) != 0)
		_exit(100);
	for (int i = 0; i < pairs; i++) {
		vmshm_ref r;
		int rc = churn && !(i & 1)
			     ? vmshm_create(c, VMSHM_TYPE_SHM, name, 4096, PAGE_READWRITE, 0, &r)
			     : vmshm_open(c, VMSHM_TYPE_SHM, name, &r);
		if (rc == VMSHM_ENOENT && churn)
			continue;
		if (rc < 0 || vmshm_close(c, &r) != 0)
			fails++;
	}
	vmshm_detach(c);
	_exit(fails > 99 ? 99 : (int)fails);
}

/* Two processes open and close one name that a third attach holds, as fast
 * as they can. Every call succeeds; afterwards (their detach) the holder
 * word is exactly the holder's bit. */
Test(holding, processes_open_and_close_one_name, .init = tp_setup, .fini = tp_teardown,
     .timeout = 120)
{
	vmshm_pool *a = attach();
	vmshm_ref held;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "holds", 4096, PAGE_READWRITE, 0, &held), 0);
	uint64_t holder_bits = slot_word(held.slot, 8);
	pid_t kids[2];
	for (int k = 0; k < 2; k++)
		kids[k] = open_close_child("holds", HOLD_PAIRS, 0);
	for (int k = 0; k < 2; k++)
		cr_expect_eq(wait_child(kids[k]), 0, "process %d", k);
	cr_assert_eq(slot_word(held.slot, 8), holder_bits, "the holder word: %#llx",
		     (unsigned long long)slot_word(held.slot, 8));
	cr_assert_eq(vmshm_close(a, &held), 0);
	vmshm_detach(a);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_check("holding"), 0);
}

/* Two processes create-or-open and close one name that nobody else holds:
 * the object dies and is made again all the time, the last closes racing
 * with opens. No call fails but an open with "not found", and nothing is
 * left afterwards. */
Test(holding, last_closes_race_with_opens, .init = tp_setup, .fini = tp_teardown, .timeout = 120)
{
	pid_t kids[2];
	for (int k = 0; k < 2; k++)
		kids[k] = open_close_child("churn", HOLD_PAIRS / 4, 1);
	for (int k = 0; k < 2; k++)
		cr_expect_eq(wait_child(kids[k]), 0, "process %d", k);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_check("holding"), 0);
}

/* Threads of one attach: each on a lane of its own (the first 8 threads
 * that call), so two threads that open one object set two hold bits, in
 * words no other thread writes. A handle opened in one thread and closed in
 * another is counted down on the opener's lane. */
Test(holding, threads_hold_on_lanes_of_their_own, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach(), *b = attach();
	uint32_t ib = vmshm_self(b);
	vmshm_ref held, mine;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "lanes", 4096, PAGE_READWRITE, 0, &held), 0);
	struct open_job j[2] = {{b, "lanes", {0}, -1}, {b, "lanes", {0}, -1}};
	for (int k = 0; k < 2; k++) { /* one after the other: two threads, two lanes */
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, open_in_thread, &j[k]), 0);
		pthread_join(t, NULL);
		cr_assert_eq(j[k].rc, 0, "open in thread %d", k);
	}
	cr_assert_eq(hold_bit(ib, held.slot), 2, "hold bits of B's lanes: %d",
		     hold_bit(ib, held.slot));
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "lanes", &mine), 0);
	cr_assert_eq(hold_bit(ib, held.slot), 3, "the main thread's lane too");

	/* the threads are gone: their references are closed here */
	cr_assert_eq(vmshm_close(b, &j[0].ref), 0);
	cr_assert_eq(hold_bit(ib, held.slot), 2);
	cr_assert_eq(vmshm_close(b, &j[1].ref), 0);
	cr_assert_eq(hold_bit(ib, held.slot), 1);
	cr_assert_eq(vmshm_close(b, &mine), 0);
	cr_assert_eq(hold_bit(ib, held.slot), 0);
	cr_assert_eq(vmshm_close(b, &mine), VMSHM_EINVAL, "a close of a reference B no longer has");

	struct vmshm_objinfo info;
	cr_assert_eq(tp_find("lanes", &info), 1);
	cr_assert_eq(info.holders, 1ull << vmshm_self(a));
	cr_assert_eq(vmshm_close(a, &held), 0);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	vmshm_detach(b);
	vmshm_detach(a);
	cr_assert_eq(tp_check("holding"), 0);
}
