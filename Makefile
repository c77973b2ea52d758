# vmshm - top-level build. `make` builds libvmshm and the vmshm CLI into build/;
# `make test` runs every test; `make demo` runs the two-guest demo; `make bench`
# runs the benchmarks; `make soak` the long crash soak (not in `make test`).
# Each folder adds its own rules through a build.mk.

CC ?= cc
BUILD ?= build
# The library's version, from include/vmshm.h.
VERSION := $(shell sed -n 's/^\#define VMSHM_VERSION_[A-Z]* *//p' include/vmshm.h | paste -sd.)

# Installation directories (GNU names); LIBDIR is the multiarch one when the
# compiler names one (Debian: lib/x86_64-linux-gnu).
PREFIX ?= /usr/local
DESTDIR ?=
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

# A packager's CPPFLAGS, CFLAGS and LDFLAGS are used as given. -Werror is for
# the project's own checks only: `make test` sets WERROR (a packager's newer
# compiler may warn where this one does not).
WERROR ?=
WARN = -Wall -Wextra $(WERROR)
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Ilib
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(BASE_CFLAGS) $(CPPFLAGS) $(CFLAGS)
# The library's own optimisation, after CFLAGS: link-time optimisation lets
# the hot calls (open, close: rtapi.c -> obj.c -> dir.c) inline across files
# as one function; the objects stay fat, so a program linked without -flto
# still links. In the shared library, calls between its own exported
# functions go straight (no PLT), and its thread-local words are reached
# without __tls_get_addr (initial-exec: a few bytes, which glibc's static
# TLS reserve holds even for a dlopen). docs/BENCHMARKS.md has the figures.
# A packager may set LIB_OPT empty; LIB_AR must understand LTO objects.
LIB_OPT ?= -O3 -flto=auto -ffat-lto-objects
LIB_PIC_OPT ?= -fno-semantic-interposition -ftls-model=initial-exec
LIB_AR ?= gcc-ar

# lib/: common sources build for every OS; *_posix.c / *_linux.c only on
# Linux, *_win32.c only on Windows.
LIB_ALL := $(wildcard lib/*.c lib/backends/*.c)
LIB_WIN := $(filter %_win32.c,$(LIB_ALL))
LIB_LINUX := $(filter %_posix.c %_linux.c,$(LIB_ALL))
LIB_COMMON := $(filter-out $(LIB_WIN) $(LIB_LINUX),$(LIB_ALL))
LIB_SRCS := $(LIB_COMMON) $(LIB_LINUX)
LIB_HDRS := $(wildcard include/*.h lib/*.h lib/backends/*.h)
LIB_LIBS := -lpciaccess -lpthread

LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
LIB_PIC_OBJS := $(patsubst %.c,$(BUILD)/pic/%.o,$(LIB_SRCS))
LIBA := $(BUILD)/libvmshm.a
LIBSO := $(BUILD)/libvmshm.so.1
LIBSO_LINK := $(BUILD)/libvmshm.so

.PHONY: all lib install uninstall test check-deps bench demo clean format FORCE
FORCE:
all: lib

lib: $(LIBA) $(LIBSO_LINK)

$(BUILD)/obj/lib/%.o: lib/%.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_OPT) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIB_OPT) $(LIB_PIC_OPT) -fPIC -fvisibility=hidden -c $< -o $@

$(LIBA): $(LIB_OBJS)
	@rm -f $@
	$(LIB_AR) rcs $@ $^

$(LIBSO): $(LIB_PIC_OBJS) lib/libvmshm.map
	$(CC) $(CFLAGS) $(LIB_OPT) $(LDFLAGS) -shared -Wl,-soname,libvmshm.so.1 \
		-Wl,--version-script=lib/libvmshm.map -o $@ $(LIB_PIC_OBJS) $(LIB_LIBS)

$(LIBSO_LINK): $(LIBSO)
	ln -sf libvmshm.so.1 $@

# Made again by every install: it records PREFIX and LIBDIR, which change
# from one `make install` to the next without any file changing.
$(BUILD)/vmshm.pc: lib/vmshm.pc.in Makefile FORCE
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

# Installs the missing Debian packages (root) or names them (not root).
check-deps:
	@sh scripts/deps.sh

# RTX sources spell the header <RtApi.h>, "Rtapi.h" or <rtapi.h>: on Linux,
# where names are case-sensitive, the other spellings are links to RtApi.h
# (made at install, so that a case-insensitive checkout is not troubled).
RTAPI_SPELLINGS := rtapi.h Rtapi.h RTAPI.h
INSTALLED_FILES = $(INCLUDEDIR)/RtApi.h $(INCLUDEDIR)/vmshm.h \
	$(addprefix $(INCLUDEDIR)/,$(RTAPI_SPELLINGS)) $(LIBDIR)/libvmshm.a \
	$(LIBDIR)/libvmshm.so.1 $(LIBDIR)/libvmshm.so $(PKGCONFIGDIR)/vmshm.pc

install: lib $(BUILD)/vmshm.pc $(INSTALL_EXTRA)
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 include/RtApi.h include/vmshm.h $(DESTDIR)$(INCLUDEDIR)/
	for h in $(RTAPI_SPELLINGS); do ln -sf RtApi.h $(DESTDIR)$(INCLUDEDIR)/$$h; done
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIBSO) $(DESTDIR)$(LIBDIR)/
	ln -sf libvmshm.so.1 $(DESTDIR)$(LIBDIR)/libvmshm.so
	install -m 644 $(BUILD)/vmshm.pc $(DESTDIR)$(PKGCONFIGDIR)/

# Removes what `make install` installed (same PREFIX, DESTDIR and dirs).
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))

# Each build.mk appends its steps: TEST_STEPS run in order by `make test`.
TEST_STEPS :=
BENCH_STEPS :=
-include tests/build.mk
-include tests/soak/build.mk
-include tests/model/build.mk
-include host-tool/build.mk
-include bench/build.mk
-include vm-images/build.mk
-include guest-driver/build.mk
-include windows.mk
-include man/build.mk

# `make test`: every test, after installing what is missing. Each step runs
# even if an earlier one failed; the summary names the failed steps.
test: check-deps
	@failed=""; npass=0; nfail=0; for s in $(TEST_STEPS); do \
		echo "=== make $$s"; \
		if $(MAKE) --no-print-directory WERROR=-Werror $$s; then npass=$$((npass + 1)); \
		else failed="$$failed $$s"; nfail=$$((nfail + 1)); fi; \
	done; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; \
	else echo "make test: all steps passed ($(TEST_STEPS))"; fi; \
	echo "steps: $$npass passed, $$nfail failed"; \
	[ -z "$$failed" ]

bench: check-deps
	@for s in $(BENCH_STEPS); do $(MAKE) --no-print-directory $$s || exit 1; done

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')
