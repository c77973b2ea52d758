/*
 * format.c - plans, writes and validates the pool layout (docs/FORMAT.md).
 */
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "internal.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static int is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

uint32_t vmshm_default_objects(uint64_t size)
{
	uint64_t pages = size / FMT_PAGE;
	uint32_t n = 64;
	while (n < 4096 && (uint64_t)n * 2 <= pages)
		n *= 2;
	return n;
}

int fmt_plan(uint64_t size, uint32_t objects, struct fmt_layout *L)
{
	memset(L, 0, sizeof(*L));
	if (size < VMSHM_MIN_POOL_SIZE || size > VMSHM_MAX_POOL_SIZE || size % FMT_PAGE)
		return VMSHM_EINVAL;
	if (objects == 0)
		objects = vmshm_default_objects(size);
	if (objects > VMSHM_MAX_OBJECTS)
		return VMSHM_EINVAL;
	uint32_t slots = 1;
	while (slots < objects)
		slots *= 2;
	if (slots < 16)
		slots = 16;

	L->pool_size = size;
	L->major = VMSHM_FORMAT_MAJOR;
	L->minor = VMSHM_FORMAT_MINOR;
	L->peer_count = FMT_PEERS;
	L->slot_count = slots;
	L->slot_mask = slots - 1;
	L->peers_off = FMT_HEADER_SIZE;
	L->slots_off = align_up(L->peers_off + (uint64_t)FMT_PEERS * FMT_PEER_SIZE, FMT_PAGE);
	L->holds_off = align_up(L->slots_off + (uint64_t)slots * FMT_SLOT_SIZE, FMT_PAGE);
	/* a bit a slot in each lane, each lane on cache lines of its own */
	L->lane_stride = (uint32_t)align_up((slots + 63) / 64 * 8, 64);
	L->hold_stride = FMT_HOLD_LANES * L->lane_stride;
	L->owners_off = align_up(L->holds_off + (uint64_t)FMT_PEERS * L->hold_stride, FMT_PAGE);
	if (L->owners_off >= size)
		return VMSHM_EINVAL;
	/* Each data page costs a page plus its 8-byte owner word. */
	uint64_t rest = size - L->owners_off;
	uint64_t pages = rest / (FMT_PAGE + 8);
	while (pages > 0 && align_up(pages * 8, FMT_PAGE) + pages * FMT_PAGE > rest)
		pages--;
	if (pages < 16)
		return VMSHM_EINVAL;
	L->data_pages = pages;
	L->data_off = L->owners_off + align_up(pages * 8, FMT_PAGE);
	return 0;
}

int vmshm_format(void *mem, uint64_t size, uint32_t objects)
{
	struct fmt_layout L;
	int rc = fmt_plan(size, objects, &L);
	if (rc < 0)
		return rc;
	if (!mem)
		return VMSHM_EINVAL;
	fmt_bind(&L, mem);
	struct fmt_header *h = fmt_hdr(&L);
	/* Invalidate first, so that a crash midway leaves no valid-looking pool. */
	ST((_Atomic uint64_t *)&h->magic, 0);
	memset(L.base + sizeof(uint64_t), 0, L.data_off - sizeof(uint64_t));
	h->major = L.major;
	h->minor = L.minor;
	h->header_size = FMT_HEADER_SIZE;
	h->pool_size = size;
	plat_random(h->pool_id, sizeof(h->pool_id));
	h->page_size = FMT_PAGE;
	h->flags = 0;
	h->peers_off = L.peers_off;
	h->peer_count = L.peer_count;
	h->peer_size = FMT_PEER_SIZE;
	h->slots_off = L.slots_off;
	h->slot_count = L.slot_count;
	h->slot_size = FMT_SLOT_SIZE;
	h->holds_off = L.holds_off;
	h->hold_stride = L.hold_stride;
	h->hold_lanes = FMT_HOLD_LANES;
	h->owners_off = L.owners_off;
	h->data_off = L.data_off;
	h->data_pages = L.data_pages;
	atomic_store(&h->alloc_hint, 0);
	h->created_ns = plat_wall_ns();
	ST((_Atomic uint64_t *)&h->magic, FMT_MAGIC);
	return 0;
}

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), VMSHM_EFORMAT)

int fmt_load(void *base, uint64_t size, struct fmt_layout *L, char *why, size_t whylen)
{
	char dummy[8];
	if (!why) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	memset(L, 0, sizeof(*L));
	if (size < FMT_HEADER_SIZE)
		return WHY("pool is %llu bytes, smaller than a header", (unsigned long long)size);
	/* Copy the header once; validate the copy only. */
	struct fmt_header h;
	uint64_t magic = LD((_Atomic uint64_t *)base);
	memcpy(&h, base, sizeof(h));
	if (magic != FMT_MAGIC)
		return WHY("not a vmshm pool (bad magic; format it with 'vmshm pool create')");
	if (h.major != VMSHM_FORMAT_MAJOR) {
		snprintf(why, whylen,
			 "pool format version %u.%u is not supported (this library reads %u.x)",
			 h.major, h.minor, VMSHM_FORMAT_MAJOR);
		return VMSHM_EVERSION;
	}
	if (h.header_size != FMT_HEADER_SIZE || h.page_size != FMT_PAGE ||
	    h.peer_size != FMT_PEER_SIZE || h.slot_size != FMT_SLOT_SIZE)
		return WHY("pool header has unknown entry sizes");
	if (h.pool_size != size)
		return WHY("pool header says %llu bytes but %llu are mapped",
			   (unsigned long long)h.pool_size, (unsigned long long)size);
	struct fmt_layout want;
	if (fmt_plan(h.pool_size, h.slot_count, &want) < 0 || want.slot_count != h.slot_count ||
	    !is_pow2(h.slot_count) || h.peer_count != FMT_PEERS || h.peers_off != want.peers_off ||
	    h.slots_off != want.slots_off || h.owners_off != want.owners_off ||
	    h.holds_off != want.holds_off || h.hold_stride != want.hold_stride ||
	    h.hold_lanes != FMT_HOLD_LANES || h.data_off != want.data_off ||
	    h.data_pages != want.data_pages)
		return WHY("pool header layout is inconsistent");
	*L = want;
	fmt_bind(L, base);
	L->minor = h.minor;
	memcpy(L->pool_id, h.pool_id, 16);
	return 0;
}

int fmt_header_intact(const struct fmt_layout *L, char *what, size_t len)
{
	const struct fmt_header *h = fmt_hdr(L);
	struct fmt_header c;
	memcpy(&c, h, sizeof(c));
	if (c.magic != FMT_MAGIC)
		return snprintf(what, len, "header magic changed"), -1;
	if (c.major != L->major || c.minor != L->minor)
		return snprintf(what, len, "header version changed to %u.%u", c.major, c.minor), -1;
	if (c.pool_size != L->pool_size || c.slot_count != L->slot_count ||
	    c.peer_count != L->peer_count || c.peers_off != L->peers_off ||
	    c.slots_off != L->slots_off || c.owners_off != L->owners_off ||
	    c.holds_off != L->holds_off || c.hold_stride != L->hold_stride ||
	    c.hold_lanes != FMT_HOLD_LANES || c.data_off != L->data_off ||
	    c.data_pages != L->data_pages || c.header_size != FMT_HEADER_SIZE ||
	    c.page_size != FMT_PAGE || c.peer_size != FMT_PEER_SIZE || c.slot_size != FMT_SLOT_SIZE)
		return snprintf(what, len, "header layout fields changed"), -1;
	uint64_t hint = atomic_load(&((struct fmt_header *)h)->alloc_hint);
	if (hint > L->data_pages)
		return snprintf(what, len, "alloc_hint %llu beyond %llu data pages",
				(unsigned long long)hint, (unsigned long long)L->data_pages),
		       -1;
	return 0;
}

uint64_t fmt_hash(const char *name, size_t len)
{
	uint64_t all, last;
	return fmt_hash_words((const unsigned char *)name, len, &all, &last);
}
