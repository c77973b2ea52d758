/*
 * backend.h - how libvmshm reaches the pool's bytes. A backend maps the
 * shared memory of one pool and, where the hardware has them, rings and
 * waits for ivshmem doorbells. The directory code only sees the mapping.
 *
 *   file     a path (host, tests, Wine: the pool file)      file_posix.c / file_win32.c
 *   uio      /dev/uioN of the vmshm guest driver            uio_linux.c
 *   pci      pci:DDDD:BB:DD.F through libpciaccess          pci_linux.c
 *   ivshmem  ivshmem:N through the virtio-win driver        ivshmem_win32.c
 */
#ifndef VMSHM_BACKEND_H
#define VMSHM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct be_map {
	void *base;         /* start of the pool (BAR2 offset 0) */
	uint64_t size;      /* bytes mapped */
	int32_t ivposition; /* this VM's ivshmem peer ID, -1 if not known */
	int lock_fd;        /* close-on-exec fd of the file that carries the peers'
			     * kernel locks (plat_peer_lock), -1 if none */
	int readonly;       /* mapped read-only: the user may only read the pool */
	const struct backend *be;
	/* The memory type of the mapping, a static string ("write-back",
	 * "uncached-minus", ...; vmshm_memory_type), NULL if unknown. */
	const char *memtype;
	void *priv; /* backend state */
};

struct backend {
	const char *name;
	int futex_ok; /* its mapping is a file's pages: a futex on them works */
	/* Does SPEC name a pool of this backend? (a prefix test, no I/O) */
	int (*claims)(const char *spec);
	/* Maps the pool. 0 or a VMSHM_E* code; WHY gets a one-line reason. */
	int (*open)(const char *spec, struct be_map *m, char *why, size_t whylen);
	void (*close)(struct be_map *m);
	/* Optional (NULL: VMSHM_ENOTSUP). */
	int (*ring)(struct be_map *m, uint16_t peer, uint16_t vector);
	int (*wait)(struct be_map *m, int timeout_ms); /* 1 rung, 0 timeout, <0 error */
	/* Optional: as wait, and *VECTORS gets bit v for each vector v that
	 * rang since the previous wait (the uio backend's per-vector counts). */
	int (*wait_vectors)(struct be_map *m, int timeout_ms, uint64_t *vectors);
	/* Optional: finds the default pool when VMSHM_POOL is unset; writes a
	 * spec this backend claims into SPEC. 0 found, <0 none. */
	int (*discover)(char *spec, size_t len);
};

/* The backends built for this OS, in discovery order, NULL-terminated
 * (backends_posix.c / backends_win32.c). */
extern const struct backend *const be_table[];

/* Writes "reason" into WHY (if not NULL), like snprintf. */
void be_why(char *why, size_t whylen, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif
