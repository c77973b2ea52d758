# windows.mk - the Windows side: RtApi.dll cross-built with mingw-w64, its
# test programs, and `make win-test` (runs them under Wine against Linux peers).
#
#   make windows    build/win/RtApi.dll, libRtApi.dll.a, RtApi.def, *.exe
#   make win-test   the Windows tests under Wine (skips when mingw or wine is missing)

WIN_CC ?= x86_64-w64-mingw32-gcc
WIN_BUILD := $(BUILD)/win
# The same flags as the Linux build; the DLL's objects export RtApi.h's calls.
WIN_CFLAGS = $(ALL_CFLAGS) -DVMSHM_BUILDING_DLL
WIN_LIBS := -static-libgcc -lsetupapi -lbcrypt -ladvapi32 -lshell32 -lole32 -luuid

WIN_LIB_SRCS := $(LIB_COMMON) $(LIB_WIN)
WIN_LIB_OBJS := $(patsubst %.c,$(WIN_BUILD)/obj/%.o,$(WIN_LIB_SRCS))
WIN_DLL := $(WIN_BUILD)/RtApi.dll
WIN_IMPLIB := $(WIN_BUILD)/libRtApi.dll.a
WIN_DEF := $(WIN_BUILD)/RtApi.def
WIN_TEST_EXES := $(WIN_BUILD)/rtapi_test.exe $(WIN_BUILD)/xos.exe $(WIN_BUILD)/ivshmem_test.exe \
	$(WIN_BUILD)/ivorder_test.exe $(WIN_BUILD)/hostile_test.exe $(WIN_BUILD)/ivdrv_test.exe \
	$(WIN_BUILD)/plat_test.exe $(WIN_BUILD)/xsync.exe \
	$(WIN_BUILD)/sync_test.exe
# The Linux half of the cross-OS test: the same xos.c, linked to libvmshm.a.
WIN_XOS_LINUX := $(WIN_BUILD)/xos-linux
# ... and of the cross-OS events and mutex test (tests/win/xsync.c).
WIN_XSYNC_LINUX := $(WIN_BUILD)/xsync-linux

.PHONY: windows win-test
windows: $(WIN_DLL) $(WIN_IMPLIB) $(WIN_DEF) $(WIN_TEST_EXES)

$(WIN_BUILD)/obj/%.o: %.c $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) -c $< -o $@

# The exports: every call of RtApi.h and vmshm.h, read from the headers so
# the list cannot drift from them.
$(WIN_DEF): include/RtApi.h include/vmshm.h windows.mk
	@mkdir -p $(dir $@)
	{ echo 'LIBRARY RtApi.dll'; echo 'EXPORTS'; \
	  sed -n 's/^RTAPI_EXPORT [^(]* WINAPI \(Rt[A-Za-z]*\)(.*/\t\1/p' include/RtApi.h; \
	  sed -n 's/^VMSHM_API [^(]*[ *]\(vmshm_[a-z0-9_]*\)(.*/\t\1/p' include/vmshm.h; \
	} > $@.tmp && mv $@.tmp $@

$(WIN_DLL) $(WIN_IMPLIB) &: $(WIN_LIB_OBJS) $(WIN_DEF)
	$(WIN_CC) -shared -o $(WIN_DLL) $(WIN_LIB_OBJS) $(WIN_DEF) \
		-Wl,--out-implib,$(WIN_IMPLIB) $(WIN_LIBS)

$(WIN_BUILD)/%.exe: tests/win/%.c tests/win/check.h tests/win/spawn.h $(WIN_IMPLIB) $(LIB_HDRS) $(LIB_WIN)
	@mkdir -p $(dir $@)
	$(WIN_CC) $(ALL_CFLAGS) -Itests/win -o $@ $< $(WIN_IMPLIB) $(WIN_LIBS)

# The ivshmem backend over a fake driver: the library's objects but that
# backend's, which the test compiles in with IVSHMEM_FAKE_DRIVER.
$(WIN_BUILD)/ivdrv_test.exe: tests/win/ivdrv_test.c tests/win/check.h tests/win/spawn.h $(WIN_LIB_OBJS) $(LIB_HDRS) \
		lib/backends/ivshmem_win32.c
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) -Itests/win -o $@ $< \
		$(filter-out %/ivshmem_win32.o,$(WIN_LIB_OBJS)) $(WIN_LIBS)

$(WIN_XOS_LINUX): tests/win/xos.c tests/win/check.h $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/win -o $@ $< $(LIBA) $(LIB_LIBS)

$(WIN_XSYNC_LINUX): tests/win/xsync.c tests/win/check.h $(LIBA) $(LIB_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/win -o $@ $< $(LIBA) $(LIB_LIBS)

TEST_STEPS += win-test
win-test:
	@if ! command -v $(WIN_CC) >/dev/null 2>&1; then \
		echo "win-test: skipped: $(WIN_CC) not found (scripts/deps.sh installs mingw-w64)"; \
		exit 0; fi; \
	if ! command -v wine >/dev/null 2>&1 || ! command -v wineserver >/dev/null 2>&1; then \
		echo "win-test: skipped: wine not found (scripts/deps.sh installs wine)"; exit 0; fi; \
	$(MAKE) --no-print-directory windows $(WIN_XOS_LINUX) $(WIN_XSYNC_LINUX) >/dev/null || \
		{ echo "win-test: build failed (run make windows)"; echo "0 passed, 1 failed"; exit 1; }; \
	sh tests/win/run.sh $(WIN_BUILD)
