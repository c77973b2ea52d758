/*
 * obj.c - the object calls of vmshm.h (create, open, close, unpersist):
 * argument rules, and the reclaim of a creator found gone while a create
 * waits for it (under the attach's lock). It sits above the directory
 * (dir.c) and reclaim (reclaim.c). Open, close and create take no lock:
 * the directory's steps are lock-free, and so are the attach's local
 * reference counts (see local_ref).
 */
#include <stdint.h>

#include "internal.h"

static int check_type(int type)
{
	return type >= VMSHM_TYPE_SHM && type <= VMSHM_TYPE_SEMAPHORE ? 0 : VMSHM_EINVAL;
}

/* What every call on a named object needs: a valid name (scanned only if
 * not FULL: an open checks the rest and makes the hash only when its hint
 * fails), an attach that is still ours, and a peer entry (an observer
 * holds nothing). */
static int enter(vmshm_pool *p, const char *name, struct dir_name *n, int full)
{
	int rc;
	if ((rc = full ? dir_name_prepare(name, n) : dir_name_scan(name, n)) < 0)
		return rc;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	return p->self ? 0 : VMSHM_EPERM;
}

/* Creates (or opens) an object of TYPE; events, mutexes and semaphores get
 * a body made from SP (defaults if NULL). */
static int create(vmshm_pool *p, int type, const char *name, uint64_t size, uint32_t protect,
		  unsigned flags, const struct sync_params *sp, vmshm_ref *out)
{
	struct dir_name n;
	uint64_t init[3];
	struct dir_ctx wt = {0, 0, NULL};
	int rc;
	/* An unnamed object held by the pool could never be let go: refused. */
	if (!p || !out || check_type(type) < 0 || (type == VMSHM_TYPE_SHM && size == 0) ||
	    (flags & ~(VMSHM_EXCL | VMSHM_PERSIST)) || (!name && (flags & VMSHM_PERSIST)))
		return VMSHM_EINVAL;
	if ((rc = enter(p, name, &n, 1)) < 0)
		return rc;
	if (type != VMSHM_TYPE_SHM) {
		size = FMT_SYNC_SIZE; /* its body (struct fmt_sync) */
		sync_init_words(p, type, sp, init);
		wt.init = init;
	}
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

int vmshm_create(vmshm_pool *p, int type, const char *name, uint64_t size, uint32_t protect,
		 unsigned flags, vmshm_ref *out)
{
	return create(p, type, name, size, protect, flags, NULL, out);
}

int vmshm_event_create(vmshm_pool *p, const char *name, int manual, int set, unsigned flags,
		       vmshm_ref *out)
{
	struct sync_params sp = {manual != 0, set != 0, 0};
	return create(p, VMSHM_TYPE_EVENT, name, 0, 0, flags, &sp, out);
}

int vmshm_mutex_create(vmshm_pool *p, const char *name, int owned, unsigned flags, vmshm_ref *out)
{
	struct sync_params sp = {0, owned != 0, 0};
	int rc = create(p, VMSHM_TYPE_MUTEX, name, 0, 0, flags, &sp, out);
	if (rc == 0 && owned)
		sync_track_owned(p, out);
	return rc;
}

int vmshm_semaphore_create(vmshm_pool *p, const char *name, uint32_t initial, uint32_t max,
			   unsigned flags, vmshm_ref *out)
{
	struct sync_params sp = {0, (int)initial, max};
	if (max == 0 || initial > max || max > INT32_MAX)
		return VMSHM_EINVAL;
	return create(p, VMSHM_TYPE_SEMAPHORE, name, 0, 0, flags, &sp, out);
}

/* What every call on an object reference R needs: an attach that is still
 * ours, a peer entry (an observer holds nothing), and a slot in range. */
static int enter_slot(vmshm_pool *p, const vmshm_ref *r)
{
	int rc;
	if (!p || !r)
		return VMSHM_EINVAL;
	if ((rc = pool_usable(p)) < 0)
		return rc;
	if (!p->self)
		return VMSHM_EPERM;
	return r->slot < p->L.slot_count ? 0 : VMSHM_EINVAL;
}

/* A call on an event, mutex or semaphore: enter_slot, and a reference this
 * attach holds, of TYPE (0: any of the three). The reference table is
 * atomic words: no lock. */
static int enter_ref(vmshm_pool *p, const vmshm_ref *r, int type)
{
	int rc;
	if ((rc = enter_slot(p, r)) < 0)
		return rc;
	if (!r->addr || r->size < FMT_SYNC_SIZE)
		return VMSHM_EINVAL;
	uint64_t v = dir_local_ref(p, r->slot);
	if (LREF_COUNT(v) == 0 || LREF_GEN(v) != r->gen)
		return VMSHM_EINVAL; /* not a reference this attach holds */
	if (type ? (int)r->type != type : r->type == VMSHM_TYPE_SHM)
		return VMSHM_ETYPE;
	return 0;
}

static int event_change(vmshm_pool *p, const vmshm_ref *r, int how)
{
	int rc = enter_ref(p, r, VMSHM_TYPE_EVENT);
	return rc < 0 ? rc : sync_event_change(p, r, how);
}

int vmshm_event_set(vmshm_pool *p, const vmshm_ref *r)
{
	return event_change(p, r, SYNC_SET);
}

int vmshm_event_reset(vmshm_pool *p, const vmshm_ref *r)
{
	return event_change(p, r, SYNC_RESET);
}

int vmshm_event_pulse(vmshm_pool *p, const vmshm_ref *r)
{
	return event_change(p, r, SYNC_PULSE);
}

int vmshm_mutex_release(vmshm_pool *p, const vmshm_ref *r)
{
	int rc = enter_ref(p, r, VMSHM_TYPE_MUTEX);
	return rc < 0 ? rc : sync_mutex_release(p, r);
}

int vmshm_semaphore_release(vmshm_pool *p, const vmshm_ref *r, uint32_t count, uint32_t *prev)
{
	if (count == 0 || count > INT32_MAX)
		return VMSHM_EINVAL;
	int rc = enter_ref(p, r, VMSHM_TYPE_SEMAPHORE);
	return rc < 0 ? rc : sync_semaphore_release(p, r, count, prev);
}

int vmshm_wait(vmshm_pool *p, const vmshm_ref *refs, uint32_t n, uint64_t timeout_ns,
	       uint32_t *index)
{
	uint32_t dummy;
	if (!p || !refs || n == 0 || n > VMSHM_WAIT_MAX)
		return VMSHM_EINVAL;
	int rc = 0;
	for (uint32_t i = 0; i < n && rc == 0; i++)
		rc = enter_ref(p, &refs[i], 0);
	return rc < 0 ? rc : sync_wait(p, refs, n, timeout_ns, index ? index : &dummy);
}

/* An open whose lookup waited for a last closer that looked gone: reclaims
 * it (its judgment is rolled back and made again), then looks again. */
COLD_PATH static int open_after_reap(vmshm_pool *p, int type, struct dir_name *n, vmshm_ref *out,
				     struct dir_ctx *wt)
{
	int rc;
	do {
		plat_lock_take(&p->lock);
		if (reclaim_one(p, wt->gone_owner) > 0)
			space_sweep(&p->L);
		plat_lock_give(&p->lock);
	} while ((rc = dir_open(p, type, n, out, wt)) == DIR_REAP);
	return rc;
}

int vmshm_open(vmshm_pool *p, int type, const char *name, vmshm_ref *out)
{
	struct dir_name n;
	int rc;
	if (!p || !out || check_type(type) < 0 || !name)
		return VMSHM_EINVAL;
	if ((rc = enter(p, name, &n, 0)) < 0)
		return rc;
	struct dir_ctx wt = {0, 0, NULL};
	rc = dir_open(p, type, &n, out, &wt);
	return rc == DIR_REAP ? open_after_reap(p, type, &n, out, &wt) : rc;
}

int vmshm_close(vmshm_pool *p, const vmshm_ref *ref)
{
	int rc = enter_slot(p, ref);
	return rc < 0 ? rc : dir_close(p, ref);
}

int vmshm_unpersist(vmshm_pool *p, const char *name)
{
	struct dir_name n;
	int rc;
	if (!p || !name)
		return VMSHM_EINVAL;
	if ((rc = enter(p, name, &n, 1)) < 0)
		return rc;
	struct dir_ctx wt = {0, 0, NULL};
	plat_lock_take(&p->lock);
	while ((rc = dir_unpersist(p, &n, &wt)) == DIR_REAP) {
		/* The last closer we wait for looked gone: reclaim it, as an
		 * open would (we hold the attach's lock), then look again. */
		if (reclaim_one(p, wt.gone_owner) > 0)
			space_sweep(&p->L);
	}
	plat_lock_give(&p->lock);
	return rc;
}
