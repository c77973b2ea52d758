/*
 * test_native.c - argument rules of the native API that the RtApi layer
 * never exercises: refused calls change nothing and name the reason.
 */
#include <criterion/criterion.h>

#include "helpers.h"

Test(native, refused_arguments_change_nothing, .init = tp_setup, .fini = tp_teardown)
{
	vmshm_pool *p = NULL, *obs = NULL;
	vmshm_ref r;
	char why[256] = "";

	cr_assert_eq(vmshm_attach(tp.path, 0x80, &p, why, sizeof(why)), VMSHM_EINVAL);
	cr_assert_null(p);
	cr_assert_neq(why[0], 0, "no reason given for unknown flags");
	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof(why)), 0, "%s", why);

	/* No reference to hand back, no way to drop one: refused. */
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, "x", 4096, 4, 0, NULL), VMSHM_EINVAL);
	cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, "x", NULL), VMSHM_EINVAL);
	/* An unnamed object held by the pool could never be let go. */
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, NULL, 4096, 4, VMSHM_PERSIST, &r),
		     VMSHM_EINVAL);
	cr_assert_eq(vmshm_create(p, 9, "x", 4096, 4, 0, &r), VMSHM_EINVAL);
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, "x", 0, 4, 0, &r), VMSHM_EINVAL);
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, "x", 4096, 4, 0x10, &r), VMSHM_EINVAL);

	/* An observer holds nothing and destroys nothing. */
	cr_assert_eq(vmshm_create(p, VMSHM_TYPE_SHM, "kept", 4096, 4, VMSHM_PERSIST, &r), 0);
	cr_assert_eq(vmshm_close(p, &r), 0);
	cr_assert_eq(vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER, &obs, why, sizeof(why)), 0);
	cr_assert_eq(vmshm_self(obs), 0);
	cr_assert_eq(vmshm_create(obs, VMSHM_TYPE_SHM, "y", 4096, 4, 0, &r), VMSHM_EPERM);
	cr_assert_eq(vmshm_open(obs, VMSHM_TYPE_SHM, "kept", &r), VMSHM_EPERM);
	cr_assert_eq(vmshm_unpersist(obs, "kept"), VMSHM_EPERM);
	vmshm_detach(obs);

	struct vmshm_stats st;
	cr_assert_eq(vmshm_stats(p, &st), 0);
	cr_assert_eq(st.objects, 1, "only 'kept' exists, found %u objects", st.objects);
	cr_assert_eq(vmshm_unpersist(p, "kept"), 0);
	cr_assert_eq(vmshm_unpersist(p, "kept"), VMSHM_ENOENT);
	vmshm_detach(p);
	st = tp_stats();
	cr_assert_eq(st.objects, 0);
	cr_assert_eq(st.free_bytes, tp.empty.free_bytes);
}
