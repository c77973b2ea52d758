/*
 * rtapi_sync.c - the RtApi events, mutexes, semaphores and waits on the
 * native calls of vmshm.h (sync.c), with the handle table of rtapi.c.
 * Every object is in the pool's one namespace; a NULL name makes an
 * unnamed object that only this process can use (by its handle).
 */
#include <string.h>

#include "RtApi.h"
#include "internal.h"

static void *fail(int rc)
{
	rt_set_error(rt_error(rc));
	return NULL;
}

static BOOL fail_b(int rc)
{
	rt_set_error(rt_error(rc));
	return FALSE;
}

/* The UTF-8 form of a W name (NULL stays NULL): 0 or a VMSHM_E* code. */
static int name8(LPCWSTR w, char *buf, const char **out)
{
	*out = NULL;
	if (!w)
		return 0;
	int rc = vmshm_name_from_utf16((const uint16_t *)w, buf); /* its length, or < 0 */
	if (rc < 0)
		return rc;
	*out = buf;
	return 0;
}

/* ---- create and open ------------------------------------------------------- */

struct make_args {
	int type;
	int a, b; /* event: manual, set; mutex: owned; semaphore: initial, max */
};

static int make(vmshm_pool *p, const char *name, void *arg, vmshm_ref *out)
{
	const struct make_args *m = arg;
	switch (m->type) {
	case VMSHM_TYPE_EVENT:
		return vmshm_event_create(p, name, m->a, m->b, 0, out);
	case VMSHM_TYPE_MUTEX:
		return vmshm_mutex_create(p, name, m->a, 0, out);
	case VMSHM_TYPE_SEMAPHORE:
		return vmshm_semaphore_create(p, name, (uint32_t)m->a, (uint32_t)m->b, 0, out);
	}
	return VMSHM_EINVAL;
}

static int open_existing(vmshm_pool *p, const char *name, void *arg, vmshm_ref *out)
{
	return vmshm_open(p, *(const int *)arg, name, out);
}

static HANDLE create(int type, int a, int b, const char *name)
{
	struct make_args m = {type, a, b};
	return rt_acquire(name, make, &m);
}

static HANDLE open_name(int type, const char *name)
{
	if (!name)
		return fail(VMSHM_EINVAL);
	return rt_acquire(name, open_existing, &type);
}

HANDLE WINAPI RtCreateEventA(LPSECURITY_ATTRIBUTES sa, BOOL manual, BOOL initial, LPCSTR lpName)
{
	(void)sa;
	return create(VMSHM_TYPE_EVENT, manual != 0, initial != 0, lpName);
}

HANDLE WINAPI RtCreateEventW(LPSECURITY_ATTRIBUTES sa, BOOL manual, BOOL initial, LPCWSTR lpName)
{
	char buf[VMSHM_NAME_MAX_BYTES + 1];
	const char *n;
	int rc = name8(lpName, buf, &n);
	(void)sa;
	return rc < 0 ? fail(rc) : create(VMSHM_TYPE_EVENT, manual != 0, initial != 0, n);
}

HANDLE WINAPI RtCreateMutexA(LPSECURITY_ATTRIBUTES sa, BOOL owner, LPCSTR lpName)
{
	(void)sa;
	return create(VMSHM_TYPE_MUTEX, owner != 0, 0, lpName);
}

HANDLE WINAPI RtCreateMutexW(LPSECURITY_ATTRIBUTES sa, BOOL owner, LPCWSTR lpName)
{
	char buf[VMSHM_NAME_MAX_BYTES + 1];
	const char *n;
	int rc = name8(lpName, buf, &n);
	(void)sa;
	return rc < 0 ? fail(rc) : create(VMSHM_TYPE_MUTEX, owner != 0, 0, n);
}

static int semaphore_args_ok(LONG initial, LONG max)
{
	return max > 0 && initial >= 0 && initial <= max;
}

HANDLE WINAPI RtCreateSemaphoreA(LPSECURITY_ATTRIBUTES sa, LONG initial, LONG max, LPCSTR lpName)
{
	(void)sa;
	if (!semaphore_args_ok(initial, max))
		return fail(VMSHM_EINVAL);
	return create(VMSHM_TYPE_SEMAPHORE, (int)initial, (int)max, lpName);
}

HANDLE WINAPI RtCreateSemaphoreW(LPSECURITY_ATTRIBUTES sa, LONG initial, LONG max, LPCWSTR lpName)
{
	char buf[VMSHM_NAME_MAX_BYTES + 1];
	const char *n;
	(void)sa;
	if (!semaphore_args_ok(initial, max))
		return fail(VMSHM_EINVAL);
	int rc = name8(lpName, buf, &n);
	return rc < 0 ? fail(rc) : create(VMSHM_TYPE_SEMAPHORE, (int)initial, (int)max, n);
}

static HANDLE open_w(int type, LPCWSTR lpName)
{
	char buf[VMSHM_NAME_MAX_BYTES + 1];
	const char *n;
	if (!lpName)
		return fail(VMSHM_EINVAL);
	int rc = name8(lpName, buf, &n);
	return rc < 0 ? fail(rc) : open_name(type, n);
}

/* The access rights and inheritance of the open calls are accepted and
 * ignored: every handle may do everything, and none is inherited. */
HANDLE WINAPI RtOpenEventA(DWORD access, BOOL inherit, LPCSTR lpName)
{
	(void)access;
	(void)inherit;
	return open_name(VMSHM_TYPE_EVENT, lpName);
}

HANDLE WINAPI RtOpenEventW(DWORD access, BOOL inherit, LPCWSTR lpName)
{
	(void)access;
	(void)inherit;
	return open_w(VMSHM_TYPE_EVENT, lpName);
}

HANDLE WINAPI RtOpenMutexA(DWORD access, BOOL inherit, LPCSTR lpName)
{
	(void)access;
	(void)inherit;
	return open_name(VMSHM_TYPE_MUTEX, lpName);
}

HANDLE WINAPI RtOpenMutexW(DWORD access, BOOL inherit, LPCWSTR lpName)
{
	(void)access;
	(void)inherit;
	return open_w(VMSHM_TYPE_MUTEX, lpName);
}

HANDLE WINAPI RtOpenSemaphoreA(DWORD access, BOOL inherit, LPCSTR lpName)
{
	(void)access;
	(void)inherit;
	return open_name(VMSHM_TYPE_SEMAPHORE, lpName);
}

HANDLE WINAPI RtOpenSemaphoreW(DWORD access, BOOL inherit, LPCWSTR lpName)
{
	(void)access;
	(void)inherit;
	return open_w(VMSHM_TYPE_SEMAPHORE, lpName);
}

/* ---- signalling -------------------------------------------------------------- */

/* The reference behind H if it is an object of TYPE (any sync type: 0). */
static int lookup(HANDLE h, int type, vmshm_ref *r, vmshm_pool **p)
{
	int rc = rt_lookup(h, r, p);
	if (rc < 0)
		return VMSHM_ESTALE;
	if (type ? (int)r->type != type : r->type == VMSHM_TYPE_SHM)
		return VMSHM_ETYPE;
	if (!r->addr || r->size < FMT_SYNC_SIZE)
		return VMSHM_ECORRUPT; /* opened from a damaged entry */
	return 0;
}

/* The handle table holds only references it validated when it made them
 * (extent, body): the calls go straight to sync.c. */
static BOOL event_call(HANDLE h, int how)
{
	vmshm_ref r;
	vmshm_pool *p;
	int rc = lookup(h, VMSHM_TYPE_EVENT, &r, &p);
	if (rc == 0)
		rc = sync_event_change(p, &r, how);
	if (rc < 0)
		return fail_b(rc);
	rt_set_error(ERROR_SUCCESS);
	return TRUE;
}

BOOL WINAPI RtSetEvent(HANDLE h)
{
	return event_call(h, SYNC_SET);
}

BOOL WINAPI RtResetEvent(HANDLE h)
{
	return event_call(h, SYNC_RESET);
}

BOOL WINAPI RtPulseEvent(HANDLE h)
{
	return event_call(h, SYNC_PULSE);
}

BOOL WINAPI RtReleaseMutex(HANDLE h)
{
	vmshm_ref r;
	vmshm_pool *p;
	int rc = lookup(h, VMSHM_TYPE_MUTEX, &r, &p);
	if (rc == 0)
		rc = sync_mutex_release(p, &r);
	if (rc < 0)
		return fail_b(rc);
	rt_set_error(ERROR_SUCCESS);
	return TRUE;
}

BOOL WINAPI RtReleaseSemaphore(HANDLE h, LONG count, LPLONG previous)
{
	vmshm_ref r;
	vmshm_pool *p;
	uint32_t prev = 0;
	if (count <= 0)
		return fail_b(VMSHM_EINVAL);
	int rc = lookup(h, VMSHM_TYPE_SEMAPHORE, &r, &p);
	if (rc == 0)
		rc = sync_semaphore_release(p, &r, (uint32_t)count, &prev);
	if (rc < 0)
		return fail_b(rc);
	if (previous)
		*previous = (LONG)prev;
	rt_set_error(ERROR_SUCCESS);
	return TRUE;
}

/* ---- waiting ------------------------------------------------------------------- */

/* Waits for any of N handles, TIMEOUT_NS (VMSHM_INFINITE: forever). */
static DWORD wait_any(DWORD n, const HANDLE *hs, BOOL all, uint64_t timeout_ns)
{
	vmshm_ref refs[VMSHM_WAIT_MAX];
	vmshm_pool *p = NULL, *q;
	uint32_t index = 0;
	if (n == 0 || n > MAX_WFMO || !hs || all) {
		rt_set_error(ERROR_INVALID_PARAMETER);
		return WAIT_FAILED;
	}
	for (DWORD i = 0; i < n; i++) {
		if (lookup(hs[i], 0, &refs[i], &q) < 0 || (p && q != p)) {
			rt_set_error(ERROR_INVALID_HANDLE);
			return WAIT_FAILED;
		}
		p = q;
	}
	int rc = sync_wait(p, refs, n, timeout_ns, &index);
	if (rc == VMSHM_ETIMEDOUT) {
		rt_set_error(ERROR_SUCCESS);
		return WAIT_TIMEOUT;
	}
	if (rc < 0) {
		rt_set_error(rt_error(rc == VMSHM_EINVAL ? VMSHM_ESTALE : rc));
		return WAIT_FAILED;
	}
	rt_set_error(ERROR_SUCCESS);
	return (rc == VMSHM_WAIT_ABANDONED ? WAIT_ABANDONED_0 : WAIT_OBJECT_0) + index;
}

static uint64_t ms_to_ns(DWORD ms)
{
	return ms == INFINITE ? VMSHM_INFINITE : (uint64_t)ms * 1000000u;
}

/* 100 ns units; both halves INFINITE: forever. */
static int ex_timeout(PULARGE_INTEGER t, uint64_t *ns)
{
	if (!t)
		return -1;
	if (t->QuadPart == UINT64_MAX) {
		*ns = VMSHM_INFINITE;
		return 0;
	}
	*ns = t->QuadPart > UINT64_MAX / 100 ? VMSHM_INFINITE - 1 : t->QuadPart * 100u;
	return 0;
}

DWORD WINAPI RtWaitForSingleObject(HANDLE h, DWORD ms)
{
	return wait_any(1, &h, FALSE, ms_to_ns(ms));
}

DWORD WINAPI RtWaitForMultipleObjects(DWORD n, const HANDLE *hs, BOOL all, DWORD ms)
{
	return wait_any(n, hs, all, ms_to_ns(ms));
}

DWORD WINAPI RtWaitForSingleObjectEx(HANDLE h, PULARGE_INTEGER timeout)
{
	uint64_t ns;
	if (ex_timeout(timeout, &ns) < 0) {
		rt_set_error(ERROR_INVALID_PARAMETER);
		return WAIT_FAILED;
	}
	return wait_any(1, &h, FALSE, ns);
}

DWORD WINAPI RtWaitForMultipleObjectsEx(DWORD n, const HANDLE *hs, BOOL all,
					PULARGE_INTEGER timeout)
{
	uint64_t ns;
	if (ex_timeout(timeout, &ns) < 0) {
		rt_set_error(ERROR_INVALID_PARAMETER);
		return WAIT_FAILED;
	}
	return wait_any(n, hs, all, ns);
}
