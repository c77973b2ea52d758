/* backends_posix.c - the backends of the Linux build, in discovery order:
 * with VMSHM_POOL unset, the first vmshm UIO device, else the first ivshmem
 * PCI device. The file backend takes every spec the others do not claim. */
#include "backend.h"

extern const struct backend be_file, be_uio, be_pci;

const struct backend *const be_table[] = {
    &be_uio,
    &be_pci,
    &be_file,
    NULL,
};
