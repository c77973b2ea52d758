/*
 * vmshm.h - native C API of libvmshm: pools, the directory of named objects,
 * peers, statistics, the consistency check and reclaim.
 *
 * The pool's byte layout is specified in docs/FORMAT.md. Every call returns 0
 * or a positive value on success and a negative VMSHM_E* code on failure;
 * vmshm_strerror() names it.
 */
#ifndef VMSHM_H
#define VMSHM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define VMSHM_API
#else
#define VMSHM_API __attribute__((visibility("default")))
#endif

/* The library's version (the pool format's is below). */
#define VMSHM_VERSION_MAJOR 0
#define VMSHM_VERSION_MINOR 1
#define VMSHM_VERSION_PATCH 0

#define VMSHM_FORMAT_MAJOR 5
#define VMSHM_FORMAT_MINOR 0

#define VMSHM_PAGE_SIZE     4096u
#define VMSHM_MIN_POOL_SIZE (1ull << 20)
#define VMSHM_MAX_POOL_SIZE (1ull << 46)
/* Longest name: 259 UTF-16 code units, at most 777 bytes of UTF-8. */
#define VMSHM_NAME_MAX_UNITS 259u
#define VMSHM_NAME_MAX_BYTES 777u
#define VMSHM_MAX_PEERS      63u /* peer indices 1..63; holder bit 0 is the pool's own hold */
#define VMSHM_MAX_OBJECTS    (1u << 20)

enum vmshm_error {
	VMSHM_OK = 0,
	VMSHM_EINVAL = -1,        /* bad argument */
	VMSHM_ENOENT = -2,        /* no object of that name */
	VMSHM_EEXIST = -3,        /* VMSHM_EXCL and the name exists */
	VMSHM_ETYPE = -4,         /* the name belongs to an object of another type */
	VMSHM_ETOOBIG = -5,       /* the existing object is smaller than the size asked */
	VMSHM_ENOSPC = -6,        /* not enough free pages in the pool */
	VMSHM_ENOSLOT = -7,       /* the directory is full */
	VMSHM_ENOPEER = -8,       /* the peer table is full */
	VMSHM_ENAMELEN = -9,      /* name longer than 259 UTF-16 code units */
	VMSHM_ENAME = -10,        /* empty name or invalid UTF-8 / UTF-16 */
	VMSHM_EFORMAT = -11,      /* not a vmshm pool, or its header is inconsistent */
	VMSHM_EVERSION = -12,     /* pool made by an incompatible format version */
	VMSHM_EIO = -13,          /* the OS refused to open or map the pool */
	VMSHM_EBUSY = -14,        /* another live peer is midway through the same name */
	VMSHM_ECORRUPT = -15,     /* a directory entry failed validation */
	VMSHM_ENOPOOL = -16,      /* no pool given and none found */
	VMSHM_ESTALE = -17,       /* a handle from before fork() or of a closed pool */
	VMSHM_ENOTSUP = -18,      /* the backend cannot do this (e.g. no doorbells) */
	VMSHM_EEXISTS_FILE = -19, /* pool create: file is a formatted pool (use force) */
	VMSHM_EPERM = -20,        /* permission denied */
	VMSHM_ETIMEDOUT = -21,
	VMSHM_ENOTOWNER = -22, /* a mutex released by a thread that does not own it */
	VMSHM_ETOOMANY = -23,  /* a semaphore released past its maximum count */
};

/* The version of the library running, "MAJOR.MINOR.PATCH" (a program built
 * against these headers compares it with VMSHM_VERSION_*). */
VMSHM_API const char *vmshm_version(void);

VMSHM_API const char *vmshm_strerror(int err);

/* Object types: one namespace for all of them. */
enum vmshm_type {
	VMSHM_TYPE_SHM = 1,
	VMSHM_TYPE_EVENT = 2,
	VMSHM_TYPE_MUTEX = 3,
	VMSHM_TYPE_SEMAPHORE = 4,
};
VMSHM_API const char *vmshm_type_name(int type);

/* ---- pools ---------------------------------------------------------- */

/* Default directory capacity for a pool of SIZE bytes. */
VMSHM_API uint32_t vmshm_default_objects(uint64_t size);

/* Formats SIZE bytes at MEM as an empty pool with room for OBJECTS objects
 * (0: the default). SIZE must be a multiple of 4096, at least 1 MiB. */
VMSHM_API int vmshm_format(void *mem, uint64_t size, uint32_t objects);

#define VMSHM_CREATE_FORCE 1u /* overwrite a file that holds a pool */
/* Creates (or truncates) the file PATH of SIZE bytes, preallocates and
 * formats it. Refuses to overwrite a formatted pool without FORCE. */
VMSHM_API int vmshm_pool_create(const char *path, uint64_t size, uint32_t objects, unsigned flags);

typedef struct vmshm_pool vmshm_pool;

#define VMSHM_ATTACH_OBSERVER  1u /* read-only look: claims no peer entry */
#define VMSHM_ATTACH_NORECLAIM 2u /* skip the reclaim of dead peers at attach */
/* Attaches the pool named by SPEC: a file path, /dev/uioN, pci:DDDD:BB:DD.F or
 * ivshmem:N. SPEC NULL: $VMSHM_POOL, else the first ivshmem device found.
 * Each attach (not observer) is one peer of the pool. WHY, if not NULL,
 * receives a one-line reason on failure. */
VMSHM_API int vmshm_attach(const char *spec, unsigned flags, vmshm_pool **out, char *why,
			   size_t whylen);
/* Closes every reference this attach holds, frees its peer entry, unmaps. */
VMSHM_API void vmshm_detach(vmshm_pool *pool);

VMSHM_API void *vmshm_base(const vmshm_pool *pool);
VMSHM_API uint64_t vmshm_size(const vmshm_pool *pool);
/* This attach's peer index (1..63), 0 for an observer. */
VMSHM_API int vmshm_self(const vmshm_pool *pool);
/* Name of the backend in use: "file", "uio", "pci", "ivshmem". */
VMSHM_API const char *vmshm_backend_name(const vmshm_pool *pool);

/* ---- objects -------------------------------------------------------- */

/* A counted reference to an object, held by one attach. */
typedef struct vmshm_ref {
	uint32_t slot;
	uint32_t gen;
	void *addr;    /* page-aligned start of the object's memory */
	uint64_t size; /* size asked by the creator, in bytes */
	uint32_t type;
	uint32_t protect; /* flProtect given by the creator */
} vmshm_ref;

#define VMSHM_EXCL    1u /* fail with VMSHM_EEXIST if the name exists */
#define VMSHM_PERSIST 2u /* the pool itself holds the object too (vmshm create) */

/* Creates an object, or opens the existing one of that name.
 * NAME: NUL-terminated UTF-8, or NULL for an unnamed object.
 * Returns 0 (created, memory zero-filled), 1 (existed, opened) or < 0. */
VMSHM_API int vmshm_create(vmshm_pool *pool, int type, const char *name, uint64_t size,
			   uint32_t protect, unsigned flags, vmshm_ref *out);
/* Opens an existing object: 0 or < 0 (VMSHM_ENOENT, VMSHM_ETYPE, ...). */
VMSHM_API int vmshm_open(vmshm_pool *pool, int type, const char *name, vmshm_ref *out);
/* Drops one reference. The object is destroyed when the last reference in
 * any process of any VM (and the pool's own hold) is gone. */
VMSHM_API int vmshm_close(vmshm_pool *pool, const vmshm_ref *ref);
/* Drops the pool's own hold on NAME (vmshm rm). VMSHM_ENOENT if the object
 * does not exist or is not held by the pool. */
VMSHM_API int vmshm_unpersist(vmshm_pool *pool, const char *name);

/* Checks a name as the directory stores it: 0, VMSHM_ENAME or VMSHM_ENAMELEN. */
VMSHM_API int vmshm_name_check(const char *utf8);
/* UTF-16 to UTF-8 (NUL-terminated in, NUL-terminated out; OUT has room for
 * VMSHM_NAME_MAX_BYTES + 1). Returns the length or VMSHM_ENAME/ENAMELEN. */
VMSHM_API int vmshm_name_from_utf16(const uint16_t *in, char *out);

/* ---- events, mutexes and semaphores ---------------------------------- */

/* Each is a named (or, with NAME NULL, unnamed) object of the pool, in the
 * one namespace of vmshm_create, usable by every process of every VM.
 * The create calls return 0 (new) or 1 (an object of that name and type
 * existed: it is opened, and the other arguments are ignored); FLAGS as
 * for vmshm_create. vmshm_open opens an existing one by type. */
VMSHM_API int vmshm_event_create(vmshm_pool *pool, const char *name, int manual_reset,
				 int initially_set, unsigned flags, vmshm_ref *out);
/* The calling thread owns a new mutex if OWNED (not an existing one). */
VMSHM_API int vmshm_mutex_create(vmshm_pool *pool, const char *name, int owned, unsigned flags,
				 vmshm_ref *out);
/* 0 < MAX; INITIAL <= MAX, else VMSHM_EINVAL. */
VMSHM_API int vmshm_semaphore_create(vmshm_pool *pool, const char *name, uint32_t initial,
				     uint32_t max, unsigned flags, vmshm_ref *out);
VMSHM_API int vmshm_event_set(vmshm_pool *pool, const vmshm_ref *event);
VMSHM_API int vmshm_event_reset(vmshm_pool *pool, const vmshm_ref *event);
VMSHM_API int vmshm_event_pulse(vmshm_pool *pool, const vmshm_ref *event);
/* VMSHM_ENOTOWNER unless the calling thread owns it. */
VMSHM_API int vmshm_mutex_release(vmshm_pool *pool, const vmshm_ref *mutex);
/* COUNT > 0; VMSHM_ETOOMANY (count unchanged) past the maximum. */
VMSHM_API int vmshm_semaphore_release(vmshm_pool *pool, const vmshm_ref *semaphore, uint32_t count,
				      uint32_t *previous);

#define VMSHM_WAIT_MAX 64u
#define VMSHM_INFINITE UINT64_MAX
enum vmshm_wait_result { VMSHM_WAIT_SIGNALED = 0, VMSHM_WAIT_ABANDONED = 1 };
/* Waits until one of the N objects (1..VMSHM_WAIT_MAX) is signaled and
 * consumes it: the lowest index signaled (*INDEX). An event (auto reset:
 * reset by the wait), a semaphore (its count - 1), a mutex (owned by the
 * calling thread; VMSHM_WAIT_ABANDONED if its owner ended owning it).
 * TIMEOUT_NS: 0 polls, VMSHM_INFINITE never times out (VMSHM_ETIMEDOUT). */
VMSHM_API int vmshm_wait(vmshm_pool *pool, const vmshm_ref *objects, uint32_t n,
			 uint64_t timeout_ns, uint32_t *index);

/* ---- looking at the pool --------------------------------------------- */

enum vmshm_obj_state {
	VMSHM_OBJ_FREE = 0,
	VMSHM_OBJ_CREATING = 1,
	VMSHM_OBJ_LIVE = 2,
	VMSHM_OBJ_DYING = 3,
	VMSHM_OBJ_ABORTED = 4,
	VMSHM_OBJ_CLOSING = 5, /* its last close is deciding whether anyone holds it */
};
VMSHM_API const char *vmshm_obj_state_name(int state);

struct vmshm_objinfo {
	uint32_t slot;
	uint32_t gen;
	int type;
	int state;
	int named;
	char name[VMSHM_NAME_MAX_BYTES + 1];
	uint64_t size;    /* bytes */
	uint64_t offset;  /* of the object's memory, from the pool start */
	uint64_t pages;   /* pages the object owns, name page included */
	uint64_t holders; /* who holds it: bit 0 the pool's hold, bit N peer N */
	uint32_t protect;
	uint32_t owner; /* peer that created it (or is creating/destroying it) */
	/* events, mutexes, semaphores (LIVE ones): */
	int signaled;       /* event set; mutex free; semaphore count > 0 */
	int manual;         /* event: manual reset */
	uint32_t count;     /* semaphore: its count */
	uint32_t max;       /* semaphore: its maximum */
	uint32_t mx_owner;  /* mutex: the owner's peer index, 0 free */
	uint32_t mx_thread; /* mutex: the owner's thread id */
	int abandoned;      /* mutex: free after its owner ended owning it */
	uint64_t waiters;   /* bit N: peer N has a thread waiting on it */
};
/* Calls FN for every object not FREE; stops when FN returns non-zero. */
VMSHM_API int vmshm_list(vmshm_pool *pool, int (*fn)(const struct vmshm_objinfo *, void *),
			 void *arg);

enum vmshm_peer_state {
	VMSHM_PEER_FREE = 0,
	VMSHM_PEER_CLAIMING = 1,
	VMSHM_PEER_ALIVE = 2,
	VMSHM_PEER_DEAD = 3, /* its VM was seen to end (doorbell server), waiting for reclaim */
	VMSHM_PEER_RECLAIMING = 4,
	VMSHM_PEER_FENCED = 5, /* cut off by an operator; freed once it is proven gone */
};
VMSHM_API const char *vmshm_peer_state_name(int state);

enum vmshm_os { VMSHM_OS_LINUX = 1, VMSHM_OS_WINDOWS = 2 };
enum vmshm_liveness { VMSHM_LIVE_UNKNOWN = 0, VMSHM_LIVE_YES = 1, VMSHM_LIVE_NO = 2 };

struct vmshm_peerinfo {
	uint32_t index;
	uint32_t gen;
	int state;
	int os;
	uint64_t pid;
	uint64_t start_time;  /* OS-specific process start stamp */
	uint8_t boot_id[16];  /* identity of the OS instance (VM) */
	char vm[37];          /* boot_id as a UUID string */
	int32_t ivposition;   /* ivshmem peer ID of its VM, -1 if unknown */
	uint64_t attached_ns; /* wall clock at attach, ns since 1970 */
	char comm[16];
	int liveness;       /* as this process can judge it (enum vmshm_liveness) */
	uint32_t reclaimer; /* for RECLAIMING: the peer doing it; FENCED: the fencer at work */
	int judge;          /* how its liveness is judged: 1 kernel lock, 2 process, 0 none */
	uint64_t lock_dev, lock_ino; /* judge 1: the file that carries its lock */
	char why[64];                /* the reason for LIVENESS, e.g. "cannot judge: ..." */
};
VMSHM_API int vmshm_peers(vmshm_pool *pool, int (*fn)(const struct vmshm_peerinfo *, void *),
			  void *arg);

struct vmshm_stats {
	uint16_t version_major, version_minor;
	uint64_t pool_size;
	uint8_t pool_id[16];
	uint64_t data_offset; /* first byte of object space */
	uint64_t data_bytes;  /* object space in all */
	uint64_t used_bytes;
	uint64_t free_bytes;
	uint64_t largest_free; /* largest run of free pages, bytes */
	uint32_t object_capacity;
	uint32_t objects; /* not FREE */
	uint32_t peer_capacity;
	uint32_t peers; /* not FREE */
};
VMSHM_API int vmshm_stats(vmshm_pool *pool, struct vmshm_stats *st);

/* ---- consistency check and reclaim ------------------------------------ */

enum vmshm_fault_code {
	VMSHM_FAULT_HEADER = 1,  /* header field out of range */
	VMSHM_FAULT_SLOT_STATE,  /* invalid state/type in a slot */
	VMSHM_FAULT_SLOT_NAME,   /* name length/bytes/hash invalid */
	VMSHM_FAULT_SLOT_EXTENT, /* extent outside the object space */
	VMSHM_FAULT_SLOT_PROBE,  /* slot beyond its home's probe bound */
	VMSHM_FAULT_DUP_NAME,    /* two live objects with one name */
	VMSHM_FAULT_PAGE_OWNER,  /* page owned by a slot that does not own it */
	VMSHM_FAULT_PAGE_LEAK,   /* page owned by a free or foreign slot */
	VMSHM_FAULT_HOLDERS,     /* holder bit of a free peer, or live object with no holder */
	VMSHM_FAULT_PEER_STATE,  /* invalid peer entry */
	VMSHM_FAULT_PEER_DEAD,   /* a peer this process sees dead still holds the pool */
	VMSHM_FAULT_STUCK,       /* slot mid-create/destroy by a peer that is gone */
};
struct vmshm_fault {
	int code;
	uint32_t where; /* slot, page or peer index the fault is about */
	char what[200];
};
/* Reads the whole pool without changing it; calls FN for every fault.
 * Returns the number of faults (0: clean) or < 0. */
VMSHM_API int vmshm_check(vmshm_pool *pool, void (*fn)(const struct vmshm_fault *, void *),
			  void *arg);
VMSHM_API const char *vmshm_fault_name(int code);

/* Reclaims every peer that is provably gone: a peer of this OS instance
 * whose kernel lock is released (the process ended, exec'd or detached),
 * and every peer whose VM was declared gone. A peer that cannot be judged is
 * left alone. Needs a peer entry (VMSHM_EPERM for an observer). Returns the
 * number of peers reclaimed. */
VMSHM_API int vmshm_reclaim(vmshm_pool *pool);
#define VMSHM_RECLAIM_FENCE   1 /* an operator's word: cut the peer off */
#define VMSHM_RECLAIM_RELEASE 2 /* an operator's second word: free a fenced entry */
/* Reclaims one peer if it is provably gone (FORCE 0): 1 reclaimed, 0 not.
 * VMSHM_RECLAIM_FENCE: if it cannot be proven gone, fence it: its holder
 * bits are dropped and its half-made objects aborted, its entry stays
 * FENCED (its calls fail with VMSHM_ESTALE) until it is proven gone;
 * returns 2. VMSHM_RECLAIM_RELEASE frees a FENCED entry now: 1, or 0 if it
 * is not fenced. */
VMSHM_API int vmshm_reclaim_peer(vmshm_pool *pool, uint32_t index, int force);
/* The VM named by boot id (16 bytes) or by ivshmem peer ID (boot_id NULL)
 * is gone (the doorbell server saw its QEMU disconnect): its peers are
 * declared DEAD and reclaimed. Peers this process sees alive are kept.
 * Returns peers reclaimed. */
VMSHM_API int vmshm_reclaim_vm(vmshm_pool *pool, const uint8_t *boot_id, int32_t ivposition);
/* Parses a UUID string into 16 bytes: 0 or VMSHM_EINVAL. */
VMSHM_API int vmshm_parse_uuid(const char *s, uint8_t out[16]);

/* ---- doorbells (uio and ivshmem backends) ------------------------------ */

/* This VM's ivshmem peer ID, or VMSHM_ENOTSUP. */
VMSHM_API int vmshm_ivposition(vmshm_pool *pool);
VMSHM_API int vmshm_doorbell_ring(vmshm_pool *pool, uint16_t peer, uint16_t vector);
/* Waits for a doorbell: 1 rung, 0 timed out, < 0 error. */
VMSHM_API int vmshm_doorbell_wait(vmshm_pool *pool, int timeout_ms);
/* As vmshm_doorbell_wait; *VECTORS (if not NULL) gets bit v set for each
 * vector v (0..63) that rang since this attach's previous wait, or 0 when
 * the backend cannot tell the vectors apart (only the uio backend can). */
VMSHM_API int vmshm_doorbell_wait_vectors(vmshm_pool *pool, int timeout_ms, uint64_t *vectors);

/* The memory type of this process's mapping of the pool, as the x86 PAT
 * names it: "write-back" (a pool file, or an ivshmem BAR the firmware left
 * cacheable), "uncached-minus" (the pci backend; a BAR in the firmware's
 * uncachable 32-bit PCI hole), ... or "unknown". Atomics and copies on an
 * uncached mapping are correct but slow. */
VMSHM_API const char *vmshm_memory_type(const vmshm_pool *pool);

#ifdef __cplusplus
}
#endif
#endif /* VMSHM_H */
