/*
 * cmd_peers.c - `vmshm peers`, `vmshm gc` and `vmshm check`.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char peers_help[] =
    "usage: vmshm peers [--pool PATH] [--json]\n"
    "\n"
    "Lists the pool's peers (each attach of a process in any VM): index, state,\n"
    "OS, pid, program, VM (boot id), ivshmem peer ID, liveness as this process\n"
    "can judge it, attach time, and why (\"lock held\", \"cannot judge: another\n"
    "OS instance\", ...).\n";
static const char gc_help[] =
    "usage: vmshm gc [--pool PATH] [--peer INDEX | --vm UUID|IVPOSITION\n"
    "                 [--force | --release]] [--json]\n"
    "\n"
    "Reclaims what peers that are provably gone left in the pool: a process of\n"
    "this OS instance whose kernel lock is released (it ended, exec'd or\n"
    "detached), and every peer of a VM the doorbell server saw end. A peer that\n"
    "cannot be judged from here is left alone ('vmshm peers' says why).\n"
    "--peer INDEX: that peer only. --vm: the peers of one VM (boot id or ivshmem\n"
    "peer ID). --force: your word that they are gone: peers not proven gone\n"
    "are fenced - their references are dropped, their half-made objects\n"
    "aborted and their calls fail, and their entries are freed once they are\n"
    "proven gone. --release: frees fenced entries now (only if you know they\n"
    "can never run again, e.g. you killed that VM's QEMU).\n";
static const char check_help[] =
    "usage: vmshm check [--pool PATH] [--json]\n"
    "\n"
    "Runs the pool's consistency check without changing it. Exit 0 if clean,\n"
    "1 if any fault is found (each is named).\n";

static const char *os_name(int os)
{
	return os == VMSHM_OS_LINUX ? "linux" : os == VMSHM_OS_WINDOWS ? "windows" : "unknown";
}

static const char *live_name(int l)
{
	return l == VMSHM_LIVE_YES ? "yes" : l == VMSHM_LIVE_NO ? "no" : "unknown";
}

static void iso_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct peers_state {
	struct listing l;
};

static int peers_one(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peers_state *s = arg;
	char when[32];

	iso_time(pi->attached_ns, when, sizeof(when));
	if (s->l.json) {
		struct json *j = &s->l.j;

		json_obj(j, NULL);
		json_u64(j, "index", pi->index);
		json_u64(j, "gen", pi->gen);
		json_str(j, "state", vmshm_peer_state_name(pi->state));
		json_str(j, "os", os_name(pi->os));
		json_u64(j, "pid", pi->pid);
		json_u64(j, "start_time", pi->start_time);
		json_strn(j, "comm", pi->comm, strnlen(pi->comm, sizeof(pi->comm)));
		json_strn(j, "vm", pi->vm, strnlen(pi->vm, sizeof(pi->vm)));
		if (pi->ivposition >= 0)
			json_i64(j, "ivposition", pi->ivposition);
		else
			json_null(j, "ivposition");
		json_str(j, "liveness", live_name(pi->liveness));
		json_strn(j, "why", pi->why, strnlen(pi->why, sizeof(pi->why)));
		json_u64(j, "attached_ns", pi->attached_ns);
		json_str(j, "attached", when);
		if (pi->state == VMSHM_PEER_RECLAIMING ||
		    (pi->state == VMSHM_PEER_FENCED && pi->reclaimer))
			json_u64(j, "reclaimer", pi->reclaimer);
		else
			json_null(j, "reclaimer");
		json_end_obj(j);
	} else {
		char comm[17], ivpos[16];
		int pad;

		snprintf(comm, sizeof(comm), "%.16s", pi->comm);
		if (pi->ivposition >= 0)
			snprintf(ivpos, sizeof(ivpos), "%d", pi->ivposition);
		else
			snprintf(ivpos, sizeof(ivpos), "-");
		/* comm may hold anything: it is printed escaped */
		printf("%-5u %-10s %-7s %8" PRIu64 " ", pi->index, vmshm_peer_state_name(pi->state),
		       os_name(pi->os), pi->pid);
		pad = 8 - put_safe(stdout, comm[0] ? comm : "-");
		printf("%*s", pad > 0 ? pad : 0, "");
		printf(" %-36.36s %5s %-7s %-20s %.*s\n", pi->vm, ivpos, live_name(pi->liveness),
		       when, (int)sizeof(pi->why), pi->why);
	}
	return 0;
}

int cmd_peers(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "peers"};
	struct peers_state s = {0};
	vmshm_pool *p;
	char header[160];
	int rc;

	if ((rc = listing_open(&c, argc, argv, peers_help, &p)) != LISTING_GO)
		return rc;
	snprintf(header, sizeof(header), "%-5s %-10s %-7s %8s %-8s %-36s %5s %-7s %-20s %s\n",
		 "INDEX", "STATE", "OS", "PID", "PROGRAM", "VM", "IVPOS", "ALIVE", "ATTACHED",
		 "WHY");
	listing_begin(&s.l, &c, "peers", header);
	rc = vmshm_peers(p, peers_one, &s);
	vmshm_detach(p);
	listing_end(&s.l);
	if (rc < 0)
		return fail(&c, EXIT_FAIL, "%s: %s", c.pool, vmshm_strerror(rc));
	return EXIT_OK;
}

struct peer_look {
	uint32_t index;
	int state, liveness;
	char why[64];
	/* --vm: which peers to act on */
	const uint8_t *boot;
	int32_t ivpos;
	uint64_t match; /* bit N: peer N belongs to the VM */
};

static int look_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peer_look *l = arg;

	if (pi->index == l->index) {
		l->state = pi->state;
		l->liveness = pi->liveness;
		memcpy(l->why, pi->why, sizeof(l->why));
	}
	if (l->boot ? memcmp(pi->boot_id, l->boot, 16) == 0 && pi->vm[0]
		    : l->ivpos >= 0 && pi->ivposition == l->ivpos)
		l->match |= 1ull << pi->index;
	return 0;
}

struct gc_count {
	int reclaimed, fenced, kept;
};

/* One peer: reclaimed if proven gone, else fenced with FORCE. */
static int gc_peer(vmshm_pool *p, uint32_t i, int force, struct gc_count *n)
{
	int rc = vmshm_reclaim_peer(p, i, force ? VMSHM_RECLAIM_FENCE : 0);
	if (rc == 1)
		n->reclaimed++;
	else if (rc == 2)
		n->fenced++;
	else if (rc == 0)
		n->kept++;
	return rc;
}

static int gc_one(struct cmd_ctx *c, vmshm_pool *p, uint32_t i, int force, int release,
		  struct gc_count *n)
{
	struct peer_look look = {.index = i, .state = -1, .ivpos = -1};
	int rc;

	vmshm_peers(p, look_peer, &look);
	if (look.state < 0 || look.state == VMSHM_PEER_FREE)
		return fail(c, EXIT_FAIL, "no peer %u in %s", i, c->pool);
	if (release) {
		if (look.state != VMSHM_PEER_FENCED)
			return fail(c, EXIT_FAIL,
				    "peer %u is not fenced (%s): --release frees only "
				    "a fenced entry",
				    i, vmshm_peer_state_name(look.state));
		rc = vmshm_reclaim_peer(p, i, VMSHM_RECLAIM_RELEASE);
		if (rc == 1)
			n->reclaimed++;
		return rc < 0 ? fail(c, EXIT_FAIL, "%s", vmshm_strerror(rc)) : EXIT_OK;
	}
	/* Fenced already: only proof (or --release) frees it now. */
	rc = gc_peer(p, i, force && look.state != VMSHM_PEER_FENCED, n);
	if (rc < 0)
		return fail(c, EXIT_FAIL, "%s", vmshm_strerror(rc));
	if (rc == 0 && look.state == VMSHM_PEER_FENCED)
		return fail(c, EXIT_FAIL,
			    "peer %u is fenced already and not proven gone (%s); --release frees "
			    "its entry now",
			    i, look.why);
	if (rc == 0)
		return fail(
		    c, EXIT_FAIL, "peer %u was not reclaimed: %s (%s); --force fences it", i,
		    look.liveness == VMSHM_LIVE_YES ? "it is alive" : "it is not proven gone",
		    look.why);
	return EXIT_OK;
}

/* Every peer of one VM: those proven gone are reclaimed; with FORCE the
 * others are fenced, except live ones of this OS instance (a VM that runs
 * this very command is not gone); with RELEASE its fenced entries freed. */
static int gc_vm(vmshm_pool *p, const uint8_t *boot, int32_t ivpos, int force, int release,
		 struct gc_count *n)
{
	struct peer_look look = {.index = 0, .boot = boot, .ivpos = ivpos};
	vmshm_peers(p, look_peer, &look);
	for (uint32_t i = 1; i <= VMSHM_MAX_PEERS; i++) {
		if (!(look.match & (1ull << i)) || (int)i == vmshm_self(p))
			continue;
		struct peer_look one = {.index = i, .state = -1, .ivpos = -1};
		vmshm_peers(p, look_peer, &one);
		if (release) {
			int rc = one.state == VMSHM_PEER_FENCED
				     ? vmshm_reclaim_peer(p, i, VMSHM_RECLAIM_RELEASE)
				     : 0;
			if (rc < 0)
				return -1;
			n->reclaimed += rc;
			continue;
		}
		int fence = force && one.liveness != VMSHM_LIVE_YES;
		if (gc_peer(p, i, fence, n) < 0)
			return -1;
	}
	return 0;
}

int cmd_gc(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "gc"};
	const char *peer_s = NULL, *vm_s = NULL, *pos[1];
	int force = 0, release = 0, npos, rc;
	const struct opt opts[] = {
	    {"peer", 1, &peer_s, NULL},     {"vm", 1, &vm_s, NULL}, {"force", 0, NULL, &force},
	    {"release", 0, NULL, &release}, {NULL, 0, NULL, NULL},
	};
	struct gc_count n = {0, 0, 0};
	uint8_t boot[16];
	uint64_t v = 0;
	int by_uuid = 0;
	vmshm_pool *p;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 0, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(gc_help, stdout);
		return EXIT_OK;
	}
	if (peer_s && vm_s)
		return fail(&c, EXIT_USAGE, "give --peer or --vm, not both");
	if (force && !peer_s && !vm_s)
		return fail(&c, EXIT_USAGE, "--force goes with --peer or --vm");
	if (release && ((!peer_s && !vm_s) || force))
		return fail(&c, EXIT_USAGE, "--release goes with --peer or --vm, without --force");
	if (peer_s && (parse_u64(peer_s, &v) < 0 || v < 1 || v > VMSHM_MAX_PEERS))
		return fail(&c, EXIT_USAGE, "bad peer index '%s': use 1 to %u", peer_s,
			    VMSHM_MAX_PEERS);
	if (vm_s) {
		if (vmshm_parse_uuid(vm_s, boot) == 0)
			by_uuid = 1;
		else if (parse_u64(vm_s, &v) < 0 || v > 65535)
			return fail(&c, EXIT_USAGE,
				    "bad VM '%s': use its boot id (a UUID) or its ivshmem peer "
				    "ID (0 to 65535)",
				    vm_s);
	}
	rc = open_pool(&c, VMSHM_ATTACH_NORECLAIM, &p);
	if (rc)
		return rc;
	if (peer_s)
		rc = gc_one(&c, p, (uint32_t)v, force, release, &n);
	else if (vm_s)
		rc = gc_vm(p, by_uuid ? boot : NULL, by_uuid ? -1 : (int32_t)v, force, release,
			   &n) < 0
			 ? fail(&c, EXIT_FAIL, "reclaim failed")
			 : EXIT_OK;
	else if ((rc = vmshm_reclaim(p)) >= 0)
		n.reclaimed = rc, rc = EXIT_OK;
	else
		rc = fail(&c, EXIT_FAIL, "%s", vmshm_strerror(rc));
	vmshm_detach(p);
	if (rc != EXIT_OK)
		return rc;
	if (c.json) {
		struct json j;

		json_init(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "pool", c.pool);
		json_u64(&j, "reclaimed", (uint64_t)n.reclaimed);
		json_u64(&j, "fenced", (uint64_t)n.fenced);
		json_u64(&j, "kept", (uint64_t)n.kept);
		json_end_obj(&j);
		json_done(&j);
	} else {
		printf("reclaimed %d peer%s", n.reclaimed, n.reclaimed == 1 ? "" : "s");
		if (n.fenced)
			printf(", fenced %d", n.fenced);
		if (n.kept)
			printf(", %d not proven gone (vmshm peers says why; --force fences)",
			       n.kept);
		putchar('\n');
	}
	return EXIT_OK;
}

struct check_state {
	struct listing l;
	int count;
};

static void check_one(const struct vmshm_fault *f, void *arg)
{
	struct check_state *s = arg;

	s->count++;
	if (s->l.json) {
		struct json *j = &s->l.j;

		json_obj(j, NULL);
		json_str(j, "fault", vmshm_fault_name(f->code));
		json_u64(j, "code", (uint64_t)f->code);
		json_u64(j, "where", f->where);
		json_strn(j, "what", f->what, strnlen(f->what, sizeof(f->what)));
		json_end_obj(j);
	} else {
		char what[sizeof(f->what) + 1];

		snprintf(what, sizeof(what), "%.*s", (int)sizeof(f->what), f->what);
		printf("%s %u: ", vmshm_fault_name(f->code), f->where);
		put_safe(stdout, what);
		fputc('\n', stdout);
	}
}

int cmd_check(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "check"};
	struct check_state s = {0};
	char why[256] = "";
	vmshm_pool *p = NULL;
	int rc;

	if ((rc = listing_open(&c, argc, argv, check_help, NULL)) != LISTING_GO)
		return rc;
	if (!c.pool)
		return fail(&c, EXIT_USAGE, "no pool given: use --pool PATH or set VMSHM_POOL");
	rc = vmshm_attach(c.pool, VMSHM_ATTACH_OBSERVER, &p, why, sizeof(why));
	if (rc < 0 && rc != VMSHM_EFORMAT && rc != VMSHM_EVERSION && rc != VMSHM_ECORRUPT) {
		rc = open_pool(&c, VMSHM_ATTACH_OBSERVER, &p); /* names the reason */
		if (rc)
			return rc;
		vmshm_detach(p);
		return fail(&c, EXIT_FAIL, "%s: cannot attach", c.pool);
	}
	listing_begin(&s.l, &c, "faults", NULL);
	if (rc < 0) {
		/* A pool whose header cannot be read is a fault too, named as such. */
		struct vmshm_fault f = {.code = VMSHM_FAULT_HEADER, .where = 0};

		snprintf(f.what, sizeof(f.what), "%.*s", (int)sizeof(f.what) - 1,
			 why[0] ? why : vmshm_strerror(rc));
		check_one(&f, &s);
	} else {
		rc = vmshm_check(p, check_one, &s);
		vmshm_detach(p);
		if (rc < 0) {
			listing_end(&s.l);
			return fail(&c, EXIT_FAIL, "%s: check failed: %s", c.pool,
				    vmshm_strerror(rc));
		}
	}
	listing_close_rows(&s.l);
	if (s.l.json) {
		json_u64(&s.l.j, "count", (uint64_t)s.count);
		json_bool(&s.l.j, "clean", s.count == 0);
	} else if (!s.count) {
		printf("%s: clean\n", c.pool);
	} else {
		fflush(stdout);
		fprintf(stderr, "vmshm check: %d fault%s in %s\n", s.count, s.count == 1 ? "" : "s",
			c.pool);
	}
	listing_end(&s.l);
	return s.count ? EXIT_FAIL : EXIT_OK;
}
