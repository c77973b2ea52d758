/*
 * memtype.h - the memory type of a mapping of device memory in a Linux
 * guest (memtype_linux.c), for the uio and pci backends.
 */
#ifndef VMSHM_MEMTYPE_H
#define VMSHM_MEMTYPE_H

#include <stdint.h>

/* The memory type of this process's mapping of the physical range
 * [PHYS, PHYS + LEN), mapped with the type ASKED ("write-back" or
 * "uncached-minus"): read from the kernel's PAT list in debugfs when it is
 * mounted and readable, otherwise inferred the way PAT decides (a
 * write-back request over an uncachable MTRR range becomes uncached-minus,
 * /proc/mtrr). A static string. Under VMSHM_DEBUG, says once per process
 * when the type is not write-back. */
const char *be_memtype(uint64_t phys, uint64_t len, const char *asked, const char *spec);

#endif
