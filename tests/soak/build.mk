# tests/soak/build.mk - `make soak` (not part of `make test`): SIGKILLs of
# create/open/close workers on one pool by the thousand, with reclaim and the
# check between rounds (tests/soak/soak.c; docs/SOAK.md has the method and
# the figures). SOAK_KILLS, SOAK_WORKERS, SOAK_CHECK_EVERY and SOAK_SEED are
# read from the environment; SOAK_TIMEOUT (seconds) bounds the whole run.

SOAK_BIN := $(BUILD)/tests/vmshm-soak
SOAK_OBJS := $(BUILD)/tests/obj/tests/soak/soak.o $(BUILD)/tests/obj/tests/unit/helpers.o
SOAK_TIMEOUT ?= 7200

$(BUILD)/tests/obj/tests/soak/soak.o: tests/soak/soak.c $(UNIT_HDRS) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -c $< -o $@

$(SOAK_BIN): $(SOAK_OBJS) $(LIBA)
	$(CC) $(ALL_CFLAGS) -o $@ $(SOAK_OBJS) $(LIBA) $(UNIT_LIBS)

.PHONY: soak
soak: $(SOAK_BIN)
	@if timeout $(SOAK_TIMEOUT) $(SOAK_BIN) --short-filename; then \
		echo "soak: 1 passed, 0 failed"; \
	else \
		echo "soak: 0 passed, 1 failed"; exit 1; \
	fi
