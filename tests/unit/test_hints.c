/*
 * test_hints.c - the open's hints (lib/dir.c, "hints"): an attach notes
 * where an open found each name and looks there first next time. A hint is
 * never believed: whatever the slot it names holds now (nothing, another
 * name, the name of another type, a new object of the same name elsewhere),
 * the open answers as a lookup would.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"

static vmshm_pool *attach(void)
{
	vmshm_pool *p = NULL;
	char why[256] = "";
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	return p;
}

/* B's hint for "hint-a" names a slot that later holds another name, then
 * "hint-a" is made again in another slot, then looked for as an event. */
Test(hints, stale_hint_is_never_believed, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach(), *b = attach();
	vmshm_ref ra, rb, ry;
	char y[32];
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "hint-a", 4096, PAGE_READWRITE, 0, &ra), 0);
	uint32_t first = ra.slot;
	for (int i = 0; i < 3; i++) { /* the first open notes the slot, the others use it */
		cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "hint-a", &rb), 0);
		cr_assert_eq(rb.slot, first);
		cr_assert_eq(vmshm_close(b, &rb), 0);
	}
	cr_assert_eq(vmshm_close(a, &ra), 0);
	cr_assert_eq(tp_stats().objects, 0);

	/* Another name takes the slot B's hint names. */
	tp_name_homed_at(a, first, "hint-y", y, sizeof y);
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, y, 4096, PAGE_READWRITE, 0, &ry), 0);
	cr_assert_eq(ry.slot, first, "%s did not land in the slot of hint-a", y);
	memset(ry.addr, 0x3c, 4096);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "hint-a", &rb), VMSHM_ENOENT);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, y, &rb), 0);
	cr_assert_eq(rb.slot, first);
	cr_assert_eq(((unsigned char *)rb.addr)[4095], 0x3c);
	cr_assert_eq(vmshm_close(b, &rb), 0);

	/* hint-a again, in another slot (its home is taken): B finds it there. */
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, "hint-a", 8192, PAGE_READWRITE, 0, &ra), 0);
	cr_assert_neq(ra.slot, first);
	memset(ra.addr, 0x77, 8192);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "hint-a", &rb), 0);
		cr_assert_eq(rb.slot, ra.slot);
		cr_assert_eq(rb.gen, ra.gen);
		cr_assert_eq(rb.size, 8192);
		cr_assert_eq(((unsigned char *)rb.addr)[8191], 0x77);
		cr_assert_eq(vmshm_close(b, &rb), 0);
	}
	/* The hint leads to a memory object: an open of another type is told so. */
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_EVENT, "hint-a", &rb), VMSHM_ETYPE);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, y, &rb), 0);
	cr_assert_eq(vmshm_close(b, &rb), 0);

	cr_assert_eq(vmshm_close(a, &ra), 0);
	cr_assert_eq(vmshm_close(a, &ry), 0);
	vmshm_detach(b);
	vmshm_detach(a);
	cr_assert_eq(tp_stats().objects, 0);
	cr_assert_eq(tp_check("hints"), 0);
}

/* More names than an attach has hints (256): many share one, so opens in
 * turn keep writing over each other's hints; every open still gets its own
 * object. Names that share their first and last 8 bytes, and names of 1 to
 * 8 bytes, are among them. */
#define NAMES 600
Test(hints, shared_hints_open_the_right_objects, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach(), *b = attach();
	static vmshm_ref made[NAMES];
	static char names[NAMES][48];
	for (int i = 0; i < NAMES; i++) {
		if (i < 200)
			snprintf(names[i], sizeof names[i], "%d", i);
		else /* 16 bytes alike at each end, the middle differs */
			snprintf(names[i], sizeof names[i], "Global\\Plant-%04d-Sensor\\Block", i);
		cr_assert_eq(
		    vmshm_create(a, VMSHM_TYPE_SHM, names[i], 64, PAGE_READWRITE, 0, &made[i]), 0,
		    "create %s", names[i]);
		memcpy(made[i].addr, &i, sizeof i);
	}
	for (int round = 0; round < 3; round++) {
		for (int k = 0; k < NAMES; k++) {
			int i = (k * 7 + round) % NAMES; /* not in the order of creation */
			vmshm_ref r;
			int got = -1;
			cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, names[i], &r), 0, "open %s",
				     names[i]);
			memcpy(&got, r.addr, sizeof got);
			cr_assert_eq(got, i, "open of %s gave the object of %s", names[i],
				     got >= 0 && got < NAMES ? names[got] : "?");
			cr_assert_eq(r.slot, made[i].slot);
			cr_assert_eq(vmshm_close(b, &r), 0);
		}
	}
	for (int i = 0; i < NAMES; i++)
		cr_assert_eq(vmshm_close(a, &made[i]), 0);
	vmshm_detach(b);
	vmshm_detach(a);
	cr_assert_eq(tp_stats().objects, 0);
}

/* The open checks a name in full when its hint does not serve: a name that
 * is not ASCII is opened by the lookup each time; a bad name is refused
 * with the same error, hint or no hint. */
Test(hints, names_checked_without_a_hint, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *a = attach(), *b = attach();
	vmshm_ref ra, rb;
	const char *uni = "Sensor-\xc3\x9c\xe5\x90\x8d";
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, uni, 4096, PAGE_READWRITE, 0, &ra), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, uni, &rb), 0);
		cr_assert_eq(rb.slot, ra.slot);
		cr_assert_eq(vmshm_close(b, &rb), 0);
	}
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "Sensor-\xff", &rb), VMSHM_ENAME);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "Sensor-\xc3", &rb), VMSHM_ENAME);

	/* A hostile peer writes a bad name into the slot B's hint names (its
	 * first and last 8 bytes, and so the hint, are those of the good one):
	 * an open of that bad name is still refused as bad, not found there. */
	const char *good = "Plant-0-Sensor-17-Block", *bad = "Plant-0-\xff\xfe"
							     "nsor-17-Block";
	cr_assert_eq(strlen(good), strlen(bad));
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, good, 4096, PAGE_READWRITE, 0, &ra), 0);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, good, &rb), 0);
	cr_assert_eq(vmshm_close(b, &rb), 0);
	uint64_t slots;
	tp_peek(64, &slots, 8);
	tp_poke(slots + 256ull * ra.slot + 80, bad, strlen(bad));
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, bad, &rb), VMSHM_ENAME);
	tp_poke(slots + 256ull * ra.slot + 80, good, strlen(good));
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, good, &rb), 0);
	cr_assert_eq(vmshm_close(b, &rb), 0);
	cr_assert_eq(vmshm_close(a, &ra), 0);
	static char longest[VMSHM_NAME_MAX_UNITS + 2];
	memset(longest, 'n', VMSHM_NAME_MAX_UNITS);
	cr_assert_eq(vmshm_create(a, VMSHM_TYPE_SHM, longest, 64, PAGE_READWRITE, 0, &ra), 0);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, longest, &rb), 0);
		cr_assert_eq(vmshm_close(b, &rb), 0);
	}
	longest[VMSHM_NAME_MAX_UNITS] = 'n'; /* one unit too many */
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, longest, &rb), VMSHM_ENAMELEN);
	cr_assert_eq(vmshm_open(b, VMSHM_TYPE_SHM, "", &rb), VMSHM_ENAME);
	vmshm_detach(b);
	vmshm_detach(a);
	cr_assert_eq(tp_stats().objects, 0);
}
