/*
 * test_unicode.c - with UNICODE defined, RtCreateSharedMemory and
 * RtOpenSharedMemory are the W calls (test_ansi.c: without, the A calls),
 * checked at compile time and at run time.
 */
#define UNICODE 1
#include "aw.h"

_Static_assert(_Generic(&RtCreateSharedMemory,
			HANDLE (*)(DWORD, DWORD, DWORD, LPCWSTR, VOID **) : 1, default : 0),
	       "RtCreateSharedMemory is not the W call under UNICODE");
_Static_assert(_Generic(&RtOpenSharedMemory, HANDLE (*)(DWORD, BOOL, LPCWSTR, VOID **) : 1,
			default : 0),
	       "RtOpenSharedMemory is not the W call under UNICODE");
_Static_assert(sizeof(WCHAR) == 2, "WCHAR is one UTF-16 code unit");

Test(macros, unicode_means_w, .init = tp_setup, .fini = tp_teardown)
{
	void *l1 = NULL, *l2 = NULL;
	HANDLE h = RtCreateSharedMemory(PAGE_READWRITE, 0, 4096, u"wide-\u00e9", &l1);
	HANDLE o;

	assert_ok(h, 0, "RtCreateSharedMemory under UNICODE");
	o = RtOpenSharedMemoryA(SHM_MAP_READ, FALSE, "wide-\xc3\xa9", &l2);
	assert_ok(o, 0, "the A call finds the UNICODE name");
	cr_assert(RtCloseHandle(o));
	o = RtOpenSharedMemory(SHM_MAP_READ, FALSE, u"wide-\u00e9", &l2);
	assert_ok(o, 0, "RtOpenSharedMemory under UNICODE");
	cr_assert(RtCloseHandle(o));
	cr_assert(RtCloseHandle(h));
	cr_assert_eq(RtGetLastError(), 0);
}
