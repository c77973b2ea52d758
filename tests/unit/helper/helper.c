/*
 * vmshm-test-helper - a separate program for the tests that need a process
 * that ends normally (exit or return from main) while holding handles.
 *
 *   vmshm-test-helper create-exit NAME      create NAME (4096 bytes), exit(0)
 *   vmshm-test-helper create-return NAME    the same, returning from main
 *   vmshm-test-helper open-write-exit NAME  open NAME, write 0x5a at 0, exit(0)
 *
 * The pool is $VMSHM_POOL. Exit status 0 when every call did what it should.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "RtApi.h"

int main(int argc, char **argv)
{
	void *loc = NULL;
	HANDLE h;

	if (argc != 3) {
		fprintf(stderr, "usage: vmshm-test-helper create-exit|create-return|"
				"open-write-exit NAME\n");
		return 2;
	}
	if (strcmp(argv[1], "open-write-exit") == 0) {
		h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, argv[2], &loc);
		if (!h || GetLastError() != 0) {
			fprintf(stderr, "helper: open %s: error %u\n", argv[2],
				(unsigned)GetLastError());
			return 1;
		}
		*(unsigned char *)loc = 0x5a;
		exit(0);
	}
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, argv[2], &loc);
	if (!h || GetLastError() != 0) {
		fprintf(stderr, "helper: create %s: error %u\n", argv[2], (unsigned)GetLastError());
		return 1;
	}
	memset(loc, 0x33, 4096);
	if (strcmp(argv[1], "create-exit") == 0)
		exit(0);
	if (strcmp(argv[1], "create-return") == 0)
		return 0;
	fprintf(stderr, "helper: unknown mode %s\n", argv[1]);
	return 2;
}
