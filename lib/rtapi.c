/*
 * rtapi.c - the RtApi shared-memory calls on the native API.
 *
 * The process attaches the pool named by VMSHM_POOL (or the first ivshmem
 * device) at its first call, as one peer, and detaches at exit. Handles are
 * process-local values: an index into the handle table and a sequence
 * number, so a closed handle's value does not come back soon.
 */
#include <stdlib.h>
#include <string.h>

#include "RtApi.h"
#include "internal.h"

/* ---- the process ---------------------------------------------------------
 * The pool of this process and the lock of its slow paths: the attach (and a
 * new attach after fork or fencing), the table's growth, the exit. The calls
 * themselves take no lock once the pool is attached. */
static struct {
	plat_lock lock;
	vmshm_pool *_Atomic pool;
	_Atomic int started;
} G;

/* fork() while another thread attaches: the child gets G.lock as it was,
 * held by a thread that does not exist there. So fork waits for the attach
 * to end, and the child starts with a free lock (its exit handler and first
 * call then never block). */
static void g_fork_prepare(void)
{
	plat_lock_take(&G.lock);
}

static void g_fork_parent(void)
{
	plat_lock_give(&G.lock);
}

static void g_fork_child(void)
{
	plat_lock_init(&G.lock);
}

static void handle_init(void);

static void g_init(void)
{
	plat_lock_init(&G.lock);
	handle_init();
	plat_on_fork(g_fork_prepare, g_fork_parent, g_fork_child);
}

COLD_PATH static void g_first(void)
{
	plat_once(g_init);
	atomic_store_explicit(&G.started, 1, memory_order_release);
}

/* Every call's first step: one load once the process is set up. */
static void g_start(void)
{
	if (!atomic_load_explicit(&G.started, memory_order_acquire))
		g_first();
}

static void g_exit(void)
{
	plat_lock_take(&G.lock);
	vmshm_pool *p = atomic_exchange(&G.pool, NULL);
	if (p)
		vmshm_detach(p); /* closes every handle still open */
	plat_lock_give(&G.lock);
}

/* ---- the handle table ------------------------------------------------------
 * A handle is a process-local value: an entry's index and its sequence number,
 * so that a closed handle's value does not come back soon. Entries live in
 * chunks that never move; the free entries form a stack whose head carries a
 * tag against ABA. Each thread keeps one free entry of its own aside (the
 * one its last close freed, given back to the stack at the thread's exit):
 * a thread that opens and closes in a loop takes and gives back entries
 * without touching the shared stack. Closing claims the entry with one
 * compare-and-swap (two threads closing one handle: one wins; a process of
 * one thread makes it with a plain load and store, see local_cas). Only
 * growing the table takes G.lock. */

#define HANDLE_MAX  (1u << 20) /* index 0 is never used */
#define CHUNK_BITS  8u
#define CHUNK       (1u << CHUNK_BITS)
#define NCHUNKS     (HANDLE_MAX / CHUNK)
#define ENT_USED(s) (((uint64_t)(s) << 1) | 1u) /* state word of an open entry */

/* An entry fills a cache line of its own: threads that open and close
 * through their own entries at once do not take lines from each other. */
#define ENT_LINE 64
struct handle_ent {
	_Atomic uint64_t state;     /* sequence number << 1 | 1 while open */
	_Atomic uint32_t next_free; /* index of the next free entry, 0: end */
	vmshm_pool *_Atomic pool;   /* the attach its reference belongs to */
	vmshm_ref ref;
} __attribute__((__aligned__(ENT_LINE)));

static struct {
	struct handle_ent *_Atomic chunk[NCHUNKS];
	void *chunk_mem[NCHUNKS];   /* what each chunk was allocated in (it starts at a line) */
	uint32_t nchunks;           /* under G.lock */
	_Atomic uint64_t free_head; /* tag << 32 | index of the first free entry */
	plat_tls spare;             /* the thread's free entry aside: its index, NULL none */
	int have_spare;             /* the key exists */
} T;

HOT_INLINE struct handle_ent *handle_ent(uint32_t i)
{
	return &atomic_load_explicit(&T.chunk[i >> CHUNK_BITS],
				     memory_order_acquire)[i & (CHUNK - 1)];
}

/* Pushes the free entries FIRST .. LAST, already linked, on the stack. */
static void handle_push(uint32_t first, uint32_t last)
{
	struct handle_ent *e = handle_ent(last);
	uint64_t head = atomic_load_explicit(&T.free_head, memory_order_relaxed);
	do
		atomic_store_explicit(&e->next_free, (uint32_t)head, memory_order_relaxed);
	while (!atomic_compare_exchange_weak(&T.free_head, &head,
					     (((head >> 32) + 1) << 32) | first) &&
	       (BENCH_RETRY(), 1));
}

/* Adds a chunk of free entries (the slow path, under G.lock). */
COLD_PATH static int handle_grow(void)
{
	int rc = 0;
	plat_lock_take(&G.lock);
	if ((uint32_t)atomic_load(&T.free_head) == 0) { /* nobody else grew it meanwhile */
		uint32_t c = T.nchunks;
		void *mem = c < NCHUNKS ? calloc(CHUNK + 1, sizeof(struct handle_ent)) : NULL;
		struct handle_ent *t = (struct handle_ent *)(((uintptr_t)mem + ENT_LINE - 1) &
							     ~(uintptr_t)(ENT_LINE - 1));
		if (!mem) {
			rc = -1;
		} else {
			T.chunk_mem[c] = mem;
			uint32_t first = c ? c * CHUNK : 1, last = c * CHUNK + CHUNK - 1;
			for (uint32_t i = first; i < last; i++)
				atomic_init(&t[i & (CHUNK - 1)].next_free, i + 1);
			atomic_store_explicit(&T.chunk[c], t, memory_order_release);
			T.nchunks = c + 1;
			handle_push(first, last);
		}
	}
	plat_lock_give(&G.lock);
	return rc;
}

/* A thread exits with a spare entry: back to the stack. */
static void spare_exit(void *v)
{
	uint32_t i = (uint32_t)(uintptr_t)v;
	handle_push(i, i);
}

static void handle_init(void)
{
	T.have_spare = plat_tls_new(&T.spare, spare_exit) == 0;
}

/* Takes this thread's spare entry, or 0. */
HOT_INLINE uint32_t spare_take(void)
{
	uint32_t i = T.have_spare ? (uint32_t)(uintptr_t)plat_tls_get(&T.spare) : 0;
	if (i)
		plat_tls_set(&T.spare, NULL);
	return i;
}

/* Gives back free entry I: kept aside if this thread has none, else on
 * the stack. */
HOT_INLINE void handle_put(uint32_t i)
{
	if (T.have_spare && !plat_tls_get(&T.spare))
		plat_tls_set(&T.spare, (void *)(uintptr_t)i);
	else
		handle_push(i, i);
}

/* Takes a free entry: this thread's spare, else the stack's first (the
 * table grows when the stack is empty). 0 when the table is full. The
 * caller fills in the entry's reference, then publishes it (handle_publish)
 * or gives it back (handle_put). */
HOT_INLINE uint32_t handle_take(void)
{
	uint32_t i = spare_take();
	uint64_t head = i ? 0 : atomic_load_explicit(&T.free_head, memory_order_acquire);
	while (!i) {
		i = (uint32_t)head;
		if (i == 0) {
			if (handle_grow() < 0)
				return 0;
			head = atomic_load_explicit(&T.free_head, memory_order_acquire);
			continue;
		}
		/* A stale next (the entry was taken meanwhile) fails the
		 * compare-and-swap: the tag has moved on. */
		uint32_t next =
		    atomic_load_explicit(&handle_ent(i)->next_free, memory_order_relaxed);
		if (!atomic_compare_exchange_weak(&T.free_head, &head,
						  (((head >> 32) + 1) << 32) | next)) {
			BENCH_RETRY();
			i = 0;
		}
	}
	return i;
}

/* Opens taken entry I, its reference filled in, for attach P: its handle. */
static inline HANDLE handle_publish(uint32_t i, vmshm_pool *p)
{
	struct handle_ent *e = handle_ent(i);
	atomic_store_explicit(&e->pool, p, memory_order_relaxed);
	uint32_t seq = (uint32_t)(atomic_load_explicit(&e->state, memory_order_relaxed) >> 1) + 1;
	atomic_store_explicit(&e->state, ENT_USED(seq), memory_order_release);
	uint64_t v = (((uint64_t)seq << 20) | i) << 2;
	return (HANDLE)(uintptr_t)v;
}

/* The open entry of handle H, or NULL; *SEQ its sequence number. */
HOT_INLINE struct handle_ent *handle_find(HANDLE h, uint32_t *seq)
{
	uint64_t v = (uint64_t)(uintptr_t)h;
	if (!v || (v & 3))
		return NULL;
	v >>= 2;
	uint32_t i = (uint32_t)(v & (HANDLE_MAX - 1));
	*seq = (uint32_t)(v >> 20);
	if (i == 0 || (v >> 52) ||
	    !atomic_load_explicit(&T.chunk[i >> CHUNK_BITS], memory_order_acquire))
		return NULL;
	struct handle_ent *e = handle_ent(i);
	return atomic_load_explicit(&e->state, memory_order_acquire) == ENT_USED(*seq) ? e : NULL;
}

/* Claims handle H's entry for its close: the entry, no longer open but not
 * yet free (the caller reads its reference, then gives it back with
 * handle_put(*I)); NULL if H is not open (one of two threads closing it
 * gets NULL). */
HOT_INLINE struct handle_ent *handle_claim(HANDLE h, uint32_t *i)
{
	uint32_t seq;
	struct handle_ent *e = handle_find(h, &seq);
	uint64_t open = ENT_USED(seq), seen = open;
	if (!e)
		return NULL;
	while (!local_cas(&e->state, &seen, open - 1))
		if (seen != open)
			return NULL;
	*i = (uint32_t)(((uint64_t)(uintptr_t)h >> 2) & (HANDLE_MAX - 1));
	return e;
}

/* After a new attach (under G.lock): frees the entries of older attaches,
 * whose references are not this attach's. A handle of an old attach that
 * another thread hands out meanwhile is refused by every call and freed by
 * its close. */
static void handle_drop_others(const vmshm_pool *p)
{
	for (uint32_t c = 0; c < T.nchunks; c++) {
		for (uint32_t k = c ? 0 : 1; k < CHUNK; k++) {
			uint32_t i = c * CHUNK + k;
			struct handle_ent *e = handle_ent(i);
			uint64_t st = atomic_load_explicit(&e->state, memory_order_acquire);
			/* (the pool is read while another thread may reuse
			 * the entry: atomic, and the compare-and-swap decides) */
			if ((st & 1) && atomic_load_explicit(&e->pool, memory_order_relaxed) != p &&
			    atomic_compare_exchange_strong(&e->state, &st, st - 1))
				handle_push(i, i);
		}
	}
}

static DWORD win_error(int rc)
{
	switch (rc) {
	case VMSHM_EINVAL:
	case VMSHM_ETOOBIG:
		return ERROR_INVALID_PARAMETER;
	case VMSHM_ETYPE:
	case VMSHM_ESTALE:
		return ERROR_INVALID_HANDLE;
	case VMSHM_ENOSPC:
	case VMSHM_ENOSLOT:
	case VMSHM_ENOPEER:
		return ERROR_NOT_ENOUGH_MEMORY;
	case VMSHM_ENAMELEN:
		return ERROR_FILENAME_EXCED_RANGE;
	case VMSHM_ENAME:
		return ERROR_INVALID_NAME;
	case VMSHM_EBUSY:
		return ERROR_BUSY;
	case VMSHM_ENOTOWNER:
		return ERROR_NOT_OWNER;
	case VMSHM_ETOOMANY:
		return ERROR_TOO_MANY_POSTS;
	case VMSHM_ECORRUPT:
		return ERROR_FILE_CORRUPT;
	case VMSHM_EFORMAT:
	case VMSHM_EVERSION:
		return ERROR_BAD_FORMAT;
	default:
		return ERROR_FILE_NOT_FOUND; /* no object, or no pool reachable */
	}
}

COLD_PATH static void *fail(int rc)
{
	rt_set_error(win_error(rc));
	return NULL;
}

/* ---- shared memory: create, open, close -------------------------------- */

/* The slow path (G.lock): attaches the pool on first use, or again when the
 * attach is not usable any more. *OUT receives the pool. */
COLD_PATH static int need_pool(vmshm_pool **out)
{
	int rc = 0;
	plat_lock_take(&G.lock);
	vmshm_pool *old = atomic_load_explicit(&G.pool, memory_order_relaxed);
	*out = old;
	if (old && pool_usable(old) == 0)
		goto done; /* another thread attached meanwhile */
	/* First use; or a forked child (the parent's peer and handles are
	 * not ours), or our peer entry was reclaimed by force (our
	 * references are gone): start again as a new peer. The entries keep
	 * their sequence numbers, so that no old handle value becomes valid
	 * again. The old mapping stays: old pointers must not fault. */
	char why[256] = "";
	vmshm_pool *p = NULL;
	rc = vmshm_attach(NULL, 0, &p, why, sizeof(why));
	if (rc < 0) {
		if (plat_getenv("VMSHM_DEBUG"))
			plat_debug(why[0] ? why : vmshm_strerror(rc));
		atomic_store(&G.pool, NULL);
		*out = NULL;
		/* A malformed VMSHM_POOL is no fault of the call's arguments. */
		rc = rc == VMSHM_EINVAL ? VMSHM_ENOPOOL : rc;
		goto done;
	}
	atomic_store_explicit(&G.pool, p, memory_order_release);
	*out = p;
	if (old)
		handle_drop_others(p);
	static int exit_registered;
	if (!exit_registered) {
		plat_at_exit(g_exit);
		exit_registered = 1;
	}
done:
	plat_lock_give(&G.lock);
	return rc;
}

/* The attached pool of this process if it is usable, else NULL. */
static vmshm_pool *usable_pool(void)
{
	vmshm_pool *p = atomic_load_explicit(&G.pool, memory_order_acquire);
	return p && pool_usable(p) == 0 ? p : NULL;
}

/* The attach for a call that found STALE (NULL: none) not usable: one
 * that another thread made since, or one made now (the slow path). 0 with
 * *OUT, or the error to report: with no pool NAME is still checked, so
 * that a bad name is reported as such in any case. */
COLD_PATH static int attach_again(vmshm_pool *stale, const char *name, vmshm_pool **out)
{
	vmshm_pool *cur = usable_pool();
	int rc = cur ? (cur != stale ? 0 : VMSHM_ESTALE) : need_pool(&cur), nc;
	if (rc < 0 && !cur && name && (nc = vmshm_name_check(name)) < 0)
		rc = nc;
	*out = cur;
	return rc;
}

static int shm_get(vmshm_pool *p, int create, DWORD prot, DWORD size, const char *name,
		   vmshm_ref *ref)
{
	return create ? vmshm_create(p, VMSHM_TYPE_SHM, name, size, prot, 0, ref)
		      : vmshm_open(p, VMSHM_TYPE_SHM, name, ref);
}

static int create_args_ok(DWORD prot, DWORD high, DWORD low, VOID **location)
{
	return high == 0 && low != 0 && location && prot >= 1 && prot <= 4;
}

/* Where a create or open writes its reference: entry I's own field, or
 * TMP when no entry was free (I == 0). */
static inline vmshm_ref *ref_room(uint32_t i, vmshm_ref *tmp)
{
	return i ? &handle_ent(i)->ref : tmp;
}

/* After a create (RC 1: it existed) or open of REF in P, or a failure RC,
 * into taken entry I (0: none was free): a handle to it, with the last
 * error set; NULL on failure. */
static inline HANDLE hand_out(vmshm_pool *p, int rc, uint32_t i, vmshm_ref *ref)
{
	if (rc >= 0 && i == 0) {
		vmshm_close(p, ref);
		rc = VMSHM_ENOSPC;
	}
	if (rc < 0) {
		if (i)
			handle_put(i);
		return fail(rc);
	}
	rt_set_error(rc == 1 ? ERROR_ALREADY_EXISTS : ERROR_SUCCESS);
	return handle_publish(i, p);
}

/* Creates (CREATE) or opens NAME, UTF-8, and hands out a handle to it. The
 * fast path takes no lock: vmshm_create/open check the name and that the
 * attach is still ours (VMSHM_ESTALE when not, or before the first attach:
 * then the slow path attaches and the call is made again). */
HOT_INLINE HANDLE acquire(int create, DWORD prot, DWORD size, const char *name, VOID **location)
{
	g_start();
	vmshm_pool *p = atomic_load_explicit(&G.pool, memory_order_acquire);
	vmshm_ref tmp;
	uint32_t i = handle_take();
	vmshm_ref *ref = ref_room(i, &tmp); /* the reference goes straight into the entry */
	int rc = p ? shm_get(p, create, prot, size, name, ref) : VMSHM_ESTALE;
	if (rc == VMSHM_ESTALE && (rc = attach_again(p, name, &p)) == 0)
		rc = shm_get(p, create, prot, size, name, ref);
	HANDLE h = hand_out(p, rc, i, ref);
	if (h)
		*location = ref->addr;
	return h;
}

HANDLE WINAPI RtCreateSharedMemoryA(DWORD flProtect, DWORD MaximumSizeHigh, DWORD MaximumSizeLow,
				    LPCSTR lpName, VOID **location)
{
	if (!create_args_ok(flProtect, MaximumSizeHigh, MaximumSizeLow, location))
		return fail(VMSHM_EINVAL);
	return acquire(1, flProtect, MaximumSizeLow, lpName, location);
}

HANDLE WINAPI RtCreateSharedMemoryW(DWORD flProtect, DWORD MaximumSizeHigh, DWORD MaximumSizeLow,
				    LPCWSTR lpName, VOID **location)
{
	char name[VMSHM_NAME_MAX_BYTES + 1];
	if (!create_args_ok(flProtect, MaximumSizeHigh, MaximumSizeLow, location))
		return fail(VMSHM_EINVAL);
	if (lpName) {
		int rc = vmshm_name_from_utf16((const uint16_t *)lpName, name);
		if (rc < 0)
			return fail(rc);
	}
	return acquire(1, flProtect, MaximumSizeLow, lpName ? name : NULL, location);
}

/* The opens are flattened, like RtCloseHandle below: vmshm_open's open at a
 * hint and the directory's steps are compiled into them (with link-time
 * optimisation), no call on the hot path but strlen. The lookup after a
 * failed hint and every slow path stay calls (noinline, COLD_PATH). */
__attribute__((__flatten__)) HANDLE WINAPI RtOpenSharedMemoryA(DWORD dwDesiredAccess,
							       BOOL bInheritHandle, LPCSTR lpName,
							       VOID **location)
{
	(void)bInheritHandle; /* handles are never inherited */
	if (dwDesiredAccess < SHM_MAP_READ || dwDesiredAccess > SHM_MAP_ALL_ACCESS || !lpName ||
	    !location)
		return fail(VMSHM_EINVAL);
	return acquire(0, 0, 0, lpName, location);
}

__attribute__((__flatten__)) HANDLE WINAPI RtOpenSharedMemoryW(DWORD dwDesiredAccess,
							       BOOL bInheritHandle, LPCWSTR lpName,
							       VOID **location)
{
	char name[VMSHM_NAME_MAX_BYTES + 1];
	(void)bInheritHandle;
	if (dwDesiredAccess < SHM_MAP_READ || dwDesiredAccess > SHM_MAP_ALL_ACCESS || !lpName ||
	    !location)
		return fail(VMSHM_EINVAL);
	int rc = vmshm_name_from_utf16((const uint16_t *)lpName, name);
	if (rc < 0)
		return fail(rc);
	return acquire(0, 0, 0, name, location);
}

/* A handle's close: frees its entry, and closes its reference if the
 * handle is of the current attach (an older attach's references are gone).
 * Flattened: vmshm_close and the directory's steps are compiled into it
 * (with link-time optimisation), one call less on the hot path. */
__attribute__((__flatten__)) BOOL WINAPI RtCloseHandle(HANDLE hObject)
{
	g_start();
	uint32_t i;
	struct handle_ent *e = handle_claim(hObject, &i);
	int rc = VMSHM_ESTALE;
	if (e) {
		vmshm_pool *p = atomic_load_explicit(&e->pool, memory_order_relaxed);
		if (p == atomic_load_explicit(&G.pool, memory_order_acquire))
			rc = vmshm_close(p, &e->ref);
		handle_put(i);
	}
	if (rc < 0) {
		rt_set_error(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	rt_set_error(ERROR_SUCCESS);
	return TRUE;
}

BOOL WINAPI RtQuerySharedMemory(HANDLE hSharedMemory, SHARED_MEMORY_INFO *info)
{
	vmshm_ref ref;
	vmshm_pool *p;
	if (!info) {
		rt_set_error(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	if (rt_lookup(hSharedMemory, &ref, &p) < 0) {
		rt_set_error(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	info->flProtect = ref.protect;
	info->dwSize = (DWORD)ref.size;
	rt_set_error(ERROR_SUCCESS);
	return TRUE;
}

/* ---- for rtapi_sync.c ------------------------------------------------------ */

void *rt_acquire(const char *name, rt_make_fn make, void *arg)
{
	g_start();
	vmshm_pool *p;
	vmshm_ref tmp;
	uint32_t i = handle_take();
	vmshm_ref *ref = ref_room(i, &tmp);
	int rc = attach_again(NULL, name, &p);
	if (rc == 0)
		rc = make(p, name, arg, ref);
	return hand_out(p, rc, i, ref);
}

int rt_lookup(void *h, vmshm_ref *out, vmshm_pool **pool)
{
	g_start();
	vmshm_pool *p = usable_pool();
	uint32_t seq;
	struct handle_ent *e = p ? handle_find(h, &seq) : NULL;
	if (!e || atomic_load_explicit(&e->pool, memory_order_relaxed) != p)
		return VMSHM_ESTALE;
	*out = e->ref;
	/* Still that handle after the copy (not closed and reused meanwhile)? */
	if (atomic_load_explicit(&e->state, memory_order_acquire) != ENT_USED(seq))
		return VMSHM_ESTALE;
	*pool = p;
	return 0;
}

uint32_t rt_error(int rc)
{
	return (uint32_t)win_error(rc);
}
