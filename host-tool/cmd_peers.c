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
    "OS, pid, program, VM (boot id), ivshmem peer ID, liveness as this host can\n"
    "judge it, and attach time.\n";
static const char gc_help[] =
    "usage: vmshm gc [--pool PATH] [--peer INDEX | --vm UUID|IVPOSITION] [--force] [--json]\n"
    "\n"
    "Reclaims the references of dead peers. Without options: every peer that\n"
    "is declared dead or is a process of this host that is gone. --peer INDEX:\n"
    "that peer only, if it is dead (--force: even if it looks alive or cannot\n"
    "be judged). --vm: declares every peer of the VM dead (named by its boot id\n"
    "or its ivshmem peer ID) and reclaims them.\n";
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
	struct json j;
	int json;
};

static int peers_one(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peers_state *s = arg;
	char when[32];

	iso_time(pi->attached_ns, when, sizeof(when));
	if (s->json) {
		struct json *j = &s->j;

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
		json_u64(j, "attached_ns", pi->attached_ns);
		json_str(j, "attached", when);
		if (pi->state == VMSHM_PEER_RECLAIMING)
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
		printf(" %-36.36s %5s %-7s %s\n", pi->vm, ivpos, live_name(pi->liveness), when);
	}
	return 0;
}

int cmd_peers(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "peers"};
	const struct opt opts[] = {{NULL, 0, NULL, NULL}};
	const char *pos[1];
	struct peers_state s = {0};
	vmshm_pool *p;
	int npos, rc;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 0, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(peers_help, stdout);
		return EXIT_OK;
	}
	rc = open_pool(&c, VMSHM_ATTACH_OBSERVER, &p);
	if (rc)
		return rc;
	s.json = c.json;
	if (c.json) {
		json_init(&s.j, stdout);
		json_obj(&s.j, NULL);
		json_str(&s.j, "pool", c.pool);
		json_arr(&s.j, "peers");
	} else {
		printf("%-5s %-10s %-7s %8s %-8s %-36s %5s %-7s %s\n", "INDEX", "STATE", "OS",
		       "PID", "PROGRAM", "VM", "IVPOS", "ALIVE", "ATTACHED");
	}
	rc = vmshm_peers(p, peers_one, &s);
	vmshm_detach(p);
	if (c.json) {
		json_end_arr(&s.j);
		json_end_obj(&s.j);
		json_done(&s.j);
	}
	if (rc < 0)
		return fail(&c, EXIT_FAIL, "%s: %s", c.pool, vmshm_strerror(rc));
	return EXIT_OK;
}

struct peer_look {
	uint32_t index;
	int state;
};

static int look_peer(const struct vmshm_peerinfo *pi, void *arg)
{
	struct peer_look *l = arg;

	if (pi->index == l->index)
		l->state = pi->state;
	return 0;
}

int cmd_gc(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "gc"};
	const char *peer_s = NULL, *vm_s = NULL, *pos[1];
	int force = 0, npos, rc;
	const struct opt opts[] = {
	    {"peer", 1, &peer_s, NULL},
	    {"vm", 1, &vm_s, NULL},
	    {"force", 0, NULL, &force},
	    {NULL, 0, NULL, NULL},
	};
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
	if (force && !peer_s)
		return fail(&c, EXIT_USAGE, "--force goes with --peer");
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
	if (peer_s) {
		struct peer_look look = {.index = (uint32_t)v, .state = -1};

		vmshm_peers(p, look_peer, &look);
		if (look.state < 0 || look.state == VMSHM_PEER_FREE) {
			vmshm_detach(p);
			return fail(&c, EXIT_FAIL, "no peer %s in %s", peer_s, c.pool);
		}
		rc = vmshm_reclaim_peer(p, (uint32_t)v, force);
		if (rc == 0) {
			vmshm_detach(p);
			return fail(&c, EXIT_FAIL,
				    "peer %s was not reclaimed: it looks alive (%s) or cannot be "
				    "judged; --force reclaims it anyway",
				    peer_s, vmshm_peer_state_name(look.state));
		}
	} else if (vm_s)
		rc = vmshm_reclaim_vm(p, by_uuid ? boot : NULL, by_uuid ? -1 : (int32_t)v);
	else
		rc = vmshm_reclaim(p);
	vmshm_detach(p);
	if (rc < 0) {
		return fail(&c, EXIT_FAIL, "%s", vmshm_strerror(rc));
	}
	if (c.json) {
		struct json j;

		json_init(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "pool", c.pool);
		json_u64(&j, "reclaimed", (uint64_t)rc);
		json_end_obj(&j);
		json_done(&j);
	} else {
		printf("reclaimed %d peer%s\n", rc, rc == 1 ? "" : "s");
	}
	return EXIT_OK;
}

struct check_state {
	struct json j;
	int json;
	int count;
};

static void check_one(const struct vmshm_fault *f, void *arg)
{
	struct check_state *s = arg;

	s->count++;
	if (s->json) {
		json_obj(&s->j, NULL);
		json_str(&s->j, "fault", vmshm_fault_name(f->code));
		json_u64(&s->j, "code", (uint64_t)f->code);
		json_u64(&s->j, "where", f->where);
		json_strn(&s->j, "what", f->what, strnlen(f->what, sizeof(f->what)));
		json_end_obj(&s->j);
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
	const struct opt opts[] = {{NULL, 0, NULL, NULL}};
	const char *pos[1];
	struct check_state s = {0};
	char why[256] = "";
	vmshm_pool *p = NULL;
	int npos, rc;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 0, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(check_help, stdout);
		return EXIT_OK;
	}
	if (!c.pool)
		return fail(&c, EXIT_USAGE, "no pool given: use --pool PATH or set VMSHM_POOL");
	s.json = c.json;
	rc = vmshm_attach(c.pool, VMSHM_ATTACH_OBSERVER, &p, why, sizeof(why));
	/* A pool whose header cannot be read is a fault too, named as such. */
	if (rc == VMSHM_EFORMAT || rc == VMSHM_EVERSION || rc == VMSHM_ECORRUPT) {
		struct vmshm_fault f = {.code = VMSHM_FAULT_HEADER, .where = 0};

		snprintf(f.what, sizeof(f.what), "%.*s", (int)sizeof(f.what) - 1,
			 why[0] ? why : vmshm_strerror(rc));
		if (c.json) {
			json_init(&s.j, stdout);
			json_obj(&s.j, NULL);
			json_str(&s.j, "pool", c.pool);
			json_arr(&s.j, "faults");
		}
		check_one(&f, &s);
		rc = 1;
		p = NULL;
	} else if (rc < 0) {
		rc = open_pool(&c, VMSHM_ATTACH_OBSERVER, &p); /* names the reason */
		if (rc)
			return rc;
		vmshm_detach(p);
		return fail(&c, EXIT_FAIL, "%s: cannot attach", c.pool);
	} else {
		if (c.json) {
			json_init(&s.j, stdout);
			json_obj(&s.j, NULL);
			json_str(&s.j, "pool", c.pool);
			json_arr(&s.j, "faults");
		}
		rc = vmshm_check(p, check_one, &s);
		vmshm_detach(p);
	}
	if (rc < 0) {
		if (c.json) {
			json_end_arr(&s.j);
			json_end_obj(&s.j);
			json_done(&s.j);
		}
		return fail(&c, EXIT_FAIL, "%s: check failed: %s", c.pool, vmshm_strerror(rc));
	}
	if (c.json) {
		json_end_arr(&s.j);
		json_u64(&s.j, "count", (uint64_t)s.count);
		json_bool(&s.j, "clean", s.count == 0);
		json_end_obj(&s.j);
		json_done(&s.j);
	} else if (!s.count) {
		printf("%s: clean\n", c.pool);
	} else {
		fflush(stdout);
		fprintf(stderr, "vmshm check: %d fault%s in %s\n", s.count, s.count == 1 ? "" : "s",
			c.pool);
	}
	return s.count ? EXIT_FAIL : EXIT_OK;
}
