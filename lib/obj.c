/*
 * obj.c - the object calls of vmshm.h (create, open, close, unpersist):
 * argument rules, and the reclaim of a creator found gone while a create
 * waits for it (under the attach's lock). It sits above the directory
 * (dir.c) and reclaim (reclaim.c). Open, close and create take no lock:
 * the directory's steps are lock-free, and so are the attach's local
 * reference counts (see local_ref).
 */
#include "internal.h"

static int check_type(int type)
{
	return type >= VMSHM_TYPE_SHM && type <= VMSHM_TYPE_SEMAPHORE ? 0 : VMSHM_EINVAL;
}

/* What every call on a named object needs: a valid name, an attach that is
 * still ours, and a peer entry (an observer holds nothing). */
static int enter(vmshm_pool *p, const char *name, struct dir_name *n)
{
	int rc;
	if ((rc = dir_name_prepare(name, n)) < 0)
		return rc;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	return p->self ? 0 : VMSHM_EPERM;
}

int vmshm_create(vmshm_pool *p, int type, const char *name, uint64_t size, uint32_t protect,
		 unsigned flags, vmshm_ref *out)
{
	struct dir_name n;
	struct dir_wait wt = {0, 0};
	int rc;
	/* An unnamed object held by the pool could never be let go: refused. */
	if (!p || !out || check_type(type) < 0 || (type == VMSHM_TYPE_SHM && size == 0) ||
	    (flags & ~(VMSHM_EXCL | VMSHM_PERSIST)) || (!name && (flags & VMSHM_PERSIST)))
		return VMSHM_EINVAL;
	if ((rc = enter(p, name, &n)) < 0)
		return rc;
	while ((rc = dir_create(p, type, &n, size, protect, flags, out, &wt)) == DIR_REAP) {
		/* The creator we wait for looked gone: reclaim it, then look
		 * again (its half-made object is rolled back). */
		plat_lock_take(&p->lock);
		if (reclaim_one(p, wt.gone_owner) > 0)
			space_sweep(&p->L);
		plat_lock_give(&p->lock);
	}
	return rc;
}

int vmshm_open(vmshm_pool *p, int type, const char *name, vmshm_ref *out)
{
	struct dir_name n;
	int rc;
	if (!p || !out || check_type(type) < 0 || !name)
		return VMSHM_EINVAL;
	if ((rc = enter(p, name, &n)) < 0)
		return rc;
	return dir_open(p, type, &n, out);
}

int vmshm_close(vmshm_pool *p, const vmshm_ref *ref)
{
	int rc;
	if (!p || !ref)
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	if (!p->self)
		return VMSHM_EPERM; /* an observer holds nothing */
	if (ref->slot >= p->L.slot_count)
		return VMSHM_EINVAL;
	return dir_close(p, ref);
}

int vmshm_unpersist(vmshm_pool *p, const char *name)
{
	struct dir_name n;
	int rc;
	if (!p || !name)
		return VMSHM_EINVAL;
	if ((rc = enter(p, name, &n)) < 0)
		return rc;
	plat_lock_take(&p->lock);
	rc = dir_unpersist(p, &n);
	plat_lock_give(&p->lock);
	return rc;
}
