/*
 * format.h - the pool's byte layout (docs/FORMAT.md is the spec). This file
 * and format.c are the only code that computes addresses inside a pool:
 * every other module reaches pool bytes through the accessors below.
 *
 * All fields are little-endian, naturally aligned, and addressed by offset
 * from the pool start. Shared words that change after formatting are 64-bit
 * and accessed with atomics only.
 */
#ifndef VMSHM_FORMAT_H
#define VMSHM_FORMAT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmshm.h"

#define FMT_MAGIC       0x4c4f4f504d48534dull /* "MSHMPOOL" as little-endian bytes */
#define FMT_PAGE        4096u
#define FMT_HEADER_SIZE 4096u
#define FMT_PEERS       64u /* entry 0 is the pool's own hold, never claimed */
#define FMT_PEER_SIZE   256u
#define FMT_SLOT_SIZE   256u
#define FMT_INLINE_NAME 176u /* names up to this many UTF-8 bytes live in the slot */

/* ---- header (offset 0) ---- */
struct fmt_header {
	uint64_t magic;              /* 0: FMT_MAGIC, written last when formatting */
	uint16_t major;              /* 8 */
	uint16_t minor;              /* 10 */
	uint32_t header_size;        /* 12: FMT_HEADER_SIZE */
	uint64_t pool_size;          /* 16 */
	uint8_t pool_id[16];         /* 24: random identity of this pool */
	uint32_t page_size;          /* 40: FMT_PAGE */
	uint32_t flags;              /* 44: 0 */
	uint64_t peers_off;          /* 48 */
	uint32_t peer_count;         /* 56: FMT_PEERS */
	uint32_t peer_size;          /* 60: FMT_PEER_SIZE */
	uint64_t slots_off;          /* 64 */
	uint32_t slot_count;         /* 72: a power of two */
	uint32_t slot_size;          /* 76: FMT_SLOT_SIZE */
	uint64_t owners_off;         /* 80: one 64-bit owner word per data page */
	uint64_t data_off;           /* 88: first data page */
	uint64_t data_pages;         /* 96 */
	_Atomic uint64_t alloc_hint; /* 104: page where the next search starts */
	uint64_t created_ns;         /* 112: wall clock at format */
	uint64_t holds_off;          /* 120: the peers' hold words */
	uint32_t hold_stride;        /* 128: bytes of one peer's hold words (all its lanes) */
	uint32_t hold_lanes;         /* 132: FMT_HOLD_LANES */
	uint64_t reserved[495];
};

/* ---- peer entry ---- */
/* Word 0 is the state word (PW_* below). Every other word written after
 * formatting is an identity word, tagged: bits 32-63 hold the entry
 * generation it was written for, bits 0-31 the data. An identity is
 * complete for generation G when every identity word carries tag G; words
 * of another tag are left from an earlier occupant (identity is never
 * cleared). A claimer writes each word by CAS from an older tag, so a
 * claimer that was taken over while stopped can no longer write any. */
enum fmt_ident_word {
	FI_KIND = 0, /* bits 0-7 OS (1 Linux, 2 Windows), 8-15 judge kind (FMT_JUDGE_*) */
	FI_IVPOS,    /* ivshmem peer ID of its VM, int32, -1 unknown */
	FI_PID,      /* process id (shown only) */
	FI_START_LO, /* process start stamp, 64 bits (shown only; Windows: judged) */
	FI_START_HI, /* */
	FI_BOOT0,    /* boot id: 16 bytes identifying the OS instance, 4 words */
	FI_LOCK_DEV_LO = FI_BOOT0 + 4, /* lock file: device number, 64 bits */
	FI_LOCK_DEV_HI,                /* */
	FI_LOCK_INO_LO,                /* lock file: inode number, 64 bits */
	FI_LOCK_INO_HI,                /* */
	FI_ATTACH_LO,                  /* attach time, ns since 1970, 64 bits */
	FI_ATTACH_HI,                  /* */
	FI_COMM0,                      /* program name, 16 bytes NUL-padded, 4 words */
	FI_DONE = FI_COMM0 + 4,        /* written last: data FMT_IDENT_DONE */
	FI_COUNT
};
#define FMT_IDENT_DONE    0x1du
#define FMT_JUDGE_NONE    0u /* nobody can judge it: only an operator or its VM's end */
#define FMT_JUDGE_LOCK    1u /* Linux: OFD lock on byte FMT_LOCK_BASE + index of the lock file */
#define FMT_JUDGE_PROCESS 2u /* Windows: the process handle and creation time */

struct fmt_peer {
	_Atomic uint64_t state;           /* 0 */
	_Atomic uint64_t ident[FI_COUNT]; /* 8: tagged identity words */
	_Atomic uint64_t wake;            /* 168: bumped to wake this peer's waiters */
	_Atomic uint64_t lanes; /* 176: bit L: lane L may hold (set before its hold bits) */
	uint64_t reserved[29 - FI_COUNT]; /* zero */
};

/* ---- directory slot ---- */
/* state word: bits 0-23 generation, 24-27 state, 28-31 type,
 * 32-39 owner peer, 40-63 name tag (0 for unnamed objects) */
struct fmt_slot {
	_Atomic uint64_t state;      /* 0 */
	_Atomic uint64_t holders;    /* 8: bit 0 the pool's hold, bit N peer N may hold */
	uint64_t reserved16;         /* 16: zero */
	_Atomic uint64_t size;       /* 24: bytes asked by the creator */
	_Atomic uint64_t ext_page;   /* 32: first data page of the extent */
	_Atomic uint64_t ext_pages;  /* 40: pages of the extent (name page included) */
	_Atomic uint64_t len_prot;   /* 48: bits 0-31 name length, 32-63 flProtect */
	_Atomic uint64_t hash;       /* 56: full 64-bit name hash */
	_Atomic uint64_t maxprobe;   /* 64: probe bound of names whose home is this slot */
	_Atomic uint64_t created_ns; /* 72 */
	char name[FMT_INLINE_NAME];  /* 80: inline name bytes (no NUL) */
};

/* ---- the body of an event, mutex or semaphore: its object memory ---- */
/* state: event: bit 0 signaled, bits 32-63 pulse count; semaphore: the
 * count; mutex: 0 free, MX_ABANDONED free after its owner died, or an
 * owner (MX_OWNED | peer index << 48 | low 16 bits of the peer's entry
 * generation << 32 | thread id). seq grows with every change that may
 * release a waiter. waiters: bit N, peer N has a thread waiting. param:
 * event: bit 0 manual reset; semaphore: the maximum count. depth: a
 * mutex's recursion count, written by its owner only. */
struct fmt_sync {
	_Atomic uint64_t state;   /* 0 */
	_Atomic uint64_t seq;     /* 8 */
	_Atomic uint64_t waiters; /* 16 */
	_Atomic uint64_t param;   /* 24 */
	_Atomic uint64_t depth;   /* 32 */
	uint64_t reserved[3];     /* 40: zero */
};
#define FMT_SYNC_SIZE 64u
#define MX_ABANDONED  (1ull << 63)
#define MX_OWNED      (1ull << 62)
#define MX_OWNER(idx, gen, tid)                                                                    \
	(MX_OWNED | ((uint64_t)(idx)&0xffu) << 48 | ((uint64_t)(gen)&0xffffu) << 32 |              \
	 (uint32_t)(tid))
#define MX_IDX(w) ((uint32_t)(((w) >> 48) & 0xffu))
#define MX_GEN(w) ((uint32_t)(((w) >> 32) & 0xffffu))

_Static_assert(sizeof(struct fmt_sync) == FMT_SYNC_SIZE, "sync body size");
_Static_assert(sizeof(struct fmt_header) == FMT_HEADER_SIZE, "header size");
_Static_assert(sizeof(struct fmt_peer) == FMT_PEER_SIZE, "peer size");
_Static_assert(sizeof(struct fmt_slot) == FMT_SLOT_SIZE, "slot size");
_Static_assert(offsetof(struct fmt_slot, name) % 8 == 0, "names are read a word at a time");
_Static_assert(offsetof(struct fmt_slot, reserved16) == 16 &&
		   offsetof(struct fmt_slot, maxprobe) == 64 &&
		   offsetof(struct fmt_slot, name) == 80,
	       "slot layout of docs/FORMAT.md");
_Static_assert(offsetof(struct fmt_header, alloc_hint) == 104 &&
		   offsetof(struct fmt_header, holds_off) == 120,
	       "header offsets");

/* Slot state word. */
#define SW_GEN(w)   ((uint32_t)((w)&0xffffffu))
#define SW_STATE(w) ((int)(((w) >> 24) & 0xfu))
#define SW_TYPE(w)  ((int)(((w) >> 28) & 0xfu))
#define SW_OWNER(w) ((uint32_t)(((w) >> 32) & 0xffu))
#define SW_TAG(w)   ((uint32_t)((w) >> 40))
#define SW_MAKE(gen, st, type, owner, tag)                                                         \
	(((uint64_t)(gen)&0xffffffu) | ((uint64_t)(st) << 24) | ((uint64_t)(type) << 28) |         \
	 ((uint64_t)(owner) << 32) | ((uint64_t)(tag) << 40))
#define SW_GEN_NEXT(g) (((g) + 1) & 0xffffffu)

/* Peer state word: bits 0-7 state, 8-15 reclaimer index (RECLAIMING,
 * FENCED) or, in a CLAIMING word, an 8-bit hint of the claimer's lock
 * domain (1..255, 0 none),
 * 16-31 aux, 32-63 generation. Aux is, in a CLAIMING word, the wall-clock
 * second (mod 65536) of the claim; in a RECLAIMING word, the low 16 bits of
 * the reclaimer's own entry generation. A CLAIMING entry whose identity is
 * still incomplete FMT_CLAIM_STALE_S after its stamp may be taken over:
 * every later write of its claimer is a CAS that then fails. */
#define FMT_CLAIM_STALE_S     30u
#define PW_STATE(w)           ((int)((w)&0xffu))
#define PW_AUX(w)             ((uint32_t)(((w) >> 16) & 0xffffu))
#define PW_RECLAIMER(w)       ((uint32_t)(((w) >> 8) & 0xffu))
#define PW_GEN(w)             ((uint32_t)((w) >> 32))
#define PW_MAKE(gen, st, rec) (((uint64_t)(gen) << 32) | ((uint64_t)(rec) << 8) | (uint64_t)(st))
#define PW_WITH_AUX(w, aux)   (((w) & ~0xffff0000ull) | ((uint64_t)((aux)&0xffffu) << 16))
#define IW_MAKE(gen, data)    (((uint64_t)(gen) << 32) | (uint32_t)(data))
#define IW_TAG(v)             ((uint32_t)((v) >> 32))
#define IW_DATA(v)            ((uint32_t)(v))

/* Page owner word: 0 free, else bits 0-31 slot + 1, bits 32-55 slot generation. */
#define OW_MAKE(slot, gen) ((uint64_t)((slot) + 1u) | ((uint64_t)((gen)&0xffffffu) << 32))
#define OW_SLOT(o)         ((uint32_t)((o)&0xffffffffu) - 1u)
#define OW_GEN(o)          ((uint32_t)(((o) >> 32) & 0xffffffu))

/* The validated, process-local copy of a pool's immutable layout. */
struct fmt_layout {
	uint8_t *base;
	uint64_t pool_size;
	uint16_t major, minor;
	uint8_t pool_id[16];
	uint64_t peers_off, slots_off, holds_off, owners_off, data_off;
	uint32_t peer_count, slot_count, slot_mask, hold_stride, lane_stride;
	uint64_t data_pages;
	/* base + each table's offset, set with base (fmt_bind): the calls
	 * reach an entry with one load of the layout, not two. */
	uint8_t *peers, *slots, *holds, *owners, *data;
};

/* Maps layout L at BASE: sets base and the tables' addresses. */
static inline void fmt_bind(struct fmt_layout *L, uint8_t *base)
{
	L->base = base;
	L->peers = base + L->peers_off;
	L->slots = base + L->slots_off;
	L->holds = base + L->holds_off;
	L->owners = base + L->owners_off;
	L->data = base + L->data_off;
}

/* Reads and validates the header of SIZE mapped bytes at BASE. */
int fmt_load(void *base, uint64_t size, struct fmt_layout *L, char *why, size_t whylen);
/* Compares the header in the pool with L: 0 if unchanged, else a fault text. */
int fmt_header_intact(const struct fmt_layout *L, char *what, size_t len);
/* Computes the layout for SIZE bytes and OBJECTS slots (power of two). */
int fmt_plan(uint64_t size, uint32_t objects, struct fmt_layout *L);

static inline struct fmt_header *fmt_hdr(const struct fmt_layout *L)
{
	return (struct fmt_header *)L->base;
}
static inline struct fmt_peer *fmt_peer(const struct fmt_layout *L, uint32_t i)
{
	return (struct fmt_peer *)(L->peers + (uint64_t)i * FMT_PEER_SIZE);
}
static inline struct fmt_slot *fmt_slot(const struct fmt_layout *L, uint32_t i)
{
	return (struct fmt_slot *)(L->slots + (uint64_t)i * FMT_SLOT_SIZE);
}
/* The hold word of lane LANE of peer I for slot S: bit FMT_HOLD_BIT(S) is
 * set while that lane (threads of I) holds the object in S (docs/FORMAT.md,
 * "Hold words"). 64 slots a word; each lane on cache lines of its own. */
#define FMT_HOLD_LANES 8u
static inline _Atomic uint64_t *fmt_hold(const struct fmt_layout *L, uint32_t i, uint32_t lane,
					 uint32_t s)
{
	return (_Atomic uint64_t *)(L->holds + (uint64_t)i * L->hold_stride +
				    (uint64_t)lane * L->lane_stride + (s / 64u) * 8u);
}
#define FMT_HOLD_BIT(s) (1ull << ((s)&63u))
static inline _Atomic uint64_t *fmt_owner(const struct fmt_layout *L, uint64_t page)
{
	return (_Atomic uint64_t *)(L->owners + page * 8u);
}
/* Address of data page PAGE (PAGE < data_pages, checked by the caller). */
static inline uint8_t *fmt_page(const struct fmt_layout *L, uint64_t page)
{
	return L->data + page * FMT_PAGE;
}
/* Is [page, page + n) inside the data area? */
static inline int fmt_extent_ok(const struct fmt_layout *L, uint64_t page, uint64_t n)
{
	return n > 0 && page < L->data_pages && n <= L->data_pages - page;
}

/* Pages needed for SIZE bytes (no overflow for any SIZE). */
static inline uint64_t fmt_pages_for(uint64_t size)
{
	return size / FMT_PAGE + (size % FMT_PAGE != 0);
}

/* Does a slot's recorded extent [EP, EP + EN) hold its NAME_PAGES name page
 * and SIZE bytes, inside the object space? Every object has a size (shared
 * memory as asked, at least 1; an event, mutex or semaphore its 64-byte
 * body), so a size of 0 is damage too. */
static inline int fmt_extent_fits(const struct fmt_layout *L, uint64_t size, uint64_t ep,
				  uint64_t en, uint64_t name_pages)
{
	return size > 0 && fmt_extent_ok(L, ep, en) && en >= name_pages &&
	       en - name_pages >= fmt_pages_for(size);
}

/* The name hash of the format (docs/FORMAT.md, "Hash"): the name's bytes
 * as 64-bit little-endian words (the last one padded with zero bytes), each
 * mixed in with one multiply, then a 64-bit finalizer. home = hash &
 * slot_mask, tag = hash >> 40 (0 becomes 1). Eight bytes a step: a name of
 * 32 bytes costs 4 multiplies, not 32. */
uint64_t fmt_hash(const char *name, size_t len);

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the pool format is little-endian; this code reads name words in the host's order"
#endif

/* Word I of LEN bytes at U (little-endian, zero-padded past LEN). */
static inline uint64_t fmt_name_word(const unsigned char *u, size_t len, size_t i)
{
	uint64_t w = 0;
	size_t r = len - i; /* bytes left, from byte I */
	const unsigned char *q = u + i;
	if (r >= 8) {
		memcpy(&w, q, 8);
	} else if (r >= 4) { /* two loads of 4 that overlap: the shared bytes agree */
		uint32_t a, b;
		memcpy(&a, q, 4);
		memcpy(&b, q + r - 4, 4);
		w = a | (uint64_t)b << (8 * (r - 4));
	} else if (r >= 2) {
		uint16_t a, b;
		memcpy(&a, q, 2);
		memcpy(&b, q + r - 2, 2);
		w = a | (uint64_t)b << (8 * (r - 2));
	} else if (r == 1) {
		w = q[0];
	}
	return w;
}

#define FMT_HASH_SEED 0x9e3779b97f4a7c15ull
#define FMT_HASH_MUL  0xff51afd7ed558ccdull
static inline uint64_t fmt_hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* The hash of LEN bytes at U; *BITS receives the OR of all its words (an
 * ASCII name has no byte with bit 7 set), *LAST its last word. */
static inline uint64_t fmt_hash_words(const unsigned char *u, size_t len, uint64_t *bits,
				      uint64_t *last)
{
	uint64_t h = FMT_HASH_SEED ^ len, all = 0, w = 0;
	for (size_t i = 0; i < len; i += 8) {
		w = fmt_name_word(u, len, i);
		all |= w;
		h = (h ^ w) * FMT_HASH_MUL;
		h ^= h >> 32;
	}
	*bits = all;
	*last = w;
	return fmt_hash_final(h);
}
static inline uint32_t fmt_tag(uint64_t h)
{
	uint32_t t = (uint32_t)(h >> 40);
	return t ? t : 1u;
}

/* Shorthands for atomics on pool words. */
#define LD(p)           atomic_load_explicit((p), memory_order_acquire)
#define ST(p, v)        atomic_store_explicit((p), (v), memory_order_release)
#define CAS(p, expp, v) atomic_compare_exchange_strong((p), (expp), (v))

#endif
