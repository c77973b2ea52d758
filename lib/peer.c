/*
 * peer.c - the peer table: claiming and freeing an entry, the tagged
 * identity of its occupant, and the liveness judge. A peer is one attach of
 * one process; its index N (1..63) is its holder bit in every slot.
 *
 * The judge says GONE only when the kernel says the occupant can never
 * write again (Linux: the occupant's OFD lock on its byte of the lock file
 * is gone; Windows: its process has ended). Reclaim and fencing, which act
 * on the judge's word, live above the directory in reclaim.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static uint32_t now_stamp(void)
{
	return (uint32_t)(plat_wall_ns() / 1000000000u) & 0xffffu;
}

/* Is tag T older than generation G (modulo 2^32)? */
static int tag_older(uint32_t t, uint32_t g)
{
	return (int32_t)(t - g) < 0;
}

static void split64(uint32_t *v, uint64_t x)
{
	v[0] = (uint32_t)x;
	v[1] = (uint32_t)(x >> 32);
}

static uint64_t join64(const uint32_t *v)
{
	return (uint64_t)v[0] | (uint64_t)v[1] << 32;
}

/* The identity words of this attach, as data (without tags). */
static void ident_values(const vmshm_pool *p, uint32_t v[FI_COUNT])
{
	const struct peer_judge_ctx *J = &p->judge;
	memset(v, 0, FI_COUNT * sizeof(*v));
	v[FI_KIND] = p->ident.os | J->kind << 8;
	v[FI_IVPOS] = (uint32_t)p->map.ivposition;
	v[FI_PID] = (uint32_t)p->ident.pid;
	split64(&v[FI_START_LO], p->ident.start_time);
	memcpy(&v[FI_BOOT0], p->ident.boot_id, 16);
	split64(&v[FI_LOCK_DEV_LO], J->lock_dev);
	split64(&v[FI_LOCK_INO_LO], J->lock_ino);
	split64(&v[FI_ATTACH_LO], plat_wall_ns());
	memcpy(&v[FI_COMM0], p->ident.comm, 16);
	v[FI_DONE] = FMT_IDENT_DONE;
}

/* Writes identity V for generation GEN, FI_DONE last. Each word is a CAS
 * from an older tag: -1 if a newer tag is found (this claim was taken over
 * while it stood still, and nothing more of it may be written). */
static int ident_write(struct fmt_peer *pe, uint32_t gen, const uint32_t v[FI_COUNT])
{
	for (int k = 0; k < FI_COUNT; k++) {
		uint64_t old = LD(&pe->ident[k]);
		do {
			if (!tag_older(IW_TAG(old), gen))
				return -1;
		} while (!CAS(&pe->ident[k], &old, IW_MAKE(gen, v[k])));
	}
	return 0;
}

/* Reads the identity of generation GEN into V: 1 complete, 0 not. */
static int ident_read(const struct fmt_peer *pe, uint32_t gen, uint32_t v[FI_COUNT])
{
	int complete = 1;
	for (int k = 0; k < FI_COUNT; k++) {
		uint64_t w = LD(&pe->ident[k]);
		v[k] = IW_DATA(w);
		if (IW_TAG(w) != gen)
			complete = 0;
	}
	return complete && v[FI_DONE] == FMT_IDENT_DONE;
}

void peer_judge_init(vmshm_pool *p)
{
	struct peer_judge_ctx *J = &p->judge;
	J->kind = FMT_JUDGE_NONE;
	J->lock_fd = p->map.lock_fd;
	if (p->ident.foreign)
		return; /* the tests' stand-in for a guest: no lock shared with us */
	if (p->ident.os == VMSHM_OS_WINDOWS)
		J->kind = FMT_JUDGE_PROCESS;
	else if (plat_file_id(J->lock_fd, &J->lock_dev, &J->lock_ino) == 0)
		J->kind = FMT_JUDGE_LOCK;
	if (J->kind == FMT_JUDGE_LOCK) {
		/* The claim word's hint of our lock domain: 1..255 (0 none). */
		uint64_t h = fmt_hash((const char *)p->ident.boot_id, 16) ^ J->lock_dev * 31 ^
			     J->lock_ino * 0x9e3779b97f4a7c15ull;
		J->domain8 = (uint32_t)(h % 255) + 1;
	}
}

static int say(char *why, size_t len, int verdict, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *why, size_t len, int verdict, const char *fmt, ...)
{
	if (why && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return verdict;
}

/* Judges a complete identity V of entry I, seen with state word W. */
static int judge_ident(const vmshm_pool *p, uint32_t i, uint64_t w, const uint32_t *v, char *why,
		       size_t len)
{
	const struct peer_judge_ctx *J = &p->judge;
	uint32_t os = v[FI_KIND] & 0xffu, kind = (v[FI_KIND] >> 8) & 0xffu;
	if (os != p->ident.os || memcmp(&v[FI_BOOT0], p->ident.boot_id, 16) != 0)
		return say(why, len, VMSHM_LIVE_UNKNOWN, "cannot judge: another OS instance");
	if (kind == FMT_JUDGE_PROCESS) {
		int live = plat_liveness(os, v[FI_PID], join64(&v[FI_START_LO]),
					 (const uint8_t *)&v[FI_BOOT0]);
		if (live == VMSHM_LIVE_NO && LD(&fmt_peer(&p->L, i)->state) != w)
			live = VMSHM_LIVE_UNKNOWN;
		return say(why, len, live, "%s",
			   live == VMSHM_LIVE_YES  ? "process alive"
			   : live == VMSHM_LIVE_NO ? "process gone"
						   : "cannot judge: process not visible");
	}
	if (kind != FMT_JUDGE_LOCK)
		return say(why, len, VMSHM_LIVE_UNKNOWN, "cannot judge: no kernel lock");
	if (J->kind != FMT_JUDGE_LOCK || join64(&v[FI_LOCK_DEV_LO]) != J->lock_dev ||
	    join64(&v[FI_LOCK_INO_LO]) != J->lock_ino)
		return say(why, len, VMSHM_LIVE_UNKNOWN,
			   "cannot judge: locked through another file");
	int held = plat_peer_lock_held(J->lock_fd, i);
	if (held < 0)
		return say(why, len, VMSHM_LIVE_UNKNOWN, "cannot judge: lock query failed");
	if (held)
		return say(why, len, VMSHM_LIVE_YES, "lock held");
	/* No lock: the occupant of this generation is gone, unless the entry
	 * moved on while we looked (then a newer occupant may hold it). */
	if (LD(&fmt_peer(&p->L, i)->state) != w)
		return say(why, len, VMSHM_LIVE_UNKNOWN, "cannot judge: entry changed");
	return say(why, len, VMSHM_LIVE_NO, "lock released: gone");
}

int peer_judge(const vmshm_pool *p, uint32_t i, uint64_t w, char *why, size_t len)
{
	const struct fmt_layout *L = &p->L;
	uint32_t v[FI_COUNT];
	if (i == 0 || i >= L->peer_count)
		return say(why, len, VMSHM_LIVE_UNKNOWN, "no such entry");
	switch (PW_STATE(w)) {
	case VMSHM_PEER_FREE:
		return say(why, len, VMSHM_LIVE_NO, "free");
	case VMSHM_PEER_DEAD:
		return say(why, len, VMSHM_LIVE_NO, "its VM is gone");
	case VMSHM_PEER_RECLAIMING:
		return say(why, len, VMSHM_LIVE_NO, "being reclaimed");
	case VMSHM_PEER_ALIVE:
	case VMSHM_PEER_CLAIMING:
	case VMSHM_PEER_FENCED:
		break;
	default:
		return say(why, len, VMSHM_LIVE_UNKNOWN, "cannot judge: invalid state");
	}
	if (i == p->self && PW_GEN(w) == p->self_gen) /* our own lock does not conflict */
		return say(why, len, VMSHM_LIVE_YES, "this attach");
	if (ident_read(fmt_peer(L, i), PW_GEN(w), v))
		return judge_ident(p, i, w, v, why, len);
	if (PW_STATE(w) == VMSHM_PEER_CLAIMING) {
		/* Incomplete: its claimer stopped (or died) within its first
		 * steps. Taking it over is safe even if it resumes: each of its
		 * later writes is a CAS that fails. So a hint is enough: a claim
		 * of our lock domain (by its 8-bit hash) whose lock byte is free
		 * now is over; any other, 30 s after its stamp. */
		const struct peer_judge_ctx *J = &p->judge;
		if (J->kind == FMT_JUDGE_LOCK && PW_RECLAIMER(w) == J->domain8 &&
		    plat_peer_lock_held(J->lock_fd, i) == 0 && LD(&fmt_peer(L, i)->state) == w)
			return say(why, len, VMSHM_LIVE_NO, "claim abandoned: lock released");
		if (((now_stamp() - PW_AUX(w)) & 0xffffu) > FMT_CLAIM_STALE_S &&
		    LD(&fmt_peer(L, i)->state) == w)
			return say(why, len, VMSHM_LIVE_NO, "claim abandoned");
		return say(why, len, VMSHM_LIVE_UNKNOWN, "cannot judge: claiming");
	}
	return say(why, len, VMSHM_LIVE_UNKNOWN, "cannot judge: identity incomplete");
}

void peer_read(const vmshm_pool *p, uint32_t i, struct vmshm_peerinfo *out)
{
	const struct fmt_layout *L = &p->L;
	struct fmt_peer *pe = fmt_peer(L, i);
	uint64_t w = LD(&pe->state);
	uint32_t v[FI_COUNT];
	memset(out, 0, sizeof(*out));
	out->index = i;
	out->gen = PW_GEN(w);
	out->state = PW_STATE(w);
	out->reclaimer = PW_RECLAIMER(w);
	out->ivposition = -1;
	if (ident_read(pe, PW_GEN(w), v)) {
		out->os = (int)(v[FI_KIND] & 0xffu);
		out->judge = (int)((v[FI_KIND] >> 8) & 0xffu);
		out->ivposition = (int32_t)v[FI_IVPOS];
		out->pid = v[FI_PID];
		out->start_time = join64(&v[FI_START_LO]);
		out->attached_ns = join64(&v[FI_ATTACH_LO]);
		memcpy(out->boot_id, &v[FI_BOOT0], 16);
		memcpy(out->comm, &v[FI_COMM0], 16);
		out->comm[15] = 0;
		out->lock_dev = join64(&v[FI_LOCK_DEV_LO]);
		out->lock_ino = join64(&v[FI_LOCK_INO_LO]);
	}
	static const char hex[] = "0123456789abcdef";
	char *s = out->vm;
	for (int b = 0; b < 16; b++) {
		if (b == 4 || b == 6 || b == 8 || b == 10)
			*s++ = '-';
		*s++ = hex[out->boot_id[b] >> 4];
		*s++ = hex[out->boot_id[b] & 15];
	}
	*s = 0;
	out->liveness = peer_judge(p, i, w, out->why, sizeof(out->why));
}

int peer_ident_complete(const vmshm_pool *p, uint32_t i, uint32_t gen)
{
	uint32_t v[FI_COUNT];
	return ident_read(fmt_peer(&p->L, i), gen, v);
}

/* Boot id and ivshmem peer ID of entry I at generation GEN, if complete. */
int peer_vm(const vmshm_pool *p, uint32_t i, uint32_t gen, uint8_t boot[16], int32_t *ivpos)
{
	uint32_t v[FI_COUNT];
	if (!ident_read(fmt_peer(&p->L, i), gen, v))
		return 0;
	memcpy(boot, &v[FI_BOOT0], 16);
	*ivpos = (int32_t)v[FI_IVPOS];
	return 1;
}

/* Takes entry I, seen with word W (FREE, or an occupant judged gone when
 * INHERIT), as this attach's: lock byte first, then the claim CAS, the
 * identity, and CLAIMING -> ALIVE. 0 taken, -1 not. */
static int claim_entry(vmshm_pool *p, uint32_t i, uint64_t w)
{
	struct fmt_peer *pe = fmt_peer(&p->L, i);
	const struct peer_judge_ctx *J = &p->judge;
	uint32_t v[FI_COUNT];
	int locked = 0;
	if (J->kind == FMT_JUDGE_LOCK) {
		/* Held: another attach of this OS instance is on entry I (or
		 * about to be), maybe stopped: keep off. */
		if (plat_peer_lock(J->lock_fd, i) < 0)
			return -1;
		locked = 1;
	}
	uint32_t gen = PW_GEN(w) + 1;
	uint64_t cw = PW_WITH_AUX(PW_MAKE(gen, VMSHM_PEER_CLAIMING, J->domain8), now_stamp());
	ident_values(p, v);
	int ok = CAS(&pe->state, &w, cw);
	if (ok)
		test_stop_point("claim");
	if (!ok || ident_write(pe, gen, v) < 0 ||
	    !CAS(&pe->state, &cw, PW_MAKE(gen, VMSHM_PEER_ALIVE, 0))) {
		if (locked)
			plat_peer_unlock(J->lock_fd, i);
		return -1;
	}
	self_set(p, i, gen);
	return 0;
}

int peer_attach(vmshm_pool *p)
{
	const struct fmt_layout *L = &p->L;
	for (uint32_t i = 1; i < L->peer_count; i++) {
		uint64_t w = LD(&fmt_peer(L, i)->state);
		if (PW_STATE(w) == VMSHM_PEER_FREE && claim_entry(p, i, w) == 0)
			return 0;
	}
	return VMSHM_ENOPEER;
}

/* The table is full: take the entry of an occupant proven gone, as ours.
 * Returns its index (the caller scrubs what the old occupant left under
 * it before anything else), or VMSHM_ENOPEER. */
int peer_inherit(vmshm_pool *p)
{
	const struct fmt_layout *L = &p->L;
	for (uint32_t i = 1; i < L->peer_count; i++) {
		uint64_t w = LD(&fmt_peer(L, i)->state);
		int st = PW_STATE(w);
		if (st != VMSHM_PEER_ALIVE && st != VMSHM_PEER_CLAIMING && st != VMSHM_PEER_DEAD &&
		    st != VMSHM_PEER_FENCED)
			continue;
		if (peer_judge(p, i, w, NULL, 0) != VMSHM_LIVE_NO)
			continue;
		/* A fencer at work may still be dropping bit I. */
		if (st == VMSHM_PEER_FENCED && PW_RECLAIMER(w) && !peer_reclaimer_gone(p, w))
			continue;
		if (claim_entry(p, i, w) == 0)
			return (int)i;
	}
	return VMSHM_ENOPEER;
}

/* Frees this attach's entry (its holder bits are already dropped). The lock
 * byte is released by peer_unlock, after the pool is unmapped. */
void peer_release(vmshm_pool *p)
{
	struct fmt_peer *pe = fmt_peer(&p->L, p->self);
	uint64_t w = PW_MAKE(p->self_gen, VMSHM_PEER_ALIVE, 0);
	CAS(&pe->state, &w, PW_MAKE(p->self_gen, VMSHM_PEER_FREE, 0));
}

/* Is entry I's reclaimer (RECLAIMING word W) gone for good? Its entry is
 * FREE or moved to another generation (it was reclaimed or detached), or it
 * is itself DEAD or being reclaimed. An ALIVE, CLAIMING or FENCED reclaimer
 * of the recorded generation may still be writing: not gone. */
int peer_reclaimer_gone(const vmshm_pool *p, uint64_t w)
{
	const struct fmt_layout *L = &p->L;
	uint32_t r = PW_RECLAIMER(w);
	if (r == 0 || r >= L->peer_count)
		return 1; /* never written by vmshm: damage */
	uint64_t rw = LD(&fmt_peer(L, r)->state);
	int st = PW_STATE(rw);
	if (st == VMSHM_PEER_FREE || (PW_GEN(rw) & 0xffffu) != PW_AUX(w))
		return 1;
	return st == VMSHM_PEER_DEAD || st == VMSHM_PEER_RECLAIMING;
}

/* How a signaller here reaches the waiters of peer I (cached per entry
 * generation): a futex on its wake word when it locks the same file of this
 * OS instance (a file mapping: the kernel keys the futex by file and
 * offset); our own VM's doorbell when it is of this guest but waits on its
 * doorbell; its VM's doorbell when it is of another VM with an ivshmem ID;
 * else nothing reaches it, and it polls. */
int peer_channel(vmshm_pool *p, uint32_t i, int32_t *ivpos)
{
	uint32_t gen = PW_GEN(LD(&fmt_peer(&p->L, i)->state));
	uint32_t v[FI_COUNT];
	if (i >= 64)
		return PEER_CHAN_NONE;
	uint64_t c = atomic_load_explicit(&p->chan[i], memory_order_relaxed);
	if (c && (uint32_t)(c >> 32) == gen + 1) {
		*ivpos = (int32_t)(c & 0xffffffu) - 1;
		return (int)((c >> 24) & 0xffu);
	}
	int chan = PEER_CHAN_NONE;
	*ivpos = -1;
	if (ident_read(fmt_peer(&p->L, i), gen, v)) {
		int same_os = (v[FI_KIND] & 0xffu) == p->ident.os &&
			      memcmp(&v[FI_BOOT0], p->ident.boot_id, 16) == 0;
		*ivpos = (int32_t)v[FI_IVPOS];
		if (*ivpos > 65535) /* not an ivshmem peer ID (damage): no doorbell */
			*ivpos = -1;
		if (same_os && p->judge.kind == FMT_JUDGE_LOCK &&
		    ((v[FI_KIND] >> 8) & 0xffu) == FMT_JUDGE_LOCK &&
		    join64(&v[FI_LOCK_DEV_LO]) == p->judge.lock_dev &&
		    join64(&v[FI_LOCK_INO_LO]) == p->judge.lock_ino && p->map.be->futex_ok)
			chan = PEER_CHAN_FUTEX;
		else if (same_os && *ivpos >= 0 && *ivpos == p->map.ivposition)
			chan = PEER_CHAN_OWN_DOORBELL;
		else if (!same_os && *ivpos >= 0)
			chan = PEER_CHAN_DOORBELL;
	}
	c = (uint64_t)(gen + 1) << 32 | (uint64_t)chan << 24 | (uint32_t)((*ivpos + 1) & 0xffffff);
	atomic_store_explicit(&p->chan[i], c, memory_order_relaxed);
	return chan;
}
