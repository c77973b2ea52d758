/*
 * vmguest.c - the program the two QEMU guests of `make vm-test` and
 * `make demo` run. It uses the RtApi calls the way an RTX application does,
 * on whatever pool VMSHM_POOL names (or the first one found).
 *
 *   vmguest exchange win|rt SIZE   "sensor": win creates it (W call) and
 *                                  writes a pattern, rt opens it (A call),
 *                                  checks every byte and answers; both hold
 *                                  it until the host says go
 *   vmguest race win|rt N          both create race.00 .. race.N-1 at once
 *   vmguest pat                    memory type of the pool's mapping (PAT)
 *   vmguest doorbell win|rt N      N doorbell round trips between the VMs,
 *                                  the vectors that rang, a masked doorbell
 *   vmguest vmdies win|rt          hold regions; win's VM is then killed
 *   vmguest sync win|rt|third N M  events, mutexes across three VMs: N event
 *                                  round trips win <-> rt, M increments each
 *                                  under one mutex, the third VM killed
 *                                  owning a mutex (WAIT_ABANDONED)
 *   vmguest backend                prints the backend a plain attach uses
 *   vmguest rules win|rt           the RtApi rules and error codes
 *   vmguest attach-error SPEC ERR  attaching SPEC fails with code ERR
 *   vmguest scribble SECONDS       a hostile peer: random words over the
 *                                  pool's tables (not its header)
 *   vmguest victim SECONDS         creates, opens and closes meanwhile: no
 *                                  crash, no hang, documented codes only
 *
 * The two guests meet in a region "sync.<test>" that both create: it holds
 * barrier counters and their doorbell IDs. The host's go is a region
 * "host.go" that the host creates. Lines that the harness reads start with
 * "vmguest:"; the last one is "vmguest: PASS <test>" or "vmguest: FAIL <test>".
 */
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "RtApi.h"
#include "vmshm.h"

#define SYNC_SIZE 4096
#define WAIT_MS   90000 /* the other guest may boot much later under TCG */

struct sync_page {
	_Atomic uint64_t barrier[16];
	_Atomic int64_t ivpos[2];
	_Atomic uint64_t word[16];
};

static const char *test = "?";
static int failures;

static void say(const char *fmt, ...)
{
	va_list ap;

	printf("vmguest: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("vmguest: error: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures++;
}

static int finish(void)
{
	say("%s %s", failures ? "FAIL" : "PASS", test);
	return failures ? 1 : 0;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int role_index(const char *role)
{
	if (strcmp(role, "win") == 0)
		return 0;
	if (strcmp(role, "rt") == 0)
		return 1;
	fprintf(stderr, "vmguest: role must be win or rt, not %s\n", role);
	exit(2);
}

/* Opens NAME, retrying while it does not exist yet. */
static HANDLE wait_open(const char *name, void **loc, int timeout_ms)
{
	uint64_t end = now_us() + (uint64_t)timeout_ms * 1000;
	HANDLE h;

	for (;;) {
		h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, loc);
		if (h)
			return h;
		if (GetLastError() != ERROR_FILE_NOT_FOUND) {
			fail("RtOpenSharedMemoryA(%s): error %u", name, (unsigned)GetLastError());
			return NULL;
		}
		if (now_us() > end) {
			fail("timed out waiting for %s", name);
			return NULL;
		}
		usleep(2000);
	}
}

static struct sync_page *sync_page;
static HANDLE sync_handle;

/* Both guests create sync.<test>: one creates, the other opens it. */
static int sync_attach(void)
{
	char name[64];
	void *loc = NULL;

	snprintf(name, sizeof(name), "sync.%s", test);
	sync_handle = RtCreateSharedMemoryA(PAGE_READWRITE, 0, SYNC_SIZE, name, &loc);
	if (!sync_handle) {
		fail("RtCreateSharedMemoryA(%s): error %u", name, (unsigned)GetLastError());
		return -1;
	}
	sync_page = loc;
	return 0;
}

/* Waits until both guests reached barrier K. SPIN: no sleep, so that both
 * leave it within a few microseconds (the start of a race). */
static int barrier_wait(int k, int spin)
{
	uint64_t end = now_us() + (uint64_t)WAIT_MS * 1000;

	atomic_fetch_add(&sync_page->barrier[k], 1);
	while (atomic_load(&sync_page->barrier[k]) < 2) {
		if (now_us() > end) {
			fail("timed out at barrier %d", k);
			return -1;
		}
		if (!spin)
			usleep(500);
	}
	return 0;
}

static int barrier(int k)
{
	return barrier_wait(k, 0);
}

/* Waits for the host's go (the region host.go), then lets go of it. */
static int host_go(void)
{
	void *loc;
	HANDLE h;

	say("HOLDING %s", test);
	h = wait_open("host.go", &loc, WAIT_MS);
	if (!h)
		return -1;
	if (!RtCloseHandle(h))
		fail("RtCloseHandle(host.go): error %u", (unsigned)GetLastError());
	return 0;
}

static uint8_t pattern(uint64_t i, int who)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull + (uint64_t)who * 0x632be59bd9b4e019ull;

	return (uint8_t)(x >> 56);
}

/* Counts the bytes of [from, size) that differ from WHO's pattern. */
static uint64_t check_pattern(const uint8_t *p, uint64_t from, uint64_t size, int who)
{
	uint64_t i, bad = 0;

	for (i = from; i < size; i++)
		bad += p[i] != pattern(i, who);
	return bad;
}

static void fill_pattern(uint8_t *p, uint64_t from, uint64_t size, int who)
{
	uint64_t i;

	for (i = from; i < size; i++)
		p[i] = pattern(i, who);
}

static const WCHAR sensor_w[] = {'s', 'e', 'n', 's', 'o', 'r', 0};

/* The region's first 8 bytes are its state: 0 new, 1 pattern written by
 * win, 2 reply written by rt. The rest is data, checked byte by byte. */
static int wait_state(_Atomic uint64_t *state, uint64_t want)
{
	uint64_t end = now_us() + (uint64_t)WAIT_MS * 1000;

	while (atomic_load(state) != want) {
		if (now_us() > end) {
			fail("timed out waiting for state %llu", (unsigned long long)want);
			return -1;
		}
		usleep(500);
	}
	return 0;
}

static int cmd_exchange(int me, uint64_t size)
{
	SHARED_MEMORY_INFO info;
	uint64_t bad, t0;
	void *loc = NULL;
	uint8_t *p;
	HANDLE h;

	if (sync_attach() || barrier(0))
		return finish();
	t0 = now_us();
	if (me == 0) {
		h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, (DWORD)size, sensor_w, &loc);
		if (!h || GetLastError() != 0) {
			fail("RtCreateSharedMemoryW(sensor): handle %p error %u", h,
			     (unsigned)GetLastError());
			return finish();
		}
		p = loc;
		bad = 0;
		for (uint64_t i = 0; i < size; i++)
			bad += p[i] != 0;
		if (bad)
			fail("new region sensor is not zero-filled");
		fill_pattern(p, 8, size, 0);
		atomic_store((_Atomic uint64_t *)p, 1);
		say("win: created sensor (%llu bytes, W call), wrote the pattern",
		    (unsigned long long)size);
		if (wait_state((_Atomic uint64_t *)p, 2))
			return finish();
		bad = check_pattern(p, 8, size, 1);
		if (bad)
			fail("win: %llu bytes of rt's reply differ", (unsigned long long)bad);
		else
			say("win: verified all %llu bytes of rt's reply",
			    (unsigned long long)(size - 8));
	} else {
		h = wait_open("sensor", &loc, WAIT_MS);
		if (!h)
			return finish();
		if (!RtQuerySharedMemory(h, &info) || info.dwSize != size ||
		    info.flProtect != PAGE_READWRITE)
			fail("RtQuerySharedMemory(sensor): size %u protect %u",
			     (unsigned)info.dwSize, (unsigned)info.flProtect);
		p = loc;
		if (wait_state((_Atomic uint64_t *)p, 1))
			return finish();
		bad = check_pattern(p, 8, size, 0);
		if (bad)
			fail("rt: %llu bytes of win's pattern differ", (unsigned long long)bad);
		else
			say("rt: opened sensor (A call), verified all %llu bytes",
			    (unsigned long long)(size - 8));
		fill_pattern(p, 8, size, 1);
		atomic_store((_Atomic uint64_t *)p, 2);
		say("rt: wrote the reply");
	}
	say("exchange took %llu us", (unsigned long long)(now_us() - t0));
	host_go();
	if (!RtCloseHandle(h))
		fail("RtCloseHandle(sensor): error %u", (unsigned)GetLastError());
	if (barrier(1) == 0 && RtCloseHandle(sync_handle) != TRUE)
		fail("RtCloseHandle(sync): error %u", (unsigned)GetLastError());
	return finish();
}

static int cmd_race(int me, int n)
{
	HANDLE *h = calloc((size_t)n, sizeof(*h));
	uint64_t **loc = calloc((size_t)n, sizeof(*loc));
	char *created = calloc((size_t)n, 1);
	char name[32], list[1024] = "";
	int i, ncreated = 0, len = 0;
	uint64_t t0;

	if (!h || !loc || !created)
		return 1;
	/* Both guests wait at barrier 0 sleeping, then spin at barrier 1 and
	 * start together. win goes up the names, rt down: they meet and
	 * collide in the middle, and each creates about half. */
	if (sync_attach() || barrier(0) || barrier_wait(1, 1))
		return finish();
	t0 = now_us();
	for (int k = 0; k < n; k++) {
		/* 200 us apart: the two guests leave the barrier up to a few ms
		 * apart under TCG; spread out, the loops still overlap. */
		while (now_us() < t0 + (uint64_t)k * 200)
			;
		i = me == 0 ? k : n - 1 - k;
		snprintf(name, sizeof(name), "race.%02d", i);
		h[i] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, name, (void **)&loc[i]);
		if (!h[i]) {
			fail("RtCreateSharedMemoryA(%s): error %u", name, (unsigned)GetLastError());
			continue;
		}
		if (GetLastError() == 0) {
			created[i] = 1;
			ncreated++;
			for (int b = 0; b < 4096; b++)
				if (((uint8_t *)loc[i])[b])
					fail("%s: new region not zero-filled at %d", name, b);
			atomic_store((_Atomic uint64_t *)loc[i], 0x1000u + (unsigned)me);
		} else if (GetLastError() != ERROR_ALREADY_EXISTS) {
			fail("%s: GetLastError %u after success", name, (unsigned)GetLastError());
		}
	}
	say("race: %d creates in %llu us", n, (unsigned long long)(now_us() - t0));
	if (barrier(2))
		return finish();
	/* Every region carries the tag of its one creator. */
	for (i = 0; i < n; i++) {
		uint64_t tag;

		if (!h[i])
			continue;
		tag = atomic_load((_Atomic uint64_t *)loc[i]);
		if (tag != 0x1000u + (unsigned)(created[i] ? me : !me))
			fail("race.%02d: tag %#llx, %s it", i, (unsigned long long)tag,
			     created[i] ? "I created" : "the other VM created");
		if (created[i])
			len += snprintf(list + len, sizeof(list) - (size_t)len, " %d", i);
	}
	say("race: created %d opened %d", ncreated, n - ncreated);
	say("race-created:%s", list);
	if (barrier(3))
		return finish();
	for (i = 0; i < n; i++)
		if (h[i] && !RtCloseHandle(h[i]))
			fail("RtCloseHandle(race.%02d): error %u", i, (unsigned)GetLastError());
	if (barrier(4) == 0)
		RtCloseHandle(sync_handle);
	return finish();
}

/* The PAT memory type of the pool's mapping: map 1 of the vmshm UIO device. */
static int cmd_pat(void)
{
	char why[256], line[256], path[96], want[64];
	unsigned long long addr = 0;
	vmshm_pool *pool;
	int n, found = 0;
	FILE *f;

	n = vmshm_attach(NULL, 0, &pool, why, sizeof(why));
	if (n < 0) {
		fail("attach: %s (%s)", vmshm_strerror(n), why);
		return finish();
	}
	if (strcmp(vmshm_backend_name(pool), "uio") != 0) {
		fail("backend %s, not uio", vmshm_backend_name(pool));
		vmshm_detach(pool);
		return finish();
	}
	n = -1;
	{
		const char *spec = getenv("VMSHM_POOL");

		if (spec && sscanf(spec, "/dev/uio%d", &n) != 1)
			n = -1;
	}
	snprintf(path, sizeof(path), "/sys/class/uio/uio%d/maps/map1/addr", n < 0 ? 0 : n);
	f = fopen(path, "r");
	if (!f || fscanf(f, "%llx", &addr) != 1)
		fail("cannot read %s", path);
	if (f)
		fclose(f);
	snprintf(want, sizeof(want), "[mem 0x%016llx-", addr);
	f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "r");
	if (!f) {
		fail("cannot read /sys/kernel/debug/x86/pat_memtype_list");
		vmshm_detach(pool);
		return finish();
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, want))
			continue;
		line[strcspn(line, "\n")] = 0;
		say("pat: %s", line);
		found++;
		if (!strstr(line, "write-back"))
			fail("the pool's mapping is not write-back: %s", line);
	}
	fclose(f);
	if (!found)
		fail("no PAT entry for the pool at %#llx", addr);
	say("pat: the library says %s (vmshm_memory_type)", vmshm_memory_type(pool));
	if (strcmp(vmshm_memory_type(pool), "write-back") != 0)
		fail("vmshm_memory_type: %s, PAT says write-back", vmshm_memory_type(pool));
	vmshm_detach(pool);
	return finish();
}

static int cmd_backend(void)
{
	char why[256];
	vmshm_pool *pool;
	int err;

	err = vmshm_attach(NULL, VMSHM_ATTACH_OBSERVER, &pool, why, sizeof(why));
	if (err < 0) {
		fail("attach: %s (%s)", vmshm_strerror(err), why);
		return finish();
	}
	err = vmshm_ivposition(pool);
	if (err >= 0)
		say("backend %s, pool %llu bytes, ivshmem ID %d", vmshm_backend_name(pool),
		    (unsigned long long)vmshm_size(pool), err);
	else
		say("backend %s, pool %llu bytes, no doorbells", vmshm_backend_name(pool),
		    (unsigned long long)vmshm_size(pool));
	/* Without doorbells (plain device, pci backend) both calls say so. */
	if (err < 0 && (err != VMSHM_ENOTSUP || vmshm_doorbell_ring(pool, 0, 0) != VMSHM_ENOTSUP ||
			vmshm_doorbell_wait(pool, 10) != VMSHM_ENOTSUP))
		fail("no doorbells, but ivposition/ring/wait do not all return VMSHM_ENOTSUP");
	vmshm_detach(pool);
	return finish();
}

#define EXPECT(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail(__VA_ARGS__);                                                         \
	} while (0)

/* The RtApi rules users rely on, with their exact error codes, on this
 * guest's backend. Names are per role; the pool is left as it was. */
static int cmd_rules(const char *role)
{
	char a[64], b[64], big[300];
	void *loc = NULL, *loc2 = NULL;
	WCHAR wname[64];
	HANDLE h, h2;
	DWORD err;
	size_t i;

	snprintf(a, sizeof(a), "rules.%s.a", role);
	snprintf(b, sizeof(b), "rules.%s.missing", role);
	for (i = 0; a[i]; i++)
		wname[i] = (WCHAR)(unsigned char)a[i];
	wname[i] = 0;

	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 10000, a, &loc);
	err = GetLastError();
	EXPECT(h && err == 0 && loc && ((uintptr_t)loc & 4095) == 0,
	       "create %s: handle %p error %u", a, h, (unsigned)err);
	if (!h)
		return finish();
	memset(loc, 0xa5, 10000);
	/* The W call finds the name the A call created: 183, the same bytes. */
	h2 = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, wname, &loc2);
	err = GetLastError();
	EXPECT(h2 && err == ERROR_ALREADY_EXISTS && ((uint8_t *)loc2)[9999] == 0xa5,
	       "re-create (W) %s: handle %p error %u", a, h2, (unsigned)err);
	if (h2)
		RtCloseHandle(h2);
	/* Larger than the existing object: 87, nothing changed. */
	loc2 = NULL;
	h2 = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 20000, a, &loc2);
	err = GetLastError();
	EXPECT(!h2 && err == ERROR_INVALID_PARAMETER, "larger re-create: handle %p error %u", h2,
	       (unsigned)err);
	/* MaximumSizeHigh must be 0; size 0 and NULL location are refused. */
	EXPECT(!RtCreateSharedMemoryA(PAGE_READWRITE, 1, 4096, b, &loc2) &&
		   GetLastError() == ERROR_INVALID_PARAMETER,
	       "high size: error %u", (unsigned)GetLastError());
	EXPECT(!RtCreateSharedMemoryA(PAGE_READWRITE, 0, 0, b, &loc2) &&
		   GetLastError() == ERROR_INVALID_PARAMETER,
	       "zero size: error %u", (unsigned)GetLastError());
	EXPECT(!RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, b, NULL) &&
		   GetLastError() == ERROR_INVALID_PARAMETER,
	       "NULL location: error %u", (unsigned)GetLastError());
	/* Open: missing name 2, bad access 87, an existing one 0. */
	EXPECT(!RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, b, &loc2) &&
		   GetLastError() == ERROR_FILE_NOT_FOUND,
	       "open missing: error %u", (unsigned)GetLastError());
	EXPECT(!RtOpenSharedMemoryA(0x40, FALSE, a, &loc2) &&
		   GetLastError() == ERROR_INVALID_PARAMETER,
	       "open bad access: error %u", (unsigned)GetLastError());
	h2 = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, a, &loc2);
	err = GetLastError();
	EXPECT(h2 && err == 0 && ((uint8_t *)loc2)[0] == 0xa5, "open: handle %p error %u", h2,
	       (unsigned)err);
	/* Names: empty 123, 260 characters 206. */
	EXPECT(!RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "", &loc2) &&
		   GetLastError() == ERROR_INVALID_NAME,
	       "empty name: error %u", (unsigned)GetLastError());
	memset(big, 'n', 260);
	big[260] = 0;
	EXPECT(!RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, big, &loc2) &&
		   GetLastError() == ERROR_FILENAME_EXCED_RANGE,
	       "260-character name: error %u", (unsigned)GetLastError());
	/* Close: each handle once; a second close and NULL are 6. */
	EXPECT(h2 && RtCloseHandle(h2), "close opened handle: error %u", (unsigned)GetLastError());
	EXPECT(!RtCloseHandle(h2) && GetLastError() == ERROR_INVALID_HANDLE,
	       "double close: error %u", (unsigned)GetLastError());
	EXPECT(!RtCloseHandle(NULL) && GetLastError() == ERROR_INVALID_HANDLE,
	       "close NULL: error %u", (unsigned)GetLastError());
	EXPECT(RtCloseHandle(h), "close: error %u", (unsigned)GetLastError());
	/* The last close destroyed it: a new create gets fresh zeroed memory. */
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 10000, a, &loc);
	err = GetLastError();
	EXPECT(h && err == 0 && ((uint8_t *)loc)[0] == 0 && ((uint8_t *)loc)[9999] == 0,
	       "create after the last close: handle %p error %u", h, (unsigned)err);
	if (h)
		RtCloseHandle(h);
	if (!failures)
		say("rules: create 0 / 183 / 87, open 0 / 2 / 87, names 123 / 206, close 6: as on "
		    "the file backend");
	return finish();
}

/* Attaching SPEC must fail with the error named EXPECT (e.g. VMSHM_ENOPOOL),
 * leaving a one-line reason. */
static int cmd_attach_error(const char *spec, const char *expect)
{
	char why[256] = "";
	vmshm_pool *pool;
	int err;

	err = vmshm_attach(spec, 0, &pool, why, sizeof(why));
	if (err >= 0) {
		fail("attach %s succeeded (backend %s)", spec, vmshm_backend_name(pool));
		vmshm_detach(pool);
	} else if (err != atoi(expect)) {
		fail("attach %s: %s (%s), expected %s", spec, vmshm_strerror(err), why,
		     vmshm_strerror(atoi(expect)));
	} else if (!why[0]) {
		fail("attach %s: %s without a reason", spec, vmshm_strerror(err));
	} else {
		say("attach %s: %s: %s", spec, vmshm_strerror(err), why);
	}
	return finish();
}

/* Ping-pong: win rings vector 0 of rt, rt answers on vector 1 of win (the
 * driver delivers every vector as the one UIO interrupt). */
static int cmd_doorbell(int me, int rounds)
{
	uint64_t t0, total = 0, best = UINT64_MAX;
	char why[256];
	vmshm_pool *pool;
	int err, other, i, r;

	err = vmshm_attach(NULL, 0, &pool, why, sizeof(why));
	if (err < 0) {
		fail("attach: %s (%s)", vmshm_strerror(err), why);
		return finish();
	}
	err = vmshm_ivposition(pool);
	if (err < 0) {
		fail("ivposition: %s", vmshm_strerror(err));
		vmshm_detach(pool);
		return finish();
	}
	say("doorbell: %s backend, my ivshmem ID %d", vmshm_backend_name(pool), err);
	if (sync_attach()) {
		vmshm_detach(pool);
		return finish();
	}
	atomic_store(&sync_page->ivpos[me], err);
	if (barrier(0))
		goto out;
	other = (int)atomic_load(&sync_page->ivpos[!me]);
	/* win rings rt's vector 0, rt answers on win's vector 1: each side
	 * checks that exactly the vector it expects rang. */
	for (i = 0; i < rounds; i++) {
		uint64_t vec = 0;

		if (me == 0) {
			t0 = now_us();
			err = vmshm_doorbell_ring(pool, (uint16_t)other, 0);
			r = err < 0 ? err : vmshm_doorbell_wait_vectors(pool, 5000, &vec);
			t0 = now_us() - t0;
			total += t0;
			best = t0 < best ? t0 : best;
		} else {
			r = vmshm_doorbell_wait_vectors(pool, 20000, &vec);
			err = r == 1 ? vmshm_doorbell_ring(pool, (uint16_t)other, 1) : 0;
		}
		if (err < 0 || r != 1) {
			fail("round %d: ring %s, wait %d", i, vmshm_strerror(err), r);
			break;
		}
		if (vec != (me == 0 ? 2u : 1u)) {
			fail("round %d: vectors 0x%llx rang, expected only vector %d", i,
			     (unsigned long long)vec, me == 0 ? 1 : 0);
			break;
		}
	}
	if (me == 0 && i == rounds)
		say("doorbell: %d round trips, mean %llu us, best %llu us; every wait saw "
		    "exactly the vector rung",
		    rounds, (unsigned long long)(total / (uint64_t)rounds),
		    (unsigned long long)best);
	else if (i == rounds)
		say("doorbell: answered %d doorbells", rounds);
	if (barrier(1))
		goto out;
	/* Masking: win writes 0 to its /dev/uioN, rt rings vector 1 twice; no
	 * event may reach win while masked, and the wait that unmasks (write 1)
	 * must get the doorbell that was held back. */
	if (me == 0) {
		const char *spec = getenv("VMSHM_POOL");
		struct pollfd pfd = {.fd = -1, .events = POLLIN};
		uint32_t off = 0;
		uint64_t vec = 0;

		pfd.fd = spec ? open(spec, O_RDWR) : -1;
		if (pfd.fd < 0 || write(pfd.fd, &off, sizeof(off)) != (ssize_t)sizeof(off)) {
			fail("mask: cannot write 0 to %s", spec ? spec : "(VMSHM_POOL unset)");
		} else {
			atomic_store(&sync_page->word[0], 1); /* masked: ring now */
			while (atomic_load(&sync_page->word[1]) == 0)
				usleep(1000);
			r = poll(&pfd, 1, 300);
			if (r != 0)
				fail("mask: an event arrived while masked (poll %d)", r);
			t0 = now_us();
			r = vmshm_doorbell_wait_vectors(pool, 5000, &vec);
			if (r != 1 || vec != 2u)
				fail("unmask: wait %d, vectors 0x%llx, expected vector 1", r,
				     (unsigned long long)vec);
			else
				say("doorbell: masked (write 0): nothing for 300 ms; unmasked "
				    "(write 1): the held doorbell arrived in %llu us",
				    (unsigned long long)(now_us() - t0));
		}
		if (pfd.fd >= 0)
			close(pfd.fd);
		atomic_store(&sync_page->word[0], 1);
	} else {
		while (atomic_load(&sync_page->word[0]) == 0)
			usleep(1000);
		err = vmshm_doorbell_ring(pool, (uint16_t)other, 1);
		if (err == 0)
			err = vmshm_doorbell_ring(pool, (uint16_t)other, 1);
		if (err < 0)
			fail("mask: ring: %s", vmshm_strerror(err));
		atomic_store(&sync_page->word[1], 1);
	}
	barrier(2);
out:
	RtCloseHandle(sync_handle);
	vmshm_detach(pool);
	return finish();
}

/* win: vm.w1, vm.w2 (only win), vm.shared (win creates, rt opens);
 * rt: vm.r (only rt). Then win's VM is killed by the host; rt checks that
 * its regions survived and that win's own ones are gone. */
static int cmd_vmdies(int me)
{
	static const char *names[] = {"vm.w1", "vm.w2", "vm.shared", "vm.r"};
	static const int creator[] = {0, 0, 0, 1};
	static const uint64_t sizes[] = {65536, 8192, 262144, 131072};
	HANDLE h[4] = {0};
	uint8_t *p[4] = {0};
	int i;

	if (sync_attach() || barrier(0))
		return finish();
	for (i = 0; i < 4; i++) {
		if (creator[i] != me)
			continue;
		h[i] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, (DWORD)sizes[i], names[i],
					     (void **)&p[i]);
		if (!h[i] || GetLastError() != 0) {
			fail("RtCreateSharedMemoryA(%s): error %u", names[i],
			     (unsigned)GetLastError());
			return finish();
		}
		fill_pattern(p[i], 0, sizes[i], 10 + i);
	}
	if (barrier(1))
		return finish();
	if (me == 0) {
		h[3] = wait_open("vm.r", (void **)&p[3], 1000);
	} else {
		h[2] = wait_open("vm.shared", (void **)&p[2], 1000);
	}
	if (barrier(2))
		return finish();
	if (me == 0) {
		say("HOLDING %s", test);
		for (;;)
			pause(); /* until the host kills this VM */
	}
	host_go();
	/* win's VM is gone and reclaimed. */
	for (i = 2; i < 4; i++) {
		uint64_t bad = check_pattern(p[i], 0, sizes[i], 10 + i);

		if (bad)
			fail("%s: %llu bytes changed", names[i], (unsigned long long)bad);
		else
			say("rt: %s intact (%llu bytes)", names[i], (unsigned long long)sizes[i]);
	}
	for (i = 0; i < 2; i++) {
		void *loc;
		HANDLE g = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, names[i], &loc);

		if (g || GetLastError() != ERROR_FILE_NOT_FOUND)
			fail("%s still exists after win's VM died (error %u)", names[i],
			     (unsigned)GetLastError());
		else
			say("rt: %s is gone", names[i]);
		if (g)
			RtCloseHandle(g);
	}
	for (i = 2; i < 4; i++)
		if (!RtCloseHandle(h[i]))
			fail("RtCloseHandle(%s): error %u", names[i], (unsigned)GetLastError());
	RtCloseHandle(sync_handle);
	return finish();
}

/* ---- the trust model: a hostile peer -------------------------------- */

#define HOSTILE_READY "victim.ready"

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A word that reaches validation paths: random, small, or a state word. */
static uint64_t hostile_word(void)
{
	switch (rnd() % 4) {
	case 0:
		return rnd() % 64;
	case 1:
		return rnd() & 0xffffffff;
	case 2:
		return (rnd() << 32) | (rnd() % 8) << 24 | (rnd() % 8);
	}
	return rnd();
}

static int cmd_scribble(unsigned seconds)
{
	vmshm_pool *p;
	char why[200] = "";
	void *loc;
	int rc = vmshm_attach(NULL, VMSHM_ATTACH_NORECLAIM, &p, why, sizeof(why));

	if (rc < 0) {
		fail("attach: %s", why);
		return finish();
	}
	HANDLE ready = wait_open(HOSTILE_READY, &loc, WAIT_MS);
	if (!ready)
		return finish();
	RtCloseHandle(ready);
	_Atomic uint64_t *w = vmshm_base(p);
	uint64_t data_off = atomic_load(&w[88 / 8]), words = (data_off - 4096) / 8, n = 0;
	uint64_t end = now_us() + (uint64_t)seconds * 1000000;
	rnd_state ^= now_us();
	while (now_us() < end) {
		for (int i = 0; i < 256; i++, n++)
			atomic_store(&w[4096 / 8 + rnd() % words], hostile_word());
		usleep(500);
	}
	say("scribbled %llu words over %llu bytes of tables", (unsigned long long)n,
	    (unsigned long long)(data_off - 4096));
	return finish(); /* no detach: its entry is as scribbled as the rest */
}

/* The codes the README documents for the RtApi calls. */
static int documented(DWORD e)
{
	static const DWORD codes[] = {0, 2, 6, 8, 11, 87, 123, 170, 183, 206, 1392};

	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i] == e)
			return 1;
	return 0;
}

struct victim {
	HANDLE h[32];
	uint64_t calls, codes[1400], slowest_us;
};

static void victim_note(struct victim *v, const char *call, uint64_t t0)
{
	DWORD e = GetLastError();
	uint64_t us = now_us() - t0;

	v->calls++;
	if (us > v->slowest_us)
		v->slowest_us = us;
	if (!documented(e))
		fail("%s: undocumented error %u", call, (unsigned)e);
	else
		v->codes[e]++;
	if (us > 5000000)
		fail("%s took %llu ms", call, (unsigned long long)(us / 1000));
}

static void victim_step(struct victim *v)
{
	unsigned k = (unsigned)(rnd() % 32);
	char name[16];
	void *loc = NULL;
	uint64_t t0 = now_us();

	snprintf(name, sizeof(name), "v.%u", k);
	if (v->h[k]) {
		if (!RtCloseHandle(v->h[k]))
			victim_note(v, "RtCloseHandle", t0);
		v->h[k] = NULL;
		return;
	}
	if (rnd() % 2)
		v->h[k] = RtCreateSharedMemoryA(PAGE_READWRITE, 0, (DWORD)(4096 * (1 + rnd() % 16)),
						name, &loc);
	else
		v->h[k] = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, name, &loc);
	victim_note(v, "RtCreate/RtOpenSharedMemoryA", t0);
	if (v->h[k])
		memset(loc, 0xa5, 64); /* the memory given is ours to write */
}

static int cmd_victim(unsigned seconds)
{
	static struct victim v;
	void *loc;
	HANDLE ready = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, HOSTILE_READY, &loc);

	if (!ready) {
		fail("RtCreateSharedMemoryA(%s): error %u", HOSTILE_READY,
		     (unsigned)GetLastError());
		return finish();
	}
	uint64_t end = now_us() + (uint64_t)seconds * 1000000 + 2000000;
	while (now_us() < end)
		victim_step(&v);
	for (int k = 0; k < 32; k++)
		if (v.h[k])
			RtCloseHandle(v.h[k]);
	RtCloseHandle(ready);
	printf("vmguest: victim: %llu calls, slowest %llu us; codes:", (unsigned long long)v.calls,
	       (unsigned long long)v.slowest_us);
	for (int e = 0; e < 1400; e++)
		if (v.codes[e])
			printf(" %d=%llu", e, (unsigned long long)v.codes[e]);
	printf("\n");
	return finish();
}

/* ---- events, mutexes and semaphores across the VMs (scenario sync) ------- */

/* The guests of scenario sync: win, rt and a third VM. */
static int sync_role(const char *role)
{
	if (strcmp(role, "third") == 0)
		return 2;
	return role_index(role);
}

/* Waits until N guests reached barrier K (sleeping between looks). */
static int barrier_of(int k, uint64_t n)
{
	uint64_t end = now_us() + (uint64_t)WAIT_MS * 1000;

	atomic_fetch_add(&sync_page->barrier[k], 1);
	while (atomic_load(&sync_page->barrier[k]) < n) {
		if (now_us() > end) {
			fail("timed out at barrier %d (%llu of %llu)", k,
			     (unsigned long long)atomic_load(&sync_page->barrier[k]),
			     (unsigned long long)n);
			return -1;
		}
		usleep(500);
	}
	return 0;
}

/* The interrupts of the vmshm UIO driver so far (every vector, this CPU). */
static uint64_t uio_interrupts(void)
{
	char line[512];
	uint64_t sum = 0;
	FILE *f = fopen("/proc/interrupts", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long c;

		if (strstr(line, "vmshm_uio") && sscanf(line, "%*s %llu", &c) == 1)
			sum += c;
	}
	fclose(f);
	return sum;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static const char *wait_name(DWORD r)
{
	switch (r) {
	case WAIT_OBJECT_0:
		return "WAIT_OBJECT_0";
	case WAIT_ABANDONED:
		return "WAIT_ABANDONED";
	case WAIT_TIMEOUT:
		return "WAIT_TIMEOUT";
	}
	return "WAIT_FAILED";
}

/* ROUNDS event round trips win -> rt -> win (auto-reset events PING and
 * PONG). GAP_US > 0: win waits that long before each RtSetEvent, so that rt
 * is asleep in its wait and only its doorbell wakes it (else the next
 * check, 10 ms later). Returns the median round trip (win), 0 (rt). */
static uint64_t pingpong_rounds(int me, HANDLE ping, HANDLE pong, int rounds, unsigned gap_us,
				const char *what)
{
	uint64_t *rtt = calloc((size_t)rounds, sizeof(*rtt)), irq0 = uio_interrupts(), sum = 0;
	uint64_t median = 0;
	int i;

	for (i = 0; rtt && i < rounds; i++) {
		DWORD r;

		if (me == 0) {
			uint64_t t0;

			if (gap_us)
				usleep(gap_us);
			t0 = now_us();
			if (!RtSetEvent(ping)) {
				fail("RtSetEvent(vm.ping): error %u", (unsigned)GetLastError());
				break;
			}
			r = RtWaitForSingleObject(pong, 10000);
			rtt[i] = now_us() - t0;
			sum += rtt[i];
		} else {
			r = RtWaitForSingleObject(ping, 30000);
			if (r == WAIT_OBJECT_0 && !RtSetEvent(pong))
				fail("RtSetEvent(vm.pong): error %u", (unsigned)GetLastError());
		}
		if (r != WAIT_OBJECT_0) {
			fail("%s round %d: RtWaitForSingleObject: %s (error %u)", what, i,
			     wait_name(r), (unsigned)GetLastError());
			break;
		}
	}
	if (me == 0 && i == rounds) {
		qsort(rtt, (size_t)rounds, sizeof(*rtt), cmp_u64);
		median = rtt[rounds / 2];
		say("sync: event ping-pong win <-> rt, %s: %d round trips (RtSetEvent + "
		    "RtWaitForSingleObject), median %llu us, mean %llu us, min %llu us, max %llu "
		    "us",
		    what, rounds, (unsigned long long)median,
		    (unsigned long long)(sum / (uint64_t)rounds), (unsigned long long)rtt[0],
		    (unsigned long long)rtt[rounds - 1]);
	} else if (me == 1 && i == rounds) {
		uint64_t irqs = uio_interrupts() - irq0;

		say("sync: rt answered %d events (%s); %llu doorbell interrupts reached it", rounds,
		    what, (unsigned long long)irqs);
		/* Asleep, rt is woken by win's doorbell or, if dropped, by its
		 * own check 10 ms later: most must be doorbells. */
		if (gap_us && irqs < (uint64_t)rounds / 2)
			fail("rt, asleep, was woken by %llu doorbells in %d rounds",
			     (unsigned long long)irqs, rounds);
	}
	free(rtt);
	return median;
}

/* Part 1: win <-> rt event round trips, back to back and to a sleeping rt;
 * the third VM holds the events too and looks on. */
static void sync_pingpong(int me, int rounds)
{
	HANDLE ping = RtCreateEventA(NULL, FALSE, FALSE, "vm.ping");
	HANDLE pong = RtCreateEventA(NULL, FALSE, FALSE, "vm.pong");
	uint64_t median;

	if (!ping || !pong) {
		fail("RtCreateEventA(vm.ping/vm.pong): error %u", (unsigned)GetLastError());
	} else if (barrier_of(1, 3) == 0 && me < 2) {
		pingpong_rounds(me, ping, pong, rounds, 0, "back to back");
		median =
		    pingpong_rounds(me, ping, pong, rounds / 2, 5000, "rt asleep (5 ms apart)");
		if (me == 0 && median >= 10000)
			fail("a sleeping rt took %llu us to answer: the doorbells do not wake it",
			     (unsigned long long)median);
	}
	if (ping)
		RtCloseHandle(ping);
	if (pong)
		RtCloseHandle(pong);
}

/* Part 2: the three VMs each add INCS to a plain counter in vm.counter, each
 * increment a load and a store under the mutex vm.mx; the total is exact
 * and no two VMs were inside at once. */
static void sync_counter(int me, int incs)
{
	struct counter {
		volatile uint64_t value;
		_Atomic uint64_t inside;
		_Atomic uint64_t slow; /* acquisitions that waited > 1 ms */
	} * c;
	void *loc = NULL;
	HANDLE mx = RtCreateMutexA(NULL, FALSE, "vm.mx");
	HANDLE rh = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "vm.counter", &loc);
	uint64_t t0, worst = 0;
	int i;

	if (!mx || !rh) {
		fail("RtCreateMutexA(vm.mx) / vm.counter: error %u", (unsigned)GetLastError());
		goto out;
	}
	c = loc;
	if (barrier_of(2, 3))
		goto out;
	t0 = now_us();
	for (i = 0; i < incs; i++) {
		uint64_t w0 = now_us(), v;
		DWORD r = RtWaitForSingleObject(mx, 30000);

		if (r != WAIT_OBJECT_0) {
			fail("increment %d: RtWaitForSingleObject(vm.mx): %s (error %u)", i,
			     wait_name(r), (unsigned)GetLastError());
			break;
		}
		w0 = now_us() - w0;
		worst = w0 > worst ? w0 : worst;
		if (w0 > 1000)
			atomic_fetch_add(&c->slow, 1);
		if (atomic_fetch_add(&c->inside, 1) != 0)
			fail("increment %d: another VM is inside the mutex", i);
		v = c->value;
		for (volatile int k = 0; k < 50; k++)
			;
		c->value = v + 1;
		atomic_fetch_sub(&c->inside, 1);
		if (!RtReleaseMutex(mx)) {
			fail("RtReleaseMutex(vm.mx): error %u", (unsigned)GetLastError());
			break;
		}
	}
	say("sync: %s did %d increments in %llu ms, longest wait for the mutex %llu us",
	    me == 0   ? "win"
	    : me == 1 ? "rt"
		      : "third",
	    i, (unsigned long long)((now_us() - t0) / 1000), (unsigned long long)worst);
	if (barrier_of(3, 3))
		goto out;
	if (c->value != 3ull * (uint64_t)incs)
		fail("counter %llu, expected 3 x %d", (unsigned long long)c->value, incs);
	else if (me == 0)
		say("sync: mutex counter: 3 VMs x %d increments = %llu, exact; %llu acquisitions "
		    "waited over 1 ms",
		    incs, (unsigned long long)c->value, (unsigned long long)atomic_load(&c->slow));
	if (barrier_of(4, 3))
		goto out;
out:
	if (mx)
		RtCloseHandle(mx);
	if (rh)
		RtCloseHandle(rh);
}

/* Part 3: the third VM owns vm.owned and its VM is killed; win and rt wait
 * for it: exactly one gets WAIT_ABANDONED, the other WAIT_OBJECT_0 after
 * it. sync_page->word[me] gets the result + 1. */
static void sync_abandon(int me)
{
	HANDLE mx;
	uint64_t t0;
	DWORD r;

	if (me == 2) {
		mx = RtCreateMutexA(NULL, TRUE, "vm.owned");
		if (!mx || GetLastError() != 0) {
			fail("RtCreateMutexA(vm.owned, owned): error %u", (unsigned)GetLastError());
			return;
		}
		barrier_of(5, 3);
		say("HOLDING %s", test);
		for (;;)
			pause(); /* until the host kills this VM */
	}
	if (barrier_of(5, 3))
		return;
	mx = RtOpenMutexA(SYNCHRONIZE, FALSE, "vm.owned");
	if (!mx) {
		fail("RtOpenMutexA(vm.owned): error %u", (unsigned)GetLastError());
		return;
	}
	say("sync: WAITING for vm.owned (owned by the third VM)");
	t0 = now_us();
	r = RtWaitForSingleObject(mx, 60000);
	t0 = now_us() - t0;
	say("sync: %s got %s after %llu ms", me ? "rt" : "win", wait_name(r),
	    (unsigned long long)(t0 / 1000));
	atomic_store(&sync_page->word[me], (uint64_t)r + 1);
	if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) {
		usleep(20000); /* the other waiter waits on */
		if (!RtReleaseMutex(mx))
			fail("RtReleaseMutex(vm.owned): error %u", (unsigned)GetLastError());
	}
	if (barrier_of(6, 2) == 0) {
		uint64_t a = atomic_load(&sync_page->word[0]) - 1,
			 b = atomic_load(&sync_page->word[1]) - 1;

		if (!((a == WAIT_ABANDONED && b == WAIT_OBJECT_0) ||
		      (a == WAIT_OBJECT_0 && b == WAIT_ABANDONED)))
			fail("waits: win %s, rt %s; expected one WAIT_ABANDONED, one "
			     "WAIT_OBJECT_0",
			     wait_name((DWORD)a), wait_name((DWORD)b));
		else if (me == 0)
			say("sync: abandoned: exactly one waiter got WAIT_ABANDONED (%s), the "
			    "other WAIT_OBJECT_0 after its release",
			    a == WAIT_ABANDONED ? "win" : "rt");
	}
	RtCloseHandle(mx);
}

/* Scenario sync: three VMs (win, rt, third) on one pool with doorbells. */
static int cmd_sync(int me, int rounds, int incs)
{
	if (sync_attach() || barrier_of(0, 3))
		return finish();
	sync_pingpong(me, rounds);
	sync_counter(me, incs);
	sync_abandon(me);
	host_go();
	if (barrier_of(7, 2) == 0)
		RtCloseHandle(sync_handle);
	return finish();
}

/* The demo: the pattern of an RTX application. win writes a command into
 * plant/status and sets the event plant/command; rt is blocked in
 * RtWaitForSingleObject on it, wakes, answers and sets plant/reply, on which
 * win waits. Three commands. Lines carry a step number, so that the host
 * prints the two consoles in causal order. */
#define DEMO_CMDS 3
static int cmd_demo(int me)
{
	static const WCHAR name_w[] = {'p', 'l', 'a', 'n', 't', '/', 's',
				       't', 'a', 't', 'u', 's', 0};
	static const WCHAR cmd_w[] = {'p', 'l', 'a', 'n', 't', '/', 'c',
				      'o', 'm', 'm', 'a', 'n', 'd', 0};
	static const WCHAR reply_w[] = {'p', 'l', 'a', 'n', 't', '/', 'r', 'e', 'p', 'l', 'y', 0};
	static const char *const questions[DEMO_CMDS] = {
	    "setpoint 42.5 C, valve 3 open: please confirm", "read temperature of zone 2",
	    "valve 3 close"};
	struct msg {
		_Atomic uint64_t ready;   /* rt waits for commands */
		_Atomic uint64_t busy_us; /* rt: from its wake-up to its RtSetEvent */
		char question[120];
		char answer[120];
	} * m;
	void *loc = NULL;
	HANDLE h = NULL, cmd = NULL, reply = NULL;
	uint64_t rtt[DEMO_CMDS] = {0}, busy[DEMO_CMDS] = {0};
	DWORD err, r;
	int k, step = 4;

	if (sync_attach() || barrier(0))
		return finish();
	if (me == 0) {
		h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 65536, name_w, &loc);
		err = GetLastError();
		cmd = RtCreateEventW(NULL, FALSE, FALSE, cmd_w);
		reply = RtCreateEventW(NULL, FALSE, FALSE, reply_w);
		if (!h || !cmd || !reply) {
			fail("create plant/status, plant/command, plant/reply: error %u",
			     (unsigned)GetLastError());
			return finish();
		}
		say("demo 1 RtCreateSharedMemoryW(PAGE_READWRITE, 0, 65536, L\"plant/status\") "
		    "-> region at %p, GetLastError() = %u; RtCreateEventW(NULL, FALSE, FALSE, "
		    "L\"plant/command\"), the same for L\"plant/reply\" (auto-reset)",
		    loc, (unsigned)err);
	}
	if (barrier(1))
		return finish();
	if (me == 1) {
		h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "plant/status", &loc);
		err = GetLastError();
		cmd = RtOpenEventA(SYNCHRONIZE, FALSE, "plant/command");
		reply = RtOpenEventA(EVENT_MODIFY_STATE, FALSE, "plant/reply");
		if (!h || !cmd || !reply) {
			fail("open plant/status, plant/command, plant/reply: error %u",
			     (unsigned)GetLastError());
			return finish();
		}
		say("demo 2 RtOpenSharedMemoryA(\"plant/status\") -> region at %p, "
		    "GetLastError() = %u; RtOpenEventA(\"plant/command\"), "
		    "RtOpenEventA(\"plant/reply\")",
		    loc, (unsigned)err);
	}
	m = loc;
	for (k = 0; k < DEMO_CMDS; k++, step += 4) {
		if (me == 1) {
			uint64_t t0, t1;

			if (k == 0)
				say("demo 3 blocks in RtWaitForSingleObject(plant/command, "
				    "INFINITE)");
			atomic_store(&m->ready, (uint64_t)k + 1);
			t0 = now_us();
			r = RtWaitForSingleObject(cmd, INFINITE);
			t1 = now_us();
			if (r != WAIT_OBJECT_0) {
				fail("RtWaitForSingleObject(plant/command): %s", wait_name(r));
				break;
			}
			say("demo %d woke from RtWaitForSingleObject -> WAIT_OBJECT_0 after "
			    "%llu ms blocked; read \"%s\"",
			    step + 1, (unsigned long long)((t1 - t0) / 1000), m->question);
			snprintf(m->answer, sizeof(m->answer), "done: \"%.80s\" at RT tick %llu",
				 m->question, (unsigned long long)(now_us() / 1000));
			atomic_store(&m->busy_us, now_us() - t1);
			RtSetEvent(reply);
			say("demo %d answered and RtSetEvent(plant/reply)%s", step + 2,
			    k + 1 < DEMO_CMDS ? "; blocks again" : "");
		} else {
			uint64_t t0;

			/* rt is blocked in its wait (it said so, and had time to sleep). */
			while (atomic_load(&m->ready) != (uint64_t)k + 1)
				usleep(1000);
			usleep(200000);
			snprintf(m->question, sizeof(m->question), "%s", questions[k]);
			t0 = now_us();
			RtSetEvent(cmd);
			say("demo %d wrote \"%s\", RtSetEvent(plant/command); waits on plant/reply",
			    step, questions[k]);
			r = RtWaitForSingleObject(reply, 30000);
			rtt[k] = now_us() - t0;
			busy[k] = atomic_load(&m->busy_us);
			if (r != WAIT_OBJECT_0) {
				fail("RtWaitForSingleObject(plant/reply): %s", wait_name(r));
				break;
			}
			say("demo %d woke on plant/reply %llu us after its RtSetEvent: \"%s\"",
			    step + 3, (unsigned long long)rtt[k], m->answer);
		}
	}
	if (me == 0 && k == DEMO_CMDS) {
		char list[200] = "";
		int len = 0;

		for (k = 0; k < DEMO_CMDS; k++)
			len +=
			    snprintf(list + len, sizeof(list) - (size_t)len, "%s~%llu us",
				     k ? ", " : "", (unsigned long long)((rtt[k] - busy[k]) / 2));
		say("demo %d wake-up across the VMs (RtSetEvent -> the other guest runs; half of "
		    "the round trip less rt's own work): %s",
		    step, list);
	}
	host_go();
	if (!RtCloseHandle(h) || !RtCloseHandle(cmd) || !RtCloseHandle(reply))
		fail("RtCloseHandle: error %u", (unsigned)GetLastError());
	if (barrier(2) == 0)
		RtCloseHandle(sync_handle);
	say("demo %d RtCloseHandle: closed its handles", step + 1 + me);
	return finish();
}

static void usage(void)
{
	fprintf(stderr, "usage: vmguest exchange|race|doorbell|vmdies|demo win|rt [N] | pat | "
			"backend\n");
	exit(2);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	test = argv[1];
	if (strcmp(test, "pat") == 0)
		return cmd_pat();
	if (strcmp(test, "backend") == 0)
		return cmd_backend();
	if (strcmp(test, "rules") == 0 && argc == 3)
		return cmd_rules(argv[2]);
	if (strcmp(test, "attach-error") == 0 && argc == 4)
		return cmd_attach_error(argv[2], argv[3]);
	if (strcmp(test, "scribble") == 0 && argc == 3)
		return cmd_scribble((unsigned)atoi(argv[2]));
	if (strcmp(test, "victim") == 0 && argc == 3)
		return cmd_victim((unsigned)atoi(argv[2]));
	if (argc < 3)
		usage();
	if (strcmp(test, "exchange") == 0)
		return cmd_exchange(role_index(argv[2]),
				    argc > 3 ? strtoull(argv[3], NULL, 0) : 1u << 20);
	if (strcmp(test, "race") == 0)
		return cmd_race(role_index(argv[2]), argc > 3 ? atoi(argv[3]) : 50);
	if (strcmp(test, "doorbell") == 0)
		return cmd_doorbell(role_index(argv[2]), argc > 3 ? atoi(argv[3]) : 20);
	if (strcmp(test, "vmdies") == 0)
		return cmd_vmdies(role_index(argv[2]));
	if (strcmp(test, "demo") == 0)
		return cmd_demo(role_index(argv[2]));
	if (strcmp(test, "sync") == 0)
		return cmd_sync(sync_role(argv[2]), argc > 3 ? atoi(argv[3]) : 50,
				argc > 4 ? atoi(argv[4]) : 200);
	usage();
	return 2;
}
