/*
 * check_bench.c - how long `vmshm check` (vmshm_check) takes on a large,
 * well-filled directory: a figure, not a test (issue 8, item 14: the check
 * must stay linear in slots, at most 1 s at 2^20 slots).
 *
 * For each size 2^K slots: a pool file under /dev/shm with that many slots,
 * filled by one peer to 3/4 of its slots: every 8th object a one-page
 * shared-memory region, every 64th with a name longer than a slot holds (a
 * name page), the rest mutexes (a page each, for the body). An observer attach then runs
 * vmshm_check 3 times (or -r ROUNDS); the best time is printed.
 *
 * Usage: check_bench [-r ROUNDS] [K ...]   (default: 17 20)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmshm.h"

static int rounds = 3; /* checks per size, best kept (-r) */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Object I: its name, type and size. */
static void object(uint32_t i, char *name, size_t len, int *type, uint64_t *size)
{
	if (i % 64 == 0)
		snprintf(name, len, "%0200u", i); /* past the inline name: a name page */
	else
		snprintf(name, len, "bench-object-%u", i);
	*type = i % 8 == 0 ? VMSHM_TYPE_SHM : VMSHM_TYPE_MUTEX;
	*size = i % 8 == 0 ? 4096 : 0;
}

static int fill(vmshm_pool *p, uint32_t objects, uint64_t *pages)
{
	char name[256];
	*pages = 0;
	for (uint32_t i = 0; i < objects; i++) {
		int type;
		uint64_t size;
		vmshm_ref ref;
		object(i, name, sizeof name, &type, &size);
		int rc = vmshm_create(p, type, name, size, 0, 0, &ref);
		if (rc != 0) {
			fprintf(stderr, "check_bench: create %u of %u: %s\n", i, objects,
				vmshm_strerror(rc));
			return -1;
		}
		/* Its memory (a mutex: its 64-byte body, one page), and past 176
		 * bytes a name page. */
		*pages += (size ? size / 4096 : 1) + (strlen(name) > 176);
	}
	return 0;
}

/* The best time of `rounds` checks through an observer attach, in seconds. */
static double time_check(const char *path, int *faults)
{
	vmshm_pool *obs;
	char why[256] = "";
	double best = 1e9;
	if (vmshm_attach(path, VMSHM_ATTACH_OBSERVER | VMSHM_ATTACH_NORECLAIM, &obs, why,
			 sizeof why) < 0) {
		fprintf(stderr, "check_bench: observer attach: %s\n", why);
		return -1;
	}
	for (int r = 0; r < rounds; r++) {
		double t0 = now_s();
		*faults = vmshm_check(obs, NULL, NULL);
		double t = now_s() - t0;
		if (t < best)
			best = t;
	}
	vmshm_detach(obs);
	return best;
}

static int bench(unsigned k)
{
	uint32_t slots = 1u << k, objects = slots / 4 * 3;
	/* A page per object (a mutex's body takes one too), a name page per
	 * 64, tables (slots, and the 64 peers' hold words: a byte a slot
	 * each), and room to spare. */
	uint64_t data = objects + objects / 64 + 1024;
	uint64_t size = (((uint64_t)slots * (256 + 64) + data * (4096 + 8)) / 4096 + 1024) * 4096;
	char path[64], why[256] = "";
	vmshm_pool *p;
	uint64_t pages;
	int faults = 0;

	snprintf(path, sizeof path, "/dev/shm/vmshm-check-bench-%ld", (long)getpid());
	unlink(path);
	int rc = vmshm_pool_create(path, size, slots, 0);
	if (rc == 0)
		rc = vmshm_attach(path, 0, &p, why, sizeof why);
	if (rc < 0) {
		fprintf(stderr, "check_bench: pool of 2^%u slots: %s %s\n", k, vmshm_strerror(rc),
			why);
		unlink(path);
		return -1;
	}
	double t0 = now_s();
	rc = fill(p, objects, &pages);
	double fill_s = now_s() - t0;
	double t = rc < 0 ? -1 : time_check(path, &faults);
	vmshm_detach(p);
	unlink(path);
	if (t < 0)
		return -1;
	printf("check: 2^%u slots, %u objects, %llu pages in use: %.3f s (best of %d; %d "
	       "faults; filled in %.1f s)\n",
	       k, objects, (unsigned long long)pages, t, rounds, faults, fill_s);
	fflush(stdout);
	return faults == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const unsigned defaults[] = {17, 20};
	int bad = 0, first = 1;
	if (argc > 2 && strcmp(argv[1], "-r") == 0) {
		rounds = atoi(argv[2]) > 0 ? atoi(argv[2]) : 1;
		first = 3;
	}
	if (argc <= first) {
		for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
			bad |= bench(defaults[i]);
		return bad ? 1 : 0;
	}
	for (int i = first; i < argc; i++) {
		unsigned k = (unsigned)strtoul(argv[i], NULL, 10);
		if (k < 4 || k > 20) {
			fprintf(
			    stderr,
			    "usage: check_bench [-r ROUNDS] [K ...] (2^K slots, K from 4 to 20)\n");
			return 2;
		}
		bad |= bench(k);
	}
	return bad ? 1 : 0;
}
