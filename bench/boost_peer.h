/*
 * boost_peer.h - the comparison peer of shm_bench.c: Boost.Interprocess's
 * managed_shared_memory (named objects in one segment, a mutex-guarded
 * index), behind plain C calls. bench/boost_peer.cpp is the only C++ of the
 * project, and only the benchmark links it.
 */
#ifndef VMSHM_BENCH_BOOST_PEER_H
#define VMSHM_BENCH_BOOST_PEER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the segment NAME (a POSIX shared memory name without the '/')
 * of SIZE bytes and constructs the target object TARGET in it. 0 or -1. */
int bx_setup(const char *name, size_t size, const char *target);
/* Brings the objects "live-0" .. "live-(N-1)" to N. 0 or -1. */
int bx_set_live(uint32_t n);
/* construct<Region>(NAME)() of one more named object: 0, or -1. */
int bx_construct(const char *name);
/* find<Region>(NAME): 0 found, -1 not. */
int bx_find(const char *name);
/* construct<Region>(NAME)() (zero-filled) then destroy<Region>(NAME): 0,
 * or -1 when the name existed or the segment is full. */
int bx_create_destroy(const char *name);
/* Unmaps and removes the segment (idempotent; safe in a signal handler's
 * cleanup as far as the C++ runtime allows). */
void bx_cleanup(void);

#ifdef __cplusplus
}
#endif

#endif
