# bench/build.mk - `make bench`: the benchmark of issue 2 (bench/shm_bench.c),
# RtApi calls on a vmshm pool vs POSIX shared memory; docs/BENCHMARKS.md has
# the method and the results. BENCH_ARGS passes options (e.g. -n 20000,
# --no-strace).

BENCH_BIN := $(BUILD)/bench/shm_bench
BENCH_ARGS ?=

$(BENCH_BIN): bench/shm_bench.c $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/shm_bench.c $(LIBA) -lpciaccess -lpthread -lrt

.PHONY: bench-shm
bench-shm: $(BENCH_BIN)
	$(BENCH_BIN) $(BENCH_ARGS)

BENCH_STEPS += bench-shm

# `vmshm check` on 2^17 and 2^20 slots (bench/check_bench.c): the time of
# one check of a well-filled directory, a figure for issue 8 (item 14).
CHECK_BENCH_BIN := $(BUILD)/bench/check_bench

$(CHECK_BENCH_BIN): bench/check_bench.c $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/check_bench.c $(LIBA) -lpciaccess -lpthread

.PHONY: bench-check
bench-check: $(CHECK_BENCH_BIN)
	$(CHECK_BENCH_BIN)

BENCH_STEPS += bench-check

# Events, mutexes and semaphores (issue 10, bench/sync_bench.c): host
# processes, vmshm vs POSIX semaphores, a pthread condition variable and a
# robust pthread mutex. SYNC_BENCH_ARGS passes options (-n, --no-strace).
SYNC_BENCH_BIN := $(BUILD)/bench/sync_bench
SYNC_BENCH_ARGS ?=

$(SYNC_BENCH_BIN): bench/sync_bench.c $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ bench/sync_bench.c $(LIBA) -lpciaccess -lpthread -lrt

.PHONY: bench-sync
bench-sync: $(SYNC_BENCH_BIN)
	$(SYNC_BENCH_BIN) $(SYNC_BENCH_ARGS)

BENCH_STEPS += bench-sync
