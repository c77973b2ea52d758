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

struct handle_ent {
	uint32_t seq;
	uint32_t next_free; /* index + 1 of the next free entry, 0: end */
	int used;
	vmshm_ref ref;
};

#define HANDLE_MAX (1u << 20)

static struct {
	plat_lock lock;
	vmshm_pool *pool;
	struct handle_ent *tab;
	uint32_t cap;
	uint32_t free_head; /* index + 1 */
} G;

/* fork() while another thread is inside a call: the child gets G.lock as it
 * was, held by a thread that does not exist there. So fork waits for the
 * call to end, and the child starts with a free lock (its exit handler and
 * first call then never block). */
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

static void g_init(void)
{
	plat_lock_init(&G.lock);
	plat_on_fork(g_fork_prepare, g_fork_parent, g_fork_child);
}

static void g_exit(void)
{
	plat_lock_take(&G.lock);
	if (G.pool)
		vmshm_detach(G.pool); /* closes every handle still open */
	G.pool = NULL;
	plat_lock_give(&G.lock);
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

static void *fail(int rc)
{
	SetLastError(win_error(rc));
	return NULL;
}

/* With G.lock held: the pool of this process, attached on first use. */
static int need_pool(void)
{
	if (G.pool && pool_usable(G.pool) == 0)
		return 0;
	if (G.pool) {
		/* A forked child (the parent's peer and handles are not ours),
		 * or our peer entry was reclaimed by force (our references are
		 * gone). Start again as a new peer; the entries keep their
		 * sequence numbers, so that no old handle value becomes valid
		 * again. The old mapping stays: old pointers must not fault. */
		G.pool = NULL;
		G.free_head = 0;
		for (uint32_t i = G.cap; i-- > 0;) {
			G.tab[i].used = 0;
			G.tab[i].next_free = G.free_head;
			G.free_head = i + 1;
		}
	}
	char why[256] = "";
	int rc = vmshm_attach(NULL, 0, &G.pool, why, sizeof(why));
	if (rc < 0) {
		if (plat_getenv("VMSHM_DEBUG"))
			plat_debug(why[0] ? why : vmshm_strerror(rc));
		G.pool = NULL;
		/* A malformed VMSHM_POOL is no fault of the call's arguments. */
		return rc == VMSHM_EINVAL ? VMSHM_ENOPOOL : rc;
	}
	static int exit_registered;
	if (!exit_registered) {
		plat_at_exit(g_exit);
		exit_registered = 1;
	}
	return 0;
}

static HANDLE handle_new(const vmshm_ref *ref)
{
	if (!G.free_head) {
		uint32_t cap = G.cap ? G.cap * 2 : 64;
		if (cap > HANDLE_MAX)
			return NULL;
		struct handle_ent *t = realloc(G.tab, cap * sizeof(*t));
		if (!t)
			return NULL;
		memset(t + G.cap, 0, (cap - G.cap) * sizeof(*t));
		for (uint32_t i = cap; i-- > G.cap;) {
			t[i].next_free = G.free_head;
			G.free_head = i + 1;
		}
		G.tab = t;
		G.cap = cap;
	}
	uint32_t i = G.free_head - 1;
	struct handle_ent *e = &G.tab[i];
	G.free_head = e->next_free;
	e->used = 1;
	e->seq++;
	e->ref = *ref;
	uint64_t v = (((uint64_t)e->seq << 20) | (i + 1)) << 2;
	return (HANDLE)(uintptr_t)v;
}

static struct handle_ent *handle_find(HANDLE h)
{
	uint64_t v = (uint64_t)(uintptr_t)h;
	if (!v || (v & 3))
		return NULL;
	v >>= 2;
	uint32_t i = (uint32_t)(v & (HANDLE_MAX - 1)), seq = (uint32_t)(v >> 20);
	if (i == 0 || i > G.cap || (v >> 52))
		return NULL;
	struct handle_ent *e = &G.tab[i - 1];
	return e->used && e->seq == seq ? e : NULL;
}

static void handle_free(struct handle_ent *e)
{
	e->used = 0;
	e->next_free = G.free_head;
	G.free_head = (uint32_t)(e - G.tab) + 1;
}

static int create_args_ok(DWORD prot, DWORD high, DWORD low, VOID **location)
{
	return high == 0 && low != 0 && location && prot >= 1 && prot <= 4;
}

/* Creates (CREATE) or opens NAME, UTF-8, and hands out a handle to it. */
static HANDLE acquire(int create, DWORD prot, DWORD size, const char *name, VOID **location)
{
	plat_once(g_init);
	plat_lock_take(&G.lock);
	HANDLE h = NULL;
	vmshm_ref ref;
	int rc = need_pool(), nc;
	/* The name is checked once, by vmshm_create/open; with no pool, here,
	 * so that a bad name is reported as such in any case. */
	if (rc < 0 && name && (nc = vmshm_name_check(name)) < 0)
		rc = nc;
	if (rc == 0)
		rc = create ? vmshm_create(G.pool, VMSHM_TYPE_SHM, name, size, prot, 0, &ref)
			    : vmshm_open(G.pool, VMSHM_TYPE_SHM, name, &ref);
	if (rc >= 0 && !(h = handle_new(&ref))) {
		vmshm_close(G.pool, &ref);
		rc = VMSHM_ENOSPC;
	}
	if (h)
		*location = ref.addr;
	plat_lock_give(&G.lock);
	if (rc < 0)
		return fail(rc);
	SetLastError(rc == 1 ? ERROR_ALREADY_EXISTS : ERROR_SUCCESS);
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

HANDLE WINAPI RtOpenSharedMemoryA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName,
				  VOID **location)
{
	(void)bInheritHandle; /* handles are never inherited */
	if (dwDesiredAccess < SHM_MAP_READ || dwDesiredAccess > SHM_MAP_ALL_ACCESS || !lpName ||
	    !location)
		return fail(VMSHM_EINVAL);
	return acquire(0, 0, 0, lpName, location);
}

HANDLE WINAPI RtOpenSharedMemoryW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName,
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

BOOL WINAPI RtCloseHandle(HANDLE hObject)
{
	plat_once(g_init);
	plat_lock_take(&G.lock);
	int rc = VMSHM_ESTALE;
	if (G.pool && pool_usable(G.pool) == 0) {
		struct handle_ent *e = handle_find(hObject);
		if (e) {
			rc = vmshm_close(G.pool, &e->ref);
			handle_free(e);
		}
	}
	plat_lock_give(&G.lock);
	if (rc < 0) {
		SetLastError(ERROR_INVALID_HANDLE);
		return FALSE;
	}
	SetLastError(ERROR_SUCCESS);
	return TRUE;
}

BOOL WINAPI RtQuerySharedMemory(HANDLE hSharedMemory, SHARED_MEMORY_INFO *info)
{
	if (!info) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return FALSE;
	}
	plat_once(g_init);
	plat_lock_take(&G.lock);
	struct handle_ent *e = NULL;
	if (G.pool && pool_usable(G.pool) == 0)
		e = handle_find(hSharedMemory);
	if (e) {
		info->flProtect = e->ref.protect;
		info->dwSize = (DWORD)e->ref.size;
	}
	plat_lock_give(&G.lock);
	SetLastError(e ? ERROR_SUCCESS : ERROR_INVALID_HANDLE);
	return e ? TRUE : FALSE;
}

/* ---- for rtapi_sync.c ------------------------------------------------------ */

void *rt_acquire(const char *name, rt_make_fn make, void *arg)
{
	plat_once(g_init);
	plat_lock_take(&G.lock);
	HANDLE h = NULL;
	vmshm_ref ref;
	int rc = need_pool(), nc;
	if (rc < 0 && name && (nc = vmshm_name_check(name)) < 0)
		rc = nc;
	if (rc == 0)
		rc = make(G.pool, name, arg, &ref);
	if (rc >= 0 && !(h = handle_new(&ref))) {
		vmshm_close(G.pool, &ref);
		rc = VMSHM_ENOSPC;
	}
	plat_lock_give(&G.lock);
	if (rc < 0)
		return fail(rc);
	SetLastError(rc == 1 ? ERROR_ALREADY_EXISTS : ERROR_SUCCESS);
	return h;
}

int rt_lookup(void *h, vmshm_ref *out, vmshm_pool **pool)
{
	plat_once(g_init);
	plat_lock_take(&G.lock);
	int rc = VMSHM_ESTALE;
	if (G.pool && pool_usable(G.pool) == 0) {
		struct handle_ent *e = handle_find(h);
		if (e) {
			*out = e->ref;
			*pool = G.pool;
			rc = 0;
		}
	}
	plat_lock_give(&G.lock);
	return rc;
}

uint32_t rt_error(int rc)
{
	return (uint32_t)win_error(rc);
}
