/*
 * test_check.c - what vmshm_check says about names that more than one live
 * object holds: each later object of a name is named once, with the first
 * slot of that name, whatever the number of copies (the check finds them
 * through a table of hashes, in one pass).
 *
 * Offsets are those of docs/FORMAT.md: slots_off at 64 in the header; in a
 * slot, maxprobe at 64 (left alone: it belongs to the slot as a home).
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"

enum { COPIES = 3 };

struct dups {
	int n, other;
	uint32_t where[8];
	char what[8][sizeof(((struct vmshm_fault *)0)->what)];
};

static void note_dup(const struct vmshm_fault *f, void *arg)
{
	struct dups *d = arg;

	if (f->code != VMSHM_FAULT_DUP_NAME) {
		d->other++;
		return;
	}
	if (d->n < 8) {
		d->where[d->n] = f->where;
		snprintf(d->what[d->n], sizeof d->what[0], "%s", f->what);
	}
	d->n++;
}

/* Persisted mutexes (no pages) named NAMES[0..n). Returns their slots. */
static void make_objects(const char *const *names, int n, uint32_t *slot)
{
	vmshm_pool *p = NULL;
	char why[256] = "";

	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	for (int i = 0; i < n; i++) {
		vmshm_ref ref;

		cr_assert_eq(vmshm_create(p, VMSHM_TYPE_MUTEX, names[i], 0, 0, VMSHM_PERSIST, &ref),
			     0, "create %s", names[i]);
		slot[i] = ref.slot;
	}
	vmshm_detach(p);
}

/* Copies slot FROM over slot TO, all but TO's probe bound. */
static void copy_slot(uint64_t slots, uint32_t from, uint32_t to)
{
	uint8_t rec[256];

	tp_peek(slots + 256ull * from, rec, sizeof rec);
	tp_poke(slots + 256ull * to, rec, 64);
	tp_poke(slots + 256ull * to + 72, rec + 72, sizeof rec - 72);
}

Test(check, dup_name_once_per_extra_object, .init = tp_setup, .fini = tp_teardown)
{
	static const char *const names[] = {"dup-a", "dup-b", "dup-c", "dup-d", "dup-e"};
	uint32_t slot[5], lo = 0;
	uint64_t slots;
	struct dups d = {0};
	vmshm_pool *p = NULL;
	char why[256] = "", want[64];

	make_objects(names, 5, slot);
	tp_peek(64, &slots, 8);
	/* The lowest slot keeps its name; COPIES others take it over. */
	for (int i = 1; i < 5; i++)
		if (slot[i] < slot[lo])
			lo = (uint32_t)i;
	for (int i = 0, copied = 0; i < 5 && copied < COPIES; i++)
		if ((uint32_t)i != lo) {
			copy_slot(slots, slot[lo], slot[i]);
			copied++;
		}
	cr_assert_eq(vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &p, why,
				  sizeof why),
		     0, "%s", why);
	vmshm_check(p, note_dup, &d);
	vmshm_detach(p);
	cr_assert_eq(d.n, COPIES, "%d dup-name faults for %d copies of one name", d.n, COPIES);
	snprintf(want, sizeof want, "slots %u and ", slot[lo]);
	for (int i = 0; i < d.n; i++) {
		cr_assert_neq(d.where[i], slot[lo], "the first slot of the name was named");
		cr_assert_eq(strncmp(d.what[i], want, strlen(want)), 0,
			     "'%s' does not name slot %u", d.what[i], slot[lo]);
		cr_assert_neq(strstr(d.what[i], names[lo]), NULL, "'%s' does not name \"%s\"",
			      d.what[i], names[lo]);
	}
}

/* A clean pool full of names, some sharing a hash home: no fault. */
Test(check, full_directory_clean, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *p = NULL;
	char why[256] = "";
	uint32_t cap;

	tp_remove();
	tp_make(1u << 20, 64);
	cap = tp.empty.object_capacity;
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	for (uint32_t i = 0; i < cap; i++) {
		char name[32];
		vmshm_ref ref;

		snprintf(name, sizeof name, "full-%u", i);
		cr_assert_eq(vmshm_create(p, VMSHM_TYPE_EVENT, name, 0, 0, 0, &ref), 0, "%s", name);
	}
	cr_assert_eq(check_pool(p, "full"), 0);
	vmshm_detach(p);
}
