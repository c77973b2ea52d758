/*
 * aw.h - one test body, two Criterion tests: one through the A calls, one
 * through the W calls. Each runs in its own process on its own pool.
 */
#ifndef VMSHM_TEST_AW_H
#define VMSHM_TEST_AW_H

#include <criterion/criterion.h>

#include "helpers.h"

#define AW_TEST(suite, name)                                                                       \
	static void suite##_##name##_body(int mode);                                               \
	Test(suite, name##_A, .init = tp_setup, .fini = tp_teardown)                               \
	{                                                                                          \
		suite##_##name##_body(MODE_A);                                                     \
	}                                                                                          \
	Test(suite, name##_W, .init = tp_setup, .fini = tp_teardown)                               \
	{                                                                                          \
		suite##_##name##_body(MODE_W);                                                     \
	}                                                                                          \
	static void suite##_##name##_body(int mode)

/* Asserts a failed call: NULL handle and the exact last error. */
#define assert_fails(h, err, what)                                                                 \
	do {                                                                                       \
		HANDLE h_ = (h);                                                                   \
		DWORD e_ = GetLastError();                                                         \
		cr_assert_null(h_, "%s: returned a handle, expected error %ld", (what),            \
			       (long)(err));                                                       \
		cr_assert_eq(e_, (DWORD)(err), "%s: GetLastError() = %u, expected %ld", (what),    \
			     (unsigned)e_, (long)(err));                                           \
	} while (0)

/* Asserts a successful call: a handle and the exact last error (0 or 183). */
#define assert_ok(h, err, what)                                                                    \
	do {                                                                                       \
		DWORD e_ = GetLastError();                                                         \
		cr_assert_not_null((h), "%s: NULL, GetLastError() = %u", (what), (unsigned)e_);    \
		cr_assert_eq(e_, (DWORD)(err), "%s: GetLastError() = %u, expected %ld", (what),    \
			     (unsigned)e_, (long)(err));                                           \
	} while (0)

#define MODE_NAME(mode) ((mode) == MODE_W ? "W" : "A")

#endif
