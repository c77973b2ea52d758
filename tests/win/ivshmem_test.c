/*
 * ivshmem_test.c - the Windows backends' discovery and error paths, under
 * Wine (which has no ivshmem device and no virtio-win driver).
 *
 *   ivshmem_test.exe DIR   DIR: a Windows path to a scratch directory
 *
 * Run with VMSHM_POOL unset. Ends with "N passed, M failed".
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "RtApi.h"
#include "vmshm.h"
#include "check.h"

static int attach_fails(const char *spec, int want, const char *why_has)
{
	vmshm_pool *p = (vmshm_pool *)1;
	char why[256] = "";
	int r = vmshm_attach(spec, 0, &p, why, sizeof why);

	CHECK(r == want, "attach(%s) = %d (%s), want %d", spec ? spec : "NULL", r,
	      vmshm_strerror(r), want);
	CHECK(p == NULL, "attach(%s) failed but set a pool", spec ? spec : "NULL");
	CHECK(why_has == NULL || strstr(why, why_has) != NULL, "attach(%s): reason '%s' lacks '%s'",
	      spec ? spec : "NULL", why, why_has);
	printf("  attach(%s): %s: %s\n", spec ? spec : "NULL", vmshm_strerror(r), why);
	if (r == 0)
		vmshm_detach(p);
	return r;
}

int main(int argc, char **argv)
{
	char path[1024];
	void *loc = (void *)1;
	HANDLE h, f;
	DWORD n;

	if (argc < 2) {
		fprintf(stderr, "usage: ivshmem_test DIR\n");
		return 2;
	}
	SetEnvironmentVariableW(L"VMSHM_POOL", NULL);

	/* No ivshmem device: the documented error and a reason naming the
	 * driver's interface. */
	attach_fails("ivshmem:0", VMSHM_ENOPOOL, "no ivshmem device");
	attach_fails("ivshmem:0", VMSHM_ENOPOOL, "{df576976-569d-4672-95a0-f57e4ea0b210}");
	attach_fails("ivshmem:0", VMSHM_ENOPOOL, "install virtio-win's IVSHMEM driver");
	attach_fails("ivshmem:0", VMSHM_ENOPOOL, "\"PCI standard RAM Controller\"");
	attach_fails("ivshmem:3", VMSHM_ENOPOOL, "no ivshmem device");
	/* Bad device indices. */
	attach_fails("ivshmem:", VMSHM_EINVAL, "ivshmem:N");
	attach_fails("ivshmem:x", VMSHM_EINVAL, "ivshmem:N");
	attach_fails("ivshmem:-1", VMSHM_EINVAL, "ivshmem:N");
	attach_fails("ivshmem:1a", VMSHM_EINVAL, "ivshmem:N");
	attach_fails("ivshmem:65536", VMSHM_EINVAL, "ivshmem:N");
	/* Unset VMSHM_POOL: discovery finds no device. */
	attach_fails(NULL, VMSHM_ENOPOOL, "no ivshmem device");
	/* Other kinds of pool are not Windows pools. */
	attach_fails("pci:0000:00:04.0", VMSHM_ENOPOOL, "no backend");
	/* File paths go to the file backend. */
	attach_fails("Z:\\nonexistent-dir-vmshm\\pool", VMSHM_ENOPOOL, "no such directory");
	attach_fails(argv[1], VMSHM_EIO, "not a regular file");
	snprintf(path, sizeof path, "%s\\no-such-pool", argv[1]);
	attach_fails(path, VMSHM_ENOPOOL, "no such file");
	/* A file that is too small to be a pool, and one that is not a pool. */
	snprintf(path, sizeof path, "%s\\small-file", argv[1]);
	f = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	CHECK(f != INVALID_HANDLE_VALUE, "create %s", path);
	if (f != INVALID_HANDLE_VALUE) {
		static char page[4096];

		WriteFile(f, page, sizeof page, &n, NULL);
		CloseHandle(f);
		attach_fails(path, VMSHM_EFORMAT, "not a pool size");
	}
	snprintf(path, sizeof path, "%s\\zero-file", argv[1]);
	f = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	CHECK(f != INVALID_HANDLE_VALUE, "create %s", path);
	if (f != INVALID_HANDLE_VALUE) {
		LARGE_INTEGER sz = {.QuadPart = 1 << 20};

		SetFilePointerEx(f, sz, NULL, FILE_BEGIN);
		SetEndOfFile(f);
		CloseHandle(f);
		attach_fails(path, VMSHM_EFORMAT, NULL);
	}

	/* vmshm_pool_create on Windows: creates, refuses to overwrite. */
	snprintf(path, sizeof path, "%s\\made-on-windows", argv[1]);
	DeleteFileA(path);
	CHECK(vmshm_pool_create(path, 1 << 20, 0, 0) == 0, "pool create %s", path);
	CHECK(vmshm_pool_create(path, 1 << 20, 0, 0) == VMSHM_EEXISTS_FILE,
	      "pool create over a pool must refuse");
	CHECK(vmshm_pool_create(path, 3 << 20, 0, VMSHM_CREATE_FORCE) == 0, "pool create FORCE");
	CHECK(vmshm_pool_create(path, 12345, 0, VMSHM_CREATE_FORCE) == VMSHM_EINVAL,
	      "pool create of a bad size");
	{
		vmshm_pool *p = NULL;
		struct vmshm_stats st;
		char why[256] = "";
		int r = vmshm_attach(path, 0, &p, why, sizeof why);

		CHECK(r == 0, "attach the pool made on Windows: %d %s", r, why);
		if (r == 0) {
			CHECK(vmshm_stats(p, &st) == 0 && st.pool_size == (3u << 20),
			      "pool size %llu", (unsigned long long)st.pool_size);
			CHECK(vmshm_self(p) >= 1, "peer index %d", vmshm_self(p));
			CHECK(strcmp(vmshm_backend_name(p), "file") == 0, "backend %s",
			      vmshm_backend_name(p));
			CHECK(vmshm_ivposition(p) == VMSHM_ENOTSUP, "file pool has no ivposition");
			CHECK(vmshm_doorbell_ring(p, 0, 0) == VMSHM_ENOTSUP,
			      "no doorbell on a file");
			CHECK(vmshm_doorbell_wait(p, 0) == VMSHM_ENOTSUP, "no doorbell wait");
			vmshm_detach(p);
		}
	}

	/* The RtApi calls with no pool reachable: NULL and ERROR_FILE_NOT_FOUND. */
	SetLastError(0);
	h = RtCreateSharedMemoryA(PAGE_READWRITE, 0, 4096, "no-pool", &loc);
	CHECK(h == NULL, "create without a pool must fail");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "create without a pool");
	h = RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, L"no-pool", &loc);
	CHECK(h == NULL, "open without a pool must fail");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "open without a pool");
	SetEnvironmentVariableW(L"VMSHM_POOL", L"ivshmem:0");
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, L"no-pool", &loc);
	CHECK(h == NULL, "create on ivshmem:0 without a device must fail");
	CHECK_ERR(GetLastError(), ERROR_FILE_NOT_FOUND, "create on ivshmem:0");
	CHECK(!RtCloseHandle(NULL), "close NULL");
	CHECK_ERR(GetLastError(), ERROR_INVALID_HANDLE, "close NULL without a pool");

	/* A pool at a non-ASCII path: made from UTF-8, named in VMSHM_POOL
	 * through the W environment; the next RtApi call attaches it. */
	WCHAR wpath[1100];
	int n8 = snprintf(path, sizeof path, "%s\\p\xc3\xb6ol-\xe6\x97\xa5", argv[1]);
	CHECK(n8 > 0 && vmshm_pool_create(path, 1 << 20, 0, VMSHM_CREATE_FORCE) == 0,
	      "pool create at a non-ASCII path");
	CHECK(MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 1100) > 0, "UTF-16 path");
	SetEnvironmentVariableW(L"VMSHM_POOL", wpath);
	SetLastError(99);
	h = RtCreateSharedMemoryW(PAGE_READWRITE, 0, 4096, L"at-a-non-ascii-path", &loc);
	CHECK(h != NULL, "create in the pool at a non-ASCII path");
	CHECK_ERR(GetLastError(), ERROR_SUCCESS, "create at a non-ASCII path");
	if (h)
		CHECK(RtCloseHandle(h), "close");
	return check_summary();
}
