/*
 * plat_test.c - white-box checks of the Windows platform layer's liveness
 * judge and boot identity. Compiles lib/platform_win32.c into this program.
 *
 *   plat_test.exe DIR              the tests (DIR: a Windows path, scratch)
 *   plat_test.exe child sleep      a process to judge
 *   plat_test.exe child id FILE    writes this process's boot id to FILE
 *
 * Ends with "N passed, M failed".
 */
#include "platform_win32.c"

#include "check.h"
#include "spawn.h"

static char dir[MAX_PATH];

static void hex16(const uint8_t id[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static int child_id(const char *file)
{
	struct plat_ident me;
	char hex[33];
	FILE *f;

	if (plat_identity(&me) != 0)
		return 3;
	hex16(me.boot_id, hex);
	f = fopen(file, "w");
	if (!f)
		return 4;
	fputs(hex, f);
	fclose(f);
	return 0;
}

/* Runs N "child id" processes at once; their boot ids in IDS. */
static int children_ids(int n, char ids[][33])
{
	HANDLE h[8];
	char args[MAX_PATH + 32], file[MAX_PATH + 32];
	int ok = 1;

	for (int i = 0; i < n; i++) {
		snprintf(args, sizeof args, "child id \"%s\\id-%d\"", dir, i);
		h[i] = spawn(args);
		ok &= h[i] != NULL;
	}
	for (int i = 0; i < n; i++) {
		FILE *f;

		ids[i][0] = 0;
		if (!h[i])
			continue;
		WaitForSingleObject(h[i], 30000);
		CloseHandle(h[i]);
		snprintf(file, sizeof file, "%s\\id-%d", dir, i);
		f = fopen(file, "r");
		if (!f || !fgets(ids[i], 33, f))
			ok = 0;
		if (f)
			fclose(f);
	}
	return ok;
}

/* This boot's file in ProgramData\vmshm. */
static void boot_file(WCHAR *out)
{
	WCHAR *data = NULL;

	SHGetKnownFolderPath(&FOLDERID_ProgramData, 0, NULL, &data);
	swprintf(out, MAX_PATH, L"%ls\\vmshm\\boot-%016llx", data ? data : L"?",
		 (unsigned long long)boot_filetime());
	CoTaskMemFree(data);
}

static void test_open_failures(void)
{
	CHECK(open_failure_liveness(ERROR_INVALID_PARAMETER) == VMSHM_LIVE_NO, "no such process");
	CHECK(open_failure_liveness(ERROR_ACCESS_DENIED) == VMSHM_LIVE_UNKNOWN,
	      "access denied is not a NO");
	CHECK(open_failure_liveness(ERROR_NOT_ENOUGH_MEMORY) == VMSHM_LIVE_UNKNOWN,
	      "out of memory is not a NO");
	CHECK(open_failure_liveness(ERROR_GEN_FAILURE) == VMSHM_LIVE_UNKNOWN,
	      "another failure is not a NO");
}

static void test_process_liveness(void)
{
	struct plat_ident me, other;
	FILETIME c, e, k, u;
	HANDLE h;
	uint64_t pid, start;

	CHECK(plat_identity(&me) == 0, "identity");
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, me.pid, me.start_time, me.boot_id) == VMSHM_LIVE_YES,
	      "this process");
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, me.pid, me.start_time + 1, me.boot_id) ==
		  VMSHM_LIVE_NO,
	      "this pid, another creation time");
	other = me;
	other.boot_id[0] ^= 1;
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, me.pid, me.start_time, other.boot_id) ==
		  VMSHM_LIVE_UNKNOWN,
	      "another instance's process");
	CHECK(plat_liveness(VMSHM_OS_LINUX, me.pid, me.start_time, me.boot_id) ==
		  VMSHM_LIVE_UNKNOWN,
	      "a Linux process");

	h = spawn("child sleep");
	CHECK(h != NULL && GetProcessTimes(h, &c, &e, &k, &u), "start a child");
	if (!h)
		return;
	pid = GetProcessId(h);
	start = filetime_u64(c);
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, pid, start, me.boot_id) == VMSHM_LIVE_YES,
	      "a live child");
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, pid, start - 10, me.boot_id) == VMSHM_LIVE_NO,
	      "a live child's pid with another creation time (a reused pid)");
	TerminateProcess(h, 9);
	WaitForSingleObject(h, 10000);
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, pid, start, me.boot_id) == VMSHM_LIVE_NO,
	      "an ended child whose handle is still open");
	CloseHandle(h);
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, pid, start, me.boot_id) == VMSHM_LIVE_NO,
	      "an ended child");
}

static void test_boot_identity(void)
{
	struct plat_ident me;
	char mine[33], ids[6][33];
	uint8_t id[16], nonce[16], again[16];
	WCHAR file[MAX_PATH], wdir[MAX_PATH], old[MAX_PATH];
	HANDLE f;
	int same;

	CHECK(plat_identity(&me) == 0, "identity");
	hex16(me.boot_id, mine);
	boot_file(file);
	CHECK(GetFileAttributesW(file) != INVALID_FILE_ATTRIBUTES, "no file %ls", file);

	/* Every process of this boot: the same identity. */
	CHECK(children_ids(2, ids) && strcmp(ids[0], mine) == 0 && strcmp(ids[1], mine) == 0,
	      "children: %s %s, this process %s", ids[0], ids[1], mine);

	/* Without this boot's file (a clone made before it existed), a new
	 * random value: another identity, the same for all of its processes,
	 * even when they start at once. */
	CHECK(DeleteFileW(file), "delete %ls", file);
	CHECK(children_ids(6, ids), "six children");
	same = 1;
	for (int i = 1; i < 6; i++)
		same &= strcmp(ids[i], ids[0]) == 0;
	CHECK(same, "six children at once: %s %s %s %s %s %s", ids[0], ids[1], ids[2], ids[3],
	      ids[4], ids[5]);
	CHECK(strcmp(ids[0], mine) != 0, "a new boot file, the same identity %s", mine);
	for (int i = 0; i < 16; i++)
		sscanf(ids[0] + 2 * i, "%2hhx", &id[i]);
	CHECK(plat_liveness(VMSHM_OS_WINDOWS, me.pid, me.start_time, id) == VMSHM_LIVE_UNKNOWN,
	      "a process of the other identity is judged");

	/* boot_nonce_in: one value per boot time, earlier boots' files
	 * removed, -1 where no file can be made. */
	MultiByteToWideChar(CP_UTF8, 0, dir, -1, wdir, MAX_PATH);
	swprintf(old, MAX_PATH, L"%ls\\boot-0000000000000001", wdir);
	f = CreateFileW(old, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
	CloseHandle(f);
	CHECK(boot_nonce_in(wdir, 0x1234, nonce) == 0, "nonce in %s", dir);
	CHECK(boot_nonce_in(wdir, 0x1234, again) == 0 && memcmp(nonce, again, 16) == 0,
	      "the same boot, another value");
	CHECK(GetFileAttributesW(old) == INVALID_FILE_ATTRIBUTES, "an earlier boot's file stays");
	CHECK(boot_nonce_in(wdir, 0x1235, again) == 0 && memcmp(nonce, again, 16) != 0,
	      "another boot, the same value");
	swprintf(old, MAX_PATH, L"%ls\\boot-0000000000001235", wdir);
	CHECK(DeleteFileW(old), "file of boot 0x1235");
	swprintf(old, MAX_PATH, L"%ls\\boot-0000000000001234\\below-a-file", wdir);
	CHECK(boot_nonce_in(old, 0x1234, again) == -1, "a nonce where no file can be made");
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "child") == 0) {
		if (strcmp(argv[2], "sleep") == 0) {
			Sleep(60000);
			return 0;
		}
		if (strcmp(argv[2], "id") == 0 && argc == 4)
			return child_id(argv[3]);
		return 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: plat_test DIR\n");
		return 2;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);
	test_open_failures();
	test_process_liveness();
	test_boot_identity();
	return check_summary();
}
