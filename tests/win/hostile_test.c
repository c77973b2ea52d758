/*
 * hostile_test.c - the Windows build of the directory code on a pool whose
 * directory holds garbage: random bytes are written over the header, slots
 * and peer table of a scratch pool, then every call runs on it. Nothing may
 * crash or touch memory outside the pool; refusals must be clean error codes.
 *
 *   hostile_test.exe DIR   DIR: a Windows path to a scratch directory
 *
 * Ends with "N passed, M failed".
 */
#include <windows.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "RtApi.h"
#include "vmshm.h"
#include "check.h"

#define ROUNDS    300
#define POOL_SIZE (1u << 20)

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int count_obj(const struct vmshm_objinfo *o, void *arg)
{
	(void)o;
	++*(int *)arg;
	return 0;
}

static int count_peer(const struct vmshm_peerinfo *p, void *arg)
{
	(void)p;
	++*(int *)arg;
	return 0;
}

static void count_fault(const struct vmshm_fault *f, void *arg)
{
	(void)f;
	++*(int *)arg;
}

static int in_range(int r)
{
	return r >= VMSHM_ETIMEDOUT && r <= 1;
}

int main(int argc, char **argv)
{
	char path[1024], why[256];
	vmshm_pool *p;
	struct vmshm_stats st;
	uint64_t dir_bytes;
	int refused = 0, faulty = 0, attached = 0, bad_codes = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: hostile_test DIR\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s\\hostile.pool", argv[1]);
	CHECK(vmshm_pool_create(path, POOL_SIZE, 64, VMSHM_CREATE_FORCE) == 0, "pool create");
	CHECK(vmshm_attach(path, 0, &p, why, sizeof why) == 0, "attach: %s", why);
	CHECK(vmshm_stats(p, &st) == 0, "stats");
	vmshm_detach(p);
	dir_bytes = st.data_offset;
	CHECK(dir_bytes > 0 && dir_bytes < POOL_SIZE, "directory of %llu bytes",
	      (unsigned long long)dir_bytes);

	for (int round = 0; round < ROUNDS; round++) {
		HANDLE fh, mh;
		unsigned char *m;
		int r, n = 0;
		vmshm_ref ref;

		if (vmshm_pool_create(path, POOL_SIZE, 64, VMSHM_CREATE_FORCE) != 0)
			break;
		/* A few objects and a peer first, so that slots are in use. */
		if (vmshm_attach(path, 0, &p, why, sizeof why) == 0) {
			for (int i = 0; i < 5; i++) {
				char name[16];

				snprintf(name, sizeof name, "obj-%d", i);
				vmshm_create(p, VMSHM_TYPE_SHM, name, 4096, 4, VMSHM_PERSIST, &ref);
			}
			vmshm_detach(p);
		}
		fh = CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
				 FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
		mh = fh != INVALID_HANDLE_VALUE
			 ? CreateFileMappingW(fh, NULL, PAGE_READWRITE, 0, 0, NULL)
			 : NULL;
		m = mh ? MapViewOfFile(mh, FILE_MAP_WRITE, 0, 0, 0) : NULL;
		if (!m) {
			CHECK(0, "map %s", path);
			break;
		}
		/* Round 0..99: a few bytes anywhere in the directory (every
		 * tenth round in the header's fields, bytes 0-135, which a
		 * reader validates: such a pool must be refused or read
		 * safely); later rounds: whole 64-bit words with extreme
		 * values. */
		int k = 1 + (int)(next() % 16);
		for (int i = 0; i < k; i++) {
			uint64_t off = round % 10 == 0 && round < ROUNDS / 3 ? next() % 136
									     : next() % dir_bytes;

			if (round < ROUNDS / 3) {
				m[off] = (unsigned char)next();
			} else {
				static const uint64_t vals[] = {
				    0, ~0ull, 1ull << 63, 0x7fffffffull, POOL_SIZE, POOL_SIZE - 1};
				uint64_t v = (next() & 1) ? next() : vals[next() % 6];

				off &= ~7ull;
				if (round > ROUNDS / 2 && off < 4096)
					off += 4096; /* keep the header, hit slots */
				if (off + 8 <= dir_bytes)
					memcpy(m + off, &v, 8);
			}
		}
		UnmapViewOfFile(m);
		CloseHandle(mh);
		CloseHandle(fh);

		r = vmshm_attach(path, 0, &p, why, sizeof why);
		if (!in_range(r))
			bad_codes++;
		if (r < 0) {
			refused++;
			continue;
		}
		attached++;
		vmshm_list(p, count_obj, &n);
		vmshm_peers(p, count_peer, &n);
		int f = vmshm_check(p, count_fault, &n);
		if (f != 0)
			faulty++;
		if (!in_range(f) && f < 0)
			bad_codes++;
		for (int i = 0; i < 6; i++) {
			char name[16];

			snprintf(name, sizeof name, "obj-%d", i);
			r = vmshm_open(p, VMSHM_TYPE_SHM, name, &ref);
			if (!in_range(r))
				bad_codes++;
			if (r == 0) {
				volatile unsigned char *b = ref.addr;

				if (ref.size)
					b[0] = b[ref.size - 1]; /* inside the pool, or a crash */
				vmshm_close(p, &ref);
			}
			r = vmshm_create(p, VMSHM_TYPE_SHM, name, 8192, 4, 0, &ref);
			if (!in_range(r))
				bad_codes++;
			if (r >= 0)
				vmshm_close(p, &ref);
		}
		r = vmshm_create(p, VMSHM_TYPE_SHM, NULL, 4096, 4, 0, &ref);
		if (r >= 0)
			vmshm_close(p, &ref);
		vmshm_reclaim(p);
		vmshm_stats(p, &st);
		vmshm_detach(p);
	}
	printf("hostile pools: %d refused at attach, %d attached (%d with faults found)\n", refused,
	       attached, faulty);
	CHECK(refused + attached == ROUNDS, "only %d of %d rounds ran", refused + attached, ROUNDS);
	CHECK(bad_codes == 0, "%d calls returned codes outside the documented set", bad_codes);
	CHECK(refused > 0 && faulty > 0, "the corruption was never noticed");
	return check_summary();
}
