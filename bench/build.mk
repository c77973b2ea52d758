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
