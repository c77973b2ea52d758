/*
 * ivdrv_test.c - the ivshmem:N backend against a stand-in for the virtio-win
 * IVSHMEM driver, under Wine (which has no such device). The backend's
 * source is compiled in with IVSHMEM_FAKE_DRIVER: its calls into SetupAPI
 * and the driver (ivdev_enum, drv_open, drv_ioctl, ...) are answered here,
 * the way the driver answers them, over files that stand for each device's
 * memory. The rest of the library is linked in as it is.
 *
 *   ivdrv_test.exe DIR          the tests (DIR: a Windows path, scratch)
 *   ivdrv_test.exe child ROLE   helper processes this program starts
 *
 * The fake devices' state lives in a named section, so that the child
 * processes see the same devices, owners and counters. Ends with "N passed,
 * M failed".
 */
#include <stdarg.h>

#define IVSHMEM_FAKE_DRIVER
#define IVSHMEM_READY_WAIT_MS 300
#include "backends/ivshmem_win32.c"

#include "RtApi.h"
#include "check.h"
#include "spawn.h"

/* ---- the fake driver ------------------------------------------------------ */

#define FAKE_DEVS 4
#define FAKE_PEER 7 /* the ID the doorbell server "gave" this VM */

struct fake_dev {
	WCHAR file[MAX_PATH]; /* the device's memory */
	LONG vectors;
	LONG per_handle; /* 1: every handle may map (driver builds mm282/mm286) */
	LONG refusal;    /* else the Win32 error of a refused second mapping */
	LONG not_ready;  /* IOCTLs still answered "not ready"; -1: all */
	LONG early;      /* REGISTER_EVENT takes only the 16-byte structure */
	LONG block_mmap; /* REQUEST_MMAP never returns (the exit test) */
	LONG owner_pid;  /* the process whose handle holds the mapping; -1: another program's */
	LONG last_access, maps, releases, events, cache_mode;
};

struct fake_state {
	LONG ndev;
	LONG driverless; /* ivshmem PCI devices without a driver */
	struct fake_dev dev[FAKE_DEVS];
};

static struct fake_state *S;
static HANDLE blocked_evt; /* set when REQUEST_MMAP blocks */

struct fake_handle {
	int dev;
	HANDLE section;
	void *view;
	HANDLE events[32];
	LONG vectors[32];
	int nevents;
};

static void fake_attach_state(void)
{
	WCHAR name[64];
	char tag[32];
	HANDLE h;

	if (S)
		return;
	if (!GetEnvironmentVariableA("IVDRV_TAG", tag, sizeof tag)) {
		snprintf(tag, sizeof tag, "%lu", (unsigned long)GetCurrentProcessId());
		SetEnvironmentVariableA("IVDRV_TAG", tag);
	}
	swprintf(name, 64, L"Local\\ivdrv-state-%hs", tag);
	h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, sizeof *S, name);
	S = h ? MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, sizeof *S) : NULL;
	swprintf(name, 64, L"Local\\ivdrv-blocked-%hs", tag);
	blocked_evt = CreateEventW(NULL, TRUE, FALSE, name);
	if (!S) {
		printf("cannot make the fake driver's state\n");
		exit(2);
	}
}

static int ivdev_enum(struct ivdev **out, char *why, size_t whylen)
{
	struct ivdev *d;

	(void)why;
	(void)whylen;
	fake_attach_state();
	*out = NULL;
	if (S->ndev == 0)
		return 0;
	d = calloc((size_t)S->ndev, sizeof *d);
	for (int i = 0; i < S->ndev; i++) {
		d[i].path = malloc(32 * sizeof(WCHAR));
		swprintf(d[i].path, 32, L"\\\\?\\fake#ivshmem#%d", i);
		d[i].bus = 0;
		d[i].addr = (DWORD)(3 + i) << 16;
		d[i].seq = (DWORD)i;
	}
	*out = d;
	return (int)S->ndev;
}

static int ivdev_driverless(void)
{
	fake_attach_state();
	return (int)S->driverless;
}

static HANDLE drv_open(const WCHAR *path, DWORD access)
{
	struct fake_handle *h;
	int i;

	fake_attach_state();
	if (swscanf(path, L"\\\\?\\fake#ivshmem#%d", &i) != 1 || i < 0 || i >= S->ndev) {
		SetLastError(ERROR_FILE_NOT_FOUND);
		return INVALID_HANDLE_VALUE;
	}
	S->dev[i].last_access = (LONG)access;
	h = calloc(1, sizeof *h);
	h->dev = i;
	return (HANDLE)h;
}

static int process_alive(LONG pid)
{
	HANDLE p;
	DWORD code = 0;

	if (pid == -1)
		return 1;
	p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
	if (!p)
		return 0;
	GetExitCodeProcess(p, &code);
	CloseHandle(p);
	return code == STILL_ACTIVE;
}

static void fake_unmap(struct fake_handle *h)
{
	struct fake_dev *d = &S->dev[h->dev];

	if (!h->view)
		return;
	UnmapViewOfFile(h->view);
	CloseHandle(h->section);
	h->view = NULL;
	h->section = NULL;
	InterlockedIncrement(&d->releases);
	if (!d->per_handle)
		InterlockedExchange(&d->owner_pid, 0);
}

static BOOL fail_with(DWORD e)
{
	SetLastError(e);
	return FALSE;
}

static BOOL drv_ioctl(HANDLE dev, DWORD code, void *in, DWORD inlen, void *out, DWORD outlen,
		      DWORD *got)
{
	struct fake_handle *h = (struct fake_handle *)dev;
	struct fake_dev *d = &S->dev[h->dev];
	LARGE_INTEGER size;
	HANDLE f;

	*got = 0;
	if (d->not_ready) {
		if (d->not_ready > 0)
			d->not_ready--;
		return fail_with(ERROR_NOT_READY); /* STATUS_DEVICE_NOT_READY */
	}
	switch (code) {
	case IOCTL_IVSHMEM_REQUEST_SIZE:
		f = CreateFileW(d->file, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
				OPEN_EXISTING, 0, NULL);
		if (f == INVALID_HANDLE_VALUE || outlen != 8)
			return fail_with(ERROR_INVALID_PARAMETER);
		GetFileSizeEx(f, &size);
		CloseHandle(f);
		*(UINT64 *)out = (UINT64)size.QuadPart;
		*got = 8;
		return TRUE;
	case IOCTL_IVSHMEM_REQUEST_MMAP: {
		struct ivshmem_mmap *mm = out;

		if (inlen != sizeof(struct ivshmem_mmap_config) || outlen != sizeof *mm)
			return fail_with(ERROR_INVALID_USER_BUFFER);
		if (h->view)
			return fail_with(ERROR_DEVICE_ALREADY_ATTACHED);
		if (!d->per_handle) {
			LONG was = InterlockedCompareExchange(&d->owner_pid,
							      (LONG)GetCurrentProcessId(), 0);

			if (was != 0 && process_alive(was))
				return fail_with((DWORD)d->refusal);
			if (was != 0)
				InterlockedExchange(&d->owner_pid, (LONG)GetCurrentProcessId());
		}
		if (d->block_mmap) {
			SetEvent(blocked_evt);
			Sleep(INFINITE);
		}
		d->cache_mode = ((struct ivshmem_mmap_config *)in)->cache_mode;
		f = CreateFileW(d->file, GENERIC_READ | GENERIC_WRITE,
				FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
		if (f == INVALID_HANDLE_VALUE)
			return fail_with(ERROR_GEN_FAILURE);
		GetFileSizeEx(f, &size);
		h->section = CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, 0, NULL);
		CloseHandle(f);
		h->view =
		    h->section ? MapViewOfFile(h->section, FILE_MAP_ALL_ACCESS, 0, 0, 0) : NULL;
		if (!h->view)
			return fail_with(ERROR_GEN_FAILURE);
		InterlockedIncrement(&d->maps);
		mm->peer_id = FAKE_PEER;
		mm->size = (UINT64)size.QuadPart;
		mm->ptr = h->view;
		mm->vectors = (UINT16)d->vectors;
		*got = sizeof *mm;
		return TRUE;
	}
	case IOCTL_IVSHMEM_RELEASE_MMAP:
		if (!h->view)
			return fail_with(ERROR_INVALID_FUNCTION);
		fake_unmap(h);
		return TRUE;
	case IOCTL_IVSHMEM_RING_DOORBELL: {
		struct ivshmem_ring *r = in;

		if (!h->view)
			return fail_with(ERROR_INVALID_HANDLE); /* not the owner */
		if (inlen != sizeof *r)
			return fail_with(ERROR_INVALID_USER_BUFFER);
		/* Only this VM's own ID reaches an event here. */
		for (int i = 0; r->peer_id == FAKE_PEER && i < h->nevents; i++)
			if (h->vectors[i] == r->vector)
				SetEvent(h->events[i]);
		return TRUE;
	}
	case IOCTL_IVSHMEM_REGISTER_EVENT: {
		struct ivshmem_event *ev = in;

		if (!h->view)
			return fail_with(ERROR_INVALID_HANDLE);
		if (inlen != (d->early ? IVSHMEM_EVENT_V1_SIZE : sizeof *ev))
			return fail_with(ERROR_INVALID_USER_BUFFER);
		if (h->nevents == 32)
			return fail_with(ERROR_NO_SYSTEM_RESOURCES);
		ResetEvent(ev->event); /* the driver clears it */
		h->events[h->nevents] = ev->event;
		h->vectors[h->nevents++] = ev->vector;
		InterlockedIncrement(&d->events);
		return TRUE;
	}
	default:
		return fail_with(ERROR_INVALID_FUNCTION);
	}
}

static void drv_close(HANDLE dev)
{
	struct fake_handle *h = (struct fake_handle *)dev;

	fake_unmap(h); /* closing the handle releases its mapping and events */
	free(h);
}

/* ---- helpers ---------------------------------------------------------------- */

static char dir[MAX_PATH];

static void set_dev(int i, const char *file, LONG vectors)
{
	memset(&S->dev[i], 0, sizeof S->dev[i]);
	swprintf(S->dev[i].file, MAX_PATH, L"%hs\\%hs", dir, file);
	S->dev[i].vectors = vectors;
	S->dev[i].refusal = ERROR_DEVICE_ALREADY_ATTACHED;
}

/* A file of SIZE bytes filled with BYTE (a device of other software). */
static void make_foreign(const char *file, size_t size, unsigned char byte)
{
	char path[MAX_PATH + 64];
	static unsigned char buf[1 << 16];
	HANDLE f;
	DWORD n;

	snprintf(path, sizeof path, "%s\\%s", dir, file);
	memset(buf, byte, sizeof buf);
	f = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	for (size_t o = 0; o < size; o += sizeof buf)
		WriteFile(f, buf, sizeof buf, &n, NULL);
	CloseHandle(f);
}

static int file_is_all(const char *file, unsigned char byte)
{
	char path[MAX_PATH + 64];
	static unsigned char buf[1 << 16];
	HANDLE f;
	DWORD n;
	int ok = 1;

	snprintf(path, sizeof path, "%s\\%s", dir, file);
	f = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING,
			0, NULL);
	if (f == INVALID_HANDLE_VALUE)
		return 0;
	while (ok && ReadFile(f, buf, sizeof buf, &n, NULL) && n > 0)
		for (DWORD i = 0; i < n; i++)
			if (buf[i] != byte)
				ok = 0;
	CloseHandle(f);
	return ok;
}

static int attach(const char *spec, vmshm_pool **p, char *why, size_t whylen)
{
	why[0] = 0;
	*p = NULL;
	return vmshm_attach(spec, 0, p, why, whylen);
}

static DWORD wait_exit(HANDLE h, DWORD ms)
{
	DWORD code = 0xdead;

	if (!h)
		return code;
	if (WaitForSingleObject(h, ms) == WAIT_OBJECT_0) {
		GetExitCodeProcess(h, &code);
	} else {
		TerminateProcess(h, 0xbad);
		code = 0xfeed; /* did not end */
	}
	CloseHandle(h);
	return code;
}

/* ---- children ------------------------------------------------------------- */

/* Attaches ivshmem:0 while the parent holds it. Exit status: 100 attached
 * and found the parent's object, 101 attached without it, 14 refused as
 * busy with the documented reason, else 200 + the error. */
static int child_attach(void)
{
	vmshm_pool *p;
	vmshm_ref ref;
	char why[512];
	int r = attach("ivshmem:0", &p, why, sizeof why);

	printf("  child attach: %d %s\n", r, why);
	if (r == 0) {
		r = vmshm_open(p, VMSHM_TYPE_SHM, "made-by-parent", &ref) == 0 ? 100 : 101;
		vmshm_detach(p);
		return r;
	}
	if (r == VMSHM_EBUSY && strstr(why, "already mapped by another process"))
		return 14;
	return 200 - r;
}

static DWORD WINAPI attach_blocked(LPVOID arg)
{
	vmshm_pool *p;
	char why[256];

	(void)arg;
	attach("ivshmem:1", &p, why, sizeof why); /* never returns: REQUEST_MMAP blocks */
	return 0;
}

/* Uses the pool through RtApi (which detaches at exit), then leaves a
 * thread inside an attach of another device, holding the backend's lock,
 * and exits. Must end, not hang in the exit handler. */
static int child_exit(void)
{
	void *loc = NULL;
	HANDLE h, t;

	SetEnvironmentVariableA("VMSHM_POOL", "ivshmem:0");
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "exit-test", &loc);
	if (!h) {
		printf("  child exit: create failed: %lu\n", (unsigned long)GetLastError());
		return 3;
	}
	t = CreateThread(NULL, 0, attach_blocked, NULL, 0, NULL);
	if (!t || WaitForSingleObject(blocked_evt, 10000) != WAIT_OBJECT_0) {
		printf("  child exit: the attach did not block\n");
		return 4;
	}
	return 0; /* exit with the thread inside the backend */
}

/* ---- tests ------------------------------------------------------------------ */

static void pool_file(const char *file)
{
	char path[MAX_PATH + 64];

	snprintf(path, sizeof path, "%s\\%s", dir, file);
	CHECK(vmshm_pool_create(path, 1 << 20, 0, VMSHM_CREATE_FORCE) == 0, "pool %s", path);
}

/* 6: VMSHM_POOL unset takes the first device that holds a vmshm pool and
 * only looks at the others; a named device that is not a pool is refused
 * unwritten. */
static void test_discovery(void)
{
	vmshm_pool *p;
	char why[512];
	int r;

	make_foreign("lg", 1 << 20, 0x5a);
	make_foreign("tiny", 64 << 10, 0);
	S->ndev = 3;
	set_dev(0, "lg", 1);
	set_dev(1, "tiny", 0);
	set_dev(2, "pool-a", 0);
	r = attach(NULL, &p, why, sizeof why);
	CHECK(r == 0, "discovery: %d %s", r, why);
	if (r == 0) {
		CHECK(strcmp(vmshm_backend_name(p), "ivshmem") == 0, "backend %s",
		      vmshm_backend_name(p));
		/* Looked at, released, then mapped by the attach. */
		CHECK(S->dev[2].maps == 2 && S->dev[2].releases == 1,
		      "the pool device: %ld maps, %ld releases", S->dev[2].maps,
		      S->dev[2].releases);
		vmshm_detach(p);
	}
	CHECK(S->dev[0].maps == 1 && S->dev[0].releases == 1 && S->dev[0].owner_pid == 0,
	      "the foreign device: %ld maps, %ld releases, owner %ld", S->dev[0].maps,
	      S->dev[0].releases, S->dev[0].owner_pid);
	CHECK(S->dev[0].events == 0, "an event registered on a device only looked at");
	CHECK(S->dev[1].maps == S->dev[1].releases, "the small device was not released");
	CHECK(file_is_all("lg", 0x5a), "the foreign device's memory changed");

	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == VMSHM_EFORMAT, "ivshmem:0 (not a pool): %d %s", r, why);
	CHECK(file_is_all("lg", 0x5a), "the foreign device's memory changed");
	CHECK(S->dev[0].owner_pid == 0, "the foreign device is still held");

	/* No pool: nothing is taken. */
	S->ndev = 2;
	r = attach(NULL, &p, why, sizeof why);
	CHECK(r == VMSHM_ENOPOOL, "no pool among the devices: %d %s", r, why);
	/* A device held by another program cannot be looked at: named, so
	 * that the attach says why. */
	S->dev[0].owner_pid = -1;
	r = attach(NULL, &p, why, sizeof why);
	CHECK(r == VMSHM_EBUSY && strstr(why, "ivshmem:0"), "a held device: %d %s", r, why);
	S->dev[0].owner_pid = 0;
	/* With the pool after a held device, the pool is found. */
	S->ndev = 3;
	S->dev[0].owner_pid = -1;
	r = attach(NULL, &p, why, sizeof why);
	CHECK(r == 0, "the pool after a held device: %d %s", r, why);
	if (r == 0)
		vmshm_detach(p);
	S->dev[0].owner_pid = 0;
	CHECK(file_is_all("lg", 0x5a), "the foreign device's memory changed");
}

/* 1, 5: the device opens with access 0, maps cached; the doorbell event is
 * registered at attach, so a doorbell rung before the first wait counts. */
static void test_doorbell(void)
{
	vmshm_pool *p;
	char why[512];
	int r;

	S->ndev = 1;
	set_dev(0, "pool-a", 1);
	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == 0, "attach a doorbell device: %d %s", r, why);
	if (r != 0)
		return;
	CHECK(S->dev[0].last_access == 0, "opened with access 0x%lx", S->dev[0].last_access);
	CHECK(S->dev[0].cache_mode == IVSHMEM_CACHE_CACHED, "cache mode %ld", S->dev[0].cache_mode);
	CHECK(S->dev[0].events == 1, "%ld events registered at attach", S->dev[0].events);
	CHECK(vmshm_ivposition(p) == FAKE_PEER, "ivposition %d", vmshm_ivposition(p));
	CHECK(vmshm_doorbell_ring(p, FAKE_PEER, 0) == 0, "ring before any wait");
	CHECK(vmshm_doorbell_wait(p, 0) == 1, "the doorbell rung before the first wait was lost");
	CHECK(vmshm_doorbell_wait(p, 0) == 0, "one ring, two wakeups");
	CHECK(vmshm_doorbell_ring(p, FAKE_PEER, 0) == 0, "ring");
	CHECK(vmshm_doorbell_wait(p, 1000) == 1, "wait after a ring");
	CHECK(vmshm_doorbell_wait(p, 10) == 0, "wait without a ring");
	vmshm_detach(p);
	CHECK(S->dev[0].releases == 1 && S->dev[0].owner_pid == 0, "detach released the device");

	/* A driver build whose event structure has no single_shot. */
	set_dev(0, "pool-a", 1);
	S->dev[0].early = 1;
	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == 0 && S->dev[0].events == 1, "early driver: %d %s, %ld events", r, why,
	      S->dev[0].events);
	if (r == 0) {
		vmshm_doorbell_ring(p, FAKE_PEER, 0);
		CHECK(vmshm_doorbell_wait(p, 0) == 1, "early driver: ring before wait");
		vmshm_detach(p);
	}

	/* ivshmem-plain: no vectors, no event, no doorbells. */
	set_dev(0, "pool-a", 0);
	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == 0, "attach a plain device: %d %s", r, why);
	if (r == 0) {
		CHECK(S->dev[0].events == 0, "an event registered without vectors");
		CHECK(vmshm_doorbell_ring(p, 1, 0) == VMSHM_ENOTSUP, "ring on a plain device");
		CHECK(vmshm_doorbell_wait(p, 0) == VMSHM_ENOTSUP, "wait on a plain device");
		CHECK(vmshm_ivposition(p) == VMSHM_ENOTSUP, "ivposition of a plain device");
		vmshm_detach(p);
	}
}

/* 3, 4: a second process, with a driver that refuses a second mapping
 * (as error 548 or 317) and with one that maps per handle. */
static void test_second_process(void)
{
	static const LONG refusals[] = {ERROR_DEVICE_ALREADY_ATTACHED, ERROR_MR_MID_NOT_FOUND};
	vmshm_pool *p, *p2;
	vmshm_ref ref;
	char why[512];
	DWORD code;
	int r;

	S->ndev = 1;
	for (int mode = 0; mode < 3; mode++) {
		set_dev(0, "pool-a", 1);
		if (mode < 2)
			S->dev[0].refusal = refusals[mode];
		else
			S->dev[0].per_handle = 1;
		r = attach("ivshmem:0", &p, why, sizeof why);
		CHECK(r == 0, "attach: %d %s", r, why);
		if (r != 0)
			continue;
		CHECK(vmshm_create(p, VMSHM_TYPE_SHM, "made-by-parent", 4096, 4, 0, &ref) >= 0,
		      "create");
		/* A second attach in this process shares the mapping. */
		r = attach("ivshmem:0", &p2, why, sizeof why);
		CHECK(r == 0 && S->dev[0].maps == 1,
		      "second attach in the process: %d %s, %ld maps", r, why, S->dev[0].maps);
		if (r == 0)
			vmshm_detach(p2);
		code = wait_exit(spawn("child attach"), 60000);
		if (mode < 2)
			CHECK(code == 14,
			      "refusal %ld: the second process: exit %lu, want 14 (busy)",
			      refusals[mode], (unsigned long)code);
		else
			CHECK(code == 100, "per-handle mappings: the second process: exit %lu",
			      (unsigned long)code);
		vmshm_close(p, &ref);
		vmshm_detach(p);
	}
}

/* 7: "not ready" until the doorbell server gives the VM its ID. */
static void test_not_ready(void)
{
	vmshm_pool *p;
	char why[512];
	ULONGLONG t0;
	int r;

	S->ndev = 1;
	set_dev(0, "pool-a", 1);
	S->dev[0].not_ready = 4;
	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == 0, "ready after 4 refusals: %d %s", r, why);
	if (r == 0)
		vmshm_detach(p);
	S->dev[0].not_ready = -1;
	t0 = GetTickCount64();
	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == VMSHM_ETIMEDOUT && strstr(why, "doorbell server has not given this VM its ID"),
	      "never ready: %d %s", r, why);
	CHECK(GetTickCount64() - t0 < 3000, "never ready: waited %llu ms",
	      (unsigned long long)(GetTickCount64() - t0));
	printf("  never ready: %s\n", why);
	S->dev[0].not_ready = 0;
}

/* 8: no device interface: the reason names the fix. */
static void test_no_device(void)
{
	vmshm_pool *p;
	char why[512];
	int r;

	S->ndev = 0;
	S->driverless = 1;
	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == VMSHM_ENOPOOL && strstr(why, "1 ivshmem PCI device (1af4:1110)") &&
		  strstr(why, "install virtio-win's IVSHMEM driver") &&
		  strstr(why, "PCI standard RAM Controller"),
	      "a device without its driver: %d %s", r, why);
	printf("  %s\n", why);
	S->driverless = 0;
	r = attach("ivshmem:0", &p, why, sizeof why);
	CHECK(r == VMSHM_ENOPOOL && strstr(why, "no ivshmem device") &&
		  strstr(why, "install virtio-win's IVSHMEM driver") &&
		  strstr(why, "PCI standard RAM Controller"),
	      "no device: %d %s", r, why);
}

/* 2: a process that exits while a thread is inside the backend (holding
 * its lock) ends; the exit handler does not wait for that lock forever. */
static void test_exit(void)
{
	DWORD code;

	S->ndev = 2;
	set_dev(0, "pool-a", 0);
	set_dev(1, "pool-b", 0);
	S->dev[1].block_mmap = 1;
	code = wait_exit(spawn("child exit"), 20000);
	CHECK(code == 0, "exit with a thread inside the backend: exit status 0x%lx",
	      (unsigned long)code);
	S->dev[1].block_mmap = 0;
}

int main(int argc, char **argv)
{
	SetEnvironmentVariableA("VMSHM_POOL", NULL);
	if (argc == 3 && strcmp(argv[1], "child") == 0) {
		fake_attach_state();
		if (!GetEnvironmentVariableA("IVDRV_DIR", dir, sizeof dir))
			return 2;
		if (strcmp(argv[2], "attach") == 0)
			return child_attach();
		if (strcmp(argv[2], "exit") == 0)
			return child_exit();
		return 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: ivdrv_test DIR\n");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);
	SetEnvironmentVariableA("IVDRV_DIR", dir);
	fake_attach_state();
	pool_file("pool-a");
	pool_file("pool-b");

	test_discovery();
	test_doorbell();
	test_second_process();
	test_not_ready();
	test_no_device();
	test_exit();
	return check_summary();
}
