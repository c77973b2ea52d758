/*
 * test_space.c - the page allocator under contention: two processes, each
 * holding at most one N-page object at a time, in a pool whose object space
 * has exactly 2N free pages. The space always exists as one run for the
 * next create, so no create may fail for want of space (issue 8, item 12).
 */
#include <stdio.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"

enum { SPACE_PROCS = 2, SPACE_MS = 2500 };

struct space_race {
	_Atomic int go;
	_Atomic long creates, enospc, other;
	_Atomic int last_rc;
};

/* A peer of its own: create and close an N-page object until the time is up. */
static int churn(struct space_race *r, int i, uint64_t pages)
{
	vmshm_pool *p = NULL;
	char why[256] = "", name[16];
	uint64_t end;

	if (vmshm_attach(tp.path, 0, &p, why, sizeof why) < 0)
		return 3;
	snprintf(name, sizeof name, "run-%d", i);
	if (proc_barrier(&r->go, SPACE_PROCS, 30000) < 0)
		return 4;
	end = now_ms() + SPACE_MS;
	while (now_ms() < end) {
		for (int k = 0; k < 256; k++) {
			vmshm_ref ref;
			int rc = vmshm_create(p, VMSHM_TYPE_SHM, name, pages * 4096, 0, 0, &ref);

			if (rc == 0) {
				r->creates++;
				vmshm_close(p, &ref);
			} else if (rc == VMSHM_ENOSPC) {
				r->enospc++;
			} else {
				r->other++;
				r->last_rc = rc;
			}
		}
	}
	vmshm_detach(p);
	return 0;
}

/* A pool of about 1 MiB whose free space is cut down to 2N pages by a
 * filler object held by the pool; then two processes churn. */
static void two_procs_in_2n_pages(uint64_t n)
{
	struct space_race *r = shared_area(sizeof *r);
	uint64_t total, filler;
	vmshm_pool *p = NULL;
	char why[256] = "";
	vmshm_ref ref;
	pid_t pid[SPACE_PROCS];
	struct vmshm_stats st;

	tp_remove();
	tp_make(1u << 20, 64);
	total = tp.empty.data_bytes / 4096;
	cr_assert_gt(total, 2 * n, "%llu data pages", (unsigned long long)total);
	filler = total - 2 * n;
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(
	    vmshm_create(p, VMSHM_TYPE_SHM, "filler", filler * 4096, 0, VMSHM_PERSIST, &ref), 0);
	vmshm_detach(p);
	st = tp_stats();
	cr_assert_eq(st.free_bytes, 2 * n * 4096);
	cr_assert_eq(st.largest_free, 2 * n * 4096);

	for (int i = 0; i < SPACE_PROCS; i++) {
		pid[i] = spawn_child();
		if (pid[i] == 0)
			_exit(churn(r, i, n));
	}
	for (int i = 0; i < SPACE_PROCS; i++)
		cr_expect_eq(wait_child(pid[i]), 0);
	fprintf(stderr, "space: N=%llu: %ld creates, %ld ENOSPC, %ld other errors\n",
		(unsigned long long)n, (long)r->creates, (long)r->enospc, (long)r->other);
	cr_assert_eq(r->other, 0, "%ld other errors, last %d", (long)r->other, r->last_rc);
	cr_assert_eq(r->enospc, 0, "N=%llu: %ld of %ld creates failed with ENOSPC",
		     (unsigned long long)n, (long)r->enospc, (long)(r->creates + r->enospc));
	cr_assert_gt(r->creates, 1000, "only %ld creates", (long)r->creates);
	cr_assert_eq(tp_objects(), 1, "only the filler is left");
	cr_assert_eq(tp_check("space"), 0);
	shared_area_free(r, sizeof *r);
}

Test(space, two_procs_2n_pages_n4, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	two_procs_in_2n_pages(4);
}

Test(space, two_procs_2n_pages_n64, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	two_procs_in_2n_pages(64);
}
