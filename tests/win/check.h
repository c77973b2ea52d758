/*
 * check.h - a tiny test harness for the Windows test programs (Criterion
 * does not build for mingw) and for the Linux half of the cross-OS test.
 * CHECK counts a pass or prints the failed condition with its location;
 * check_summary() prints the closing "N passed, M failed" line.
 */
#ifndef VMSHM_TEST_CHECK_H
#define VMSHM_TEST_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;
static const char *check_side = "";

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			printf("%sFAIL %s:%d: %s: ", check_side, __FILE__, __LINE__, #cond);       \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			fflush(stdout);                                                            \
		}                                                                                  \
	} while (0)

/* Checks that a call failed with exactly the Win32 error ERR. */
#define CHECK_ERR(got, err, what)                                                                  \
	CHECK((got) == (err), "%s: GetLastError() = %lu, want %lu", (what), (unsigned long)(got),  \
	      (unsigned long)(err))

static int check_summary(void)
{
	printf("%s%d passed, %d failed\n", check_side, check_passed, check_failed);
	fflush(stdout);
	return check_failed ? 1 : 0;
}

#endif
