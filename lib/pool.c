/*
 * pool.c - attaching a pool through a backend, and the read-only views of
 * it: statistics, the object list and the peer list.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *vmshm_strerror(int err)
{
	switch (err) {
	case VMSHM_OK:
		return "success";
	case VMSHM_EINVAL:
		return "invalid argument";
	case VMSHM_ENOENT:
		return "no object of that name";
	case VMSHM_EEXIST:
		return "an object of that name exists";
	case VMSHM_ETYPE:
		return "the name belongs to an object of another type";
	case VMSHM_ETOOBIG:
		return "the existing object is smaller than the size asked";
	case VMSHM_ENOSPC:
		return "not enough free space in the pool";
	case VMSHM_ENOSLOT:
		return "the pool's directory is full";
	case VMSHM_ENOPEER:
		return "the pool's peer table is full";
	case VMSHM_ENAMELEN:
		return "name longer than 259 characters";
	case VMSHM_ENAME:
		return "empty or invalid name";
	case VMSHM_EFORMAT:
		return "not a vmshm pool";
	case VMSHM_EVERSION:
		return "pool format version not supported";
	case VMSHM_EIO:
		return "cannot open or map the pool";
	case VMSHM_EBUSY:
		return "another peer is midway through the same name";
	case VMSHM_ECORRUPT:
		return "directory entry failed validation";
	case VMSHM_ENOPOOL:
		return "no pool found";
	case VMSHM_ESTALE:
		return "pool attached before fork(): attach again";
	case VMSHM_ENOTSUP:
		return "not supported by this backend";
	case VMSHM_EEXISTS_FILE:
		return "the file already holds a pool";
	case VMSHM_EPERM:
		return "permission denied";
	case VMSHM_ETIMEDOUT:
		return "timed out";
	case VMSHM_ENOTOWNER:
		return "the calling thread does not own the mutex";
	case VMSHM_ETOOMANY:
		return "the semaphore would pass its maximum count";
	}
	return "unknown error";
}

const char *vmshm_type_name(int type)
{
	switch (type) {
	case VMSHM_TYPE_SHM:
		return "shm";
	case VMSHM_TYPE_EVENT:
		return "event";
	case VMSHM_TYPE_MUTEX:
		return "mutex";
	case VMSHM_TYPE_SEMAPHORE:
		return "semaphore";
	}
	return "invalid";
}

const char *vmshm_obj_state_name(int state)
{
	static const char *const names[] = {"free",  "creating", "live",
					    "dying", "aborted",  "closing"};
	return state >= 0 && state <= VMSHM_OBJ_CLOSING ? names[state] : "invalid";
}

const char *vmshm_peer_state_name(int state)
{
	static const char *const names[] = {"free", "claiming",   "alive",
					    "dead", "reclaiming", "fenced"};
	return state >= 0 && state <= VMSHM_PEER_FENCED ? names[state] : "invalid";
}

void be_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* The attaches of this process that are not yet detached: a thread's exit
 * hook (sync.c) may outlive the attach it was registered for. */
static vmshm_pool *live[256];
static plat_lock live_lock;

static void live_init(void)
{
	plat_lock_init(&live_lock);
}

static void live_add(vmshm_pool *p)
{
	plat_lock_take(&live_lock);
	for (int i = 0; i < 256; i++)
		if (!live[i]) {
			live[i] = p;
			break;
		}
	plat_lock_give(&live_lock);
}

static void live_remove(vmshm_pool *p)
{
	plat_lock_take(&live_lock);
	for (int i = 0; i < 256; i++)
		if (live[i] == p)
			live[i] = NULL;
	plat_lock_give(&live_lock);
}

int pool_alive(const vmshm_pool *p)
{
	int found = 0;
	plat_lock_take(&live_lock);
	for (int i = 0; i < 256 && !found; i++)
		found = live[i] == p;
	plat_lock_give(&live_lock);
	return found;
}

static const char *test_stop;

static void test_stop_init(void)
{
	test_stop = plat_getenv("VMSHM_TEST_STOP");
}

void test_stop_point(const char *where)
{
	if (test_stop && strcmp(test_stop, where) == 0) {
		test_stop = NULL; /* once */
		plat_stop_self();
	}
}

static void fork_init(void)
{
	(void)plat_fork_epoch();
	test_stop_init();
	live_init();
	sync_process_init();
}

static const struct backend *pick(const char *spec)
{
	for (int i = 0; be_table[i]; i++)
		if (be_table[i]->claims(spec))
			return be_table[i];
	return NULL;
}

/* Claims a peer entry: a free one, else (the table full) one whose
 * occupant is proven gone, after a reclaim if allowed. */
static int attach_peer(vmshm_pool *p, unsigned flags, char *why, size_t whylen)
{
	p->waiting = calloc(p->L.slot_count, sizeof(*p->waiting));
	if (dir_lanes_make(p) < 0 || !p->waiting) {
		be_why(why, whylen, "out of memory");
		return VMSHM_EIO;
	}
	const char *spin = plat_getenv("VMSHM_SPIN_US");
	p->spin_ns = spin ? strtoull(spin, NULL, 10) * 1000u : 0;
	int rc = peer_attach(p);
	if (rc == VMSHM_ENOPEER && (rc = peer_inherit(p)) > 0)
		reclaim_inherited(p); /* the old occupant's leavings, before anything */
	if (rc < 0) {
		be_why(why, whylen,
		       "the pool's %u peer entries are all in use by peers not proven gone "
		       "(vmshm peers)",
		       p->L.peer_count - 1);
		return rc;
	}
	/* Our hold words are zero after a clean detach or a reclaim; made so
	 * again in case a damaged pool left a bit that would keep an object. */
	dir_hold_words_clear(&p->L, p->self);
	if (!(flags & VMSHM_ATTACH_NORECLAIM))
		vmshm_reclaim(p);
	return 0;
}

int vmshm_attach(const char *spec, unsigned flags, vmshm_pool **out, char *why, size_t whylen)
{
	char found[256];
	int rc;
	if (!out)
		return VMSHM_EINVAL;
	*out = NULL;
	if (flags & ~(VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM)) {
		be_why(why, whylen, "unknown attach flags 0x%x", flags);
		return VMSHM_EINVAL;
	}
	plat_once(fork_init);
	if (!spec || !*spec)
		spec = plat_getenv("VMSHM_POOL");
	if (!spec || !*spec) {
		spec = NULL;
		for (int i = 0; be_table[i] && !spec; i++)
			if (be_table[i]->discover &&
			    be_table[i]->discover(found, sizeof(found)) == 0)
				spec = found;
		if (!spec) {
			be_why(why, whylen, "no pool: set VMSHM_POOL (no ivshmem device found)");
			return VMSHM_ENOPOOL;
		}
	}
	const struct backend *be = pick(spec);
	if (!be) {
		be_why(why, whylen, "%s: no backend for this kind of pool", spec);
		return VMSHM_ENOPOOL;
	}
	vmshm_pool *p = calloc(1, sizeof(*p));
	if (!p) {
		be_why(why, whylen, "out of memory");
		return VMSHM_EIO;
	}
	p->map.ivposition = -1;
	p->map.lock_fd = -1;
	if ((rc = be->open(spec, &p->map, why, whylen)) < 0) {
		free(p);
		return rc;
	}
	p->map.be = be;
	if (p->map.readonly && !(flags & VMSHM_ATTACH_OBSERVER)) {
		be_why(why, whylen, "%s: read-only for this user: only observers may attach", spec);
		rc = VMSHM_EPERM;
		goto fail;
	}
	const char *iv = plat_getenv("VMSHM_IVPOSITION");
	if (p->map.ivposition < 0 && iv && *iv)
		p->map.ivposition = (int32_t)strtol(iv, NULL, 10);
	if ((rc = fmt_load(p->map.base, p->map.size, &p->L, why, whylen)) < 0)
		goto fail;
	/* The tables now, so that no call takes a page fault on them; the
	 * object space as it is first touched, or now with VMSHM_PREFAULT=all
	 * (for real-time programs that must never fault). Attach then costs
	 * the tables' size, not the pool's. */
	const char *pf = plat_getenv("VMSHM_PREFAULT");
	if (!p->map.readonly) /* the prefault writes (a zero OR) */
		plat_prefault(p->map.base,
			      pf && strcmp(pf, "all") == 0 ? p->map.size : p->L.data_off);
	p->fork_epoch = plat_fork_epoch();
	plat_lock_init(&p->lock);
	/* Observers judge peers too (vmshm peers, check): all need the OS
	 * instance's identity and the lock file. */
	if ((rc = plat_identity(&p->ident)) < 0) {
		be_why(why, whylen, "cannot determine this process's identity");
		goto fail;
	}
	peer_judge_init(p);
	if (!(flags & VMSHM_ATTACH_OBSERVER) && (rc = attach_peer(p, flags, why, whylen)) < 0)
		goto fail;
	live_add(p);
	*out = p;
	return 0;
fail:
	be->close(&p->map);
	plat_close_fd(p->map.lock_fd);
	dir_lanes_free(p);
	free((void *)p->waiting);
	free(p);
	return rc;
}

void vmshm_detach(vmshm_pool *p)
{
	if (!p)
		return;
	/* In a forked child, or after our entry was fenced, the peer entry
	 * and the holder bits are not ours to drop: only unmap. The lock byte
	 * goes last, once nothing of this attach can write: a judge that sees
	 * it released may then reclaim whatever the entry still holds. */
	int mine = pool_usable(p) == 0;
	if (p->fork_epoch == plat_fork_epoch())
		plat_lock_take(&p->lock);
	live_remove(p);
	if (mine && p->self) {
		sync_detach(p);
		dir_detach(p);
		peer_release(p);
	}
	int lock_fd = p->map.lock_fd;
	p->map.lock_fd = -1;
	p->map.be->close(&p->map);
	if (p->self && p->judge.kind == FMT_JUDGE_LOCK && p->fork_epoch == plat_fork_epoch())
		plat_peer_unlock(lock_fd, p->self);
	plat_close_fd(lock_fd);
	if (p->fork_epoch == plat_fork_epoch())
		plat_lock_give(&p->lock);
	dir_lanes_free(p);
	free((void *)p->waiting);
	free(p);
}

void *vmshm_base(const vmshm_pool *p)
{
	return p ? p->map.base : NULL;
}

uint64_t vmshm_size(const vmshm_pool *p)
{
	return p ? p->map.size : 0;
}

int vmshm_self(const vmshm_pool *p)
{
	return p ? (int)p->self : 0;
}

const char *vmshm_backend_name(const vmshm_pool *p)
{
	return p ? p->map.be->name : "";
}

int vmshm_stats(vmshm_pool *p, struct vmshm_stats *st)
{
	if (!p || !st)
		return VMSHM_EINVAL;
	const struct fmt_layout *L = &p->L;
	memset(st, 0, sizeof(*st));
	st->version_major = L->major;
	st->version_minor = L->minor;
	st->pool_size = L->pool_size;
	memcpy(st->pool_id, L->pool_id, 16);
	st->data_offset = L->data_off;
	st->data_bytes = L->data_pages * FMT_PAGE;
	st->object_capacity = L->slot_count;
	st->peer_capacity = L->peer_count - 1;
	uint64_t used = 0, run = 0, best = 0;
	for (uint64_t pg = 0; pg < L->data_pages; pg++) {
		if (atomic_load_explicit(fmt_owner(L, pg), memory_order_relaxed)) {
			used++;
			run = 0;
		} else if (++run > best) {
			best = run;
		}
	}
	st->used_bytes = used * FMT_PAGE;
	st->free_bytes = (L->data_pages - used) * FMT_PAGE;
	st->largest_free = best * FMT_PAGE;
	for (uint32_t s = 0; s < L->slot_count; s++)
		if (SW_STATE(LD(&fmt_slot(L, s)->state)) != VMSHM_OBJ_FREE)
			st->objects++;
	for (uint32_t i = 1; i < L->peer_count; i++)
		if (PW_STATE(LD(&fmt_peer(L, i)->state)) != VMSHM_PEER_FREE)
			st->peers++;
	return 0;
}

/* The state of an event, mutex or semaphore, for vmshm_list (a look, not
 * a hold: it may be stale by the time it is shown). */
static void list_sync_state(const vmshm_pool *p, uint32_t s, uint64_t w, struct vmshm_objinfo *oi)
{
	vmshm_ref r;
	if (SW_STATE(w) != VMSHM_OBJ_LIVE || oi->type == VMSHM_TYPE_SHM ||
	    dir_ref_of(p, s, w, &r) < 0 || !r.addr || r.size < FMT_SYNC_SIZE)
		return;
	const struct fmt_sync *b = r.addr;
	uint64_t st = LD(&b->state), prm = LD(&b->param);
	oi->waiters = LD(&b->waiters);
	switch (oi->type) {
	case VMSHM_TYPE_EVENT:
		oi->signaled = (int)(st & 1);
		oi->manual = (int)(prm & 1);
		break;
	case VMSHM_TYPE_SEMAPHORE:
		oi->count = (uint32_t)st;
		oi->max = (uint32_t)prm;
		oi->signaled = st > 0;
		break;
	case VMSHM_TYPE_MUTEX:
		oi->signaled = !(st & MX_OWNED);
		oi->abandoned = st == MX_ABANDONED;
		oi->mx_owner = st & MX_OWNED ? MX_IDX(st) : 0;
		oi->mx_thread = st & MX_OWNED ? (uint32_t)st : 0;
		break;
	}
}

int vmshm_list(vmshm_pool *p, int (*fn)(const struct vmshm_objinfo *, void *), void *arg)
{
	if (!p || !fn)
		return VMSHM_EINVAL;
	const struct fmt_layout *L = &p->L;
	struct vmshm_objinfo *oi = malloc(sizeof(*oi));
	if (!oi)
		return VMSHM_EIO;
	int rc = 0;
	for (uint32_t s = 0; s < L->slot_count && rc == 0; s++) {
		struct fmt_slot *sl = fmt_slot(L, s);
		uint64_t w = LD(&sl->state);
		if (SW_STATE(w) == VMSHM_OBJ_FREE)
			continue;
		memset(oi, 0, sizeof(*oi));
		oi->slot = s;
		oi->gen = SW_GEN(w);
		oi->type = SW_TYPE(w);
		oi->state = SW_STATE(w);
		oi->owner = SW_OWNER(w);
		oi->size = LD(&sl->size);
		uint64_t lp = LD(&sl->len_prot), ep = LD(&sl->ext_page), en = LD(&sl->ext_pages);
		oi->protect = (uint32_t)(lp >> 32);
		oi->pages = en;
		uint64_t name_pages = (uint32_t)lp > FMT_INLINE_NAME ? 1 : 0;
		oi->offset =
		    fmt_extent_ok(L, ep, en) ? L->data_off + (ep + name_pages) * FMT_PAGE : 0;
		oi->holders = dir_holders(L, s);
		list_sync_state(p, s, w, oi);
		oi->named = SW_TAG(w) != 0;
		if (oi->named && dir_read_name(L, s, w, oi->name) < 0)
			snprintf(oi->name, sizeof(oi->name), "?");
		rc = fn(oi, arg);
	}
	free(oi);
	return rc;
}

int vmshm_peers(vmshm_pool *p, int (*fn)(const struct vmshm_peerinfo *, void *), void *arg)
{
	if (!p || !fn)
		return VMSHM_EINVAL;
	int rc = 0;
	for (uint32_t i = 1; i < p->L.peer_count && rc == 0; i++) {
		struct vmshm_peerinfo pi;
		peer_read(p, i, &pi);
		if (pi.state == VMSHM_PEER_FREE)
			continue;
		rc = fn(&pi, arg);
	}
	return rc;
}

int vmshm_parse_uuid(const char *s, uint8_t out[16])
{
	int n = 0;
	if (!s)
		return VMSHM_EINVAL;
	for (; *s && n < 32; s++) {
		int v;
		if (*s == '-')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			return VMSHM_EINVAL;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return n == 32 && *s == 0 ? 0 : VMSHM_EINVAL;
}

int vmshm_ivposition(vmshm_pool *p)
{
	if (!p)
		return VMSHM_EINVAL;
	return p->map.ivposition >= 0 ? p->map.ivposition : VMSHM_ENOTSUP;
}

int vmshm_doorbell_ring(vmshm_pool *p, uint16_t peer, uint16_t vector)
{
	if (!p)
		return VMSHM_EINVAL;
	if (!p->map.be->ring)
		return VMSHM_ENOTSUP;
	return p->map.be->ring(&p->map, peer, vector);
}

int vmshm_doorbell_wait(vmshm_pool *p, int timeout_ms)
{
	if (!p)
		return VMSHM_EINVAL;
	if (!p->map.be->wait)
		return VMSHM_ENOTSUP;
	return p->map.be->wait(&p->map, timeout_ms);
}
