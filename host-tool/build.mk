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

.PHONY: cli install-cli uninstall-cli cli-test
all: $(CLI_BIN)
cli: $(CLI_BIN)

$(BUILD)/obj/host-tool/%.o: host-tool/%.c $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ihost-tool -c $< -o $@

# Only notify.o knows libsystemd; notify-nosd.o is for static builds.
$(BUILD)/obj/host-tool/notify.o: host-tool/notify.c $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CLI_DEFS) -Ihost-tool -c $< -o $@

$(BUILD)/obj/host-tool/notify-nosd.o: host-tool/notify.c $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ihost-tool -c $< -o $@

$(CLI_BIN): $(CLI_OBJS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIBA) $(LIB_LIBS) $(SYSTEMD_LIBS)

$(BUILD)/tests/cli/%: tests/cli/%.c $(LIBA) include/vmshm.h include/RtApi.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(LIB_LIBS)

# systemd: the units with the installed path of vmshm, the system user.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
UNITS := vmshm-pool@.service vmshm-serve@.service
UNIT_SED = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g'

CLI_INSTALLED = $(BINDIR)/vmshm $(MANDIR)/man1/vmshm.1 $(addprefix $(SYSTEMDUNITDIR)/,$(UNITS)) \
	$(SYSUSERSDIR)/vmshm.conf $(DATADIR)/vmshm/pool.conf.example $(BASHCOMPDIR)/vmshm

install-cli: $(CLI_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR)/vmshm $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(CLI_BIN) $(DESTDIR)$(BINDIR)/vmshm
	install -m 644 host-tool/vmshm.1 $(DESTDIR)$(MANDIR)/man1/vmshm.1
	for u in $(UNITS); do $(UNIT_SED) host-tool/systemd/$$u.in > $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
		chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; done
	install -m 644 host-tool/systemd/vmshm.sysusers $(DESTDIR)$(SYSUSERSDIR)/vmshm.conf
	install -m 644 host-tool/systemd/pool.conf.example $(DESTDIR)$(DATADIR)/vmshm/
	install -m 644 host-tool/vmshm.bash-completion $(DESTDIR)$(BASHCOMPDIR)/vmshm

uninstall-cli:
	rm -f $(addprefix $(DESTDIR),$(CLI_INSTALLED))
	-rmdir $(DESTDIR)$(DATADIR)/vmshm 2>/dev/null

uninstall: uninstall-cli
install: install-cli

TEST_STEPS += cli-test
cli-test: $(CLI_BIN) $(CLI_TEST_BINS)
	python3 tests/cli/run.py --build $(BUILD)
