/*
 * test_corrupt.c - pools with bad bytes: a changed format version or magic
 * is refused with a clear message; random bytes written over the peer
 * table, the directory and the page owner table never crash the library
 * (this suite runs under ASan+UBSan in asan-test): calls fail cleanly or
 * succeed inside the pool, and vmshm_check names the damage.
 *
 * Offsets are those of docs/FORMAT.md: magic at 0, major at 8, minor at 10,
 * peers_off 48, slots_off 64, slot_count 72, owners_off 80, data_off 88.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aw.h"

static uint64_t peek64(uint64_t off)
{
	uint64_t v;

	tp_peek(off, &v, 8);
	return v;
}

/* Attaches (not as observer) and expects RC; returns the reason given. */
static void expect_attach(int want, const char *what, char *why, size_t whylen)
{
	vmshm_pool *p = NULL;
	int rc;

	why[0] = 0;
	rc = vmshm_attach(tp.path, 0, &p, why, whylen);
	if (rc == 0)
		vmshm_detach(p);
	cr_assert_eq(rc, want, "%s: attach = %d (%s), expected %d (%s); reason '%s'", what, rc,
		     vmshm_strerror(rc), want, vmshm_strerror(want), why);
}

Test(format, major_version_refused, .init = tp_setup, .fini = tp_teardown)
{
	static const uint16_t majors[] = {0, 1, 2, 3, 4, 6, 0xffff};
	char why[256];
	void *loc = (void *)1;

	for (size_t i = 0; i < sizeof majors / sizeof majors[0]; i++) {
		char want[64];

		tp_poke(8, &majors[i], 2);
		expect_attach(VMSHM_EVERSION, "major changed", why, sizeof why);
		snprintf(want, sizeof want, "%u.0", majors[i]);
		cr_assert_neq(strstr(why, want), NULL, "reason '%s' does not name version %s", why,
			      want);
		cr_assert_neq(strstr(why, "version"), NULL, "reason '%s' does not say 'version'",
			      why);
		cr_assert_eq(strchr(why, '\n'), NULL, "reason is not one line");
	}
	/* The RtApi calls refuse it too. */
	assert_fails(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "x", &loc), ERROR_BAD_FORMAT,
		     "open in a pool of another major version");
	assert_fails(RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "x", &loc), ERROR_BAD_FORMAT,
		     "create in a pool of another major version");
	{
		uint16_t ours = VMSHM_FORMAT_MAJOR;
		struct vmshm_stats st;

		tp_poke(8, &ours, 2);
		expect_attach(0, "major restored", why, sizeof why);
		st = tp_stats();
		cr_assert_eq(st.objects, 0);
		cr_assert_eq(st.peers, 0, "a refused attach left a peer entry");
	}
}

Test(format, newer_minor_accepted, .init = tp_setup, .fini = tp_teardown)
{
	uint16_t minor = 7;
	uint64_t extra = 0x1234;
	char why[256];
	struct vmshm_stats st;
	void *loc = NULL;
	HANDLE h;

	tp_poke(10, &minor, 2);
	/* A newer minor may add fields in the reserved part of the header. */
	tp_poke(2048, &extra, 8);
	expect_attach(0, "newer minor", why, sizeof why);
	st = tp_stats();
	cr_assert_eq(st.version_major, VMSHM_FORMAT_MAJOR);
	cr_assert_eq(st.version_minor, 7);
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "minor", &loc);
	assert_ok(h, 0, "create in a pool of a newer minor version");
	cr_assert(RtCloseHandle(h));
}

Test(format, magic_refused, .init = tp_setup, .fini = tp_teardown)
{
	char why[256];
	uint64_t magic = peek64(0), bad;
	void *loc = (void *)1;

	cr_assert_eq(magic, 0x4c4f4f504d48534dull, "magic is not 'MSHMPOOL'");
	for (int bit = 0; bit < 64; bit += 9) {
		bad = magic ^ (1ull << bit);
		tp_poke(0, &bad, 8);
		expect_attach(VMSHM_EFORMAT, "magic changed", why, sizeof why);
		cr_assert_neq(why[0], 0, "no reason given");
	}
	bad = 0;
	tp_poke(0, &bad, 8);
	expect_attach(VMSHM_EFORMAT, "magic zero", why, sizeof why);
	assert_fails(RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "x", &loc), ERROR_BAD_FORMAT,
		     "open in a file that is not a pool");
	tp_poke(0, &magic, 8);
	expect_attach(0, "magic restored", why, sizeof why);
}

/* Header fields that disagree with the layout are refused. */
Test(format, header_fields_checked, .init = tp_setup, .fini = tp_teardown)
{
	static const struct {
		uint64_t off;
		unsigned len;
		uint64_t value;
		const char *what;
	} bad[] = {
	    {12, 4, 8192, "header_size"},
	    {16, 8, 32u << 20, "pool_size larger"},
	    {16, 8, 1u << 20, "pool_size smaller"},
	    {40, 4, 2048, "page_size"},
	    {48, 8, 0, "peers_off"},
	    {56, 4, 65, "peer_count"},
	    {64, 8, 8192, "slots_off"},
	    {72, 4, 4095, "slot_count not a power of two"},
	    {72, 4, 1u << 30, "slot_count huge"},
	    {76, 4, 128, "slot_size"},
	    {80, 8, 4096, "owners_off"},
	    {88, 8, 1ull << 40, "data_off"},
	    {96, 8, 1ull << 40, "data_pages"},
	};
	char why[256];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint64_t old = 0;

		tp_peek(bad[i].off, &old, bad[i].len);
		tp_poke(bad[i].off, &bad[i].value, bad[i].len);
		expect_attach(VMSHM_EFORMAT, bad[i].what, why, sizeof why);
		tp_poke(bad[i].off, &old, bad[i].len);
	}
	expect_attach(0, "header restored", why, sizeof why);
}

/* ---- random bytes over the tables ----------------------------------------- */

struct region {
	uint64_t off, len;
};

/* The peer table, the slot table and the page owner table of the pool. */
static struct region tables(void)
{
	uint64_t peers = peek64(48), data = peek64(88);

	cr_assert_eq(peers, 4096);
	cr_assert_gt(data, peers);
	return (struct region){peers, data - peers};
}

/* Objects with contents: persistent (held by the pool), so they survive
 * the detach of the process that made them. */
static void populate(void)
{
	vmshm_pool *p;
	char why[256] = "";
	int rc = vmshm_attach(tp.path, 0, &p, why, sizeof why);

	cr_assert_eq(rc, 0, "%s", why);
	for (int i = 0; i < 24; i++) {
		char name[300];
		vmshm_ref ref;

		/* Some names long enough to live in a name page. */
		if (i % 4 == 3)
			snprintf(name, sizeof name, "%0250d-long-%d", 0, i);
		else
			snprintf(name, sizeof name, "obj-%d", i);
		/* Every one named: the pool cannot hold an unnamed object
		 * (nothing could ever let it go), vmshm_create refuses that. */
		rc = vmshm_create(p, i % 5 == 4 ? VMSHM_TYPE_EVENT : VMSHM_TYPE_SHM, name,
				  1 + (uint64_t)i * 3000, PAGE_READWRITE, VMSHM_PERSIST, &ref);
		cr_assert_eq(rc, 0, "populate %s: %d", name, rc);
		memset(ref.addr, 0x40 + i, ref.size);
		cr_assert_eq(vmshm_close(p, &ref), 0);
	}
	vmshm_detach(p);
	cr_assert_eq(tp_objects(), 24);
	cr_assert_eq(tp_check("populate"), 0);
}

static uint8_t *read_image(void)
{
	uint8_t *img = malloc(tp.size);

	cr_assert_not_null(img);
	tp_peek(0, img, tp.size);
	return img;
}

static void write_image(const uint8_t *img)
{
	tp_poke(0, img, tp.size);
}

/* Damages the tables: a few random bytes, words or a whole run. */
static void damage(uint64_t *rnd, struct region r)
{
	int fd = open(tp.path, O_RDWR);
	int kind = (int)(rnd_next(rnd) % 4), n = 1 + (int)(rnd_next(rnd) % 16);

	cr_assert_geq(fd, 0);
	for (int i = 0; i < n; i++) {
		uint64_t off = r.off + rnd_next(rnd) % r.len, v = rnd_next(rnd);
		size_t len = kind == 0 ? 1 : 8;

		if (kind == 1)
			off &= ~7ull; /* a whole word */
		if (kind == 2)
			v &= 0xff00000000ffffffull; /* small values in a word */
		if (kind == 3) {
			uint8_t junk[512];

			for (size_t j = 0; j < sizeof junk; j++)
				junk[j] = (uint8_t)rnd_next(rnd);
			len = 1 + rnd_next(rnd) % sizeof junk;
			if (off + len > r.off + r.len)
				len = r.off + r.len - off;
			cr_assert_eq(pwrite(fd, junk, len, (off_t)off), (ssize_t)len);
			continue;
		}
		if (off + len > r.off + r.len)
			off = r.off + r.len - len;
		cr_assert_eq(pwrite(fd, &v, len, (off_t)off), (ssize_t)len);
	}
	close(fd);
}

static void ignore_fault(const struct vmshm_fault *f, void *arg)
{
	(void)f;
	(*(int *)arg)++;
}

struct walk {
	vmshm_pool *p;
	int listed, opened;
	int bad;
	char bad_what[200];
};

/* Every object the library hands out must lie inside the pool: touch it. */
static void touch_ref(struct walk *w, const vmshm_ref *ref)
{
	uint8_t *base = vmshm_base(w->p), *a = ref->addr;
	uint64_t size = vmshm_size(w->p);
	volatile uint8_t *b = ref->addr;

	if (ref->size == 0)
		return; /* no memory (an event, or a size-0 slot): nothing to touch */
	if (a < base || a > base + size || ref->size > (uint64_t)(base + size - a) ||
	    ((uintptr_t)a & 4095)) {
		w->bad++;
		snprintf(w->bad_what, sizeof w->bad_what,
			 "object of %llu bytes at offset %lld outside the pool",
			 (unsigned long long)ref->size, (long long)(a - base));
		return;
	}
	for (uint64_t i = 0; i < ref->size; i += 512)
		b[i] = b[i];
	if (ref->size)
		b[ref->size - 1] = b[ref->size - 1];
}

static int walk_one(const struct vmshm_objinfo *o, void *arg)
{
	struct walk *w = arg;
	vmshm_ref ref;

	w->listed++;
	/* A damaged slot may be listed as it is (state, type), but every
	 * string handed out is terminated and every state has a name. */
	if (!memchr(o->name, 0, sizeof o->name) || !vmshm_obj_state_name(o->state) ||
	    !vmshm_type_name(o->type)) {
		w->bad++;
		snprintf(w->bad_what, sizeof w->bad_what, "listed slot %u: bad strings", o->slot);
	}
	if (o->named && o->state == VMSHM_OBJ_LIVE &&
	    vmshm_open(w->p, o->type, o->name, &ref) == 0) {
		w->opened++;
		touch_ref(w, &ref);
		vmshm_close(w->p, &ref);
	}
	return w->listed > 100000;
}

static int walk_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	struct walk *w = arg;

	if (pi->index == 0 || pi->index > VMSHM_MAX_PEERS ||
	    !memchr(pi->comm, 0, sizeof pi->comm) || !memchr(pi->vm, 0, sizeof pi->vm)) {
		w->bad++;
		snprintf(w->bad_what, sizeof w->bad_what, "listed peer %u", pi->index);
	}
	return 0;
}

/* Everything the native API offers, on a damaged pool. */
static void exercise(uint64_t *rnd, struct walk *w)
{
	vmshm_pool *p;
	char why[256] = "";
	int rc, faults = 0;
	unsigned flags = rnd_next(rnd) % 2 ? VMSHM_ATTACH_NORECLAIM : 0;

	rc = vmshm_attach(tp.path, flags, &p, why, sizeof why);
	if (rc < 0) {
		if (rc != VMSHM_EFORMAT && rc != VMSHM_ECORRUPT && rc != VMSHM_ENOPEER &&
		    rc != VMSHM_EVERSION) {
			w->bad++;
			snprintf(w->bad_what, sizeof w->bad_what, "attach failed with %d (%s)", rc,
				 vmshm_strerror(rc));
		}
		return;
	}
	w->p = p;
	{
		struct vmshm_stats st;

		if (vmshm_stats(p, &st) == 0 &&
		    (st.free_bytes > st.data_bytes || st.used_bytes > st.data_bytes)) {
			w->bad++;
			snprintf(w->bad_what, sizeof w->bad_what, "stats: free %llu of %llu",
				 (unsigned long long)st.free_bytes,
				 (unsigned long long)st.data_bytes);
		}
	}
	vmshm_list(p, walk_one, w);
	vmshm_peers(p, walk_peer, w);
	rc = vmshm_check(p, ignore_fault, &faults);
	if (rc >= 0 && rc != faults) {
		w->bad++;
		snprintf(w->bad_what, sizeof w->bad_what, "check returned %d, reported %d", rc,
			 faults);
	}
	for (int i = 0; i < 8; i++) {
		char name[300];
		vmshm_ref ref;

		if (i % 4 == 3)
			snprintf(name, sizeof name, "%0250d-long-%d", 0, (int)(rnd_next(rnd) % 24));
		else
			snprintf(name, sizeof name, "obj-%d", (int)(rnd_next(rnd) % 30));
		rc = vmshm_create(p, VMSHM_TYPE_SHM, i == 5 ? NULL : name,
				  1 + rnd_next(rnd) % 70000, PAGE_READWRITE, 0, &ref);
		if (rc >= 0) {
			touch_ref(w, &ref);
			vmshm_close(p, &ref);
		}
		rc = vmshm_open(p, VMSHM_TYPE_SHM, name, &ref);
		if (rc == 0) {
			touch_ref(w, &ref);
			if (rnd_next(rnd) % 2)
				vmshm_close(p, &ref);
		}
	}
	vmshm_reclaim(p);
	vmshm_check(p, NULL, NULL);
	vmshm_detach(p);
}

Test(corrupt, random_bytes_native, .init = tp_setup, .fini = tp_teardown, .timeout = 200)
{
	uint64_t rnd = 0xc0ffee ^ ((uint64_t)getpid() << 20);
	uint8_t *img;
	struct region r;
	struct walk w = {0};
	int rounds = 400;

	tp_remove();
	tp_make(2u << 20, 64);
	populate();
	img = read_image();
	r = tables();
	for (int i = 0; i < rounds; i++) {
		write_image(img);
		damage(&rnd, r);
		exercise(&rnd, &w);
		cr_assert_eq(w.bad, 0, "round %d: %s", i, w.bad_what);
	}
	fprintf(stderr, "corrupt: %d rounds, %d objects listed, %d opened\n", rounds, w.listed,
		w.opened);
	cr_assert_gt(w.opened, 0, "no object could ever be opened: the rounds tested nothing");
	free(img);
}

/* The same through the RtApi calls, one forked process per damaged pool. */
Test(corrupt, random_bytes_rtapi, .init = tp_setup, .fini = tp_teardown, .timeout = 200)
{
	uint64_t rnd = 0xbad5eed ^ ((uint64_t)getpid() << 20);
	uint8_t *img;
	struct region r;
	int rounds = 150, crashed = 0, wrong = 0;

	tp_remove();
	tp_make(2u << 20, 64);
	populate();
	img = read_image();
	r = tables();
	for (int i = 0; i < rounds; i++) {
		pid_t pid;
		int rc;

		write_image(img);
		damage(&rnd, r);
		pid = spawn_child();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			int bad = 0;

			for (int k = 0; k < 40; k++) {
				char name[300];
				void *loc = NULL;
				HANDLE h;
				DWORD e;

				if (k % 4 == 3)
					snprintf(name, sizeof name, "%0250d-long-%d", 0, k % 24);
				else
					snprintf(name, sizeof name, "obj-%d", k % 30);
				h = k % 2 ? RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, name, &loc)
					  : RtCreateSharedMemoryA(PAGE_READWRITE, 0, 5000, name,
								  &loc);
				e = GetLastError();
				if (h) {
					SHARED_MEMORY_INFO qi;
					volatile uint8_t *b = loc;

					if (!RtQuerySharedMemory(h, &qi))
						bad |= 1;
					for (DWORD j = 0; j < qi.dwSize; j += 256)
						b[j] = b[j];
					if (!RtCloseHandle(h))
						bad |= 2;
				} else if (e == 0 || e == ERROR_ALREADY_EXISTS) {
					bad |= 4;
				}
			}
			_exit(bad);
		}
		rc = wait_child(pid);
		if (rc >= 128) {
			crashed++;
			fprintf(stderr, "corrupt: round %d: the RtApi process died of signal %d\n",
				i, rc - 128);
		} else if (rc) {
			wrong++;
			fprintf(stderr, "corrupt: round %d: inconsistent results (%d)\n", i, rc);
		}
	}
	cr_assert_eq(crashed, 0, "%d of %d processes crashed on a damaged pool", crashed, rounds);
	cr_assert_eq(wrong, 0, "%d of %d processes saw inconsistent results", wrong, rounds);
	free(img);
}

/* Damage the check must name: filling the tables with random bytes. */
Test(corrupt, check_reports_damage, .init = tp_setup, .fini = tp_teardown, .timeout = 60)
{
	uint64_t rnd = 0x1234567 ^ (uint64_t)getpid();
	uint8_t *img, *junk;
	struct region r;

	tp_remove();
	tp_make(2u << 20, 64);
	populate();
	img = read_image();
	r = tables();
	junk = malloc(r.len);
	cr_assert_not_null(junk);
	for (int round = 0; round < 20; round++) {
		vmshm_pool *p;
		char why[256] = "";
		int rc;

		write_image(img);
		for (uint64_t i = 0; i < r.len; i++)
			junk[i] = (uint8_t)rnd_next(&rnd);
		tp_poke(r.off, junk, r.len);
		rc = vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &p, why,
				  sizeof why);
		if (rc < 0) {
			cr_assert(rc == VMSHM_EFORMAT || rc == VMSHM_ECORRUPT,
				  "observer attach of a damaged pool: %d", rc);
			continue;
		}
		rc = vmshm_check(p, NULL, NULL);
		vmshm_detach(p);
		cr_assert_gt(rc, 0, "round %d: check found nothing in random tables", round);
	}
	free(junk);
	free(img);
}

/* Known damage, named by the check. */
struct fault_seen {
	int codes[16];
};

static void note_fault(const struct vmshm_fault *f, void *arg)
{
	struct fault_seen *s = arg;

	if (f->code > 0 && f->code < 16)
		s->codes[f->code]++;
}

static struct fault_seen check_codes(void)
{
	struct fault_seen s = {{0}};
	vmshm_pool *p;
	char why[256] = "";
	int rc = vmshm_attach(tp.path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &p, why,
			      sizeof why);

	cr_assert_eq(rc, 0, "%s", why);
	rc = vmshm_check(p, note_fault, &s);
	vmshm_detach(p);
	cr_assert_gt(rc, 0, "check found no fault");
	return s;
}

Test(corrupt, check_names_faults, .init = tp_setup, .fini = tp_teardown)
{
	uint8_t *img;
	struct vmshm_objinfo info;
	uint64_t slots, owners, word;
	struct fault_seen s;

	populate();
	img = read_image();
	slots = peek64(64);
	owners = peek64(80);
	cr_assert_eq(tp_find("obj-0", &info), 1);

	/* An unknown object state. */
	word = peek64(slots + 256ull * info.slot);
	word = (word & ~(0xfull << 24)) | (9ull << 24);
	tp_poke(slots + 256ull * info.slot, &word, 8);
	s = check_codes();
	cr_assert_gt(s.codes[VMSHM_FAULT_SLOT_STATE], 0, "bad state not reported as slot-state");
	write_image(img);

	/* A live object without holders. */
	word = 0;
	tp_poke(slots + 256ull * info.slot + 8, &word, 8);
	s = check_codes();
	cr_assert_gt(s.codes[VMSHM_FAULT_HOLDERS], 0, "no holders not reported as holders");
	write_image(img);

	/* A page of the object marked free. */
	cr_assert_eq(tp_find("obj-1", &info), 1);
	word = 0;
	tp_poke(owners + 8 * ((info.offset - peek64(88)) / 4096), &word, 8);
	s = check_codes();
	cr_assert_gt(s.codes[VMSHM_FAULT_PAGE_OWNER], 0, "lost page not reported as page-owner");
	write_image(img);

	/* A wrong name byte: the hash no longer matches. */
	cr_assert_eq(tp_find("obj-2", &info), 1);
	tp_poke(slots + 256ull * info.slot + 80, "X", 1);
	s = check_codes();
	cr_assert_gt(s.codes[VMSHM_FAULT_SLOT_NAME], 0, "bad name not reported as slot-name");
	write_image(img);
	cr_assert_eq(tp_check("restored"), 0);
	free(img);
}

/* A LIVE object whose size and extent were zeroed (a hostile guest's
 * scribble did so in the two-VM test): no object has size 0, so the open
 * refuses it, in both APIs, rather than give a NULL memory address that
 * the caller would write to; the check names it. */
Test(corrupt, zero_size_object_refused, .init = tp_setup, .fini = tp_teardown)
{
	uint8_t *img;
	struct vmshm_objinfo info;
	uint64_t slots, zero = 0;
	vmshm_pool *p;
	vmshm_ref ref;
	void *loc = (void *)1;
	char why[256] = "";
	struct fault_seen s;

	populate();
	img = read_image();
	slots = peek64(64);
	cr_assert_eq(tp_find("obj-1", &info), 1);
	tp_poke(slots + 256ull * info.slot + 24, &zero, 8); /* size */
	tp_poke(slots + 256ull * info.slot + 40, &zero, 8); /* pages of the extent */

	cr_assert_eq(vmshm_attach(tp.path, 0, &p, why, sizeof why), 0, "%s", why);
	cr_assert_eq(vmshm_open(p, VMSHM_TYPE_SHM, "obj-1", &ref), VMSHM_ECORRUPT);
	vmshm_detach(p);
	assert_fails(RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, "obj-1", &loc),
		     ERROR_FILE_CORRUPT, "open of an object of size 0");
	cr_assert_eq(loc, (void *)1, "the location was written: %p", loc);
	s = check_codes();
	cr_assert_gt(s.codes[VMSHM_FAULT_SLOT_EXTENT], 0, "size 0 not reported as slot-extent");
	write_image(img);
	cr_assert_eq(tp_check("restored"), 0);
	free(img);
}
