/*
 * xos.c - the cross-OS test: one pool file attached at the same time by a
 * Windows process (xos.exe under Wine, VMSHM_POOL=Z:\dev\shm\...) and a Linux
 * process (xos-linux, VMSHM_POOL=/dev/shm/...). The same source builds both.
 *
 *   xos lin DIR      the Linux side        xos win DIR     the Windows side
 *   xos holder DIR TAG   (Windows) a process the Windows side starts and kills
 *   xos mkpool PATH SIZE [OBJECTS]   (Linux) creates a fresh pool file
 *
 * The two sides step through the scenario together: at each step a side
 * creates DIR/<side>.<step> and waits for the other side's file. Each side
 * ends with "N passed, M failed".
 *
 * Reclaim of a killed Windows process: a Linux process cannot judge a Windows
 * peer (liveness UNKNOWN, never reclaimed from Linux); the next attach by a
 * Windows process of the same Windows instance finds it dead (pid + creation
 * time) and reclaims it. From the host, `vmshm gc --peer ID` does the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#define SEP "\\"
#else
#include <sched.h>
#include <time.h>
#include <unistd.h>
#define SEP "/"
#endif

#include "RtApi.h"
#include "vmshm.h"
#include "check.h"

#define SZ_WIN  65536u
#define SZ_LIN  70000u
#define RACE_N  500
#define WAIT_MS 90000

static int is_win;
static const char *dir;
static const char *me, *peer;
static vmshm_pool *obs; /* an observer attach: lists, stats, check */

static void msleep(unsigned ms)
{
#ifdef _WIN32
	Sleep(ms);
#else
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
#endif
}

static uint64_t now_ms(void)
{
#ifdef _WIN32
	return GetTickCount64();
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
#endif
}

static void yield_cpu(void)
{
#ifdef _WIN32
	SwitchToThread();
#else
	sched_yield();
#endif
}

static void path_of(char *out, size_t n, const char *file)
{
	snprintf(out, n, "%s" SEP "%s", dir, file);
}

static int write_file(const char *file, const char *text)
{
	char p[1024], tmp[1040];
	FILE *f;

	path_of(p, sizeof p, file);
	snprintf(tmp, sizeof tmp, "%s.tmp", p);
	f = fopen(tmp, "wb");
	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	return rename(tmp, p);
}

/* Reads DIR/FILE into BUF; 0 if it exists. */
static int read_file(const char *file, char *buf, size_t n)
{
	char p[1024];
	FILE *f;
	size_t got;

	path_of(p, sizeof p, file);
	f = fopen(p, "rb");
	if (!f)
		return -1;
	got = fread(buf, 1, n - 1, f);
	buf[got] = 0;
	fclose(f);
	return 0;
}

static int wait_file(const char *file, char *buf, size_t n)
{
	for (int t = 0; t < WAIT_MS; t += 2) {
		if (read_file(file, buf, n) == 0)
			return 0;
		msleep(2);
	}
	return -1;
}

/* Both sides reach STEP before either goes on. */
static void sync_step(int step)
{
	char f[64], buf[16];

	snprintf(f, sizeof f, "%s.%d", me, step);
	write_file(f, "ok");
	snprintf(f, sizeof f, "%s.%d", peer, step);
	if (wait_file(f, buf, sizeof buf) != 0) {
		CHECK(0, "the %s side never reached step %d", peer, step);
		exit(check_summary() | 2);
	}
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 13u + seed);
}

static int same_fill(const unsigned char *p, size_t from, size_t n, unsigned seed)
{
	for (size_t i = from; i < n; i++)
		if (p[i] != (unsigned char)(i * 13u + seed))
			return 0;
	return 1;
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

struct find_arg {
	const char *name;
	int found;
	uint64_t holders;
};
static int find_cb(const struct vmshm_objinfo *o, void *arg)
{
	struct find_arg *f = arg;

	if (o->named && strcmp(o->name, f->name) == 0) {
		f->found = 1;
		f->holders = o->holders;
	}
	return 0;
}
static int in_directory(const char *name, uint64_t *holders)
{
	struct find_arg f = {name, 0, 0};

	vmshm_list(obs, find_cb, &f);
	if (holders)
		*holders = f.holders;
	return f.found;
}

struct peer_arg {
	uint64_t pid;
	int os;
	int count;
	struct vmshm_peerinfo info;
};
static int peer_cb(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peer_arg *a = arg;

	if (pi->state != VMSHM_PEER_FREE && pi->pid == a->pid && pi->os == a->os) {
		a->count++;
		a->info = *pi;
	}
	return 0;
}
static int find_peer(int os, uint64_t pid, struct vmshm_peerinfo *out)
{
	struct peer_arg a;

	memset(&a, 0, sizeof a);
	a.pid = pid;
	a.os = os;
	vmshm_peers(obs, peer_cb, &a);
	if (out)
		*out = a.info;
	return a.count;
}

/* Prints every name in the directory, in hex (when a lookup failed). */
static int dump_cb(const struct vmshm_objinfo *o, void *arg)
{
	(void)arg;
	printf("%s  slot %u state %s: ", check_side, o->slot, vmshm_obj_state_name(o->state));
	for (const unsigned char *c = (const unsigned char *)o->name; *c; c++)
		printf("%02x", *c);
	printf("\n");
	return 0;
}
static void dump_names(const char *want)
{
	printf("%s  wanted: ", check_side);
	for (const unsigned char *c = (const unsigned char *)want; *c; c++)
		printf("%02x", *c);
	printf("\n");
	vmshm_list(obs, dump_cb, NULL);
}

static void fault_cb(const struct vmshm_fault *f, void *arg)
{
	(void)arg;
	printf("%s  fault %s at %u: %s\n", check_side, vmshm_fault_name(f->code), f->where,
	       f->what);
}

/* Names used by both sides (UTF-8 for A calls, UTF-16 for W calls). */
#define NAME_WIN_A "xos-from-win"
#define NAME_WIN_W ((const WCHAR *)u"xos-from-win")
#define NAME_LIN_A "xos-from-lin"
#define NAME_LIN_W ((const WCHAR *)u"xos-from-lin")
#define UNI_WIN_A  u8"xos-Gr\u00fc\u00dfe-\u65e5\u672c\u8a9e-\U0001F600"
#define UNI_WIN_W  ((const WCHAR *)u"xos-Gr\u00fc\u00dfe-\u65e5\u672c\u8a9e-\U0001F600")
#define UNI_LIN_A  u8"xos-\u0395\u03bb\u03bb\u03ac\u03b4\u03b1-\u00c6\u00d8\u00c5-\U0001D11E"
#define UNI_LIN_W                                                                                  \
	((const WCHAR *)u"xos-\u0395\u03bb\u03bb\u03ac\u03b4\u03b1-\u00c6\u00d8\u00c5-\U0001D11E")

#ifdef _WIN32
/* ---- the holder: a Windows process that is killed holding handles ------- */
static int run_holder(const char *tag)
{
	void *p = NULL, *q = NULL;
	char pid[32], name[64];
	HANDLE a, b;

	snprintf(name, sizeof name, "xos-crash-%s", tag);
	a = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "xos-shared", &p);
	b = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &q);
	if (!a || !b || !same_fill(p, 0, 4096, 'S'))
		return 1;
	memcpy(q, "held by the holder", 19);
	snprintf(pid, sizeof pid, "%lu", (unsigned long)GetCurrentProcessId());
	snprintf(name, sizeof name, "holder-%s.ready", tag);
	write_file(name, pid);
	Sleep(INFINITE);
	return 0;
}

/* Starts "xos holder DIR TAG", waits until it holds its handles; writes its
 * pid to DIR/holder-TAG.pid. Returns its process handle. */
static HANDLE spawn_holder(const char *tag)
{
	WCHAR exe[MAX_PATH], cmd[3 * MAX_PATH + 16];
	STARTUPINFOW si;
	PROCESS_INFORMATION pi;
	DWORD n = GetModuleFileNameW(NULL, exe, MAX_PATH);
	int o = 0, d;

	if (n == 0 || n >= MAX_PATH)
		return NULL;
	cmd[o++] = L'"';
	memcpy(cmd + o, exe, n * sizeof(WCHAR));
	o += (int)n;
	memcpy(cmd + o, L"\" holder \"", 10 * sizeof(WCHAR));
	o += 10;
	d = MultiByteToWideChar(CP_UTF8, 0, dir, -1, cmd + o, 2 * MAX_PATH);
	if (d <= 0)
		return NULL;
	o += d - 1;
	cmd[o++] = L'"';
	cmd[o++] = L' ';
	for (const char *t = tag; *t; t++)
		cmd[o++] = (WCHAR)*t;
	cmd[o] = 0;
	memset(&si, 0, sizeof si);
	si.cb = sizeof si;
	if (!CreateProcessW(exe, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
		return NULL;
	CloseHandle(pi.hThread);

	char file[64], buf[32];
	snprintf(file, sizeof file, "holder-%s.ready", tag);
	CHECK(wait_file(file, buf, sizeof buf) == 0, "the holder %s never got ready", tag);
	snprintf(file, sizeof file, "holder-%s.pid", tag);
	write_file(file, buf);
	return pi.hProcess;
}
#endif

static int run_side(void)
{
	const char *own_a = is_win ? NAME_WIN_A : NAME_LIN_A;
	const char *oth_a = is_win ? NAME_LIN_A : NAME_WIN_A;
	const WCHAR *oth_w = is_win ? NAME_LIN_W : NAME_WIN_W;
	const char *own_uni = is_win ? UNI_WIN_A : UNI_LIN_A;
	size_t own_sz = is_win ? SZ_WIN : SZ_LIN, oth_sz = is_win ? SZ_LIN : SZ_WIN;
	unsigned own_seed = is_win ? 'W' : 'L', oth_seed = is_win ? 'L' : 'W';
	const char *own_ack = is_win ? "ack-from-lin" : "ack-from-win";
	const char *oth_ack = is_win ? "ack-from-win" : "ack-from-lin";
	unsigned char *own = NULL, *oth = NULL, *uni = NULL, *ctl = NULL;
	HANDLE h_own, h_oth[3], h_uni, h_uni_oth, h_ctl, h;
	struct vmshm_stats st;
	char why[256] = "", buf[RACE_N + 16], mine[RACE_N + 1], f[64];
	HANDLE race[RACE_N];
	unsigned char *race_p[RACE_N];
	uint64_t free0 = 0;
	void *p, *q;
	int r, created = 0;
	DWORD e;

	/* 0: both look at the fresh pool before anything is created. */
	r = vmshm_attach(NULL, VMSHM_ATTACH_OBSERVER, &obs, why, sizeof why);
	CHECK(r == 0, "observer attach of $VMSHM_POOL: %d %s", r, why);
	if (r != 0)
		return check_summary();
	CHECK(strcmp(vmshm_backend_name(obs), "file") == 0, "backend %s", vmshm_backend_name(obs));
	CHECK(vmshm_stats(obs, &st) == 0, "stats");
	free0 = st.free_bytes;
	CHECK(st.objects == 0, "the pool is not fresh: %u objects", st.objects);
	sync_step(0);

	/* 1: both attach through the RtApi calls. */
	p = NULL;
	h_ctl = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "xos-ctl", &p);
	e = GetLastError();
	ctl = p;
	CHECK(h_ctl != NULL && (e == ERROR_SUCCESS || e == ERROR_ALREADY_EXISTS), "xos-ctl: %lu",
	      (unsigned long)e);
	if (!h_ctl)
		return check_summary();
#ifdef _WIN32
	/* This process's own peer entry: Windows identity, judged alive. */
	{
		struct vmshm_peerinfo pi;
		FILETIME cr, ex, k, u;
		uint64_t ft;

		CHECK(find_peer(VMSHM_OS_WINDOWS, GetCurrentProcessId(), &pi) == 1,
		      "no peer entry with this Windows pid");
		GetProcessTimes(GetCurrentProcess(), &cr, &ex, &k, &u);
		ft = (uint64_t)cr.dwHighDateTime << 32 | cr.dwLowDateTime;
		CHECK(pi.start_time == ft, "start time %llu, creation FILETIME %llu",
		      (unsigned long long)pi.start_time, (unsigned long long)ft);
		CHECK(pi.liveness == VMSHM_LIVE_YES, "own liveness %d", pi.liveness);
		CHECK((pi.boot_id[6] >> 4) == 8 && (pi.boot_id[8] >> 6) == 2,
		      "boot id %s is not a version 8 UUID", pi.vm);
		CHECK(strcmp(pi.comm, "xos.exe") == 0, "comm '%s'", pi.comm);
	}
#else
	/* The Linux process's entry, and the boot id the Windows side must
	 * never have. */
	{
		struct vmshm_peerinfo pi;

		CHECK(find_peer(VMSHM_OS_LINUX, (uint64_t)getpid(), &pi) == 1,
		      "no peer entry with this Linux pid");
		CHECK(pi.liveness == VMSHM_LIVE_YES, "own liveness %d", pi.liveness);
		write_file("lin-boot.txt", pi.vm);
	}
#endif
	sync_step(1);
#ifdef _WIN32
	{
		struct vmshm_peerinfo pi;
		char lin_vm[64] = "";

		CHECK(read_file("lin-boot.txt", lin_vm, sizeof lin_vm) == 0, "lin-boot.txt");
		find_peer(VMSHM_OS_WINDOWS, GetCurrentProcessId(), &pi);
		CHECK(strcmp(pi.vm, lin_vm) != 0, "Windows and Linux share the boot id %s", pi.vm);
		printf("%sboot ids: Windows %s, Linux %s\n", check_side, pi.vm, lin_vm);
	}
#endif

	/* 2: each side creates its region. */
	p = NULL;
	if (is_win)
		h_own = RtCreateSharedMemoryW(PAGE_READWRITE, 0, SZ_WIN, NAME_WIN_W, &p);
	else
		h_own = RtCreateSharedMemoryA(PAGE_READONLY, 0, SZ_LIN, NAME_LIN_A, &p);
	e = GetLastError();
	own = p;
	CHECK(h_own != NULL && own != NULL, "create %s", own_a);
	if (!h_own)
		return check_summary();
	CHECK_ERR(e, ERROR_SUCCESS, "create own region");
	CHECK(all_zero(own, own_sz), "own region not zero-filled");
	fill(own, own_sz, own_seed);
	sync_step(2);

	/* 3: each side opens the other's: the same bytes, A and W. */
	SHARED_MEMORY_INFO info;
	p = NULL;
	SetLastError(55);
	h_oth[0] = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, oth_a, &p);
	e = GetLastError();
	oth = p;
	CHECK(h_oth[0] != NULL && oth != NULL, "open %s (A)", oth_a);
	if (!h_oth[0])
		return check_summary();
	CHECK_ERR(e, ERROR_SUCCESS, "open other side's region");
	CHECK(same_fill(oth, 0, oth_sz, oth_seed), "%s: the bytes differ from the creator's",
	      oth_a);
	memset(&info, 0, sizeof info);
	CHECK(RtQuerySharedMemory(h_oth[0], &info), "query");
	CHECK(info.dwSize == oth_sz &&
		  info.flProtect == (DWORD)(is_win ? PAGE_READONLY : PAGE_READWRITE),
	      "query of %s: size %lu protect 0x%lx", oth_a, (unsigned long)info.dwSize,
	      (unsigned long)info.flProtect);
	q = NULL;
	h_oth[1] = RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, oth_w, &q);
	CHECK(h_oth[1] != NULL && q && same_fill(q, 0, oth_sz, oth_seed), "open %s (W)", oth_a);
	q = NULL;
	h_oth[2] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, oth_a, &q);
	e = GetLastError();
	CHECK(h_oth[2] != NULL && q && same_fill(q, 0, oth_sz, oth_seed), "create-or-open %s",
	      oth_a);
	CHECK_ERR(e, ERROR_ALREADY_EXISTS, "create of the other side's name");
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, (DWORD)oth_sz + 1, oth_w, &q);
	e = GetLastError();
	CHECK(h == NULL, "create of the other side's name, larger, must fail");
	CHECK_ERR(e, ERROR_INVALID_PARAMETER, "create larger than the other side's region");
	memcpy(oth, is_win ? "ack-from-win" : "ack-from-lin", 12);
	sync_step(3);

	/* 4: the other side's write is in my region; non-ASCII names. */
	CHECK(memcmp(own, own_ack, 12) == 0, "own region lacks %s", own_ack);
	CHECK(same_fill(own, 12, own_sz, own_seed), "own region changed beyond the ack");
	p = NULL;
	if (is_win)
		h_uni = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 8192, UNI_WIN_W, &p);
	else
		h_uni = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 8192, UNI_LIN_A, &p);
	e = GetLastError();
	uni = p;
	CHECK(h_uni != NULL && uni, "create the non-ASCII name %s", own_uni);
	CHECK_ERR(e, ERROR_SUCCESS, "create non-ASCII");
	if (uni)
		fill(uni, 8192, is_win ? 'U' : 'V');
	sync_step(4);

	/* 5: open the other side's non-ASCII name with the other encoding. */
	p = NULL;
	if (is_win)
		h_uni_oth = RtOpenSharedMemoryW(SHM_MAP_ALL_ACCESS, FALSE, UNI_LIN_W, &p);
	else
		h_uni_oth = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, UNI_WIN_A, &p);
	e = GetLastError();
	CHECK(h_uni_oth != NULL && p && same_fill(p, 0, 8192, is_win ? 'V' : 'U'),
	      "%s: open of the other side's non-ASCII name (%s call)", me, is_win ? "W" : "A");
	CHECK_ERR(e, ERROR_SUCCESS, "open non-ASCII");
	if (!h_uni_oth)
		dump_names(is_win ? UNI_LIN_A : UNI_WIN_A);
	if (is_win) {
		/* The W name made on Windows is found by the A call too. */
		h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, UNI_LIN_A, &q);
		CHECK(h != NULL, "A open of a name made by the A call on Linux");
		if (h)
			RtCloseHandle(h);
	}
	sync_step(5);

	/* Each side lets go of the regions it created. */
	CHECK(RtCloseHandle(h_own), "close own");
	CHECK(h_uni && RtCloseHandle(h_uni), "close own non-ASCII");
	sync_step(50);

	/* 6: the other side's regions live on: I still hold them. */
	q = NULL;
	h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, oth_a, &q);
	CHECK(h != NULL && q && memcmp(q, oth_ack, 12) == 0 && same_fill(q, 12, oth_sz, oth_seed),
	      "%s died although this side holds it", oth_a);
	if (h)
		RtCloseHandle(h);
	for (int i = 0; i < 3; i++)
		CHECK(!h_oth[i] || RtCloseHandle(h_oth[i]), "close other %d", i);
	CHECK(!h_uni_oth || RtCloseHandle(h_uni_oth), "close other non-ASCII");
	sync_step(6);

	/* 7: both sides closed: the regions are gone. */
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, own_a, &q) == NULL,
	      "%s alive after both sides closed", own_a);
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "own region after both closed");
	CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, own_uni, &q) == NULL,
	      "%s alive after both sides closed", own_uni);
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "non-ASCII region after both closed");
	CHECK(!in_directory(own_a, NULL) && !in_directory(own_uni, NULL),
	      "closed regions still listed");
	sync_step(7);

	/* 8: both race to create the same names, in lockstep: before name i
	 * each side counts itself in xos-ctl and spins until the other side has
	 * counted itself too, so both sides create name i at the same moment. */
	uint64_t t_start = now_ms(), t_end = t_start + 60000;
	uint32_t *step = (uint32_t *)ctl;
	for (int i = 0; i < RACE_N; i++) {
		__atomic_fetch_add(step, 1, __ATOMIC_SEQ_CST);
		for (unsigned spin = 1; __atomic_load_n(step, __ATOMIC_ACQUIRE) < 2u * (i + 1);
		     spin++) {
			if ((spin & 0xff) == 0)
				yield_cpu();
			if ((spin & 0xfff) == 0 && now_ms() > t_end)
				break;
		}
		char name[32];

		snprintf(name, sizeof name, "xos-race-%04d", i);
		p = NULL;
		race[i] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, &p);
		e = GetLastError();
		race_p[i] = p;
		mine[i] = !race[i]                    ? 'x'
			  : e == ERROR_SUCCESS        ? '1'
			  : e == ERROR_ALREADY_EXISTS ? '0'
						      : 'x';
		if (mine[i] == '1') {
			race_p[i][0] = (unsigned char)(is_win ? 'W' : 'L');
			created++;
		}
	}
	mine[RACE_N] = 0;
	printf("%srace: %d creates in %llu ms\n", check_side, RACE_N,
	       (unsigned long long)(now_ms() - t_start));
	snprintf(f, sizeof f, "race-%s.txt", me);
	write_file(f, mine);
	sync_step(8);

	/* 9: each name had exactly one creator, across the two OSes. */
	snprintf(f, sizeof f, "race-%s.txt", peer);
	CHECK(read_file(f, buf, sizeof buf) == 0 && strlen(buf) == RACE_N, "read %s", f);
	int one = 0, tag_ok = 0;
	for (int i = 0; i < RACE_N && strlen(buf) == RACE_N; i++) {
		if ((mine[i] == '1') + (buf[i] == '1') == 1 && mine[i] != 'x' && buf[i] != 'x')
			one++;
		if (race_p[i] &&
		    race_p[i][0] == (mine[i] == '1' ? (is_win ? 'W' : 'L') : (is_win ? 'L' : 'W')))
			tag_ok++;
	}
	printf("%srace: this side created %d of %d names\n", check_side, created, RACE_N);
	CHECK(one == RACE_N, "%d of %d names had exactly one creator", one, RACE_N);
	CHECK(tag_ok == RACE_N, "%d of %d names show their creator's bytes", tag_ok, RACE_N);
	for (int i = 0; i < RACE_N; i++)
		if (race[i] && !RtCloseHandle(race[i]))
			CHECK(0, "close race %d", i);
	sync_step(9);

	/* 10: all race names died with the second close. */
	int left = 0;
	for (int i = 0; i < RACE_N; i++) {
		char name[32];

		snprintf(name, sizeof name, "xos-race-%04d", i);
		h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, name, &q);
		if (h) {
			left++;
			RtCloseHandle(h);
		}
	}
	CHECK(left == 0, "%d race names alive after both sides closed", left);

	/* 10..14: a Windows process killed while holding handles. */
	HANDLE h_shared = NULL;
	unsigned long holder_pid = 0;
	if (!is_win) {
		p = NULL;
		h_shared = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "xos-shared", &p);
		CHECK(h_shared != NULL, "create xos-shared");
		if (p)
			fill(p, 4096, 'S');
	}
	sync_step(10);
#ifdef _WIN32
	HANDLE holder = NULL;
	if (is_win) {
		holder = spawn_holder("only");
		CHECK(holder != NULL, "start the holder process");
		holder_pid = holder ? GetProcessId(holder) : 0;
	}
#endif
	sync_step(11);
	if (!is_win) {
		struct vmshm_peerinfo pi;
		vmshm_pool *p2 = NULL;

		CHECK(read_file("holder-only.pid", buf, sizeof buf) == 0, "holder-only.pid");
		holder_pid = strtoul(buf, NULL, 10);
		CHECK(in_directory("xos-crash-only", NULL), "the holder's region is not listed");
		CHECK(find_peer(VMSHM_OS_WINDOWS, holder_pid, &pi) == 1,
		      "the holder (Windows pid %lu) has no peer entry", holder_pid);
		CHECK(pi.liveness == VMSHM_LIVE_UNKNOWN, "Linux judged a Windows peer: liveness %d",
		      pi.liveness);
		CHECK((pi.boot_id[6] >> 4) == 8, "a Windows boot id is a version 8 UUID (%s)",
		      pi.vm);
		/* A Linux attach and reclaim leave the Windows peer alone. */
		r = vmshm_attach(NULL, 0, &p2, why, sizeof why);
		CHECK(r == 0, "second Linux attach: %d %s", r, why);
		if (r == 0) {
			r = vmshm_reclaim(p2);
			CHECK(r == 0, "Linux reclaim took %d peers, want 0", r);
			vmshm_detach(p2);
		}
		CHECK(in_directory("xos-crash-only", NULL),
		      "Linux reclaimed a Windows process it cannot judge");
		CHECK(find_peer(VMSHM_OS_WINDOWS, holder_pid, NULL) == 1,
		      "the holder's peer entry vanished");
	}
	sync_step(12);
#ifdef _WIN32
	if (is_win && holder) {
		struct vmshm_peerinfo pi;
		vmshm_pool *p2 = NULL;
		uint64_t holders = 0;

		CHECK(TerminateProcess(holder, 9), "TerminateProcess");
		WaitForSingleObject(holder, 10000);
		CloseHandle(holder);
		CHECK(find_peer(VMSHM_OS_WINDOWS, holder_pid, &pi) == 1,
		      "the holder's peer entry is gone before any reclaim");
		CHECK(pi.liveness == VMSHM_LIVE_NO, "the killed holder judged %d, want NO (2)",
		      pi.liveness);
		CHECK(in_directory("xos-crash-only", NULL), "xos-crash-only died before reclaim");
		/* The next Windows attach reclaims the dead Windows peer. */
		r = vmshm_attach(NULL, 0, &p2, why, sizeof why);
		CHECK(r == 0, "Windows attach: %d %s", r, why);
		if (r == 0)
			vmshm_detach(p2);
		CHECK(find_peer(VMSHM_OS_WINDOWS, holder_pid, NULL) == 0,
		      "the killed holder still has a peer entry after a Windows attach");
		CHECK(!in_directory("xos-crash-only", NULL),
		      "the killed holder's own region survived the reclaim");
		CHECK(in_directory("xos-shared", &holders) && holders != 0,
		      "xos-shared (still held by Linux) was destroyed");
	}
#endif
	sync_step(13);
	if (!is_win) {
		q = NULL;
		h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "xos-shared", &q);
		CHECK(h != NULL && q && same_fill(q, 0, 4096, 'S'),
		      "xos-shared is not intact after the reclaim");
		if (h)
			RtCloseHandle(h);
		CHECK(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "xos-crash-only", &q) == NULL,
		      "xos-crash-only alive after the reclaim");
		CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "xos-crash-only after reclaim");
	}
#ifdef _WIN32
	/* 13..14: another holder is killed; this time the host side (here the
	 * Linux process, as `vmshm gc --peer ID --force` does) reclaims it. */
	if (is_win) {
		holder = spawn_holder("2");
		CHECK(holder != NULL, "start the second holder");
		if (holder) {
			CHECK(TerminateProcess(holder, 9), "TerminateProcess");
			WaitForSingleObject(holder, 10000);
			CloseHandle(holder);
		}
	}
#endif
	sync_step(14);
	if (!is_win) {
		struct vmshm_peerinfo pi;
		vmshm_pool *p2 = NULL;

		CHECK(read_file("holder-2.pid", buf, sizeof buf) == 0, "holder-2.pid");
		holder_pid = strtoul(buf, NULL, 10);
		CHECK(find_peer(VMSHM_OS_WINDOWS, holder_pid, &pi) == 1,
		      "the second holder has no peer entry");
		CHECK(pi.liveness == VMSHM_LIVE_UNKNOWN, "Linux judged a Windows peer: %d",
		      pi.liveness);
		r = vmshm_attach(NULL, 0, &p2, why, sizeof why);
		CHECK(r == 0, "Linux attach: %d %s", r, why);
		if (r == 0) {
			r = vmshm_reclaim_peer(p2, pi.index, 0);
			CHECK(r <= 0, "reclaim without force took a peer Linux cannot judge: %d",
			      r);
			CHECK(in_directory("xos-crash-2", NULL), "xos-crash-2 died without force");
			/* The operator's word: Linux cannot prove it gone, so it is
			 * fenced (its references dropped), then released. */
			r = vmshm_reclaim_peer(p2, pi.index, VMSHM_RECLAIM_FENCE);
			CHECK(r == 2, "fence of the dead Windows peer: %d, want 2", r);
			r = vmshm_reclaim_peer(p2, pi.index, VMSHM_RECLAIM_RELEASE);
			CHECK(r == 1, "release of the fenced Windows peer: %d, want 1", r);
			vmshm_detach(p2);
		}
		CHECK(!in_directory("xos-crash-2", NULL),
		      "xos-crash-2 survived the forced reclaim");
		CHECK(find_peer(VMSHM_OS_WINDOWS, holder_pid, NULL) == 0,
		      "the second holder still has a peer entry");
		q = NULL;
		h = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "xos-shared", &q);
		CHECK(h != NULL && q && same_fill(q, 0, 4096, 'S'),
		      "xos-shared is not intact after the forced reclaim");
		if (h)
			RtCloseHandle(h);
		CHECK(!h_shared || RtCloseHandle(h_shared), "close xos-shared");
		CHECK(!in_directory("xos-shared", NULL), "xos-shared outlived its last holder");
	}
	CHECK(RtCloseHandle(h_ctl), "close xos-ctl");
	sync_step(16);

	/* 15: the pool is clean and empty, seen from both systems. */
	r = vmshm_check(obs, fault_cb, NULL);
	CHECK(r == 0, "vmshm_check: %d faults", r);
	CHECK(vmshm_stats(obs, &st) == 0 && st.objects == 0, "%u objects left", st.objects);
	CHECK(st.free_bytes == free0, "free bytes %llu, at start %llu",
	      (unsigned long long)st.free_bytes, (unsigned long long)free0);
	sync_step(17);
	vmshm_detach(obs);
	return check_summary();
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
#ifndef _WIN32
	if (argc >= 4 && strcmp(argv[1], "mkpool") == 0) {
		int r =
		    vmshm_pool_create(argv[2], strtoull(argv[3], NULL, 0),
				      argc >= 5 ? (uint32_t)atoi(argv[4]) : 0, VMSHM_CREATE_FORCE);
		if (r != 0)
			fprintf(stderr, "mkpool %s: %s\n", argv[2], vmshm_strerror(r));
		return r != 0;
	}
#endif
	if (argc < 3) {
		fprintf(stderr, "usage: xos lin|win|holder DIR | xos mkpool PATH SIZE [OBJECTS]\n");
		return 2;
	}
	dir = argv[2];
#ifdef _WIN32
	if (strcmp(argv[1], "holder") == 0 && argc >= 4)
		return run_holder(argv[3]);
#endif
	is_win = strcmp(argv[1], "win") == 0;
	if (!is_win && strcmp(argv[1], "lin") != 0)
		return 2;
	me = is_win ? "win" : "lin";
	peer = is_win ? "lin" : "win";
	check_side = is_win ? "[win] " : "[lin] ";
	return run_side();
}
