/*
 * internal.h - what the modules of lib/ share with each other (not exported).
 */
#ifndef VMSHM_INTERNAL_H
#define VMSHM_INTERNAL_H

#include <stdint.h>

#include "backend.h"
#include "format.h"
#include "platform.h"
#include "vmshm.h"

/* How long a call waits for another peer that is midway through the same
 * name before it gives up with VMSHM_EBUSY. */
#define WAIT_OTHER_NS (2ull * 1000 * 1000 * 1000)

/* References this attach holds on one slot (process-local). */
struct local_ref {
	uint32_t gen;
	uint32_t count;
};

struct vmshm_pool {
	struct be_map map;
	struct fmt_layout L;
	uint32_t self;       /* peer index, 0 for an observer */
	uint32_t self_gen;   /* generation of our peer entry */
	uint64_t fork_epoch; /* plat_fork_epoch() at attach */
	struct plat_ident ident;
	struct local_ref *refs; /* slot_count entries */
	plat_lock lock;         /* serialises this attach's calls */
};

/* A name as the directory stores it. */
struct dir_name {
	const char *bytes; /* UTF-8, not NUL-terminated; NULL: unnamed */
	uint32_t len;
	uint64_t hash;
};

/* pool.c */
int pool_usable(vmshm_pool *p); /* 0, or VMSHM_ESTALE after fork */

/* dir.c */
int dir_create(vmshm_pool *p, int type, const struct dir_name *n, uint64_t size, uint32_t protect,
	       unsigned flags, vmshm_ref *out);
int dir_open(vmshm_pool *p, int type, const struct dir_name *n, vmshm_ref *out);
int dir_drop_bit(const struct fmt_layout *L, uint32_t slot, uint64_t bit, uint32_t me);
int dir_finish_destroy(const struct fmt_layout *L, uint32_t slot, uint64_t w, uint32_t me);
int dir_help_destroy(const struct fmt_layout *L, uint32_t slot, uint32_t me);
int dir_take_orphan(const struct fmt_layout *L, uint32_t slot, uint32_t me);
/* Copies the name of slot S (state word W) into BUF (>= VMSHM_NAME_MAX_BYTES
 * + 1), NUL-terminated; returns its length, 0 unnamed, < 0 invalid. */
int dir_read_name(const struct fmt_layout *L, uint32_t s, uint64_t w, char *buf);
int dir_name_prepare(const char *utf8, struct dir_name *n);

/* space.c */
int64_t space_alloc(const struct fmt_layout *L, uint32_t slot, uint32_t gen, uint64_t pages);
void space_release(const struct fmt_layout *L, uint32_t slot, uint32_t gen, uint64_t page,
		   uint64_t pages);
uint64_t space_sweep(const struct fmt_layout *L);

/* peer.c */
int peer_attach(vmshm_pool *p);
void peer_detach(vmshm_pool *p);
int peer_judge(const struct fmt_layout *L, uint32_t i, uint64_t w);
int peer_stamp_stale(uint64_t w);
int peer_reclaimer_gone(const struct fmt_layout *L, uint32_t i, uint64_t w);
int peer_reclaim_one(vmshm_pool *p, uint32_t i, int force);
void peer_read(const struct fmt_layout *L, uint32_t i, struct vmshm_peerinfo *out);

/* name.c */
int name_utf8_units(const char *s, size_t *bytes); /* UTF-16 units or < 0 */

#endif
