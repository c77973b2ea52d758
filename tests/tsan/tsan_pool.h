/*
 * tsan_pool.h - the pool of a TSan program (tests/tsan/): made under
 * /dev/shm with its empty statistics, and checked clean and empty at the
 * end. Header-only: each TSan program is one source file.
 */
#ifndef VMSHM_TSAN_POOL_H
#define VMSHM_TSAN_POOL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vmshm.h"

/* Creates the pool PATH (TAG and the pid in its name) of SIZE bytes, sets
 * VMSHM_POOL and records its EMPTY statistics: 0, or -1 (said on stderr). */
static inline int tsan_pool_make(char *path, size_t len, const char *tag, uint64_t size,
				 struct vmshm_stats *empty)
{
	vmshm_pool *p;
	char why[256] = "";
	int rc;

	snprintf(path, len, "/dev/shm/vmshm-%s-%ld", tag, (long)getpid());
	rc = vmshm_pool_create(path, size, 0, VMSHM_CREATE_FORCE);
	if (rc < 0) {
		fprintf(stderr, "%s: pool create: %s\n", tag, vmshm_strerror(rc));
		return -1;
	}
	setenv("VMSHM_POOL", path, 1);
	vmshm_attach(path, VMSHM_ATTACH_OBSERVER, &p, why, sizeof why);
	vmshm_stats(p, empty);
	vmshm_detach(p);
	return 0;
}

/* 0 if the pool PATH has no fault, no object and all of EMPTY's free
 * space; else -1 (said on stderr). Removes the pool file. */
static inline int tsan_pool_clean(const char *path, const char *tag,
				  const struct vmshm_stats *empty)
{
	vmshm_pool *p;
	struct vmshm_stats st;
	char why[256] = "";
	int rc = vmshm_attach(path, VMSHM_ATTACH_OBSERVER, &p, why, sizeof why);
	int faults = rc < 0 ? -1 : vmshm_check(p, NULL, NULL);

	if (rc == 0) {
		vmshm_stats(p, &st);
		vmshm_detach(p);
	}
	unlink(path);
	if (rc == 0 && faults == 0 && st.objects == 0 && st.free_bytes == empty->free_bytes)
		return 0;
	fprintf(stderr, "%s: after the threads: %d faults, %u objects, free %llu of %llu\n", tag,
		faults, rc == 0 ? st.objects : 0,
		rc == 0 ? (unsigned long long)st.free_bytes : 0ull,
		(unsigned long long)empty->free_bytes);
	return -1;
}

#endif
