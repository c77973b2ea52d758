# vm-images/build.mk - the guest initramfs and the two-guest targets:
#   make vm-image   kernel, driver, guest programs and initramfs under $(BUILD)/vm
#   make vm-test    the QEMU two-guest harness (a step of `make test`)
#   make demo       two guests share a region through the RtApi calls

# (guest-driver/build.mk, included after this file, builds these.)
VM_DIR := $(BUILD)/vm
GUEST_KO := $(BUILD)/guest-driver/vmshm_uio.ko
GUEST_KO_612 := $(BUILD)/guest-driver-612/vmshm_uio.ko
GUEST_KO_RT := $(BUILD)/guest-driver-rt/vmshm_uio.ko
VM_KVER_STAMP := $(VM_DIR)/kver
VM_INITRD := $(VM_DIR)/initramfs.cpio
VM_GUEST := $(BUILD)/vm/bin/vmguest
VM_HOSTCTL := $(BUILD)/vm/bin/hostctl
VM_GUEST_CLI := $(BUILD)/vm/bin/vmshm
VM_SCENARIOS := $(wildcard tests/vm/scenarios/*)
VM_CLI := $(BUILD)/bin/vmshm

.PHONY: vm-image vm-test demo
vm-image: $(VM_INITRD) $(VM_HOSTCTL)

# Guest programs are static: the initramfs has no C library.
$(VM_GUEST): tests/vm/vmguest.c $(LIBA) include/RtApi.h include/vmshm.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -static -o $@ $< $(LIBA) -lpciaccess -lz -lpthread

# The vmshm command inside the guests (`vmshm pool info` there reports the
# memory type of a guest's mapping), static like vmguest.
# (without libsystemd: notify-nosd.o)
VM_CLI_OBJS = $(filter-out %/notify.o,$(CLI_OBJS)) $(BUILD)/obj/host-tool/notify-nosd.o
$(VM_GUEST_CLI): $(VM_CLI_OBJS) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -static -o $@ $(VM_CLI_OBJS) $(LIBA) -lpciaccess -lz -lpthread

$(VM_HOSTCTL): tests/vm/hostctl.c $(LIBA) include/vmshm.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBA) $(LIB_LIBS)

# One initramfs for the three guest kernels (guest-driver/build.mk): the
# modules of each sit in /lib/modules/KVER/.
$(VM_INITRD): vm-images/mkinitramfs.sh vm-images/init $(GUEST_KO) $(GUEST_KO_612) $(GUEST_KO_RT) \
		$(VM_GUEST) $(VM_GUEST_CLI) $(VM_SCENARIOS)
	sh vm-images/mkinitramfs.sh $@ $(VM_DIR):$(GUEST_KO) $(BUILD)/vm-612:$(GUEST_KO_612) \
		$(BUILD)/vm-rt:$(GUEST_KO_RT) $(VM_GUEST)=bin/vmguest $(VM_GUEST_CLI)=bin/vmshm \
		$(foreach s,$(VM_SCENARIOS),$(s)=scenarios/$(notdir $(s)))

# The same initramfs with Debian's udevd appended (a second cpio archive):
# the driver scenario checks the udev rule with it.
$(VM_DIR)/udev.cpio: vm-images/udev.sh guest-driver/99-vmshm-uio.rules $(VM_KVER_STAMP)
	sh vm-images/udev.sh $@ $(VM_DIR) guest-driver/99-vmshm-uio.rules

$(VM_DIR)/initramfs-udev.cpio: $(VM_INITRD) $(VM_DIR)/udev.cpio
	cat $^ >$@.tmp && mv $@.tmp $@

vm-image: $(VM_DIR)/initramfs-udev.cpio $(GUEST_DKMS_OK)

TEST_STEPS += vm-test
vm-test: check-deps $(VM_INITRD) $(VM_DIR)/initramfs-udev.cpio $(VM_HOSTCTL) $(VM_CLI)
	python3 tests/vm/harness.py --build $(BUILD)

demo: check-deps $(VM_INITRD) $(VM_HOSTCTL) $(VM_CLI)
	python3 tests/vm/harness.py --build $(BUILD) --demo
