/*
 * hostctl.c - the harness's own small host helper for the pool of the
 * two-guest tests (everything users see goes through the vmshm CLI):
 *
 *   hostctl POOL go        creates the region host.go that the guests wait
 *                          for (held by the pool itself)
 *   hostctl POOL nogo      drops the pool's hold on host.go
 *   hostctl POOL free      prints the pool's free bytes and object count
 */
#include <stdio.h>
#include <string.h>

#include "vmshm.h"

int main(int argc, char **argv)
{
	char why[256];
	vmshm_pool *pool;
	vmshm_ref ref;
	int err;

	if (argc != 3) {
		fprintf(stderr, "usage: hostctl POOL go|nogo|free\n");
		return 2;
	}
	err = vmshm_attach(argv[1], 0, &pool, why, sizeof(why));
	if (err < 0) {
		fprintf(stderr, "hostctl: %s: %s (%s)\n", argv[1], vmshm_strerror(err), why);
		return 1;
	}
	if (strcmp(argv[2], "go") == 0) {
		err =
		    vmshm_create(pool, VMSHM_TYPE_SHM, "host.go", 4096, 0x04, VMSHM_PERSIST, &ref);
		if (err >= 0)
			err = vmshm_close(pool, &ref);
	} else if (strcmp(argv[2], "nogo") == 0) {
		err = vmshm_unpersist(pool, "host.go");
	} else if (strcmp(argv[2], "free") == 0) {
		struct vmshm_stats st;

		err = vmshm_stats(pool, &st);
		if (err >= 0)
			printf("%llu %u\n", (unsigned long long)st.free_bytes, st.objects);
	} else {
		fprintf(stderr, "hostctl: unknown command %s\n", argv[2]);
		err = VMSHM_EINVAL;
	}
	if (err < 0)
		fprintf(stderr, "hostctl: %s: %s\n", argv[2], vmshm_strerror(err));
	vmshm_detach(pool);
	return err < 0;
}
