/*
 * platform_win32.c - the OS layer of libvmshm on Windows (platform.h).
 *
 * Identity of a process: its pid and its creation FILETIME, plus the boot
 * identity of this Windows instance. The boot identity is a hash of the boot
 * time (from NtQuerySystemInformation, else now - GetTickCount64 rounded to
 * seconds), the MachineGuid, the computer name and a random value made once
 * per boot (boot_nonce: VMs cloned from one snapshot share the other three),
 * shaped as a UUID of version 8: a Linux boot id
 * (/proc/sys/kernel/random/boot_id) is always a version 4 UUID, so the two
 * can never be equal.
 */
#include <windows.h>
#include <bcrypt.h>
#include <shlobj.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmshm.h"
#include "platform.h"

/* ---- boot identity ------------------------------------------------------ */

struct timeofday_info {
	LARGE_INTEGER boot_time;
	LARGE_INTEGER current_time;
	LARGE_INTEGER time_zone_bias;
	ULONG time_zone_id;
	BYTE reserved[20];
};
typedef LONG(WINAPI *query_sysinfo_fn)(ULONG cls, PVOID buf, ULONG len, PULONG ret);
#define SYSINFO_TIMEOFDAY 3

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Boot time of this Windows instance, in FILETIME units. */
static uint64_t boot_filetime(void)
{
	HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
	query_sysinfo_fn query = NULL;
	struct timeofday_info tod;
	FILETIME now;
	uint64_t t;

	if (ntdll)
		query = (query_sysinfo_fn)(void (*)(void))GetProcAddress(
		    ntdll, "NtQuerySystemInformation");
	memset(&tod, 0, sizeof tod);
	if (query && query(SYSINFO_TIMEOFDAY, &tod, sizeof tod, NULL) >= 0 &&
	    tod.boot_time.QuadPart > 0)
		return (uint64_t)tod.boot_time.QuadPart;
	/* Fallback: now - uptime, rounded to whole seconds. */
	GetSystemTimeAsFileTime(&now);
	t = ((uint64_t)now.dwHighDateTime << 32 | now.dwLowDateTime) - GetTickCount64() * 10000ull;
	return (t + 5000000ull) / 10000000ull * 10000000ull;
}

/*
 * The random part of the boot identity: 16 bytes that the first process of
 * this boot to need them makes, kept in DIR\boot-<boot time, 16 hex digits>
 * (DIR: ProgramData\vmshm, where every user may create files and read
 * them). 0, or -1 when the file can neither be made nor read.
 *
 * Why it is sound. Every process of one boot computes the same boot time,
 * hence the same file name; the file is made whole under a temporary name
 * and moved to its name without replacing, which only one process can do:
 * everyone reads the one value the winner wrote. A new boot has a new boot
 * time, hence a new file and a new random value, and the files of earlier
 * boots are deleted when it is made. A clone of a running VM has the same
 * boot time, but it makes its own file at its first attach, so clones differ
 * (unless the snapshot was taken after a vmshm process of that boot had
 * made the file: it is then on every clone's disk; delete DIR\boot-* in the
 * template or reboot the clones). A named kernel object would not do: it
 * lives only while a process holds it, so after the last vmshm process died
 * (when reclaim is needed most) the next one would get a new identity and
 * could no longer judge it. Volatile registry keys last exactly a boot but
 * only administrators may create them under HKLM. If the boot time moves
 * (the clock is stepped), later processes use another file: they see
 * earlier processes as unknown, never as dead.
 */
static int boot_nonce_in(const WCHAR *dir, uint64_t boot, uint8_t out[16])
{
	WCHAR path[MAX_PATH], tmp[MAX_PATH + 32], pat[MAX_PATH];
	WIN32_FIND_DATAW fd;
	HANDLE f, find;
	DWORD n = 0;
	int made = 0;

	CreateDirectoryW(dir, NULL); /* may exist */
	if (swprintf(path, MAX_PATH, L"%ls\\boot-%016llx", dir, (unsigned long long)boot) < 0)
		return -1;
	for (int tries = 0; tries < 50; tries++) {
		f = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
				OPEN_EXISTING, 0, NULL);
		if (f != INVALID_HANDLE_VALUE) {
			if (!ReadFile(f, out, 16, &n, NULL))
				n = 0;
			CloseHandle(f);
			if (n == 16)
				break;
		} else if (!made) {
			/* None yet: make one whole, then give it its name. */
			made = 1;
			swprintf(tmp, MAX_PATH + 32, L"%ls.%lu.%lu", path,
				 (unsigned long)GetCurrentProcessId(),
				 (unsigned long)GetCurrentThreadId());
			f = CreateFileW(tmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
			if (f == INVALID_HANDLE_VALUE)
				return -1;
			plat_random(out, 16);
			if (!WriteFile(f, out, 16, &n, NULL) || n != 16 || !FlushFileBuffers(f)) {
				CloseHandle(f);
				DeleteFileW(tmp);
				return -1;
			}
			CloseHandle(f);
			if (MoveFileExW(tmp, path, MOVEFILE_WRITE_THROUGH)) {
				n = 16;
				break;
			}
			DeleteFileW(tmp); /* another process named its file first */
			continue;
		}
		n = 0;
		Sleep(1); /* a file being moved into place */
	}
	if (n != 16)
		return -1;
	if (made) {
		/* This process made the file of this boot: the files of
		 * earlier boots (and leftovers of creators that died) go. */
		swprintf(pat, MAX_PATH, L"%ls\\boot-*", dir);
		find = FindFirstFileW(pat, &fd);
		if (find != INVALID_HANDLE_VALUE) {
			do {
				WCHAR old[MAX_PATH];

				if (wcsncmp(fd.cFileName, path + wcslen(dir) + 1, 21) == 0)
					continue; /* this boot's, or one being made */
				swprintf(old, MAX_PATH, L"%ls\\%ls", dir, fd.cFileName);
				DeleteFileW(old);
			} while (FindNextFileW(find, &fd));
			FindClose(find);
		}
	}
	return 0;
}

/* boot_nonce_in ProgramData\vmshm. */
static int boot_nonce(uint64_t boot, uint8_t out[16])
{
	WCHAR *data = NULL, dir[MAX_PATH];
	int ok;

	if (SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, NULL, &data) != S_OK) {
		CoTaskMemFree(data);
		return -1;
	}
	ok = swprintf(dir, MAX_PATH, L"%ls\\vmshm", data) > 0;
	CoTaskMemFree(data);
	return ok ? boot_nonce_in(dir, boot, out) : -1;
}

static void make_boot_id(uint8_t out[16])
{
	uint64_t boot = boot_filetime();
	WCHAR guid[64], host[MAX_COMPUTERNAME_LENGTH + 1];
	DWORD len = sizeof guid, hlen = MAX_COMPUTERNAME_LENGTH + 1;
	uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
	uint8_t nonce[16];

	memset(guid, 0, sizeof guid);
	if (RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Cryptography", L"MachineGuid",
			 RRF_RT_REG_SZ | RRF_SUBKEY_WOW6464KEY, NULL, guid, &len) != ERROR_SUCCESS)
		memset(guid, 0, sizeof guid);
	memset(host, 0, sizeof host);
	if (!GetComputerNameW(host, &hlen))
		memset(host, 0, sizeof host);
	/* Without the file this process's identity is its own: no other
	 * process judges its pid, and it judges none (all unknown). */
	if (boot_nonce(boot, nonce) != 0)
		plat_random(nonce, sizeof nonce);

	a = fnv1a(a, "vmshm-windows-boot", 18);
	a = fnv1a(a, &boot, sizeof boot);
	a = fnv1a(a, guid, sizeof guid);
	a = fnv1a(a, host, sizeof host);
	a = fnv1a(a, nonce, sizeof nonce);
	b = fnv1a(b, nonce, sizeof nonce);
	b = fnv1a(b, host, sizeof host);
	b = fnv1a(b, guid, sizeof guid);
	b = fnv1a(b, &boot, sizeof boot);
	a = mix64(a);
	b = mix64(b ^ a);
	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(a >> (8 * i));
		out[8 + i] = (uint8_t)(b >> (8 * i));
	}
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x80); /* version 8, never 4 */
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

static INIT_ONCE ident_once = INIT_ONCE_STATIC_INIT;
static struct plat_ident self_ident;

static uint64_t filetime_u64(FILETIME ft)
{
	return (uint64_t)ft.dwHighDateTime << 32 | ft.dwLowDateTime;
}

static void short_name(char out[16])
{
	WCHAR path[MAX_PATH];
	DWORD n = GetModuleFileNameW(NULL, path, MAX_PATH);
	const WCHAR *base = path, *p;
	size_t o = 0;

	memset(out, 0, 16);
	if (n == 0 || n >= MAX_PATH)
		return;
	path[n] = 0;
	for (p = path; *p; p++)
		if (*p == L'\\' || *p == L'/')
			base = p + 1;
	/* ASCII only: a comm is a debug label, not a name. */
	for (p = base; *p && o < 15; p++)
		out[o++] = (*p >= 0x20 && *p < 0x7f) ? (char)*p : '?';
}

static BOOL CALLBACK ident_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
	FILETIME create, exit_t, kernel, user;

	(void)once;
	(void)param;
	(void)ctx;
	self_ident.os = VMSHM_OS_WINDOWS;
	self_ident.pid = GetCurrentProcessId();
	if (GetProcessTimes(GetCurrentProcess(), &create, &exit_t, &kernel, &user))
		self_ident.start_time = filetime_u64(create);
	make_boot_id(self_ident.boot_id);
	short_name(self_ident.comm);
	return TRUE;
}

int plat_identity(struct plat_ident *id)
{
	DWORD saved = GetLastError();

	if (!id)
		return VMSHM_EINVAL;
	InitOnceExecuteOnce(&ident_once, ident_init, NULL, NULL);
	SetLastError(saved);
	if (self_ident.start_time == 0)
		return VMSHM_EIO;
	*id = self_ident;
	return 0;
}

/* What a failed OpenProcess says: only "no such process"
 * (ERROR_INVALID_PARAMETER) is a NO. Access denied means some process has
 * the pid, but not that it is ours (its creation time cannot be read); any
 * other failure is doubt. When in doubt, never NO. */
static int open_failure_liveness(DWORD err)
{
	return err == ERROR_INVALID_PARAMETER ? VMSHM_LIVE_NO : VMSHM_LIVE_UNKNOWN;
}

static int process_liveness(struct plat_ident me, uint64_t pid, uint64_t start_time)
{
	FILETIME create, exit_t, kernel, user;
	HANDLE h;
	DWORD code;
	int live;

	if (pid == me.pid)
		return start_time == me.start_time ? VMSHM_LIVE_YES : VMSHM_LIVE_NO;
	if (pid == 0 || pid > 0xffffffffu)
		return VMSHM_LIVE_NO;
	h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE, FALSE, (DWORD)pid);
	if (!h)
		h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
	if (!h)
		return open_failure_liveness(GetLastError());
	live = VMSHM_LIVE_YES;
	if (!GetProcessTimes(h, &create, &exit_t, &kernel, &user))
		live = VMSHM_LIVE_UNKNOWN;
	else if (filetime_u64(create) != start_time)
		live = VMSHM_LIVE_NO; /* the pid belongs to a newer process */
	else if (WaitForSingleObject(h, 0) == WAIT_OBJECT_0)
		live = VMSHM_LIVE_NO; /* exited; someone still holds its handle */
	else if (GetExitCodeProcess(h, &code) && code != STILL_ACTIVE)
		live = VMSHM_LIVE_NO;
	CloseHandle(h);
	return live;
}

/* Win32 calls in here keep the caller's last error (GetLastError). */
int plat_liveness(uint32_t os, uint64_t pid, uint64_t start_time, const uint8_t boot_id[16])
{
	struct plat_ident me;
	DWORD saved;
	int live;

	if (plat_identity(&me) != 0 || os != VMSHM_OS_WINDOWS || !boot_id ||
	    memcmp(boot_id, me.boot_id, 16) != 0)
		return VMSHM_LIVE_UNKNOWN;
	saved = GetLastError();
	live = process_liveness(me, pid, start_time);
	SetLastError(saved);
	return live;
}

/* Windows peers are judged through their process (plat_liveness): there is
 * no per-attach kernel lock here. */
int plat_peer_lock(int fd, uint32_t index)
{
	(void)fd;
	(void)index;
	return VMSHM_ENOTSUP;
}

void plat_peer_unlock(int fd, uint32_t index)
{
	(void)fd;
	(void)index;
}

int plat_peer_lock_held(int fd, uint32_t index)
{
	(void)fd;
	(void)index;
	return VMSHM_ENOTSUP;
}

void plat_close_fd(int fd)
{
	(void)fd;
}

void plat_stop_self(void)
{
}

int plat_file_id(int fd, uint64_t *dev, uint64_t *ino)
{
	(void)fd;
	*dev = *ino = 0;
	return VMSHM_ENOTSUP;
}

/* ---- time ------------------------------------------------------------- */

uint64_t plat_now_ns(void)
{
	static LARGE_INTEGER freq;
	LARGE_INTEGER c;

	if (freq.QuadPart == 0)
		QueryPerformanceFrequency(&freq);
	QueryPerformanceCounter(&c);
	return (uint64_t)(c.QuadPart / freq.QuadPart) * 1000000000ull +
	       (uint64_t)(c.QuadPart % freq.QuadPart) * 1000000000ull / (uint64_t)freq.QuadPart;
}

uint64_t plat_wall_ns(void)
{
	FILETIME ft;
	uint64_t t;

	GetSystemTimePreciseAsFileTime(&ft);
	t = filetime_u64(ft);
	/* FILETIME counts 100 ns from 1601-01-01. */
	if (t < 116444736000000000ull)
		return 0;
	return (t - 116444736000000000ull) * 100;
}

uint64_t plat_wall_coarse_ns(void)
{
	FILETIME ft;
	uint64_t t;

	GetSystemTimeAsFileTime(&ft); /* the clock's tick, read from memory */
	t = filetime_u64(ft);
	if (t < 116444736000000000ull)
		return 0;
	return (t - 116444736000000000ull) * 100u;
}

void plat_yield(void)
{
	SwitchToThread();
}

void plat_relax(void)
{
	YieldProcessor();
}

void plat_sleep_us(unsigned us)
{
	Sleep(us == 0 ? 0 : (us + 999) / 1000);
}

void plat_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	DWORD saved = GetLastError();
	uint64_t x;

	if (len <= 0xffffffffu &&
	    BCryptGenRandom(NULL, p, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) >= 0) {
		SetLastError(saved);
		return;
	}
	SetLastError(saved);
	x = plat_now_ns() ^ plat_wall_ns() ^ ((uint64_t)GetCurrentProcessId() << 32) ^
	    GetCurrentThreadId();
	for (size_t i = 0; i < len; i++) {
		x += 0x9e3779b97f4a7c15ull;
		p[i] = (unsigned char)mix64(x);
	}
}

/* ---- process-local lock, once, exit ----------------------------------- */

_Static_assert(sizeof(SRWLOCK) <= sizeof(((plat_lock *)0)->impl[0]),
	       "an SRWLOCK must fit in impl[0]");

void plat_lock_init(plat_lock *l)
{
	InitializeSRWLock((PSRWLOCK)l->impl);
	l->impl[1] = NULL;
}

/* How many plat_locks are held right now, by any thread of this process,
 * and whether the exit handlers have started (see run_exit_fns). */
static volatile LONG locks_held, exiting;

static void exit_now(void)
{
	DWORD code = 0;

	/* The exit code the process is leaving with, if Windows has it yet. */
	if (!GetExitCodeProcess(GetCurrentProcess(), &code) || code == STILL_ACTIVE)
		code = 0;
	TerminateProcess(GetCurrentProcess(), code);
}

/*
 * impl[0] is the SRWLOCK; impl[1] marks a lock the exit handlers took. At
 * exit the one thread left takes locks with TryAcquire only and never
 * releases them: a release may have to wake waiters, and a thread that was
 * ended while queueing can leave the wait queue locked forever.
 */
#define EXIT_OWNED ((void *)1)

void plat_lock_take(plat_lock *l)
{
	if (!exiting) {
		AcquireSRWLockExclusive((PSRWLOCK)l->impl);
	} else if (l->impl[1] != EXIT_OWNED) {
		/* The holder may be a thread that no longer runs: wait a
		 * bounded time, then end the process as TerminateProcess would
		 * (its peer is reclaimed like a killed process's). */
		for (int i = 0; !TryAcquireSRWLockExclusive((PSRWLOCK)l->impl); i++) {
			if (i >= 500)
				exit_now();
			Sleep(1);
		}
		l->impl[1] = EXIT_OWNED;
	}
	InterlockedIncrement(&locks_held);
}

void plat_lock_give(plat_lock *l)
{
	InterlockedDecrement(&locks_held);
	if (l->impl[1] != EXIT_OWNED)
		ReleaseSRWLockExclusive((PSRWLOCK)l->impl);
}

_Atomic uint64_t plat_forks; /* Windows has no fork: always 0 */

uint64_t plat_fork_epoch(void)
{
	return 0;
}

/* One INIT_ONCE per distinct function, so every caller's FN runs once. */
#define ONCE_MAX 32
static struct {
	void (*fn)(void);
	INIT_ONCE once;
} once_tab[ONCE_MAX];
static SRWLOCK once_lock = SRWLOCK_INIT;

static BOOL CALLBACK once_call(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
	void (**fn)(void) = param;

	(void)once;
	(void)ctx;
	(*fn)();
	return TRUE;
}

/* No wait on a word shared between processes here: waiters poll (or wait
 * for their ivshmem doorbell event). */
int plat_futex_wait(_Atomic uint64_t *word, uint32_t val, uint64_t timeout_ns)
{
	(void)word;
	(void)val;
	(void)timeout_ns;
	return VMSHM_ENOTSUP;
}

void plat_futex_wake(_Atomic uint64_t *word)
{
	(void)word;
}

uint32_t plat_thread_id(void)
{
	return (uint32_t)GetCurrentThreadId();
}

int plat_tls_new(plat_tls *t, void (*dtor)(void *))
{
	DWORD k = FlsAlloc((PFLS_CALLBACK_FUNCTION)dtor);
	if (k == FLS_OUT_OF_INDEXES)
		return -1;
	t->key = k;
	return 0;
}

void *plat_tls_get(const plat_tls *t)
{
	return FlsGetValue((DWORD)t->key);
}

void plat_tls_set(const plat_tls *t, void *v)
{
	FlsSetValue((DWORD)t->key, v);
}

void plat_on_fork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	(void)prepare;
	(void)parent;
	(void)child;
}

void plat_once(void (*fn)(void))
{
	INIT_ONCE *o = NULL;
	int i;

	AcquireSRWLockExclusive(&once_lock);
	for (i = 0; i < ONCE_MAX && once_tab[i].fn; i++)
		if (once_tab[i].fn == fn)
			break;
	if (i < ONCE_MAX) {
		if (!once_tab[i].fn) {
			once_tab[i].fn = fn;
			InitOnceInitialize(&once_tab[i].once);
		}
		o = &once_tab[i].once;
	}
	ReleaseSRWLockExclusive(&once_lock);
	if (o)
		InitOnceExecuteOnce(o, once_call, &fn, NULL);
	else
		abort(); /* more distinct once-functions than the table holds */
}

/*
 * Exit handlers run from the DLL's CRT exit list: at normal process exit
 * (return from main, exit, ExitProcess) that is DLL_PROCESS_DETACH, after
 * Windows has ended (or is ending) every other thread wherever it was. A
 * thread ended inside a vmshm call may hold a plat_lock that nobody will ever
 * release: then the handlers are skipped, or plat_lock_take gives up after a
 * bounded wait, and this process's peer is left to reclaim, as after
 * TerminateProcess.
 */
#define EXIT_MAX 16
static void (*exit_fns[EXIT_MAX])(void);
static int exit_n;

static void run_exit_fns(void)
{
	InterlockedExchange(&exiting, 1);
	if (InterlockedCompareExchange(&locks_held, 0, 0) != 0)
		return;
	for (int i = exit_n; i-- > 0;)
		exit_fns[i]();
}

void plat_at_exit(void (*fn)(void))
{
	AcquireSRWLockExclusive(&once_lock);
	if (exit_n == 0)
		atexit(run_exit_fns);
	if (exit_n < EXIT_MAX)
		exit_fns[exit_n++] = fn;
	ReleaseSRWLockExclusive(&once_lock);
}

/* ---- environment, debug output ----------------------------------------- */

/* The value is copied to one of a few per-thread buffers (UTF-8), so a
 * variable set with SetEnvironmentVariable after start-up is seen too. */
#define ENV_BUFS 4
#define ENV_LEN  2048
static _Thread_local char env_buf[ENV_BUFS][ENV_LEN];
static _Thread_local unsigned env_next;

void plat_prefault(void *addr, uint64_t len)
{
	/* Touch each page with a write that changes nothing (an atomic OR of
	 * zero): concurrent peers may be writing there. */
	for (uint64_t off = 0; off < len; off += 4096)
		InterlockedOr64((volatile LONG64 *)((char *)addr + off), 0);
}

const char *plat_getenv(const char *name)
{
	WCHAR wname[128], wval[ENV_LEN];
	char *out = NULL;
	DWORD saved = GetLastError(), n;

	if (!name || !MultiByteToWideChar(CP_UTF8, 0, name, -1, wname, 128))
		return NULL;
	SetLastError(0);
	n = GetEnvironmentVariableW(wname, wval, ENV_LEN);
	if ((n > 0 || GetLastError() != ERROR_ENVVAR_NOT_FOUND) && n < ENV_LEN) {
		wval[n] = 0;
		out = env_buf[env_next++ % ENV_BUFS];
		if (!WideCharToMultiByte(CP_UTF8, 0, wval, -1, out, ENV_LEN, NULL, NULL))
			out = NULL;
	}
	SetLastError(saved);
	return out; /* NULL: unset, or longer than any pool spec */
}

void plat_debug(const char *msg)
{
	HANDLE err = GetStdHandle(STD_ERROR_HANDLE);
	DWORD saved = GetLastError(), n;

	if (!msg || err == NULL || err == INVALID_HANDLE_VALUE)
		return;
	WriteFile(err, msg, (DWORD)strlen(msg), &n, NULL);
	WriteFile(err, "\n", 1, &n, NULL);
	SetLastError(saved);
}
