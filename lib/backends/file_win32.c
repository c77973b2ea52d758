/*
 * file_win32.c - the file backend on Windows: a pool file mapped with
 * CreateFileMapping + MapViewOfFile. The view shows the same bytes a Linux
 * process maps from the same file (under Wine: Z:\dev\shm\NAME is the host's
 * /dev/shm/NAME).
 *
 * Also vmshm_pool_create() for Windows (pool_create_posix.c on Linux).
 *
 * Claims every spec that is not "scheme:..." with a scheme of two or more
 * letters: C:\pools\a, Z:\dev\shm\a, \\server\share\a, relative paths.
 */
#include <windows.h>
#include <string.h>

#include "vmshm.h"
#include "backend.h"
#include "format.h"

extern const struct backend be_file;

static int file_claims(const char *spec)
{
	size_t i = 0;

	if (!spec || !spec[0])
		return 0;
	while ((spec[i] >= 'a' && spec[i] <= 'z') || (spec[i] >= 'A' && spec[i] <= 'Z'))
		i++;
	/* "ivshmem:0", "pci:..." belong to other backends; "C:" is a drive. */
	return !(i >= 2 && spec[i] == ':');
}

/* UTF-8 to a newly allocated UTF-16 string; NULL if not valid UTF-8. */
static WCHAR *to_utf16(const char *s)
{
	int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
	WCHAR *w;

	if (n <= 0)
		return NULL;
	w = HeapAlloc(GetProcessHeap(), 0, (size_t)n * sizeof(WCHAR));
	if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
		HeapFree(GetProcessHeap(), 0, w);
		w = NULL;
	}
	return w;
}

/* A Win32 error as a VMSHM_E* code. */
static int file_err(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
		return VMSHM_ENOPOOL;
	case ERROR_DISK_FULL:
	case ERROR_HANDLE_DISK_FULL:
		return VMSHM_ENOSPC;
	case ERROR_ACCESS_DENIED:
	case ERROR_SHARING_VIOLATION:
	case ERROR_LOCK_VIOLATION:
		return VMSHM_EPERM;
	default:
		return VMSHM_EIO;
	}
}

static const char *file_errname(DWORD e)
{
	switch (e) {
	case ERROR_FILE_NOT_FOUND:
		return "no such file";
	case ERROR_PATH_NOT_FOUND:
		return "no such directory";
	case ERROR_ACCESS_DENIED:
		return "permission denied";
	case ERROR_SHARING_VIOLATION:
		return "the file is open without sharing by another process";
	case ERROR_INVALID_NAME:
		return "invalid path";
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_COMMITMENT_LIMIT:
		return "not enough address space";
	default:
		return "Win32 error";
	}
}

static int file_open(const char *spec, struct be_map *m, char *why, size_t whylen)
{
	HANDLE fh, mh;
	LARGE_INTEGER len;
	WCHAR *path;
	void *base;
	DWORD e, attr;

	if (!spec || !m) {
		be_why(why, whylen, "no pool path");
		return VMSHM_EINVAL;
	}
	path = to_utf16(spec);
	if (!path) {
		be_why(why, whylen, "%s: path is not valid UTF-8", spec);
		return VMSHM_EINVAL;
	}
	attr = GetFileAttributesW(path);
	if (attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY)) {
		HeapFree(GetProcessHeap(), 0, path);
		be_why(why, whylen, "%s: not a regular file", spec);
		return VMSHM_EIO;
	}
	fh = CreateFileW(path, GENERIC_READ | GENERIC_WRITE,
			 FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
			 OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	e = GetLastError();
	HeapFree(GetProcessHeap(), 0, path);
	if (fh == INVALID_HANDLE_VALUE) {
		be_why(why, whylen, "%s: %s (error %lu)", spec, file_errname(e), (unsigned long)e);
		return file_err(e);
	}
	if (!GetFileSizeEx(fh, &len)) {
		e = GetLastError();
		CloseHandle(fh);
		be_why(why, whylen, "%s: cannot read its size (error %lu)", spec, (unsigned long)e);
		return VMSHM_EIO;
	}
	if ((uint64_t)len.QuadPart < VMSHM_MIN_POOL_SIZE || len.QuadPart % VMSHM_PAGE_SIZE) {
		CloseHandle(fh);
		be_why(why, whylen, "%s: %lld bytes is not a pool size", spec,
		       (long long)len.QuadPart);
		return VMSHM_EFORMAT;
	}
	mh = CreateFileMappingW(fh, NULL, PAGE_READWRITE, (DWORD)((uint64_t)len.QuadPart >> 32),
				(DWORD)len.QuadPart, NULL);
	e = GetLastError();
	CloseHandle(fh);
	if (!mh) {
		be_why(why, whylen, "%s: CreateFileMapping: %s (error %lu)", spec, file_errname(e),
		       (unsigned long)e);
		return file_err(e);
	}
	base = MapViewOfFile(mh, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, (SIZE_T)len.QuadPart);
	e = GetLastError();
	CloseHandle(mh); /* the view keeps the mapping alive */
	if (!base) {
		be_why(why, whylen, "%s: MapViewOfFile: %s (error %lu)", spec, file_errname(e),
		       (unsigned long)e);
		return file_err(e);
	}
	m->base = base;
	m->size = (uint64_t)len.QuadPart;
	m->ivposition = -1;
	m->be = &be_file;
	m->priv = NULL;
	return 0;
}

static void file_close(struct be_map *m)
{
	if (m && m->base) {
		UnmapViewOfFile(m->base);
		m->base = NULL;
	}
}

const struct backend be_file = {
    .name = "file",
    .claims = file_claims,
    .open = file_open,
    .close = file_close,
};

/* Maps the whole file FH read-write; NULL on failure (GetLastError). */
static void *map_whole(HANDLE fh, uint64_t size)
{
	HANDLE mh =
	    CreateFileMappingW(fh, NULL, PAGE_READWRITE, (DWORD)(size >> 32), (DWORD)size, NULL);
	void *base;
	DWORD e;

	if (!mh)
		return NULL;
	base = MapViewOfFile(mh, FILE_MAP_READ | FILE_MAP_WRITE, 0, 0, (SIZE_T)size);
	e = GetLastError();
	CloseHandle(mh);
	SetLastError(e);
	return base;
}

int vmshm_pool_create(const char *path, uint64_t size, uint32_t objects, unsigned flags)
{
	struct fmt_layout plan;
	LARGE_INTEGER len, pos;
	uint64_t magic = 0;
	WCHAR *wpath;
	HANDLE fh;
	DWORD got;
	void *base;
	int rc;

	if (!path || (flags & ~VMSHM_CREATE_FORCE))
		return VMSHM_EINVAL;
	rc = fmt_plan(size, objects, &plan);
	if (rc < 0)
		return rc;
	wpath = to_utf16(path);
	if (!wpath)
		return VMSHM_EINVAL;
	fh = CreateFileW(wpath, GENERIC_READ | GENERIC_WRITE,
			 FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
			 FILE_ATTRIBUTE_NORMAL, NULL);
	HeapFree(GetProcessHeap(), 0, wpath);
	if (fh == INVALID_HANDLE_VALUE)
		return file_err(GetLastError());
	/* Refuse to overwrite a formatted pool without FORCE. */
	if (GetFileSizeEx(fh, &len) && len.QuadPart >= (LONGLONG)sizeof magic &&
	    !(flags & VMSHM_CREATE_FORCE) && ReadFile(fh, &magic, sizeof magic, &got, NULL) &&
	    got == sizeof magic && magic == FMT_MAGIC) {
		CloseHandle(fh);
		return VMSHM_EEXISTS_FILE;
	}
	pos.QuadPart = (LONGLONG)size;
	if (!SetFilePointerEx(fh, pos, NULL, FILE_BEGIN) || !SetEndOfFile(fh)) {
		rc = file_err(GetLastError());
		CloseHandle(fh);
		return rc == VMSHM_ENOSPC ? rc : VMSHM_EIO;
	}
	base = map_whole(fh, size);
	rc = base ? 0 : file_err(GetLastError());
	CloseHandle(fh);
	if (!base)
		return rc == VMSHM_EPERM ? rc : VMSHM_ENOSPC;
	rc = vmshm_format(base, size, objects);
	FlushViewOfFile(base, 0);
	UnmapViewOfFile(base);
	return rc;
}
