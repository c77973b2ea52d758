/*
 * test_pool.c - pools themselves: sizes and capacities, the refusal to
 * overwrite a formatted pool, and the layout of a 16 GiB pool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "aw.h"

Test(pool, sizes_and_capacity)
{
	void *buf = aligned_alloc(4096, 2u << 20);

	cr_assert_not_null(buf);
	cr_assert_eq(vmshm_format(buf, (1u << 20) - 4096, 0), VMSHM_EINVAL, "below 1 MiB");
	cr_assert_eq(vmshm_format(buf, (1u << 20) + 100, 0), VMSHM_EINVAL, "not whole pages");
	cr_assert_eq(vmshm_format(buf, 0, 0), VMSHM_EINVAL);
	cr_assert_eq(vmshm_format(NULL, 1u << 20, 0), VMSHM_EINVAL);
	cr_assert_eq(vmshm_format(buf, 1u << 20, 0), 0, "1 MiB is the smallest pool");
	cr_assert_eq(vmshm_format(buf, 2u << 20, 64), 0);
	cr_assert_geq(vmshm_default_objects(16u << 20), 4096, "default capacity of 16 MiB");
	cr_assert_geq(vmshm_default_objects(16ull << 30), 4096, "default capacity of 16 GiB");
	cr_assert_geq(vmshm_default_objects(1u << 20), 16);
	free(buf);
}

Test(pool, create_refuses_to_overwrite, .init = tp_setup, .fini = tp_teardown)
{
	struct vmshm_stats before, after;
	void *loc = NULL;
	HANDLE h;
	int rc;

	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "precious", &loc);
	assert_ok(h, 0, "create");
	before = tp_stats();
	rc = vmshm_pool_create(tp.path, TP_DEFAULT_SIZE, 0, 0);
	cr_assert_eq(rc, VMSHM_EEXISTS_FILE, "pool create over a pool: %d", rc);
	rc = vmshm_pool_create(tp.path, 32u << 20, 0, 0);
	cr_assert_eq(rc, VMSHM_EEXISTS_FILE, "pool create of another size over a pool: %d", rc);
	after = tp_stats();
	cr_assert_eq(memcmp(before.pool_id, after.pool_id, 16), 0, "the pool was replaced");
	cr_assert_eq(after.objects, 1);
	cr_assert_eq(after.pool_size, TP_DEFAULT_SIZE);
	cr_assert(RtCloseHandle(h));

	rc = vmshm_pool_create(tp.path, TP_DEFAULT_SIZE, 0, VMSHM_CREATE_FORCE);
	cr_assert_eq(rc, 0, "forced pool create: %d", rc);
	after = tp_stats();
	cr_assert_neq(memcmp(before.pool_id, after.pool_id, 16), 0, "a new pool has a new id");
	cr_assert_eq(after.objects, 0);
	cr_assert_eq(after.peers, 0);
}

/* A 16 GiB pool, formatted in a sparse mapping: the layout follows
 * docs/FORMAT.md (4096 slots by default, the owner table before the data).
 * The pool is not attached here: the file backend maps with MAP_POPULATE,
 * which would make the sparse file take 16 GiB of memory. */
Test(pool, sixteen_gib_format)
{
	const uint64_t size = 16ull << 30;
	uint64_t *h, owners, data, pages;
	uint8_t *base;

	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	cr_assert_neq(base, MAP_FAILED, "%s", strerror(errno));
	cr_assert_eq(vmshm_format(base, size, 0), 0);
	h = (uint64_t *)base;
	cr_assert_eq(h[0], 0x4c4f4f504d48534dull);
	cr_assert_eq(h[2], size, "pool_size");
	cr_assert_eq(*(uint32_t *)(base + 72), 4096, "slot_count");
	owners = h[10];
	data = h[11];
	pages = h[12];
	/* the slots, then 64 peers' hold words: 8 lanes of a bit a slot */
	cr_assert_eq(h[15], 20480 + 256ull * 4096, "holds_off");
	cr_assert_eq(*(uint32_t *)(base + 128), 8 * 512, "hold_stride");
	cr_assert_eq(*(uint32_t *)(base + 132), 8, "hold_lanes");
	cr_assert_eq(owners, 20480 + 256ull * 4096 + 64ull * 8 * 512, "owners_off");
	cr_assert_eq(data, owners + (pages * 8 + 4095) / 4096 * 4096, "data_off");
	cr_assert_leq(data + pages * 4096, size, "data past the end of the pool");
	cr_assert_gt(data + (pages + 1) * 4096 + ((pages + 1) * 8 + 4095) / 4096 * 4096 -
			 (pages * 8 + 4095) / 4096 * 4096,
		     size, "data_pages is not the largest that fits");
	munmap(base, size);
}
