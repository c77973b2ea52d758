/*
 * test_ansi.c - without UNICODE, RtCreateSharedMemory and
 * RtOpenSharedMemory are the A calls.
 */
#undef UNICODE
#include "aw.h"

_Static_assert(_Generic(&RtCreateSharedMemory, HANDLE (*)(DWORD, DWORD, DWORD, LPCSTR, VOID **) : 1,
			default : 0),
	       "RtCreateSharedMemory is not the A call without UNICODE");
_Static_assert(_Generic(&RtOpenSharedMemory, HANDLE (*)(DWORD, BOOL, LPCSTR, VOID **) : 1,
			default : 0),
	       "RtOpenSharedMemory is not the A call without UNICODE");

Test(macros, ansi_means_a, .init = tp_setup, .fini = tp_teardown)
{
	void *l1 = NULL, *l2 = NULL;
	HANDLE h = RtCreateSharedMemory(PAGE_READWRITE, 0, 4096, "narrow-\xc3\xa9", &l1);
	HANDLE o;

	assert_ok(h, 0, "RtCreateSharedMemory without UNICODE");
	o = RtOpenSharedMemoryW(SHM_MAP_READ, FALSE, u"narrow-\u00e9", &l2);
	assert_ok(o, 0, "the W call finds the A name");
	cr_assert(RtCloseHandle(o));
	cr_assert(RtCloseHandle(h));
}
