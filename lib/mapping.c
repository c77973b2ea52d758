/*
 * mapping.c - what the backend knows about its mapping of the pool: the
 * memory type and which doorbell vectors rang.
 */
#include "backend.h"
#include "internal.h"
#include "vmshm.h"

const char *vmshm_memory_type(const vmshm_pool *p)
{
	if (!p)
		return "unknown";
	return p->map.memtype ? p->map.memtype : "unknown";
}

int vmshm_doorbell_wait_vectors(vmshm_pool *p, int timeout_ms, uint64_t *vectors)
{
	uint64_t dummy;
	int rc;

	if (!vectors)
		vectors = &dummy;
	*vectors = 0;
	if (!p)
		return VMSHM_EINVAL;
	if (p->map.be->wait_vectors)
		return p->map.be->wait_vectors(&p->map, timeout_ms, vectors);
	if (!p->map.be->wait)
		return VMSHM_ENOTSUP;
	rc = p->map.be->wait(&p->map, timeout_ms);
	return rc;
}
