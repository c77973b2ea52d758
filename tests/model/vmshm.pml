/*
 * vmshm.pml - the directory protocol of docs/FORMAT.md, with the format 2.0
 * liveness, fencing and reclaim rules, as a Promela model for SPIN.
 * docs/MODEL.md says what is modelled, what is abstracted and how to run it.
 *
 * Processes:
 *   Peer(me)  one attach of one process: peer_attach, then OPS calls
 *             (create, open, close, reclaim), then peer_detach.
 *   Operator(me)  `vmshm gc --peer N --force` (FENCE operators): a peer
 *             with an entry and a lock byte of its own (peer_attach), then
 *             vmshm_reclaim_peer(N, FENCE): reclaim_one(N), else
 *             fence_one(N); then it detaches.
 *   chaos     crashes a peer or an operator (up to MAXCRASH) between any
 *             two of its atomic steps: it stops forever and the kernel
 *             drops its lock byte. A *stall* needs no process: any process
 *             may simply not be scheduled while others run.
 *   janitor   once every peer and operator has finished or crashed:
 *             a fresh peer reclaims everyone, destroys the leftovers and
 *             asserts that nothing is left.
 *   monitor   checks the invariants in every reachable state.
 *
 * Every atomic { } block is one atomic operation on one pool word (load,
 * store, CAS, fetch-and), plus process-local bookkeeping. A few adjacent
 * plain stores by one writer are merged (noted where done).
 *
 * Configuration (spin -D...): NP peers (2..3), NS slots, NPG pages, NN names
 * (1..2), OPS calls per peer, MAXCRASH crashes, FENCE operators (0..2),
 * OBJPAGES pages per object (1..2). Broken variants, which must fail:
 * BROKEN_SETTLE, BROKEN_RECLAIM_CAS, BROKEN_JUDGE, BROKEN_JOIN, and the
 * fence of the first design text (docs/MODEL.md, Findings):
 * BROKEN_FENCE_OWNER (its destroys recorded as the fenced peer's),
 * BROKEN_FENCE_WAIT (the FENCED word does not name the fencer, so nobody
 * waits for it), BROKEN_FENCED_CLAIM (an incomplete claim is fenced).
 */

#ifndef NP
#define NP 2
#endif
#ifndef NS
#define NS 2
#endif
#ifndef NPG
#define NPG 2
#endif
#ifndef NN
#define NN 1
#endif
#ifndef OPS
#define OPS 2
#endif
#ifndef MAXCRASH
#define MAXCRASH 1
#endif
#ifndef FENCE
#define FENCE 0
#endif
#ifndef OBJPAGES
#define OBJPAGES 1
#endif

#define NONE 255
#define RETRY 2
#define ESTALE 3
#define GMAX 15                 /* generations are bounded counters: asserted never to reach this */

/* slot states (FORMAT.md "Slot") */
#define S_FREE 0
#define S_CREATING 1
#define S_LIVE 2
#define S_DYING 3
#define S_ABORTED 4
#define S_CLOSING 5             /* format 5.0: a last close deciding */

/* peer entry states (design 2.0) */
#define P_FREE 0
#define P_CLAIMING 1
#define P_ALIVE 2
#define P_DEAD 3
#define P_RECLAIMING 4
#define P_FENCED 5

/* Entries (and process numbers): peers 1..NP, operators OP1.., the janitor
 * JAN; entry 0 is never claimed. An operator attaches on its own entry only
 * (which free entry an attach gets is immaterial). */
#define OP1 (NP + 1)
#define JAN (NP + FENCE + 1)
#define NE (JAN + 1)
#define BIT(i) (1 << (i))
#define HOME(n) (((n) - 1) % NS)
#define OW(s, g) (((s) + 1) * 16 + (g))  /* page owner word: (slot + 1, generation) */
#define OW_SLOT(o) ((o) / 16 - 1)
#define OW_GEN(o) ((o) % 16)

/* ---- the pool ------------------------------------------------------------ */

/* slot state word = (st, gen, own, tag); the CAS compares all four. The tag
 * stands for the name: name n has tag n, 0 is "no name". */
typedef Slot {
	byte st; byte gen; byte own; byte tag;
	byte hold;              /* holders word: bit N = peer entry N may hold (format 5.0) */
	byte ep; byte en;       /* recorded extent: first page, pages */
	byte maxp               /* maxprobe (meaningful on a home slot) */
};
Slot sl[NS];
byte pg[NPG];                   /* page owner words: 0 free, else OW(slot, gen) */
byte ob[NE];                    /* hold words: bit s of ob[i] = entry i holds slot s's object */

/* peer entry state word = (st, gen, rec, aux); aux of RECLAIMING = the
 * reclaimer's own generation (the model keeps it whole: no wrap). */
byte pst[NE], pgen[NE], prec[NE], paux[NE];
byte pident[NE];                /* identity tag: the generation the identity words belong to */

/* ---- the world outside the pool -------------------------------------------- */

byte lockh[NE];                 /* kernel lock byte i: process holding it, 0 none */
bool crashed[NE];               /* chaos stopped this process forever (index = process) */
bool fin[NE];                   /* process has ended (script done, or crashed) */
byte ncrash;

/* each peer's calls: script[p * OPS + k] is its k-th call; OC_ANY: any call */
#define OC_ANY 0
#define OC_CREATE 1
#define OC_OPEN 2
#define OC_CLOSE 3
#define OC_RECLAIM 4
byte script[(NP + 2) * OPS + 3 * OPS];
/* -DSC1=13: peer 1 creates (1), then closes (3); one digit a call, 0 = any */
#ifndef SC1
#define SC1 0
#endif
#ifndef SC2
#define SC2 0
#endif
#ifndef SC3
#define SC3 0
#endif

/* process-local state the monitor reads: the attach and its handles */
byte selfidx[NE], selfgen[NE];
byte rgen[NE * NS], rcnt[NE * NS];      /* local_ref of process p for slot s: [p * NS + s] */
#define RG(p, s) rgen[(p) * NS + (s)]
#define RC(p, s) rcnt[(p) * NS + (s)]

#define SLOT_IS(s, a, b, c, d) (sl[s].st == (a) && sl[s].gen == (b) && sl[s].own == (c) && sl[s].tag == (d))
#define SLOT_SET(s, a, b, c, d) sl[s].st = (a); sl[s].gen = (b); sl[s].own = (c); sl[s].tag = (d)
#define PEER_IS(i, a, b, c, d) (pst[i] == (a) && pgen[i] == (b) && prec[i] == (c) && paux[i] == (d))
#define PEER_SET(i, a, b, c, d) pst[i] = (a); pgen[i] = (b); prec[i] = (c); paux[i] = (d)

/* The locals every protocol inline below uses: declared once per proctype. */
#define PROTOCOL_LOCALS \
	byte self, mygen; \
	byte ok, k, d, d2, j, mp, home; \
	byte w_st, w_gen, w_own, w_tag; \
	byte h, fs, busy, jr; \
	byte cs, cd, cg, sr, sa, first, npg; \
	byte hw_st, hw_gen, hw_own, hw_tag, hh; \
	byte fd_ep, fd_en, fd_k; \
	byte db_old, jk, jb; \
	byte aw_st, aw_gen, aw_own, aw_tag; \
	byte rw_st, rw_gen, rw_rec, rw_aux, gone, ri, rdone; \
	byte fo, fw_st, fw_gen, fw_rec, fw_aux; \
	byte sc_s, sw_st, sw_gen, sw_own, sw_tag; \
	byte sp, so, sstale

/* ---- dir.c ----------------------------------------------------------------- */

/* dir_finish_destroy(s, w = DYING(g, who, tag), who): give back the recorded
 * extent (CAS each owner word (s,g) -> 0), clear the fields with plain
 * stores, CAS DYING -> FREE keeping the generation. */
inline finish_destroy(FD_S, FD_G, FD_WHO, FD_TAG)
{
	atomic { fd_ep = sl[FD_S].ep; fd_en = sl[FD_S].en }
	fd_k = 0;
	do
	:: fd_k < fd_en && fd_ep + fd_k < NPG ->
		atomic { if :: pg[fd_ep + fd_k] == OW(FD_S, FD_G) -> pg[fd_ep + fd_k] = 0 :: else -> skip fi };
		fd_k++
	:: else -> break
	od;
	atomic { sl[FD_S].hold = 0 }                            /* ST holders 0 */
	atomic { sl[FD_S].ep = 0; sl[FD_S].en = 0 }             /* ST ext_page, ext_pages (merged) */
	atomic { if :: SLOT_IS(FD_S, S_DYING, FD_G, FD_WHO, FD_TAG) -> SLOT_SET(FD_S, S_FREE, FD_G, 0, 0)
	         :: else -> skip fi };
	fd_ep = 0; fd_en = 0; fd_k = 0
}

/* dir_judge(s, who), format 5.0: after a peer's hold bit on slot s went
 * (a last close, a failed open, a reclaim), destroy the object if nobody
 * holds it. A LIVE word: if a peer whose holders bit is set has its hold
 * bit set, it holds: done. Else CAS LIVE -> CLOSING(who), read holders and
 * the hold bits again (after the CAS): one set -> CAS back to LIVE and
 * judge again (a peer that cleared its bit and saw CLOSING left the
 * judgment to us); none -> CAS CLOSING -> DYING(who), destroy. A CLOSING
 * word of another peer: its closer decides; anything else: nothing to do. */
#define HELD_SCAN(JS) \
	atomic { hh = sl[JS].hold }; \
	jk = 1; ok = 0; \
	do \
	:: jk < NE && (hh & BIT(jk)) != 0 -> \
		atomic { if :: (ob[jk] & BIT(JS)) != 0 -> ok = 1 :: else -> skip fi }; \
		if \
		:: ok -> break \
		:: else -> jk++ \
		fi \
	:: jk < NE && (hh & BIT(jk)) == 0 -> jk++ \
	:: jk >= NE -> break \
	od

inline judge(JG_S, JG_WHO)
{
	do
	:: atomic { hw_st = sl[JG_S].st; hw_gen = sl[JG_S].gen; hw_own = sl[JG_S].own; hw_tag = sl[JG_S].tag }
	   if
	   :: hw_st != S_LIVE -> break
	   :: else -> skip
	   fi;
	   HELD_SCAN(JG_S);
	   if
	   :: ok -> break                         /* someone holds it */
	   :: else -> skip
	   fi;
	   atomic {
		if
		:: SLOT_IS(JG_S, S_LIVE, hw_gen, hw_own, hw_tag) -> SLOT_SET(JG_S, S_CLOSING, hw_gen, JG_WHO, hw_tag); ok = 1
		:: else -> ok = 0
		fi
	   }
	   if
	   :: !ok -> skip                         /* the word changed: look again */
	   :: else ->
		HELD_SCAN(JG_S);
		if
		:: ok ->                              /* held: back to LIVE, then judge again */
			atomic {
				if
				:: SLOT_IS(JG_S, S_CLOSING, hw_gen, JG_WHO, hw_tag) -> SLOT_SET(JG_S, S_LIVE, hw_gen, hw_own, hw_tag); ok = 1
				:: else -> ok = 0
				fi
			}
#ifdef BROKEN_RESTORE
			break                         /* broken: no second judgment after a restore */
#else
			if
			:: !ok -> break               /* taken from us (our entry was freed) */
			:: else -> skip
			fi
#endif
		:: else ->
			atomic {
				if
				:: SLOT_IS(JG_S, S_CLOSING, hw_gen, JG_WHO, hw_tag) -> SLOT_SET(JG_S, S_DYING, hw_gen, JG_WHO, hw_tag); ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: ok -> finish_destroy(JG_S, hw_gen, JG_WHO, hw_tag)
			:: else -> skip
			fi;
			break
		fi
	   fi
	od;
	hw_st = 0; hw_gen = 0; hw_own = 0; hw_tag = 0; hh = 0; ok = 0; jk = 0
}

/* help_destroy is the judgment (format 5.0) */
#define help_destroy(HD_S, HD_WHO) judge(HD_S, HD_WHO)

/* unhold(s, i, who): entry i's hold bit on slot s cleared (fetch-and),
 * then the judgment. */
inline unhold(UH_S, UH_I, UH_WHO)
{
	atomic { ob[UH_I] = ob[UH_I] & (255 - BIT(UH_S)) }
	judge(UH_S, UH_WHO)
}

/* rollback(s, i, who): a slot CLOSING with closer i (proven gone, or its
 * entry free) back to LIVE (owner: who), then the judgment. */
inline rollback(RB_S, RB_I, RB_WHO)
{
	atomic {
		aw_st = sl[RB_S].st; aw_gen = sl[RB_S].gen; aw_own = sl[RB_S].own; aw_tag = sl[RB_S].tag;
		if
		:: aw_st == S_CLOSING && aw_own == RB_I -> SLOT_SET(RB_S, S_LIVE, aw_gen, RB_WHO, aw_tag); ok = 1
		:: else -> ok = 0
		fi
	}
	aw_st = 0; aw_gen = 0; aw_own = 0; aw_tag = 0;
	if
	:: ok -> ok = 0; judge(RB_S, RB_WHO)
	:: else -> skip
	fi
}

/* dir_take_orphan(s, who): a slot midway through create or destroy whose
 * owner's entry is FREE is taken as who's own and destroyed. */
inline take_orphan(TO_S, TO_WHO)
{
	atomic {
		aw_st = sl[TO_S].st; aw_gen = sl[TO_S].gen; aw_own = sl[TO_S].own; aw_tag = sl[TO_S].tag
	}
	if
	:: aw_st == S_CLOSING ->
		atomic {
			if
			:: (aw_own == 0 || aw_own >= NE || pst[aw_own] == P_FREE) -> ok = 1
			:: else -> ok = 0
			fi
		}
		if
		:: ok -> ok = 0; k = aw_own; rollback(TO_S, k, TO_WHO); k = 0
		:: else -> skip
		fi
	:: (aw_st == S_CREATING || aw_st == S_ABORTED || aw_st == S_DYING) ->
		atomic {
			if
			:: (aw_own == 0 || aw_own >= NE || pst[aw_own] == P_FREE) -> ok = 1
			:: else -> ok = 0
			fi
		}
		if
		:: ok ->
			atomic {
				if
				:: SLOT_IS(TO_S, aw_st, aw_gen, aw_own, aw_tag) ->
					SLOT_SET(TO_S, S_DYING, aw_gen, TO_WHO, aw_tag); ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: ok -> finish_destroy(TO_S, aw_gen, TO_WHO, aw_tag)
			:: else -> skip
			fi
		:: else -> skip
		fi
	:: else -> skip
	fi;
	aw_st = 0; aw_gen = 0; aw_own = 0; aw_tag = 0; ok = 0
}

/* chain_find: the LIVE object named N (fs, word w_*), or a slot of the same
 * tag being created (busy). */
inline chain_find(CF_N)
{
	home = HOME(CF_N);
	atomic { mp = sl[home].maxp }
	fs = NONE; busy = NONE; d = 0;
	do
	:: d > mp -> break
	:: d <= mp ->
		j = (home + d) % NS;
		atomic {
			if
			:: sl[j].tag == CF_N && sl[j].st == S_LIVE ->
				fs = j; w_st = sl[j].st; w_gen = sl[j].gen; w_own = sl[j].own; w_tag = sl[j].tag
			:: sl[j].tag == CF_N && (sl[j].st == S_CREATING || sl[j].st == S_CLOSING) -> busy = j
			:: else -> skip
			fi
		}
		if
		:: fs != NONE -> break
		:: else -> d++
		fi
	od;
	d = 0; j = 0; mp = 0
}

/* join(s, w), format 5.0: set our hold bit (fetch-or of our hold word),
 * our holders bit if it is not there (load, fetch-or: it stays after the
 * close), then look at the state word: still w -> ours. CLOSING of w's
 * object: its closer decides, we wait (or give up after the bounded
 * wait: EBUSY); anything else -> give our hold bit back (the holder bit
 * stays: in the library the peer's lanes share it), judge (a closer may
 * have seen our bit), RETRY. A peer is one lane here: the lanes of one
 * peer act as peers that share a holder bit, which no step of theirs
 * clears (only detach, reclaim and fence, for all lanes at once). */
inline join(JN_S)
{
	jr = 0;
	if
	:: RC(me, JN_S) > 0 && RG(me, JN_S) == w_gen ->
		RC(me, JN_S)++            /* we hold it already: it cannot die meanwhile */
	:: else ->
		atomic { ob[self] = ob[self] | BIT(JN_S) }
		atomic { h = sl[JN_S].hold }
		jb = 0;
#ifndef BROKEN_JOIN
		if
		:: (h & BIT(self)) == 0 -> atomic { sl[JN_S].hold = sl[JN_S].hold | BIT(self) }; jb = 1
		:: else -> skip
		fi;
#endif
		h = 0;
		do
		:: atomic {
			if
			:: SLOT_IS(JN_S, w_st, w_gen, w_own, w_tag) -> RG(me, JN_S) = w_gen; RC(me, JN_S) = 1; ok = 1
			:: sl[JN_S].st == S_CLOSING && sl[JN_S].gen == w_gen && sl[JN_S].tag == w_tag -> ok = 0
			:: else -> jr = RETRY; ok = 1
			fi
		   }
		   if
		   :: ok -> break
		   :: else ->
			if
			:: atomic { !(sl[JN_S].st == S_CLOSING && sl[JN_S].gen == w_gen) } -> skip  /* decided: look */
			:: true -> jr = RETRY; break                                   /* EBUSY after the bounded wait */
			fi
		   fi
		od;
		ok = 0;
		if
		:: jr == RETRY ->             /* the holder bit stays: the peer's other lanes share it */
			atomic { ob[self] = ob[self] & (255 - BIT(JN_S)) }
			jb = 0;
			judge(JN_S, self)
		:: else ->
			jb = 0;
			/* self_ok: fenced meanwhile: the hold is given back, ESTALE */
			atomic { if :: PEER_IS(self, P_ALIVE, mygen, 0, 0) -> ok = 1 :: else -> ok = 0 fi }
			if
			:: !ok -> RC(me, JN_S) = 0; RG(me, JN_S) = 0; jr = ESTALE; unhold(JN_S, self, self)
			:: else -> ok = 0
			fi
		fi
	fi
}

/* abandon(s, g): give up our CREATING or ABORTED slot: CAS to DYING, destroy. */
inline abandon(AB_S, AB_G)
{
	do
	:: atomic {
		aw_st = sl[AB_S].st; aw_gen = sl[AB_S].gen; aw_own = sl[AB_S].own; aw_tag = sl[AB_S].tag
	   }
	   if
	   :: aw_gen != AB_G || aw_own != self || (aw_st != S_CREATING && aw_st != S_ABORTED) -> break
	   :: else ->
		atomic {
			if
			:: SLOT_IS(AB_S, aw_st, aw_gen, aw_own, aw_tag) ->
				SLOT_SET(AB_S, S_DYING, AB_G, self, aw_tag); ok = 1
			:: else -> ok = 0
			fi
		}
		if
		:: ok -> finish_destroy(AB_S, AB_G, self, aw_tag); break
		:: else -> skip
		fi
	   fi
	od;
	aw_st = 0; aw_gen = 0; aw_own = 0; aw_tag = 0; ok = 0
}

/* claim_slot(n): from home, the first FREE slot: raise maxprobe[home]
 * (CAS, only up), then CAS FREE(g) -> CREATING(g+1, self, tag). */
inline claim_slot(CL_N)
{
	home = HOME(CL_N); d = 0; cs = NONE;
	do
	:: d >= NS -> break
	:: d < NS ->
		j = (home + d) % NS;
		atomic { w_st = sl[j].st; w_gen = sl[j].gen; w_own = sl[j].own; w_tag = sl[j].tag }
		if
		:: w_st == S_FREE ->
			atomic { if :: sl[home].maxp < d -> sl[home].maxp = d :: else -> skip fi }
			atomic {
				if
				:: SLOT_IS(j, w_st, w_gen, w_own, w_tag) ->
					assert(w_gen + 1 < GMAX);
					SLOT_SET(j, S_CREATING, w_gen + 1, self, CL_N);
					cs = j; cd = d; cg = w_gen + 1
				:: else -> skip
				fi
			}
		:: else -> skip
		fi;
		if
		:: cs != NONE -> break
		:: else -> d++
		fi
	od;
	d = 0; j = 0; w_st = 0; w_gen = 0; w_own = 0; w_tag = 0
}

/* settle(n, home, d, i): re-read the chain (Dekker: claim CAS, then loads).
 * Another LIVE object of the name with holders -> RETRY. Another CREATING
 * slot of the tag: the nearer home wins (we RETRY, or CAS theirs ABORTED). */
inline settle(ST_N)
{
	home = HOME(ST_N);
	atomic { mp = sl[home].maxp }
	d2 = 0; sr = 0;
	do
	:: d2 > mp -> break
	:: d2 <= mp ->
		j = (home + d2) % NS;
		if
		:: j != cs ->
			atomic { w_st = sl[j].st; w_gen = sl[j].gen; w_own = sl[j].own; w_tag = sl[j].tag }
			do
			:: w_tag != ST_N -> break
			:: w_tag == ST_N && (w_st == S_LIVE || w_st == S_CLOSING) ->
				sr = RETRY; break         /* it exists (a CLOSING one may stay): open it */
			:: w_tag == ST_N && w_st != S_LIVE && w_st != S_CLOSING && w_st != S_CREATING -> break
			:: w_tag == ST_N && w_st == S_CREATING ->
#ifdef BROKEN_SETTLE
				break             /* broken: ignores a concurrent creator */
#else
				if
				:: d2 < cd -> sr = RETRY; break   /* the nearer creator wins */
				:: else ->
					atomic {
						if
						:: SLOT_IS(j, w_st, w_gen, w_own, w_tag) ->
							sl[j].st = S_ABORTED; ok = 1
						:: else ->
							w_st = sl[j].st; w_gen = sl[j].gen; w_own = sl[j].own;
							w_tag = sl[j].tag; ok = 0
						fi
					}
					if
					:: ok -> break
					:: else -> skip
					fi
				fi
#endif
			od
		:: else -> skip
		fi;
		if
		:: sr == RETRY -> break
		:: else -> d2++
		fi
	od;
	d2 = 0; j = 0; mp = 0; ok = 0; w_st = 0; w_gen = 0; w_own = 0; w_tag = 0
}

/* ---- space.c ------------------------------------------------------------------ */

/* space_alloc(s, g, n): find a run of free owner words (any run: alloc_hint
 * is only a hint), record it in the slot, then CAS each word 0 -> (s,g);
 * on a lost word give back the ones taken and search on. sa = 1 on success. */
inline space_alloc(SA_S, SA_G, SA_N)
{
	sa = 0;
	do
	:: atomic {                 /* find_run: some run seen free, or none */
		first = 0;
		do
		:: first + SA_N > NPG -> first = NONE; break
		:: first + SA_N <= NPG && pg[first] == 0 && (SA_N < 2 || pg[first + 1] == 0) -> break
		:: first + SA_N <= NPG -> first++
		od
	   }
	   if
	   :: first == NONE -> break                        /* ENOSPC */
	   :: else ->
		atomic { sl[SA_S].ep = first; sl[SA_S].en = SA_N }     /* record the run first */
		k = 0;
		do
		:: k < SA_N ->
			atomic { if :: pg[first + k] == 0 -> pg[first + k] = OW(SA_S, SA_G); ok = 1 :: else -> ok = 0 fi };
			if
			:: ok -> k++
			:: else -> break
			fi
		:: else -> break
		od;
		if
		:: k == SA_N -> sa = 1; break
		:: else ->                                   /* space_release of the k taken */
			do
			:: k > 0 ->
				k--;
				atomic { if :: pg[first + k] == OW(SA_S, SA_G) -> pg[first + k] = 0 :: else -> skip fi }
			:: else -> break
			od
		fi
	   fi
	od;
	k = 0; ok = 0; first = 0
}

/* space_sweep: free every page whose owner slot is FREE at that generation
 * or at another generation. */
inline space_sweep()
{
	sp = 0;
	do
	:: sp < NPG ->
		atomic { so = pg[sp] }
		if
		:: so != 0 ->
			atomic { sstale = (sl[OW_SLOT(so)].gen != OW_GEN(so) || sl[OW_SLOT(so)].st == S_FREE) }
			if
			:: sstale -> atomic { if :: pg[sp] == so -> pg[sp] = 0 :: else -> skip fi }
			:: else -> skip
			fi
		:: else -> skip
		fi;
		sp++
	:: else -> break
	od;
	sp = 0; so = 0; sstale = 0
}

/* ---- peer.c -------------------------------------------------------------------- */

/* The kernel judge (design 2.0), atomically: entry RI seen with word rw_*,
 * identity complete for its generation, no lock on byte RI, word unchanged
 * -> gone. This is the liveness oracle: the lock is dropped only by a crash
 * or by the end of detach, so "gone" is never true of a running process. */
#ifdef BROKEN_JUDGE
#define KERNEL_GONE(RI) (PEER_IS(RI, rw_st, rw_gen, rw_rec, rw_aux) && pident[RI] == rw_gen)
#else
#define KERNEL_GONE(RI) (PEER_IS(RI, rw_st, rw_gen, rw_rec, rw_aux) && pident[RI] == rw_gen && lockh[RI] == 0)
#endif

/* peer_reclaimer_gone(w): the reclaimer (or fencer) R recorded in a word,
 * with its generation A, is gone for good: entry R FREE, or at another
 * generation, or DEAD or RECLAIMING. One load of R's word. */
#define RECLAIMER_GONE(R, A) ((R) == 0 || (R) >= NE || pst[R] == P_FREE || pgen[R] != (A) || \
	pst[R] == P_DEAD || pst[R] == P_RECLAIMING)

/* reclaim_one(i) by self (reclaim.c): proceed only if i is proven gone
 * (peer_judge: the kernel lock), DEAD, a stale CLAIMING with incomplete
 * identity, or RECLAIMING by a reclaimer that is gone; a FENCED entry also
 * waits for a fencer at work to be gone. reclaim_entry: one CAS to
 * RECLAIMING(self, mygen) wins; drop_bits, finish_inflight; CAS RECLAIMING
 * -> FREE keeping the generation. rdone = 1 when self reclaimed it. */
inline reclaim_one(RO_I)
{
	ri = RO_I; rdone = 0;
	do
	:: atomic { rw_st = pst[ri]; rw_gen = pgen[ri]; rw_rec = prec[ri]; rw_aux = paux[ri] }
	   if
	   :: rw_st == P_FREE -> gone = 0
	   :: rw_st == P_ALIVE -> atomic { gone = KERNEL_GONE(ri) }
	   :: rw_st == P_FENCED ->
		/* a fencer at work (non-zero fencer field) may still be writing */
		if
		:: rw_rec != 0 -> atomic { gone = RECLAIMER_GONE(rw_rec, rw_aux) }
		:: else -> gone = 1
		fi;
		if
		:: gone -> atomic { gone = KERNEL_GONE(ri) }
		:: else -> skip
		fi
	   :: rw_st == P_CLAIMING ->
		/* complete identity: kernel judge; incomplete: the 30 s stamp rule
		 * (time is not modelled: the stamp may always be stale) */
		atomic { gone = KERNEL_GONE(ri) || (PEER_IS(ri, rw_st, rw_gen, rw_rec, rw_aux) && pident[ri] != rw_gen) }
	   :: rw_st == P_RECLAIMING -> atomic { gone = RECLAIMER_GONE(rw_rec, rw_aux) }
	   :: rw_st == P_DEAD -> gone = 1
	   :: else -> gone = 0
	   fi;
	   if
	   :: !gone -> break
	   :: else -> skip
	   fi;
#ifdef BROKEN_RECLAIM_CAS
	   atomic { PEER_SET(ri, P_RECLAIMING, rw_gen, self, mygen); ok = 1 }  /* broken: a store, not a CAS */
#else
	   atomic {
		if
		:: PEER_IS(ri, rw_st, rw_gen, rw_rec, rw_aux) -> PEER_SET(ri, P_RECLAIMING, rw_gen, self, mygen); ok = 1
		:: else -> ok = 0
		fi
	   }
#endif
	   if
	   :: ok ->
		scrub(ri);
		atomic { if :: PEER_IS(ri, P_RECLAIMING, rw_gen, self, mygen) -> PEER_SET(ri, P_FREE, rw_gen, 0, 0)
		         :: else -> skip fi }
		rdone = 1;
		break
	   :: else -> skip            /* the word changed: look again */
	   fi
	od;
	ri = 0; rw_st = 0; rw_gen = 0; rw_rec = 0; rw_aux = 0; gone = 0; ok = 0
}

/* drop_bits(i) by who: for every slot, dir_drop_bit(bit i, who) (who
 * destroys what that leaves without holders). */
inline drop_bits(DS_I, DS_WHO)
{
	sc_s = 0;
	do
	:: sc_s < NS ->
		atomic { ob[DS_I] = ob[DS_I] & (255 - BIT(sc_s)) };
		atomic { sl[sc_s].hold = sl[sc_s].hold & (255 - BIT(DS_I)) };
		judge(sc_s, DS_WHO); sc_s++
	:: else -> break
	od;
	sc_s = 0
}

/* scrub(i) by self, reclaim_entry's steps: drop_bits(i, self), then
 * finish_inflight(i, self): a slot CREATING/ABORTED/DYING with owner i is
 * CASed to DYING with owner self and destroyed. */
inline scrub(SC_I)
{
	drop_bits(SC_I, self);
	sc_s = 0;
	do
	:: sc_s < NS ->
		atomic { sw_st = sl[sc_s].st; sw_gen = sl[sc_s].gen; sw_own = sl[sc_s].own; sw_tag = sl[sc_s].tag }
		if
		:: sw_own == SC_I && sw_st == S_CLOSING -> rollback(sc_s, SC_I, self)
		:: sw_own == SC_I && (sw_st == S_CREATING || sw_st == S_ABORTED || sw_st == S_DYING) ->
			atomic {
				if
				:: SLOT_IS(sc_s, sw_st, sw_gen, sw_own, sw_tag) ->
					SLOT_SET(sc_s, S_DYING, sw_gen, self, sw_tag); ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: ok -> finish_destroy(sc_s, sw_gen, self, sw_tag)
			:: else -> skip
			fi
		:: else -> skip
		fi;
		sc_s++
	:: else -> break
	od;
	sc_s = 0; sw_st = 0; sw_gen = 0; sw_own = 0; sw_tag = 0; ok = 0
}

/* ATOMIC_ATTACH: peer_attach as one step (a smaller model for runs whose
 * subject is not the attach itself) */
#ifdef ATOMIC_ATTACH
#define ATTACH_BEGIN atomic {
#define ATTACH_END }
#else
#define ATTACH_BEGIN
#define ATTACH_END
#endif

/* ---- the peer --------------------------------------------------------------------- */

/* peer_attach over entries AT_LO..AT_HI (claim_entry): for each FREE(g)
 * entry take lock byte i, CAS FREE(g) -> CLAIMING(g+1), write the identity
 * by fenced CAS, CAS CLAIMING -> ALIVE. No entry: goto out. Uses i. */
inline attach(AT_LO, AT_HI)
{
		ATTACH_BEGIN
		i = AT_LO;
		do
		:: i > AT_HI -> goto out                  /* ENOPEER */
		:: i <= AT_HI ->
			atomic { w_st = pst[i]; w_gen = pgen[i] }
			if
			:: w_st == P_FREE ->
				atomic { if :: lockh[i] == 0 -> lockh[i] = me; ok = 1 :: else -> ok = 0 fi }
				if
				:: ok ->
					atomic {
						if
						:: PEER_IS(i, P_FREE, w_gen, 0, 0) -> PEER_SET(i, P_CLAIMING, w_gen + 1, 0, 0); ok = 1
						:: else -> ok = 0
						fi
					}
					if
					:: ok ->
						mygen = w_gen + 1;
						/* identity words by CAS from an older tag; a newer tag: fenced */
						atomic { if :: pident[i] < mygen -> pident[i] = mygen; ok = 1 :: else -> ok = 0 fi }
						if
						:: ok ->
							atomic {
								if
								:: PEER_IS(i, P_CLAIMING, mygen, 0, 0) ->
									PEER_SET(i, P_ALIVE, mygen, 0, 0); ok = 1;
									selfidx[me] = i; selfgen[me] = mygen
								:: else -> ok = 0
								fi
							}
						:: else -> skip
						fi
					:: else -> skip
					fi;
					if
					:: ok -> self = i; break
					:: else -> atomic { lockh[i] = 0 }; mygen = 0  /* forced out: the next entry */
					fi
				:: else -> skip
				fi
			:: else -> skip
			fi;
			w_st = 0; w_gen = 0; ok = 0;
			i++
		od;
		i = 0
		ATTACH_END
}

proctype Peer(byte me)
{
	PROTOCOL_LOCALS;
	byte n, ops, i, s;

	{
		attach(1, NP);

		ops = 0;
		do
		:: ops < OPS ->
			ops++;
			/* pool_usable: a fenced (or forced-out) attach gets ESTALE */
			atomic {
				if
				:: PEER_IS(self, P_ALIVE, mygen, 0, 0) -> ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: !ok -> break
			:: else -> ok = 0
			fi;
			if
			:: n = 1
#if NN > 1
			:: n = 2
#endif
			fi;
			/* the call: the script's, or any (op 0) */
			i = script[me * OPS + ops - 1];
			if
			:: i == OC_CREATE || i == OC_ANY ->    /* ---- dir_create(n) ---- */
				do
				:: chain_find(n);
				   if
				   :: fs != NONE ->
					join(fs);
					w_st = 0; w_gen = 0; w_own = 0; w_tag = 0;
					if
					:: jr == RETRY -> fs = NONE; jr = 0
					:: else -> fs = NONE; jr = 0; break        /* opened the existing one, or ESTALE */
					fi
				   :: else ->
					if
					:: busy != NONE ->
						/* wait_other: judge the creator, reclaim it if gone,
						 * take an orphan; then look again or give up (EBUSY) */
						atomic { aw_st = sl[busy].st; aw_own = sl[busy].own }
						if
						:: aw_st == S_CREATING && aw_own != 0 && aw_own < NE && aw_own != self ->
							k = aw_own; aw_st = 0; aw_own = 0;
							reclaim_one(k); k = 0; rdone = 0
						:: else -> aw_st = 0; aw_own = 0
						fi;
						take_orphan(busy, self);
						busy = NONE;
						if
						:: true -> skip        /* look again */
						:: true -> break       /* EBUSY after the bounded wait */
						fi
					:: else ->
						claim_slot(n);
						if
						:: cs == NONE -> break                    /* ENOSLOT */
						:: else -> skip
						fi;
						settle(n);
						if
						:: sr == RETRY -> sr = 0; abandon(cs, cg); cs = NONE; cd = 0; cg = 0
						:: else ->
							space_alloc(cs, cg, OBJPAGES);
							if
							:: !sa -> abandon(cs, cg); cs = NONE; cd = 0; cg = 0; break  /* ENOSPC */
							:: else -> sa = 0
							fi;
							atomic { ob[self] = ob[self] | BIT(cs) }   /* our hold bit (fetch-or) */
							atomic { sl[cs].hold = BIT(self) }        /* ST holders */
							/* publish: CAS CREATING -> LIVE */
							atomic {
								if
								:: SLOT_IS(cs, S_CREATING, cg, self, n) ->
									sl[cs].st = S_LIVE; RG(me, cs) = cg; RC(me, cs) = 1; ok = 1
								:: else -> ok = 0
								fi
							}
							if
							:: ok ->
								/* self_ok: fenced meanwhile -> unjoin, ESTALE */
								atomic { if :: PEER_IS(self, P_ALIVE, mygen, 0, 0) -> ok = 1 :: else -> ok = 0 fi }
								if
								:: !ok ->
									RC(me, cs) = 0; RG(me, cs) = 0;
									unhold(cs, self, self)
								:: else -> ok = 0
								fi;
								cs = NONE; cd = 0; cg = 0; break
							:: else ->    /* aborted by a nearer creator (or a fence) */
								atomic { sl[cs].hold = 0 }
								atomic { ob[self] = ob[self] & (255 - BIT(cs)) }
								abandon(cs, cg); cs = NONE; cd = 0; cg = 0
							fi
						fi
					fi
				   fi
				od
			:: i == OC_OPEN || i == OC_ANY ->    /* ---- dir_open(n) ---- */
				do
				:: chain_find(n);
				   if
				   :: fs == NONE && busy != NONE ->
					/* a CLOSING object of the name: wait for its closer's word
					 * (wait_other: a gone closer is reclaimed, an orphan rolled back) */
					atomic { aw_st = sl[busy].st; aw_own = sl[busy].own }
					if
					:: aw_st == S_CLOSING && aw_own != 0 && aw_own < NE && aw_own != self ->
						k = aw_own; aw_st = 0; aw_own = 0;
						reclaim_one(k); k = 0; rdone = 0;
						take_orphan(busy, self); busy = NONE
					:: aw_st == S_LIVE -> aw_st = 0; aw_own = 0; busy = NONE   /* kept: look again */
					:: aw_st != S_CLOSING && aw_st != S_LIVE -> aw_st = 0; aw_own = 0; busy = NONE; break   /* ENOENT */
					:: else -> aw_st = 0; aw_own = 0; busy = NONE
					fi;
					if
					:: true -> skip          /* look again */
					:: true -> break         /* EBUSY after the bounded wait */
					fi
				   :: fs == NONE && busy == NONE -> break            /* ENOENT */
				   :: else ->
					busy = NONE;
					join(fs);
					w_st = 0; w_gen = 0; w_own = 0; w_tag = 0; fs = NONE;
					if
					:: jr == RETRY -> jr = 0
					:: else -> jr = 0; break
					fi
				   fi
				od
			:: i == OC_CLOSE || i == OC_ANY ->    /* ---- vmshm_close: unjoin one handle ---- */
				s = 0;
				do
				:: s < NS && RC(me, s) > 0 -> break
				:: s < NS && RC(me, s) > 0 -> s++        /* or a later one */
				:: s < NS && RC(me, s) == 0 -> s++
				:: s >= NS -> break
				od;
				if
				:: s < NS ->
					if
					:: RC(me, s) > 1 -> RC(me, s)--
					:: else ->
						RC(me, s) = 0; RG(me, s) = 0;   /* count 0 (local), then unhold */
						unhold(s, self, self)
					fi
				:: else -> skip
				fi;
				s = 0
			:: i == OC_RECLAIM || i == OC_ANY ->    /* ---- vmshm_reclaim: every other gone peer, then space_sweep ---- */
				s = 1;
				do
				:: s < JAN ->
					if
					:: s != self -> reclaim_one(s); rdone = 0
					:: else -> skip
					fi;
					s++
				:: else -> break
				od;
				s = 0;
				space_sweep()
			fi;
			n = 0; i = 0
		:: else -> break
		od;

		/* vmshm_detach: if pool_usable (our entry still ALIVE at our
		 * generation): dir_detach (drop every bit we hold), peer_release
		 * (CAS ALIVE -> FREE); then unmap and unlock. A fenced attach only
		 * unmaps and unlocks: its bits and entry are not its own any more. */
		atomic { if :: PEER_IS(self, P_ALIVE, mygen, 0, 0) -> ok = 1 :: else -> ok = 0 fi }
		if
		:: !ok -> goto unlock
		:: else -> ok = 0
		fi;
		s = 0;
		do
		:: s < NS ->
			if
			:: RC(me, s) > 0 -> RC(me, s) = 0; RG(me, s) = 0; unhold(s, self, self)
			:: else -> skip
			fi;
			s++
		:: else -> break
		od;
		s = 0;
		do                  /* our holders bits (kept after the closes) cleared */
		:: s < NS -> atomic { sl[s].hold = sl[s].hold & (255 - BIT(self)) }; s++
		:: else -> break
		od;
		s = 0;
		atomic {
			if
			:: PEER_IS(self, P_ALIVE, mygen, 0, 0) -> PEER_SET(self, P_FREE, mygen, 0, 0)
			:: else -> skip
			fi;
			selfidx[me] = 0
		}
unlock:
		atomic { lockh[self] = 0; selfidx[me] = 0 }
out:
		skip
	} unless { crashed[me] };
	fin[me] = 1
}

/* ---- fencing: vmshm gc --peer N --force (reclaim.c) ---------------------- */

/* fence_steps(i) by self, safe to repeat: drop_bits(i, self) (the fencer
 * destroys what that leaves without holders, as its own work), then every
 * CREATING slot with owner i -> ABORTED (its publish fails); ABORTED and
 * DYING slots of i are left alone: i may still be writing their fields. */
inline fence_steps(FS_I)
{
#ifdef BROKEN_FENCE_OWNER
	drop_bits(FS_I, FS_I);         /* design 2.0 text: destroyed "with owner i in DYING" */
#else
	drop_bits(FS_I, self);
#endif
	sc_s = 0;
	do
	:: sc_s < NS ->
		do
		:: atomic { sw_st = sl[sc_s].st; sw_gen = sl[sc_s].gen; sw_own = sl[sc_s].own; sw_tag = sl[sc_s].tag }
		   if
		   :: sw_st == S_CREATING && sw_own == FS_I ->
			atomic {
				if
				:: SLOT_IS(sc_s, sw_st, sw_gen, sw_own, sw_tag) -> sl[sc_s].st = S_ABORTED; ok = 1
				:: else -> ok = 0
				fi
			}
			if
			:: ok -> break
			:: else -> skip
			fi
		   :: else -> break
		   fi
		od;
		sc_s++
	:: else -> break
	od;
	sc_s = 0; sw_st = 0; sw_gen = 0; sw_own = 0; sw_tag = 0; ok = 0
}

/* fence_one(i) by self: FENCED and done (fencer 0), or FENCED by a fencer
 * at work that is not gone: nothing to do. Else, from ALIVE, DEAD, FENCED
 * (its fencer gone: take it over) or CLAIMING with a complete identity
 * (peer_ident_complete), CAS to FENCED(self, mygen); fence_steps; CAS to
 * FENCED with fencer 0. fo = 1 fenced (by us or before), 0 not. */
inline fence_one(FO_I)
{
	fo = NONE;
	do
	:: atomic { fw_st = pst[FO_I]; fw_gen = pgen[FO_I]; fw_rec = prec[FO_I]; fw_aux = paux[FO_I] }
	   if
	   :: fw_st == P_FENCED && fw_rec == 0 -> fo = 1
	   :: fw_st == P_FENCED && fw_rec != 0 ->
		atomic { if :: !RECLAIMER_GONE(fw_rec, fw_aux) -> fo = 1 :: else -> skip fi }
	   :: fw_st != P_ALIVE && fw_st != P_CLAIMING && fw_st != P_DEAD && fw_st != P_FENCED -> fo = 0
#ifndef BROKEN_FENCED_CLAIM
	   :: fw_st == P_CLAIMING ->
		atomic { if :: pident[FO_I] != fw_gen -> fo = 0 :: else -> skip fi }
#endif
	   :: else -> skip
	   fi;
	   if
	   :: fo != NONE -> break
	   :: else -> skip
	   fi;
	   atomic {
		if
		:: PEER_IS(FO_I, fw_st, fw_gen, fw_rec, fw_aux) ->
#ifdef BROKEN_FENCE_WAIT
			PEER_SET(FO_I, P_FENCED, fw_gen, 0, 0); ok = 1    /* design 2.0 text: no fencer recorded */
#else
			PEER_SET(FO_I, P_FENCED, fw_gen, self, mygen); ok = 1
#endif
		:: else -> ok = 0
		fi
	   }
	   if
	   :: ok ->
		ok = 0;
		fence_steps(FO_I);
#ifndef BROKEN_FENCE_WAIT
		atomic { if :: PEER_IS(FO_I, P_FENCED, fw_gen, self, mygen) -> PEER_SET(FO_I, P_FENCED, fw_gen, 0, 0)
		         :: else -> skip fi }
#endif
		fo = 1; break
	   :: else -> skip          /* the word changed: look again */
	   fi
	od;
	fw_st = 0; fw_gen = 0; fw_rec = 0; fw_aux = 0
}

#if FENCE
/* An operator: `vmshm gc --peer T --force` attaches as a peer (on its own
 * entry me, NORECLAIM), then vmshm_reclaim_peer(T, FENCE): pool_usable,
 * reclaim_one(T), else fence_one(T); then vmshm_detach. */
proctype Operator(byte me)
{
	PROTOCOL_LOCALS;
	byte i, t;

	{
		/* its attach is a peer's (checked step by step in the peer
		 * configurations): here one step, to keep the runs small */
		atomic { attach(me, me) }
#ifdef FENCE_TARGET
		t = FENCE_TARGET;        /* a smaller model: the operator fences this entry */
#else
		if
		:: t = 1
		:: t = 2
#if NP > 2
		:: t = 3
#endif
		fi;
#endif
		atomic { if :: PEER_IS(self, P_ALIVE, mygen, 0, 0) -> ok = 1 :: else -> ok = 0 fi }
		if
		:: ok ->
			ok = 0;
			reclaim_one(t);
			if
			:: !rdone -> fence_one(t)
			:: else -> skip
			fi;
			rdone = 0; fo = 0;
			/* vmshm_detach: it holds nothing; peer_release if still ALIVE */
			atomic {
				if
				:: PEER_IS(self, P_ALIVE, mygen, 0, 0) -> PEER_SET(self, P_FREE, mygen, 0, 0)
				:: else -> skip
				fi
			}
		:: else -> ok = 0
		fi;
		atomic { lockh[self] = 0; selfidx[me] = 0 }
out:
		skip
	} unless { crashed[me] };
	fin[me] = 1
}
#endif

/* ---- crashes ------------------------------------------------------------------ */

/* -DCRASH_ONLY=p: only process p may crash (a smaller model) */
#ifdef CRASH_ONLY
#define MAYCRASH(p) ((p) == CRASH_ONLY)
#else
#define MAYCRASH(p) true
#endif
#define CRASH(p) \
	:: atomic { MAYCRASH(p) && ncrash < MAXCRASH && !fin[p] && !crashed[p] -> \
		crashed[p] = 1; ncrash++; \
		k = 1; do :: k < NE -> if :: lockh[k] == (p) -> lockh[k] = 0 :: else -> skip fi; k++ :: else -> break od; \
		k = 0 }

active proctype chaos()
{
	byte k;
end:
	do
	CRASH(1)
	CRASH(2)
#if NP > 2
	CRASH(3)
#endif
#if FENCE && !defined(NO_OPCRASH)
	CRASH(OP1)
#if FENCE > 1
	CRASH(OP1 + 1)
#endif
#endif
	od
}

/* ---- invariants in every state ----------------------------------------------- */

active proctype monitor()
{
	byte p, s, t, c;
end:
	do
	:: d_step {
		/* 1. at most one LIVE object per name that anyone can still open
		 *    (a LIVE object with zero holders can never be joined again) */
		t = 1;
		do
		:: t <= NN ->
			c = 0; s = 0;
			do
			:: s < NS -> if :: (sl[s].st == S_LIVE || sl[s].st == S_CLOSING) && sl[s].tag == t -> c++ :: else -> skip fi; s++
			:: else -> break
			od;
			assert(c <= 1);
			t++
		:: else -> break
		od;
		/* 2. every page of a LIVE object is owned by it (so no page by two) */
		s = 0;
		do
		:: s < NS ->
			if
			:: sl[s].st == S_LIVE ->
				assert(sl[s].en == OBJPAGES && sl[s].ep + OBJPAGES <= NPG);
				assert(pg[sl[s].ep] == OW(s, sl[s].gen));
				assert(OBJPAGES < 2 || pg[sl[s].ep + 1] == OW(s, sl[s].gen))
			:: else -> skip
			fi;
			s++
		:: else -> break
		od;
		/* 3. a running, unfenced peer's handles: the object is still LIVE at
		 *    the generation it opened, and still carries its holder bit */
		p = 1;
		do
		:: p <= NP ->
			if
			:: !crashed[p] && selfidx[p] != 0 && pst[selfidx[p]] == P_ALIVE && pgen[selfidx[p]] == selfgen[p] ->
				s = 0;
				do
				:: s < NS ->
					if
					:: RC(p, s) > 0 ->
						assert((sl[s].st == S_LIVE || sl[s].st == S_CLOSING) && sl[s].gen == RG(p, s));
						assert((sl[s].hold & BIT(selfidx[p])) != 0 && (ob[selfidx[p]] & BIT(s)) != 0)
					:: else -> skip
					fi;
					s++
				:: else -> break
				od
			:: else -> skip
			fi;
			p++
		:: else -> break
		od;
		p = 0; s = 0; t = 0; c = 0
	   }
	od
}

/* ---- the end: everyone gone, reclaim run, nothing left ------------------------- */

active proctype janitor()
{
	PROTOCOL_LOCALS;
	byte me, pass, i, s;

	(fin[1] && fin[2]
#if NP > 2
	 && fin[3]
#endif
#if FENCE
	 && fin[OP1]
#endif
#if FENCE > 1
	 && fin[OP1 + 1]
#endif
	);
	atomic {
		me = JAN; self = JAN; mygen = 1;
		/* reclaim every gone peer; a RECLAIMING entry whose reclaimer is
		 * itself still to be reclaimed needs another pass */
		pass = 0;
		do
		:: pass < JAN ->
			i = 1;
			do
			:: i < JAN -> reclaim_one(i); i++
			:: else -> break
			od;
			pass++
		:: else -> break
		od;
		/* nothing is left to the sweep below: every object whose last
		 * holder closed, crashed or was fenced is gone already */
		s = 0;
		do
		:: s < NS -> assert(sl[s].st == S_FREE); s++
		:: else -> break
		od;
		/* vmshm_reclaim's last loop: zero-holder objects and orphans */
		s = 0;
		do
		:: s < NS -> help_destroy(s, self); take_orphan(s, self); s++
		:: else -> break
		od;
		space_sweep();
		i = 1;
		do
		:: i < JAN -> assert(pst[i] == P_FREE); i++
		:: else -> break
		od;
		s = 0;
		do
		:: s < NS -> assert(sl[s].st == S_FREE && sl[s].hold == 0); s++
		:: else -> break
		od;
		i = 1;
		do
		:: i < NE -> assert(ob[i] == 0); i++
		:: else -> break
		od;
		s = 0;
		do
		:: s < NPG -> assert(pg[s] == 0); s++
		:: else -> break
		od
	}
}

init
{
	int k, d;
	atomic {
		pst[JAN] = P_ALIVE; pgen[JAN] = 1; pident[JAN] = 1; lockh[JAN] = JAN;
		/* the scripts: digit k (from the left) of SCp is call k of peer p */
		k = OPS; d = 1;
		do
		:: k > 0 ->
			k--;
			script[1 * OPS + k] = (SC1 / d) % 10;
			script[2 * OPS + k] = (SC2 / d) % 10;
			script[3 * OPS + k] = (SC3 / d) % 10;
			d = d * 10
		:: else -> break
		od;
		run Peer(1);
		run Peer(2);
#if NP > 2
		run Peer(3);
#endif
#if FENCE
		run Operator(OP1);
#endif
#if FENCE > 1
		run Operator(OP1 + 1);
#endif
	}
}
