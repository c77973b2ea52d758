/*
 * suites.c - a time limit for every suite: a test that hangs fails instead
 * of stopping `make test` (Criterion's --timeout option has no effect on
 * tests without their own .timeout; a suite's .timeout does). Tests that
 * need longer set their own .timeout.
 */
#include <criterion/criterion.h>

#define SUITE_TIMEOUT 120

TestSuite(check, .timeout = SUITE_TIMEOUT);
TestSuite(close, .timeout = SUITE_TIMEOUT);
TestSuite(corrupt, .timeout = SUITE_TIMEOUT);
TestSuite(crash, .timeout = SUITE_TIMEOUT);
TestSuite(create, .timeout = SUITE_TIMEOUT);
TestSuite(format, .timeout = SUITE_TIMEOUT);
TestSuite(fence, .timeout = SUITE_TIMEOUT);
TestSuite(hard, .timeout = SUITE_TIMEOUT);
TestSuite(liveness, .timeout = SUITE_TIMEOUT);
TestSuite(macros, .timeout = SUITE_TIMEOUT);
TestSuite(names, .timeout = SUITE_TIMEOUT);
TestSuite(native, .timeout = SUITE_TIMEOUT);
TestSuite(nopool, .timeout = SUITE_TIMEOUT);
TestSuite(open, .timeout = SUITE_TIMEOUT);
TestSuite(pool, .timeout = SUITE_TIMEOUT);
TestSuite(procs, .timeout = SUITE_TIMEOUT);
TestSuite(query, .timeout = SUITE_TIMEOUT);
TestSuite(races, .timeout = SUITE_TIMEOUT);
TestSuite(reclaim, .timeout = SUITE_TIMEOUT);
TestSuite(space, .timeout = SUITE_TIMEOUT);
TestSuite(stale, .timeout = SUITE_TIMEOUT);
TestSuite(sync_close, .timeout = SUITE_TIMEOUT);
TestSuite(sync_crash, .timeout = SUITE_TIMEOUT);
TestSuite(sync_event, .timeout = SUITE_TIMEOUT);
TestSuite(sync_mutex, .timeout = SUITE_TIMEOUT);
TestSuite(sync_procs, .timeout = SUITE_TIMEOUT);
TestSuite(sync_sem, .timeout = SUITE_TIMEOUT);
TestSuite(sync_wait, .timeout = SUITE_TIMEOUT);
TestSuite(threads, .timeout = SUITE_TIMEOUT);
