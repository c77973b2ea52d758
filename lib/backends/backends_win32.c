/*
 * backends_win32.c - the backends built for Windows, in the order a spec is
 * offered to them. The file backend claims paths (C:\..., Z:\dev\shm\...);
 * ivshmem claims "ivshmem:N" and finds the default pool when VMSHM_POOL is
 * unset (the first ivshmem device that holds a vmshm pool).
 */
#include <stddef.h>

#include "backend.h"

extern const struct backend be_file;
extern const struct backend be_ivshmem;

const struct backend *const be_table[] = {&be_file, &be_ivshmem, NULL};
