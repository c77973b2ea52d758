/*
 * rtpeer.c - a test helper that uses a region through the RtApi calls, the
 * way an RTX program does. The pool is $VMSHM_POOL.
 *
 *   rtpeer create NAME SIZE INFILE   RtCreateSharedMemory, copy INFILE into it
 *   rtpeer open NAME OUTFILE         RtOpenSharedMemory, copy it to OUTFILE
 *   rtpeer event NAME                an event object of that name (native API)
 *   rtpeer mutex NAME                RtCreateMutex(owned), then obeys stdin lines
 *                                    "release" (RtReleaseMutex) and "take"
 *                                    (RtWaitForSingleObject, INFINITE)
 *
 * Both print "lasterr=E size=S" (GetLastError after the call, the size
 * RtQuerySharedMemory reports), then hold the handle until a line or EOF
 * arrives on stdin, then RtCloseHandle and print "closed". On failure they
 * print "lasterr=E" and exit 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "RtApi.h"
#include "vmshm.h"

static int hold_and_close(HANDLE h)
{
	char line[64];

	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) {
		/* EOF: close now */
	}
	if (!RtCloseHandle(h)) {
		printf("close failed lasterr=%u\n", (unsigned)GetLastError());
		return 1;
	}
	printf("closed\n");
	return 0;
}

/* rtpeer mutex NAME: prints "lasterr=E", then one line per command. */
static int mutex_peer(const char *name)
{
	HANDLE h = RtCreateMutexA(NULL, TRUE, name);
	char line[64];

	printf("lasterr=%u\n", (unsigned)GetLastError());
	if (!h)
		return 1;
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (!strcmp(line, "release\n")) {
			BOOL ok = RtReleaseMutex(h);
			printf("released=%d lasterr=%u\n", ok, (unsigned)GetLastError());
		} else if (!strcmp(line, "take\n")) {
			printf("wait=0x%x\n", (unsigned)RtWaitForSingleObject(h, INFINITE));
		} else {
			break;
		}
		fflush(stdout);
	}
	RtCloseHandle(h);
	printf("closed\n");
	return 0;
}

int main(int argc, char **argv)
{
	SHARED_MEMORY_INFO info = {0};
	VOID *loc = NULL;
	HANDLE h;
	FILE *f;

	if (argc == 5 && !strcmp(argv[1], "create")) {
		unsigned long size = strtoul(argv[3], NULL, 0);
		size_t n;

		h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, (DWORD)size, argv[2], &loc);
		if (!h) {
			printf("lasterr=%u\n", (unsigned)GetLastError());
			return 1;
		}
		printf("lasterr=%u", (unsigned)GetLastError());
		RtQuerySharedMemory(h, &info);
		printf(" size=%u\n", (unsigned)info.dwSize);
		f = fopen(argv[4], "rb");
		if (!f) {
			perror(argv[4]);
			return 1;
		}
		n = fread(loc, 1, info.dwSize, f);
		fclose(f);
		printf("copied=%zu\n", n);
		return hold_and_close(h);
	}
	if (argc == 4 && !strcmp(argv[1], "open")) {
		h = RtOpenSharedMemoryA(SHM_MAP_ALL_ACCESS, FALSE, argv[2], &loc);
		if (!h) {
			printf("lasterr=%u\n", (unsigned)GetLastError());
			return 1;
		}
		printf("lasterr=%u", (unsigned)GetLastError());
		RtQuerySharedMemory(h, &info);
		printf(" size=%u\n", (unsigned)info.dwSize);
		f = fopen(argv[3], "wb");
		if (!f || fwrite(loc, 1, info.dwSize, f) != info.dwSize) {
			perror(argv[3]);
			return 1;
		}
		fclose(f);
		return hold_and_close(h);
	}
	if (argc == 3 && !strcmp(argv[1], "event")) {
		vmshm_pool *pool;
		vmshm_ref ref;
		char line[64];
		int rc = vmshm_attach(NULL, 0, &pool, NULL, 0);

		if (rc == 0)
			rc = vmshm_create(pool, VMSHM_TYPE_EVENT, argv[2], 8, 0, VMSHM_EXCL, &ref);
		printf("rc=%d\n", rc);
		if (rc < 0)
			return 1;
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin)) {
			/* EOF: close now */
		}
		vmshm_close(pool, &ref);
		vmshm_detach(pool);
		printf("closed\n");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "mutex"))
		return mutex_peer(argv[2]);
	fprintf(stderr, "usage: rtpeer create NAME SIZE INFILE | open NAME OUTFILE | event NAME | "
			"mutex NAME\n");
	return 2;
}
