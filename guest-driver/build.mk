# guest-driver/build.mk - the vmshm UIO driver, built out of tree against the
# guest kernel's Debian headers (vm-images/kernel.sh fetches them).

VM_DIR := $(BUILD)/vm
VM_KVER_STAMP := $(VM_DIR)/kver
GUEST_KO := $(BUILD)/guest-driver/vmshm_uio.ko

.PHONY: guest-driver vm-kernel
guest-driver: $(GUEST_KO)
vm-kernel: $(VM_KVER_STAMP)

$(VM_KVER_STAMP): vm-images/kernel.sh
	sh vm-images/kernel.sh $(VM_DIR)
	@touch $@

# Kbuild writes its objects beside the sources: build in a copy under
# $(BUILD), with the caller's make flags kept away from the kernel's make.
$(GUEST_KO): guest-driver/vmshm_uio.c guest-driver/Kbuild $(VM_KVER_STAMP)
	@mkdir -p $(BUILD)/guest-driver
	cp guest-driver/vmshm_uio.c guest-driver/Kbuild $(BUILD)/guest-driver/
	env -u MAKEFLAGS -u MFLAGS -u MAKEOVERRIDES -u MAKELEVEL \
		make -s -C $(abspath $(VM_DIR))/kernel/usr/src/linux-headers-$$(cat $(VM_KVER_STAMP)) \
		M=$(abspath $(BUILD)/guest-driver) modules 2>&1 | grep -v 'Skipping BTF generation' || true
	@test -s $@ || { echo "guest-driver: the module did not build"; exit 1; }
