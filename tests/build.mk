# tests/build.mk - the Criterion suites of the pool directory and the RtApi
# calls (tests/unit/), run twice by `make test`:
#   unit-test   against $(LIBA), two Criterion jobs (2 cores);
#   asan-test   the suites and the library sources rebuilt with ASan+UBSan
#               (UBSan aborts on the first error) into $(BUILD)/asan/;
#   valgrind-test  one suite under valgrind memcheck;
#   exports-test   libvmshm.so exports exactly the public API;
#   tsan-test   threads of one process (RtApi and native peers) under TSan;
#   fuzz-test   a libFuzzer target over the pool image, a bounded run.
# Each unit test runs in its own process on its own pool under /dev/shm.

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_HDRS := $(wildcard tests/unit/*.h)
UNIT_HELPER_SRC := tests/unit/helper/helper.c
UNIT_LIBS := -lcriterion -lpciaccess -lpthread
UNIT_JOBS ?= 2
UNIT_ARGS ?=
# Time limits: every suite has one (tests/unit/suites.c).

UNIT_BIN := $(BUILD)/tests/unit-tests
UNIT_HELPER := $(BUILD)/tests/vmshm-test-helper
UNIT_OBJS := $(patsubst %.c,$(BUILD)/tests/obj/%.o,$(UNIT_SRCS))

$(BUILD)/tests/obj/%.o: %.c $(UNIT_HDRS) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(UNIT_BIN): $(UNIT_OBJS) $(LIBA)
	$(CC) $(ALL_CFLAGS) -o $@ $(UNIT_OBJS) $(LIBA) $(UNIT_LIBS)

$(UNIT_HELPER): $(UNIT_HELPER_SRC) $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) -lpciaccess -lpthread

.PHONY: unit-test exports-test asan-test valgrind-test tsan-test fuzz-test
unit-test: $(UNIT_BIN) $(UNIT_HELPER)
	$(UNIT_BIN) -j$(UNIT_JOBS) --short-filename $(UNIT_ARGS)

# The shared library exports exactly the functions of the public headers.
exports-test: $(LIBSO)
	@sh tests/unit/exports.sh $(LIBSO) include/vmshm.h include/RtApi.h

# ---- ASan + UBSan --------------------------------------------------------
ASAN_CC ?= $(CC)
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN_CFLAGS = $(BASE_CFLAGS) -O1 -g $(ASAN_FLAGS)
ASAN_DIR := $(BUILD)/asan
ASAN_LIB_OBJS := $(patsubst %.c,$(ASAN_DIR)/obj/%.o,$(LIB_SRCS))
ASAN_UNIT_OBJS := $(patsubst %.c,$(ASAN_DIR)/obj/%.o,$(UNIT_SRCS))
ASAN_LIBA := $(ASAN_DIR)/libvmshm.a
ASAN_BIN := $(ASAN_DIR)/unit-tests
ASAN_HELPER := $(ASAN_DIR)/vmshm-test-helper
# Leak checking stays off: the forked test workers exit through _exit().
ASAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=0:allow_user_segv_handler=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

$(ASAN_DIR)/obj/%.o: %.c $(UNIT_HDRS) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(ASAN_CC) $(ASAN_CFLAGS) -c $< -o $@

$(ASAN_LIBA): $(ASAN_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(ASAN_BIN): $(ASAN_UNIT_OBJS) $(ASAN_LIBA)
	$(ASAN_CC) $(ASAN_CFLAGS) -o $@ $(ASAN_UNIT_OBJS) $(ASAN_LIBA) $(UNIT_LIBS)

$(ASAN_HELPER): $(UNIT_HELPER_SRC) $(ASAN_LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(ASAN_CC) $(ASAN_CFLAGS) -o $@ $< $(ASAN_LIBA) -lpciaccess -lpthread

asan-test: $(ASAN_BIN) $(ASAN_HELPER)
	$(ASAN_ENV) $(ASAN_BIN) -j$(UNIT_JOBS) --short-filename $(UNIT_ARGS)

# ---- valgrind ----------------------------------------------------------------
# One suite (create: every create rule, space and directory full) under
# memcheck. Criterion ignores a worker's valgrind exit code, so every
# process logs to its own file and any non-empty log fails the step.
VALGRIND_SUITE ?= create/*
VALGRIND_DIR := $(BUILD)/valgrind

valgrind-test: $(UNIT_BIN) $(UNIT_HELPER)
	@rm -rf $(VALGRIND_DIR) && mkdir -p $(VALGRIND_DIR)
	@valgrind -q --trace-children=yes --error-exitcode=99 \
		--log-file=$(VALGRIND_DIR)/vg.%p.log $(UNIT_BIN) -j$(UNIT_JOBS) --short-filename \
		--filter '$(VALGRIND_SUITE)'; rc=$$?; \
	bad=$$(find $(VALGRIND_DIR) -name 'vg.*.log' -size +0 | wc -l); \
	if [ $$rc -ne 0 ] || [ $$bad -ne 0 ]; then \
		find $(VALGRIND_DIR) -name 'vg.*.log' -size +0 -exec head -40 {} \; ; \
		echo "valgrind-test: 0 passed, 1 failed (exit $$rc, $$bad processes with errors)"; \
		exit 1; \
	fi; \
	echo "valgrind-test: 1 passed, 0 failed"

TEST_STEPS += unit-test asan-test valgrind-test exports-test

# ---- ThreadSanitizer ----------------------------------------------------------
# TSan cannot run Criterion: a plain program (tests/tsan/) with RtApi and
# native threads on one pool, the library rebuilt with -fsanitize=thread.
TSAN_DIR := $(BUILD)/tsan
# -Wno-tsan: gcc warns that TSan does not model atomic_thread_fence; the
# library's only fences order relaxed atomic reads of a slot's name before
# the state word is read again (nothing that TSan checks rests on them).
TSAN_CFLAGS = $(BASE_CFLAGS) -O1 -g -fsanitize=thread -Wno-tsan
TSAN_LIB_OBJS := $(patsubst %.c,$(TSAN_DIR)/obj/%.o,$(LIB_SRCS))
TSAN_BIN := $(TSAN_DIR)/threads_tsan
TSAN_SYNC_BIN := $(TSAN_DIR)/sync_tsan

$(TSAN_DIR)/obj/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TSAN_CFLAGS) -c $< -o $@

$(TSAN_BIN): tests/tsan/threads_tsan.c tests/tsan/tsan_pool.h $(TSAN_LIB_OBJS)
	$(CC) $(TSAN_CFLAGS) -o $@ $< $(TSAN_LIB_OBJS) -lpciaccess -lpthread

$(TSAN_SYNC_BIN): tests/tsan/sync_tsan.c tests/tsan/tsan_pool.h $(TSAN_LIB_OBJS)
	$(CC) $(TSAN_CFLAGS) -o $@ $< $(TSAN_LIB_OBJS) -lpciaccess -lpthread

# A TSan report makes the program exit 66 even when its own checks pass.
tsan-test: $(TSAN_BIN) $(TSAN_SYNC_BIN)
	@for b in $(TSAN_BIN) $(TSAN_SYNC_BIN); do \
		TSAN_OPTIONS=exitcode=66 timeout 300 $$b; rc=$$?; \
		if [ $$rc -ne 0 ]; then echo "tsan-test: 0 passed, 1 failed ($$b: exit $$rc)"; exit 1; fi; \
	done

# ---- libFuzzer over the pool image ---------------------------------------
FUZZ_CC ?= clang
FUZZ_DIR := $(BUILD)/fuzz
FUZZ_CFLAGS = $(BASE_CFLAGS) -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRCS))
FUZZ_BIN := $(FUZZ_DIR)/pool_fuzz
FUZZ_RUNS ?= 20000
FUZZ_SECONDS ?= 90

$(FUZZ_DIR)/obj/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ_BIN): tests/fuzz/pool_fuzz.c $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_OBJS) \
		-lpciaccess -lpthread

# A fixed seed and a bounded run; a crash, hang, leak or sanitizer report
# fails the step and leaves the input in $(FUZZ_DIR)/artifacts/.
fuzz-test: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_DIR)/artifacts
	@if VMSHM_FUZZ_DIR=$(FUZZ_DIR) timeout 600 $(FUZZ_BIN) -seed=1 -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS) -max_len=2048 \
		-timeout=20 -artifact_prefix=$(FUZZ_DIR)/artifacts/ >$(FUZZ_DIR)/log 2>&1; then \
		grep -E '^Done [0-9]+ runs' $(FUZZ_DIR)/log; echo "fuzz-test: 1 passed, 0 failed"; \
	else \
		tail -40 $(FUZZ_DIR)/log; echo "fuzz-test: 0 passed, 1 failed"; exit 1; \
	fi

TEST_STEPS += tsan-test fuzz-test
