/*
 * cmd_sync.c - events, mutexes and semaphores from scripts: `vmshm event
 * create|set|reset|pulse`, `vmshm semaphore create`, `vmshm release` (of a
 * semaphore) and `vmshm wait` (for any of the three); and their state in a
 * row of `vmshm ls`.
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

#define COUNT_MAX 2147483647u /* a LONG count, as RtCreateSemaphore takes */

static const char event_help[] =
    "usage: vmshm event create [--pool PATH] NAME [--manual] [--set] [--json]\n"
    "       vmshm event set|reset|pulse [--pool PATH] NAME\n"
    "\n"
    "create: a new event NAME, auto-reset (--manual: manual-reset), reset (--set:\n"
    "set). The pool itself holds it, so it persists after the command, until\n"
    "`vmshm rm NAME`. Fails if NAME exists.\n"
    "set: a manual-reset event releases every waiter until it is reset; an\n"
    "auto-reset one releases one waiter, and stays set until one comes.\n"
    "reset: the event is reset. pulse: releases the waiters there are (a\n"
    "manual-reset event all, an auto-reset one one) and leaves it reset; with no\n"
    "waiter the pulse is lost.\n";
static const char semaphore_help[] =
    "usage: vmshm semaphore create [--pool PATH] NAME --max M [--initial N] [--json]\n"
    "\n"
    "Creates the semaphore NAME with the maximum count M (1..2147483647) and the\n"
    "count N (0..M, default 0). The pool itself holds it, so it persists after\n"
    "the command, until `vmshm rm NAME`. Fails if NAME exists.\n";
static const char release_help[] =
    "usage: vmshm release [--pool PATH] NAME [--count N] [--json]\n"
    "\n"
    "Adds N (default 1) to the count of the semaphore NAME, releasing as many\n"
    "waiters. Fails, changing nothing, if the count would pass its maximum.\n"
    "--json prints the count before and after.\n";
static const char wait_help[] =
    "usage: vmshm wait [--pool PATH] NAME [--timeout MS] [--json]\n"
    "\n"
    "Waits until the event, semaphore or mutex NAME is signaled and consumes it,\n"
    "as RtWaitForSingleObject does: an auto-reset event is reset, a semaphore's\n"
    "count goes down by 1. A mutex is taken and released at once (the command\n"
    "never keeps it); an abandoned one is taken, said so, and left abandoned for\n"
    "the next waiter. --timeout MS: give up after MS milliseconds (0: look once);\n"
    "without it, wait for ever.\n"
    "Exit status: 0 signaled (or abandoned), 1 timed out or failed, 2 usage.\n";

/* ---- state of an object, for ls --------------------------------------- */

static int is_sync(int type)
{
	return type == VMSHM_TYPE_EVENT || type == VMSHM_TYPE_SEMAPHORE || type == VMSHM_TYPE_MUTEX;
}

static int has_sync_state(const struct vmshm_objinfo *o)
{
	return is_sync(o->type) && o->state == VMSHM_OBJ_LIVE;
}

void sync_state_text(const struct vmshm_objinfo *o, char *buf, size_t len)
{
	if (!has_sync_state(o))
		snprintf(buf, len, "-");
	else if (o->type == VMSHM_TYPE_EVENT)
		snprintf(buf, len, "%s,%s", o->signaled ? "set" : "reset",
			 o->manual ? "manual" : "auto");
	else if (o->type == VMSHM_TYPE_SEMAPHORE)
		snprintf(buf, len, "%" PRIu32 "/%" PRIu32, o->count, o->max);
	else if (o->abandoned)
		snprintf(buf, len, "abandoned");
	else if (o->mx_owner)
		snprintf(buf, len, "owner=%" PRIu32, o->mx_owner);
	else
		snprintf(buf, len, "free");
}

static void mutex_json(struct json *j, const struct vmshm_objinfo *o)
{
	if (o->mx_owner) {
		json_u64(j, "mutex_owner", o->mx_owner);
		json_u64(j, "mutex_thread", o->mx_thread);
	} else {
		json_null(j, "mutex_owner");
		json_null(j, "mutex_thread");
	}
	json_bool(j, "abandoned", o->abandoned);
}

void sync_state_json(struct json *j, const struct vmshm_objinfo *o)
{
	if (!has_sync_state(o))
		return;
	json_bool(j, "signaled", o->signaled);
	if (o->type == VMSHM_TYPE_EVENT) {
		json_bool(j, "manual", o->manual);
	} else if (o->type == VMSHM_TYPE_SEMAPHORE) {
		json_u64(j, "count", o->count);
		json_u64(j, "max", o->max);
	} else {
		mutex_json(j, o);
	}
	json_arr(j, "waiters");
	for (unsigned i = 1; i < 64; i++)
		if (o->waiters >> i & 1)
			json_u64(j, NULL, i);
	json_end_arr(j);
}

/* ---- common steps ------------------------------------------------------ */

/* Options and exactly one NAME; -1 after printing HELP, else an exit code. */
static int parse_named(struct cmd_ctx *c, int argc, char **argv, const struct opt *opts,
		       int json_ok, const char *help, const char **name)
{
	const char *pos[1];
	int npos, rc = parse_opts(c, argc, argv, opts, json_ok, pos, 1, &npos);

	if (rc)
		return rc;
	if (c->help) {
		fputs(help, stdout);
		return -1;
	}
	if (npos != 1)
		return fail(c, EXIT_USAGE, "needs NAME (see vmshm %s --help)", c->cmd);
	*name = pos[0];
	rc = vmshm_name_check(pos[0]);
	if (rc == VMSHM_ENAMELEN)
		return fail(c, EXIT_USAGE, "bad name: longer than %u UTF-16 code units",
			    VMSHM_NAME_MAX_UNITS);
	return rc < 0 ? fail(c, EXIT_USAGE, "bad name: empty or not valid UTF-8") : 0;
}

/* A count option: 1..COUNT_MAX (0..COUNT_MAX if ZERO_OK). */
static int parse_count(const struct cmd_ctx *c, const char *opt, const char *s, int zero_ok,
		       uint32_t *out)
{
	uint64_t v;

	if (parse_u64(s, &v) < 0 || v > COUNT_MAX || (v == 0 && !zero_ok))
		return fail(c, EXIT_USAGE, "bad %s '%s': use %d to %u", opt, s, zero_ok ? 0 : 1,
			    COUNT_MAX);
	*out = (uint32_t)v;
	return 0;
}

/* Opens NAME whatever its type (the type is REF->type). */
static int open_any(vmshm_pool *p, const char *name, vmshm_ref *ref)
{
	static const int types[] = {VMSHM_TYPE_EVENT, VMSHM_TYPE_SEMAPHORE, VMSHM_TYPE_MUTEX,
				    VMSHM_TYPE_SHM};
	int rc = VMSHM_ENOENT;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if ((rc = vmshm_open(p, types[i], name, ref)) != VMSHM_ETYPE)
			break;
	return rc;
}

static const char *a_type(int type)
{
	switch (type) {
	case VMSHM_TYPE_EVENT:
		return "an event";
	case VMSHM_TYPE_SEMAPHORE:
		return "a semaphore";
	case VMSHM_TYPE_MUTEX:
		return "a mutex";
	}
	return "a shared-memory region";
}

/* Attaches and opens NAME, which must be of TYPE (0: any of the three);
 * on EXIT_OK the caller ends with done(). */
static int open_sync(const struct cmd_ctx *c, const char *name, int type, vmshm_pool **p,
		     vmshm_ref *ref)
{
	int rc = open_pool(c, 0, p);

	if (rc)
		return rc;
	rc = open_any(*p, name, ref);
	if (rc == 0 && (type ? (int)ref->type == type : is_sync((int)ref->type)))
		return EXIT_OK;
	if (rc == 0)
		vmshm_close(*p, ref);
	vmshm_detach(*p);
	if (rc == VMSHM_ENOENT)
		return fail(c, EXIT_FAIL, "%s: no such %s", name,
			    type ? vmshm_type_name(type) : "event, semaphore or mutex");
	if (rc < 0)
		return fail(c, EXIT_FAIL, "%s: %s", name, vmshm_strerror(rc));
	return fail(c, EXIT_FAIL, "%s is %s, not %s", name, a_type((int)ref->type),
		    type ? a_type(type) : "an event, semaphore or mutex");
}

static void done(vmshm_pool *p, vmshm_ref *ref)
{
	vmshm_close(p, ref);
	vmshm_detach(p);
}

/* {"pool": ..., "name": ..., "type": ...: the start of a command's JSON. */
static void json_head(struct json *j, const struct cmd_ctx *c, const char *name, int type)
{
	json_init(j, stdout);
	json_obj(j, NULL);
	json_str(j, "pool", c->pool);
	json_str(j, "name", name);
	json_str(j, "type", vmshm_type_name(type));
}

static void json_tail(struct json *j)
{
	json_end_obj(j);
	json_done(j);
}

/* A create of NAME that failed with RC. */
static int create_result(const struct cmd_ctx *c, vmshm_pool *p, const char *name, int rc)
{
	vmshm_detach(p);
	switch (rc) {
	case VMSHM_EEXIST:
		return fail(c, EXIT_FAIL, "%s already exists", name);
	case VMSHM_ETYPE:
		return fail(c, EXIT_FAIL, "%s already exists as another type of object", name);
	case VMSHM_ENOSPC:
		return fail(c, EXIT_FAIL, "no room for %s in %s", name, c->pool);
	case VMSHM_ENOSLOT:
		return fail(c, EXIT_FAIL, "the directory of %s is full", c->pool);
	}
	return fail(c, EXIT_FAIL, "%s: %s", name, vmshm_strerror(rc));
}

/* The end of a create of NAME (RC of the call): on success, with --json,
 * the new object's state O as `ls --json` shows it. */
static int created(const struct cmd_ctx *c, vmshm_pool *p, const char *name, int rc, vmshm_ref *ref,
		   const struct vmshm_objinfo *o)
{
	struct json j;

	if (rc < 0)
		return create_result(c, p, name, rc);
	done(p, ref);
	if (c->json) {
		json_head(&j, c, name, o->type);
		sync_state_json(&j, o);
		json_tail(&j);
	}
	return EXIT_OK;
}

/* ---- event ------------------------------------------------------------- */

static int event_create(struct cmd_ctx *c, int argc, char **argv)
{
	int manual = 0, set = 0;
	const struct opt opts[] = {
	    {"manual", 0, NULL, &manual},
	    {"set", 0, NULL, &set},
	    {NULL, 0, NULL, NULL},
	};
	struct vmshm_objinfo o = {.type = VMSHM_TYPE_EVENT, .state = VMSHM_OBJ_LIVE};
	const char *name;
	vmshm_pool *p;
	vmshm_ref ref;
	int rc = parse_named(c, argc, argv, opts, 1, event_help, &name);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = open_pool(c, 0, &p)))
		return rc;
	rc = vmshm_event_create(p, name, manual, set, VMSHM_PERSIST | VMSHM_EXCL, &ref);
	o.signaled = set;
	o.manual = manual;
	return created(c, p, name, rc, &ref, &o);
}

static int event_change(struct cmd_ctx *c, int argc, char **argv,
			int (*fn)(vmshm_pool *, const vmshm_ref *))
{
	const struct opt opts[] = {{NULL, 0, NULL, NULL}};
	const char *name;
	vmshm_pool *p;
	vmshm_ref ref;
	int rc = parse_named(c, argc, argv, opts, 0, event_help, &name);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = open_sync(c, name, VMSHM_TYPE_EVENT, &p, &ref)))
		return rc;
	rc = fn(p, &ref);
	done(p, &ref);
	return rc < 0 ? fail(c, EXIT_FAIL, "%s: %s", name, vmshm_strerror(rc)) : EXIT_OK;
}

int cmd_event(int argc, char **argv)
{
	static const struct {
		const char *word, *cmd;
		int (*fn)(vmshm_pool *, const vmshm_ref *);
	} changes[] = {
	    {"set", "event set", vmshm_event_set},
	    {"reset", "event reset", vmshm_event_reset},
	    {"pulse", "event pulse", vmshm_event_pulse},
	};
	struct cmd_ctx c = {.cmd = "event"};

	if (argc < 1)
		return fail(&c, EXIT_USAGE, "missing subcommand: create, set, reset or pulse");
	if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		fputs(event_help, stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[0], "create")) {
		c.cmd = "event create";
		return event_create(&c, argc - 1, argv + 1);
	}
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		if (strcmp(argv[0], changes[i].word))
			continue;
		c.cmd = changes[i].cmd;
		return event_change(&c, argc - 1, argv + 1, changes[i].fn);
	}
	return fail(&c, EXIT_USAGE, "unknown subcommand '%s': create, set, reset or pulse",
		    argv[0]);
}

/* ---- semaphore --------------------------------------------------------- */

static int semaphore_create(struct cmd_ctx *c, int argc, char **argv)
{
	const char *initial_s = NULL, *max_s = NULL, *name;
	const struct opt opts[] = {
	    {"initial", 1, &initial_s, NULL},
	    {"max", 1, &max_s, NULL},
	    {NULL, 0, NULL, NULL},
	};
	struct vmshm_objinfo o = {.type = VMSHM_TYPE_SEMAPHORE, .state = VMSHM_OBJ_LIVE};
	uint32_t initial = 0, max = 0;
	vmshm_pool *p;
	vmshm_ref ref;
	int rc = parse_named(c, argc, argv, opts, 1, semaphore_help, &name);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (!max_s)
		return fail(c, EXIT_USAGE, "needs --max M (see vmshm semaphore create --help)");
	if ((rc = parse_count(c, "--max", max_s, 0, &max)) ||
	    (initial_s && (rc = parse_count(c, "--initial", initial_s, 1, &initial))))
		return rc;
	if (initial > max)
		return fail(c, EXIT_USAGE, "--initial %" PRIu32 " is above --max %" PRIu32, initial,
			    max);
	if ((rc = open_pool(c, 0, &p)))
		return rc;
	rc = vmshm_semaphore_create(p, name, initial, max, VMSHM_PERSIST | VMSHM_EXCL, &ref);
	o.signaled = initial > 0;
	o.count = initial;
	o.max = max;
	return created(c, p, name, rc, &ref, &o);
}

int cmd_semaphore(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "semaphore"};

	if (argc < 1)
		return fail(&c, EXIT_USAGE, "missing subcommand: create");
	if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
		fputs(semaphore_help, stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[0], "create"))
		return fail(&c, EXIT_USAGE, "unknown subcommand '%s': create", argv[0]);
	c.cmd = "semaphore create";
	return semaphore_create(&c, argc - 1, argv + 1);
}

/* ---- release ----------------------------------------------------------- */

static int release_failed(const struct cmd_ctx *c, const char *name, uint32_t n, int rc)
{
	if (rc == VMSHM_ETOOMANY)
		return fail(c, EXIT_FAIL,
			    "%s: a release of %" PRIu32
			    " would pass the maximum count; count unchanged",
			    name, n);
	return fail(c, EXIT_FAIL, "%s: %s", name, vmshm_strerror(rc));
}

int cmd_release(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "release"};
	const char *count_s = NULL, *name;
	const struct opt opts[] = {{"count", 1, &count_s, NULL}, {NULL, 0, NULL, NULL}};
	uint32_t n = 1, prev = 0;
	vmshm_pool *p;
	vmshm_ref ref;
	struct json j;
	int rc = parse_named(&c, argc, argv, opts, 1, release_help, &name);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (count_s && (rc = parse_count(&c, "--count", count_s, 0, &n)))
		return rc;
	if ((rc = open_sync(&c, name, VMSHM_TYPE_SEMAPHORE, &p, &ref)))
		return rc;
	rc = vmshm_semaphore_release(p, &ref, n, &prev);
	done(p, &ref);
	if (rc < 0)
		return release_failed(&c, name, n, rc);
	if (c.json) {
		json_head(&j, &c, name, VMSHM_TYPE_SEMAPHORE);
		json_u64(&j, "previous", prev);
		json_u64(&j, "count", (uint64_t)prev + n);
		json_tail(&j);
	}
	return EXIT_OK;
}

/* ---- wait -------------------------------------------------------------- */

/* --timeout MS as nanoseconds (VMSHM_INFINITE without it). */
static int parse_timeout(const struct cmd_ctx *c, const char *s, uint64_t *ns)
{
	uint64_t ms;

	*ns = VMSHM_INFINITE;
	if (!s)
		return 0;
	if (parse_u64(s, &ms) < 0 || ms > (UINT64_MAX - 1) / 1000000u)
		return fail(c, EXIT_USAGE, "bad timeout '%s': use milliseconds, 0 or more", s);
	*ns = ms * 1000000u;
	return 0;
}

/* A mutex the wait got: released if it was free; left to the detach, which
 * marks it abandoned again, if it was abandoned. Returns whether released. */
static int let_go(vmshm_pool *p, const vmshm_ref *ref, int rc)
{
	return ref->type == VMSHM_TYPE_MUTEX && rc == VMSHM_WAIT_SIGNALED &&
	       vmshm_mutex_release(p, ref) == 0;
}

static const char *wait_result(int rc)
{
	if (rc == VMSHM_WAIT_SIGNALED)
		return "signaled";
	return rc == VMSHM_WAIT_ABANDONED ? "abandoned" : "timeout";
}

static void wait_json(const struct cmd_ctx *c, const char *name, int type, int rc, int released)
{
	struct json j;

	json_head(&j, c, name, type);
	json_str(&j, "result", wait_result(rc));
	if (type == VMSHM_TYPE_MUTEX)
		json_bool(&j, "released", released);
	json_tail(&j);
}

int cmd_wait(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "wait"};
	const char *timeout_s = NULL, *name;
	const struct opt opts[] = {{"timeout", 1, &timeout_s, NULL}, {NULL, 0, NULL, NULL}};
	uint64_t ns;
	vmshm_pool *p;
	vmshm_ref ref;
	int rc = parse_named(&c, argc, argv, opts, 1, wait_help, &name), released;

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if ((rc = parse_timeout(&c, timeout_s, &ns)) || (rc = open_sync(&c, name, 0, &p, &ref)))
		return rc;
	rc = vmshm_wait(p, &ref, 1, ns, NULL);
	released = let_go(p, &ref, rc);
	vmshm_detach(p); /* closes REF; a mutex still ours is abandoned */
	if (rc < 0 && rc != VMSHM_ETIMEDOUT)
		return fail(&c, EXIT_FAIL, "%s: %s", name, vmshm_strerror(rc));
	if (c.json)
		wait_json(&c, name, (int)ref.type, rc, released);
	else if (rc == VMSHM_WAIT_ABANDONED)
		fprintf(stderr,
			"vmshm wait: %s: abandoned: its owner ended while owning it; left "
			"abandoned for the next waiter\n",
			name);
	return rc == VMSHM_ETIMEDOUT ? EXIT_FAIL : EXIT_OK;
}
