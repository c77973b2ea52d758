# host-tool/build.mk - the vmshm command (build/bin/vmshm), its man page, and
# the CLI test suite (tests/cli/, step cli-test of `make test`).

CLI_SRCS := $(wildcard host-tool/*.c)
CLI_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CLI_SRCS))
CLI_HDRS := $(wildcard host-tool/*.h) include/vmshm.h
CLI_BIN := $(BUILD)/bin/vmshm
# sd_notify for `vmshm serve` under systemd (Type=notify), if libsystemd is there.
SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null)
CLI_DEFS := $(if $(SYSTEMD_LIBS),-DVMSHM_HAVE_SYSTEMD)

CLI_TEST_BINS := $(BUILD)/tests/cli/rtpeer $(BUILD)/tests/cli/dbclient

.PHONY: cli install-cli cli-test
all: $(CLI_BIN)
cli: $(CLI_BIN)

$(BUILD)/obj/host-tool/%.o: host-tool/%.c $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CLI_DEFS) -Ihost-tool -c $< -o $@

$(CLI_BIN): $(CLI_OBJS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJS) $(LIBA) $(LIB_LIBS) $(SYSTEMD_LIBS)

$(BUILD)/tests/cli/%: tests/cli/%.c $(LIBA) include/vmshm.h include/RtApi.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(LIB_LIBS)

install-cli: $(CLI_BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/vmshm
	install -m 644 host-tool/vmshm.1 $(DESTDIR)$(PREFIX)/share/man/man1/vmshm.1

install: install-cli

TEST_STEPS += cli-test
cli-test: $(CLI_BIN) $(CLI_TEST_BINS)
	python3 tests/cli/run.py --build $(BUILD)
