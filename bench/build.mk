# bench/build.mk - `make bench`: the benchmarks of issues 2 and 12
# (bench/shm_bench.c), RtApi calls on a vmshm pool vs POSIX shared memory and
# vs Boost.Interprocess (bench/boost_peer.cpp, the only C++, built with
# $(CXX) and linked into the benchmark alone); docs/BENCHMARKS.md has the
# method and the results. BENCH_ARGS passes options (e.g. -n 20000,
# --no-strace).

CXX ?= g++
BENCH_CXXFLAGS := -std=c++14 -O2 -g -Wall -Wextra -Werror
BENCH_BIN := $(BUILD)/bench/shm_bench
BENCH_ARGS ?=
BOOST_PEER_OBJ := $(BUILD)/bench/boost_peer.o

$(BOOST_PEER_OBJ): bench/boost_peer.cpp bench/boost_peer.h
	@mkdir -p $(dir $@)
	$(CXX) $(BENCH_CXXFLAGS) -c $< -o $@

$(BENCH_BIN): bench/shm_bench.c bench/boost_peer.h $(BOOST_PEER_OBJ) $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ibench -c -o $@.o bench/shm_bench.c
	$(CXX) -o $@ $@.o $(BOOST_PEER_OBJ) $(LIBA) -lpciaccess -lpthread -lrt

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
# Contention (bench/contention.c): 1, 2 and 4 processes or threads opening
# and closing one name or a name each, and Boost.Interprocess's find in the
# same shapes (bench/boost_peer.cpp); linked with a bench build of the
# library whose counters (-DVMSHM_BENCH_COUNTERS) count the compare-and-swap
# retries of each call. The normal library has no counters.
BENCH_LIB_DIR := $(BUILD)/bench-lib
BENCH_LIB_OBJS := $(patsubst %.c,$(BENCH_LIB_DIR)/obj/%.o,$(LIB_SRCS))
BENCH_LIBA := $(BENCH_LIB_DIR)/libvmshm-counters.a
CONTENTION_BIN := $(BUILD)/bench/contention
CONTENTION_ARGS ?=

$(BENCH_LIB_DIR)/obj/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_OPT) -DVMSHM_BENCH_COUNTERS -c $< -o $@

$(BENCH_LIBA): $(BENCH_LIB_OBJS)
	@rm -f $@
	$(LIB_AR) rcs $@ $^

$(CONTENTION_BIN): bench/contention.c bench/boost_peer.h $(BOOST_PEER_OBJ) $(BENCH_LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ibench -c -o $@.o bench/contention.c
	$(CXX) -o $@ $@.o $(BOOST_PEER_OBJ) $(BENCH_LIBA) -lpciaccess -lpthread -lrt

.PHONY: bench-contention
bench-contention: $(CONTENTION_BIN)
	$(CONTENTION_BIN) $(CONTENTION_ARGS)

BENCH_STEPS += bench-contention

# The loop that docs/BENCHMARKS.md profiles with perf (not run by make bench).
HOT_LOOP_BIN := $(BUILD)/bench/hot_loop

$(HOT_LOOP_BIN): bench/hot_loop.c bench/boost_peer.h $(BOOST_PEER_OBJ) $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ibench -c -o $@.o bench/hot_loop.c
	$(CXX) -o $@ $@.o $(BOOST_PEER_OBJ) $(LIBA) -lpciaccess -lpthread -lrt

bench-shm: $(HOT_LOOP_BIN)
