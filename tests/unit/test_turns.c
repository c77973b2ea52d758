/*
 * test_turns.c - the turn word of a slot (docs/FORMAT.md, "Turns"): a peer
 * whose compare-and-swap on an object's holder word failed takes the turn,
 * and the others let it through. The word is a hint: a token left behind
 * costs one bounded wait and is cleared by the peer that waited it out,
 * or by the reclaim of its peer; racing peers leave it at zero.
 *
 * Offsets are those of docs/FORMAT.md: slots_off at 64 in the header; in a
 * slot, holders at 8 and turn at 16.
 */
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

static void set_slot_word(uint32_t slot, unsigned off, uint64_t v)
{
	uint64_t slots;
	tp_peek(64, &slots, 8);
	tp_poke(slots + 256ull * slot + off, &v, 8);
}

static vmshm_pool *attach(void)
{
	vmshm_pool *p = NULL;
	char why[256] = "";
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	return p;
}

/* A token that no peer takes back (peer 63 is never attached here): the
 * next open waits it out, clears it, and opens; so does a close. */
Test(turns, token_left_behind_is_waited_out_and_cleared, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach(), *b = attach();
	vmshm_ref held, r;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "turn", 4096, PAGE_READWRITE, 0, &held), 0);
	cr_assert_eq(slot_word(held.slot, 16), 0, "a new object's turn word");

	set_slot_word(held.slot, 16, 64);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "turn", &r), 0);
	cr_assert_eq(slot_word(held.slot, 16), 0, "the open cleared the token it waited out");
	set_slot_word(held.slot, 16, 64);
	cr_assert_eq(vmshm_close(b, &r), 0);
	cr_assert_eq(slot_word(held.slot, 16), 0, "the close cleared the token it waited out");

	/* Any value is only a hint: the holder word is what counts. */
	set_slot_word(held.slot, 16, 0xdeadbeefcafef00dull);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "turn", &r), 0);
	cr_assert_eq(vmshm_close(b, &r), 0);
	cr_assert_eq(slot_word(held.slot, 16), 0);

	cr_assert_eq(vmshm_close(a, &held), 0);
	vmshm_detach(b);
	vmshm_detach(a);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_check("turns"), 0);
}

/* The reclaim of a dead peer gives back a turn it held. */
Test(turns, reclaim_gives_back_a_dead_peers_turn, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach();
	vmshm_ref held;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "turn", 4096, PAGE_READWRITE, 0, &held), 0);
	int go[2];
	cr_assert_eq(pipe(go), 0);
	pid_t pid = fork();
	if (pid == 0) {
		vmshm_pool *c = NULL;
		char why[256], c1 = 0;
		if (vmshm_attach(tp.path, 0, &c, why, sizeof why) != 0)
			_exit(1);
		if (write(go[1], &c1, 1) != 1)
			_exit(2);
		pause();
		_exit(0);
	}
	char c1;
	cr_assert_eq(read(go[0], &c1, 1), 1);
	uint64_t mask = tp_peer_mask(pid);
	cr_assert_neq(mask, 0, "the child's peer entry");
	uint32_t idx = (uint32_t)__builtin_ctzll(mask);
	set_slot_word(held.slot, 16, idx + 1);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cr_assert_eq(tp_reclaim_until(a, 1), 1, "the dead peer reclaimed");
	cr_assert_eq(slot_word(held.slot, 16), 0, "turn of reclaimed peer %u", idx);
	cr_assert_eq(vmshm_close(a, &held), 0);
	vmshm_detach(a);
	cr_assert_eq(tp_check("turns"), 0);
}

/* Two processes open and close one name that a third attach holds, as fast
 * as they can, racing on its holder word all the time. Every call succeeds,
 * and afterwards the holder word is exactly the holder's bit and the turn
 * word zero. */
enum { TURN_PAIRS = 200000 };

Test(turns, processes_race_on_one_holder_word, .init = tp_setup, .fini = tp_teardown,
     .timeout = 120)
{
	vmshm_pool *a = attach();
	vmshm_ref held;
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "turns", 4096, PAGE_READWRITE, 0, &held), 0);
	uint64_t holder_bits = slot_word(held.slot, 8);
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			vmshm_pool *c = NULL;
			char why[256];
			long fails = 0;
			if (vmshm_attach(tp.path, 0, &c, why, sizeof why) != 0)
				_exit(100);
			for (int i = 0; i < TURN_PAIRS; i++) {
				vmshm_ref r;
				if (vmshm_open(c, VMSHM_TYPE_SHM, "turns", &r) != 0 ||
				    vmshm_close(c, &r) != 0)
					fails++;
			}
			vmshm_detach(c);
			_exit(fails > 99 ? 99 : (int)fails);
		}
	}
	for (int k = 0; k < 2; k++) {
		int st = 0;
		waitpid(kids[k], &st, 0);
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d: exit %d", k,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	cr_assert_eq(slot_word(held.slot, 8), holder_bits, "the holder word: %#llx",
		     (unsigned long long)slot_word(held.slot, 8));
	cr_assert_eq(slot_word(held.slot, 16), 0, "the turn word: %#llx",
		     (unsigned long long)slot_word(held.slot, 16));
	cr_assert_eq(vmshm_close(a, &held), 0);
	vmshm_detach(a);
	cr_assert_eq(tp_stats().objects, 0, "objects left");
	cr_assert_eq(tp_check("turns"), 0);
}
