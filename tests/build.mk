# tests/build.mk - the Criterion suites of the pool directory and the RtApi
# calls (tests/unit/), run twice by `make test`:
#   unit-test   against $(LIBA), two Criterion jobs (2 cores);
#   asan-test   the suites and the library sources rebuilt with ASan+UBSan
#               (UBSan aborts on the first error) into $(BUILD)/asan/;
#   fuzz-test   a libFuzzer target over the pool image, a bounded run.
# Each unit test runs in its own process on its own pool under /dev/shm.

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_HDRS := $(wildcard tests/unit/*.h)
UNIT_HELPER_SRC := tests/unit/helper/helper.c
UNIT_LIBS := -lcriterion -lpciaccess -lpthread
UNIT_JOBS ?= 2
UNIT_ARGS ?=

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

.PHONY: unit-test asan-test fuzz-test
unit-test: $(UNIT_BIN) $(UNIT_HELPER)
	$(UNIT_BIN) -j$(UNIT_JOBS) --short-filename $(UNIT_ARGS)

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

TEST_STEPS += unit-test asan-test
