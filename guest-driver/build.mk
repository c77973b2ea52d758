# guest-driver/build.mk - the vmshm UIO driver, built out of tree against the
# guest kernels' Debian headers (vm-images/kernel.sh fetches them):
#   build/vm      Debian 12's kernel (6.1)        -> build/guest-driver/vmshm_uio.ko
#   build/vm-612  Debian 12's 6.12                -> build/guest-driver-612/vmshm_uio.ko
#   build/vm-rt   Debian 12's 6.12 with PREEMPT_RT -> build/guest-driver-rt/vmshm_uio.ko
# Each build is W=1 and must be clean: a warning, an error or a missing
# module fails the make (and no module of an earlier build survives it).

VM_DIR := $(BUILD)/vm
VM_KVER_STAMP := $(VM_DIR)/kver
GUEST_KO := $(BUILD)/guest-driver/vmshm_uio.ko
GUEST_KO_612 := $(BUILD)/guest-driver-612/vmshm_uio.ko
GUEST_KO_RT := $(BUILD)/guest-driver-rt/vmshm_uio.ko

GUEST_DKMS_OK := $(BUILD)/guest-driver-dkms/ok

.PHONY: guest-driver vm-kernel
guest-driver: $(GUEST_KO) $(GUEST_KO_612) $(GUEST_KO_RT) $(GUEST_DKMS_OK)
vm-kernel: $(VM_KVER_STAMP) $(BUILD)/vm-612/kver $(BUILD)/vm-rt/kver

$(VM_KVER_STAMP): vm-images/kernel.sh
	sh vm-images/kernel.sh $(VM_DIR) linux-image-amd64
	@touch $@
$(BUILD)/vm-612/kver: vm-images/kernel.sh
	sh vm-images/kernel.sh $(BUILD)/vm-612 linux-image-6.12-amd64
	@touch $@
$(BUILD)/vm-rt/kver: vm-images/kernel.sh
	sh vm-images/kernel.sh $(BUILD)/vm-rt linux-image-6.12-rt-amd64
	@touch $@

# Kbuild writes its objects beside the sources: build in a copy under
# $(BUILD), with the caller's make flags kept away from the kernel's make.
# The kernel make's output goes to a log first (sh has no pipefail): its
# status decides, then the log is shown without the BTF notice that every
# out-of-tree build prints, and any warning left in it fails the build.
# $(1) the kernel tree (vm, vm-612, vm-rt), $(2) the output folder, $(3)
# the source folder (default guest-driver).
define guest_ko
	@rm -rf $(2) && mkdir -p $(2)
	cp $(or $(3),guest-driver)/vmshm_uio.c guest-driver/Kbuild $(2)/
	@st=0; env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
		make -s -C $(abspath $(BUILD)/$(1))/kernel/usr/src/linux-headers-$$(cat $(BUILD)/$(1)/kver) \
		M=$(abspath $(2)) W=1 modules >$(2)/build.log 2>&1 || st=$$?; \
	grep -v 'Skipping BTF generation' $(2)/build.log || true; \
	if [ $$st != 0 ]; then echo "guest-driver: the module build for $(1) failed (status $$st)"; exit 1; fi; \
	if grep -q 'warning:' $(2)/build.log; then echo "guest-driver: warnings in the build for $(1)"; rm -f $(2)/vmshm_uio.ko; exit 1; fi; \
	test -s $(2)/vmshm_uio.ko || { echo "guest-driver: no module for $(1)"; exit 1; }
endef

$(GUEST_KO): guest-driver/vmshm_uio.c guest-driver/Kbuild $(VM_KVER_STAMP)
	$(call guest_ko,vm,$(BUILD)/guest-driver)
$(GUEST_KO_612): guest-driver/vmshm_uio.c guest-driver/Kbuild $(BUILD)/vm-612/kver
	$(call guest_ko,vm-612,$(BUILD)/guest-driver-612)
$(GUEST_KO_RT): guest-driver/vmshm_uio.c guest-driver/Kbuild $(BUILD)/vm-rt/kver
	$(call guest_ko,vm-rt,$(BUILD)/guest-driver-rt)

# guest-driver-test (a step of `make test`): a module source with an error,
# and one with a warning, must each fail the build and leave no module.
.PHONY: guest-driver-test guest-driver-broken
TEST_STEPS += guest-driver-test
guest-driver-broken: $(VM_KVER_STAMP)
	$(call guest_ko,vm,$(BUILD)/guest-driver-broken/out,$(BUILD)/guest-driver-broken/src)
guest-driver-test: $(VM_KVER_STAMP)
	@for kind in error warning; do \
		rm -rf $(BUILD)/guest-driver-broken && mkdir -p $(BUILD)/guest-driver-broken/src; \
		if [ $$kind = error ]; then what="an error"; bad='int vmshm_broken(void) { return undefined_name; }'; \
		else what="a warning"; bad='static int vmshm_unused;'; fi; \
		{ cat guest-driver/vmshm_uio.c; echo "$$bad"; } >$(BUILD)/guest-driver-broken/src/vmshm_uio.c; \
		if $(MAKE) -s guest-driver-broken >$(BUILD)/guest-driver-broken.log 2>&1; then \
			echo "guest-driver-test: a module with $$what built without failing"; exit 1; fi; \
		grep -q "guest-driver: .*for vm" $(BUILD)/guest-driver-broken.log || \
			{ echo "guest-driver-test: $$what failed without saying so"; exit 1; }; \
		if [ -e $(BUILD)/guest-driver-broken/out/vmshm_uio.ko ]; then \
			echo "guest-driver-test: a module with $$what was left behind"; exit 1; fi; \
		echo "guest-driver-test: a module with $$what fails the build: $$(grep 'guest-driver:' $(BUILD)/guest-driver-broken.log)"; \
	done
	@rm -rf $(BUILD)/guest-driver-broken $(BUILD)/guest-driver-broken.log

# dkms.conf: its version is the driver's, and its MAKE[0] (run the way DKMS
# runs it, with DKMS's variables pointing at a copy) builds the module
# against the 6.1 headers.
$(GUEST_DKMS_OK): guest-driver/dkms.conf guest-driver/vmshm_uio.c guest-driver/Kbuild $(VM_KVER_STAMP)
	@rm -rf $(dir $@) && mkdir -p $(dir $@)vmshm_uio/0.2.0/build
	@v=$$(sed -n 's/^#define DRV_VERSION "\(.*\)"$$/\1/p' guest-driver/vmshm_uio.c); \
	grep -q "^PACKAGE_VERSION=\"$$v\"$$" guest-driver/dkms.conf || \
		{ echo "guest-driver: dkms.conf's PACKAGE_VERSION is not the driver's $$v"; exit 1; }; \
	[ -d $(dir $@)vmshm_uio/$$v ] || mv $(dir $@)vmshm_uio/0.2.0 $(dir $@)vmshm_uio/$$v; \
	cp guest-driver/vmshm_uio.c guest-driver/Kbuild $(dir $@)vmshm_uio/$$v/build/; \
	env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL bash -c ' \
		kernel_source_dir=$$1 dkms_tree=$$2; . guest-driver/dkms.conf; \
		eval "$${MAKE[0]}" >$$2/build.log 2>&1 && test -s $$2/$$PACKAGE_NAME/$$PACKAGE_VERSION/build/$${BUILT_MODULE_NAME[0]}.ko' \
		sh $(abspath $(VM_DIR))/kernel/usr/src/linux-headers-$$(cat $(VM_KVER_STAMP)) $(abspath $(dir $@)) || \
		{ cat $(dir $@)build.log; echo "guest-driver: dkms.conf's MAKE[0] did not build the module"; exit 1; }
	@echo "guest-driver: dkms.conf builds vmshm_uio $$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' guest-driver/dkms.conf)"
	@touch $@
