/*
 * cmd_obj.c - objects of a pool: `vmshm ls`, `create`, `rm`, `write`,
 * `read` and `dump`.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define PAGE_READWRITE_PROT 0x04 /* flProtect of regions made by vmshm create */

static const char ls_help[] =
    "usage: vmshm ls [--pool PATH] [--json]\n"
    "\n"
    "Lists every object of the pool: slot, type, state, size, offset, holders\n"
    "(\"pool\" for the pool's own hold, then peer indices), the state of an\n"
    "event (set/reset, manual/auto), semaphore (count/max) or mutex (free,\n"
    "owner=PEER, abandoned), and name.\n";
static const char create_help[] =
    "usage: vmshm create [--pool PATH] NAME SIZE\n"
    "\n"
    "Creates the shared-memory region NAME of SIZE bytes (zero-filled). The pool\n"
    "itself holds it, so it persists after the command exits, until `vmshm rm`.\n"
    "Fails if NAME exists (as a region or as another type of object).\n";
static const char rm_help[] =
    "usage: vmshm rm [--pool PATH] NAME\n"
    "\n"
    "Drops the pool's hold on NAME. The region is destroyed when no process in\n"
    "any VM holds a handle to it any more.\n";
static const char write_help[] =
    "usage: vmshm write [--pool PATH] NAME [--offset N] [--file F]\n"
    "\n"
    "Copies the bytes of F (default: standard input) into region NAME at\n"
    "offset N (default 0). Fails, writing nothing, if they do not fit.\n";
static const char read_help[] =
    "usage: vmshm read [--pool PATH] NAME [--offset N] [--length N]\n"
    "\n"
    "Copies LENGTH bytes (default: to the end) of region NAME from offset N to\n"
    "standard output. Fails if the range passes the region's end.\n";
static const char dump_help[] =
    "usage: vmshm dump [--pool PATH] NAME [--offset N] [--length N]\n"
    "\n"
    "Shows bytes of region NAME in hex and ASCII (as hexdump -C does; offsets\n"
    "from the region's start; repeated lines shown as '*').\n";

static int check_name(const struct cmd_ctx *c, const char *name)
{
	int rc = vmshm_name_check(name);

	if (rc == VMSHM_ENAMELEN)
		return fail(c, EXIT_USAGE, "bad name: longer than %u UTF-16 code units",
			    VMSHM_NAME_MAX_UNITS);
	if (rc < 0)
		return fail(c, EXIT_USAGE, "bad name: empty or not valid UTF-8");
	return 0;
}

/* ---- ls ---------------------------------------------------------------- */

struct ls_state {
	struct listing l;
	unsigned count;
	struct vmshm_objinfo *rows; /* collected, then shown in name order */
	size_t n, cap;
	int oom;
};

static void holders_text(uint64_t h, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned i = 0; i < 64 && n + 8 < len; i++) {
		if (!(h >> i & 1))
			continue;
		if (i == 0)
			n += snprintf(buf + n, len - n, "%spool", n ? "," : "");
		else
			n += snprintf(buf + n, len - n, "%s%u", n ? "," : "", i);
	}
	if (!n)
		snprintf(buf, len, "-");
}

static void ls_row(struct ls_state *s, const struct vmshm_objinfo *o)
{
	s->count++;
	if (s->l.json) {
		struct json *j = &s->l.j;

		json_obj(j, NULL);
		if (o->named)
			json_str(j, "name", o->name);
		else
			json_null(j, "name");
		json_str(j, "type", vmshm_type_name(o->type));
		json_str(j, "state", vmshm_obj_state_name(o->state));
		json_u64(j, "size", o->size);
		json_u64(j, "offset", o->offset);
		json_u64(j, "pages", o->pages);
		json_u64(j, "slot", o->slot);
		json_u64(j, "gen", o->gen);
		json_u64(j, "protect", o->protect);
		json_u64(j, "owner", o->owner);
		json_bool(j, "pool_hold", o->holders & 1);
		json_arr(j, "holders");
		for (unsigned i = 1; i < 64; i++)
			if (o->holders >> i & 1)
				json_u64(j, NULL, i);
		json_end_arr(j);
		sync_state_json(j, o);
		json_end_obj(j);
	} else {
		char h[256], sync[32];

		holders_text(o->holders, h, sizeof(h));
		sync_state_text(o, sync, sizeof(sync));
		printf("%-6u %-9s %-8s %12" PRIu64 " %12" PRIu64 "  %-16s %-12s ", o->slot,
		       vmshm_type_name(o->type), vmshm_obj_state_name(o->state), o->size, o->offset,
		       h, sync);
		if (o->named)
			put_safe(stdout, o->name);
		else
			fputs("(unnamed)", stdout);
		fputc('\n', stdout);
	}
}

static int ls_collect(const struct vmshm_objinfo *o, void *arg)
{
	struct ls_state *s = arg;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct vmshm_objinfo *r = realloc(s->rows, cap * sizeof(*r));

		if (!r) {
			s->oom = 1;
			return VMSHM_EIO;
		}
		s->rows = r;
		s->cap = cap;
	}
	s->rows[s->n++] = *o;
	return 0;
}

/* Named objects by name (bytewise, as stored), then unnamed by slot. */
static int by_name(const void *a, const void *b)
{
	const struct vmshm_objinfo *x = a, *y = b;

	if (x->named != y->named)
		return x->named ? -1 : 1;
	int d = x->named ? strcmp(x->name, y->name) : 0;
	return d ? d : (x->slot > y->slot) - (x->slot < y->slot);
}

int cmd_ls(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "ls"};
	struct ls_state s = {0};
	vmshm_pool *p;
	char header[128];
	int rc;

	if ((rc = listing_open(&c, argc, argv, ls_help, &p)) != LISTING_GO)
		return rc;
	snprintf(header, sizeof(header), "%-6s %-9s %-8s %12s %12s  %-16s %-12s %s\n", "SLOT",
		 "TYPE", "STATE", "SIZE", "OFFSET", "HOLDERS", "SYNC", "NAME");
	rc = vmshm_list(p, ls_collect, &s);
	vmshm_detach(p);
	qsort(s.rows, s.n, sizeof(*s.rows), by_name);
	listing_begin(&s.l, &c, "objects", header);
	for (size_t i = 0; i < s.n; i++)
		ls_row(&s, &s.rows[i]);
	free(s.rows);
	listing_end(&s.l);
	if (rc < 0)
		return fail(&c, EXIT_FAIL, "%s: %s", c.pool, vmshm_strerror(rc));
	return EXIT_OK;
}

/* ---- create, rm -------------------------------------------------------- */

/* --json of the commands that change the pool: {"pool", "name", KEY: V}. */
static void done_json(const struct cmd_ctx *c, const char *name, const char *key, uint64_t v)
{
	int is_bool = !strcmp(key, "removed");

	struct json j;

	if (!c->json)
		return;
	json_init(&j, stdout);
	json_obj(&j, NULL);
	json_str(&j, "pool", c->pool);
	json_str(&j, "name", name);
	if (is_bool)
		json_bool(&j, key, (int)v);
	else
		json_u64(&j, key, v);
	json_end_obj(&j);
	json_done(&j);
}

/* Faults that mean the tables are damaged (not a peer waiting for gc, not
 * a create or destroy caught midway by the check). */
static int damage(int code)
{
	return code != VMSHM_FAULT_PAGE_LEAK && code != VMSHM_FAULT_HOLDERS &&
	       code != VMSHM_FAULT_PEER_DEAD && code != VMSHM_FAULT_STUCK;
}

static void first_damage(const struct vmshm_fault *f, void *arg)
{
	struct vmshm_fault *first = arg;

	if (!first->code && damage(f->code))
		*first = *f;
}

/* create adds to a pool only if its tables pass the check. */
static int refuse_corrupt(const struct cmd_ctx *c, vmshm_pool *p)
{
	struct vmshm_fault first = {0};

	if (vmshm_check(p, first_damage, &first) < 0 || !first.code)
		return 0;
	return fail(c, EXIT_FAIL, "%s fails its check (%s: %s): nothing created; see vmshm check",
		    c->pool, vmshm_fault_name(first.code), first.what);
}

int cmd_create(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "create"};
	const struct opt opts[] = {{NULL, 0, NULL, NULL}};
	const char *pos[2];
	vmshm_pool *p;
	vmshm_ref ref;
	uint64_t size;
	int npos, rc;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 2, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(create_help, stdout);
		return EXIT_OK;
	}
	if (npos != 2)
		return fail(&c, EXIT_USAGE, "needs NAME and SIZE (see vmshm create --help)");
	rc = check_name(&c, pos[0]);
	if (rc)
		return rc;
	if (parse_size(pos[1], &size) < 0 || size == 0)
		return fail(&c, EXIT_USAGE,
			    "bad size '%s': use a number above 0 with an optional "
			    "K, M, G or T",
			    pos[1]);
	rc = open_pool(&c, 0, &p);
	if (rc)
		return rc;
	if ((rc = refuse_corrupt(&c, p))) {
		vmshm_detach(p);
		return rc;
	}
	/* Look first, so that an existing object is left exactly as it was. */
	rc = vmshm_open(p, VMSHM_TYPE_SHM, pos[0], &ref);
	if (rc == 0) {
		vmshm_close(p, &ref);
		vmshm_detach(p);
		if (ref.size < size)
			return fail(&c, EXIT_FAIL,
				    "%s already exists with %" PRIu64 " bytes, fewer than %" PRIu64,
				    pos[0], ref.size, size);
		return fail(&c, EXIT_FAIL, "%s already exists (%" PRIu64 " bytes)", pos[0],
			    ref.size);
	}
	if (rc == VMSHM_ENOENT)
		rc = vmshm_create(p, VMSHM_TYPE_SHM, pos[0], size, PAGE_READWRITE_PROT,
				  VMSHM_PERSIST | VMSHM_EXCL, &ref);
	if (rc >= 0) {
		vmshm_close(p, &ref);
		vmshm_detach(p);
		done_json(&c, pos[0], "size", size);
		return EXIT_OK;
	}
	vmshm_detach(p);
	switch (rc) {
	case VMSHM_EEXIST:
		return fail(&c, EXIT_FAIL, "%s already exists", pos[0]);
	case VMSHM_ETYPE:
		return fail(&c, EXIT_FAIL, "%s already exists as another type of object", pos[0]);
	case VMSHM_ENOSPC:
		return fail(&c, EXIT_FAIL, "no room for %" PRIu64 " bytes in %s", size, c.pool);
	case VMSHM_ENOSLOT:
		return fail(&c, EXIT_FAIL, "the directory of %s is full", c.pool);
	default:
		return fail(&c, EXIT_FAIL, "%s: %s", pos[0], vmshm_strerror(rc));
	}
}

int cmd_rm(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "rm"};
	const struct opt opts[] = {{NULL, 0, NULL, NULL}};
	const char *pos[1];
	vmshm_pool *p;
	int npos, rc;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 1, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(rm_help, stdout);
		return EXIT_OK;
	}
	if (npos != 1)
		return fail(&c, EXIT_USAGE, "needs NAME (see vmshm rm --help)");
	rc = check_name(&c, pos[0]);
	if (rc)
		return rc;
	rc = open_pool(&c, 0, &p);
	if (rc)
		return rc;
	rc = vmshm_unpersist(p, pos[0]);
	vmshm_detach(p);
	if (rc == VMSHM_ENOENT)
		return fail(&c, EXIT_FAIL, "%s: no such object held by the pool", pos[0]);
	if (rc < 0)
		return fail(&c, EXIT_FAIL, "%s: %s", pos[0], vmshm_strerror(rc));
	done_json(&c, pos[0], "removed", 1);
	return EXIT_OK;
}

/* ---- write, read, dump ------------------------------------------------- */

/* Opens region NAME for the byte commands. */
static int open_region(const struct cmd_ctx *c, const char *name, vmshm_pool **p, vmshm_ref *ref)
{
	int rc = check_name(c, name);

	if (rc)
		return rc;
	rc = open_pool(c, 0, p);
	if (rc)
		return rc;
	rc = vmshm_open(*p, VMSHM_TYPE_SHM, name, ref);
	if (rc == 0)
		return 0;
	vmshm_detach(*p);
	if (rc == VMSHM_ENOENT)
		return fail(c, EXIT_FAIL, "%s: no such region", name);
	if (rc == VMSHM_ETYPE)
		return fail(c, EXIT_FAIL, "%s is not a shared-memory region", name);
	return fail(c, EXIT_FAIL, "%s: %s", name, vmshm_strerror(rc));
}

static void close_region(vmshm_pool *p, vmshm_ref *ref)
{
	vmshm_close(p, ref);
	vmshm_detach(p);
}

/* Reads up to MAX bytes of FD into a new buffer; *LEN gets the count, and
 * *MORE is set if FD had more than MAX. Returns 0 or an errno. */
static int slurp(int fd, uint64_t max, unsigned char **out, uint64_t *len, int *more)
{
	uint64_t cap = 65536, n = 0;
	unsigned char *buf = malloc(cap);

	*more = 0;
	if (!buf)
		return ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			unsigned char *nb;

			cap *= 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return errno;
		}
		if (r == 0)
			break;
		n += (uint64_t)r;
		if (n > max) {
			*more = 1;
			n = max;
			break;
		}
	}
	*out = buf;
	*len = n;
	return 0;
}

int cmd_write(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "write"};
	const char *offset_s = NULL, *file = NULL, *pos[1];
	const struct opt opts[] = {
	    {"offset", 1, &offset_s, NULL},
	    {"file", 1, &file, NULL},
	    {NULL, 0, NULL, NULL},
	};
	uint64_t off = 0, len = 0, room;
	unsigned char *buf = NULL;
	vmshm_pool *p;
	vmshm_ref ref;
	int npos, rc, fd = STDIN_FILENO, more, e;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 1, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(write_help, stdout);
		return EXIT_OK;
	}
	if (npos != 1)
		return fail(&c, EXIT_USAGE, "needs NAME (see vmshm write --help)");
	if (offset_s && parse_size(offset_s, &off) < 0)
		return fail(&c, EXIT_USAGE, "bad offset '%s'", offset_s);
	if (file && strcmp(file, "-")) {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return fail(&c, EXIT_FAIL, "%s: %s", file, strerror(errno));
	}
	rc = open_region(&c, pos[0], &p, &ref);
	if (rc) {
		if (fd != STDIN_FILENO)
			close(fd);
		return rc;
	}
	if (off > ref.size) {
		close_region(p, &ref);
		return fail(&c, EXIT_FAIL,
			    "offset %" PRIu64 " is past the end of %s (%" PRIu64 " bytes)", off,
			    pos[0], ref.size);
	}
	room = ref.size - off;
	e = slurp(fd, room, &buf, &len, &more);
	if (fd != STDIN_FILENO)
		close(fd);
	if (e) {
		close_region(p, &ref);
		return fail(&c, EXIT_FAIL, "reading %s: %s", file ? file : "stdin", strerror(e));
	}
	if (more) {
		free(buf);
		close_region(p, &ref);
		return fail(&c, EXIT_FAIL,
			    "input is longer than the %" PRIu64 " bytes of %s from offset %" PRIu64
			    "; nothing written",
			    room, pos[0], off);
	}
	memcpy((unsigned char *)ref.addr + off, buf, len);
	free(buf);
	close_region(p, &ref);
	done_json(&c, pos[0], "written", len);
	return EXIT_OK;
}

/* Parses --offset/--length against a region of SIZE bytes. */
static int range(const struct cmd_ctx *c, const char *name, const char *offset_s,
		 const char *length_s, uint64_t size, uint64_t *off, uint64_t *len)
{
	*off = 0;
	if (offset_s && parse_size(offset_s, off) < 0)
		return fail(c, EXIT_USAGE, "bad offset '%s'", offset_s);
	if (length_s && parse_size(length_s, len) < 0)
		return fail(c, EXIT_USAGE, "bad length '%s'", length_s);
	if (*off > size)
		return fail(c, EXIT_FAIL,
			    "offset %" PRIu64 " is past the end of %s (%" PRIu64 " bytes)", *off,
			    name, size);
	if (!length_s)
		*len = size - *off;
	if (*len > size - *off)
		return fail(c, EXIT_FAIL,
			    "offset %" PRIu64 " + length %" PRIu64
			    " is past the end of %s (%" PRIu64 " bytes)",
			    *off, *len, name, size);
	return 0;
}

/* The common part of read and dump: NAME [--offset N] [--length N], the
 * region opened and the range checked against it. Returns -1 when it printed
 * the help, else an exit code; on EXIT_OK the caller closes *P and *REF. */
static int open_span(struct cmd_ctx *c, int argc, char **argv, const char *help, vmshm_pool **p,
		     vmshm_ref *ref, uint64_t *off, uint64_t *len)
{
	const char *offset_s = NULL, *length_s = NULL, *pos[1];
	const struct opt opts[] = {
	    {"offset", 1, &offset_s, NULL},
	    {"length", 1, &length_s, NULL},
	    {NULL, 0, NULL, NULL},
	};
	int npos, rc = parse_opts(c, argc, argv, opts, 0, pos, 1, &npos);

	if (rc)
		return rc;
	if (c->help) {
		fputs(help, stdout);
		return -1;
	}
	if (npos != 1)
		return fail(c, EXIT_USAGE, "needs NAME (see vmshm %s --help)", c->cmd);
	if ((offset_s && parse_size(offset_s, off) < 0))
		return fail(c, EXIT_USAGE, "bad offset '%s'", offset_s);
	if ((length_s && parse_size(length_s, len) < 0))
		return fail(c, EXIT_USAGE, "bad length '%s'", length_s);
	rc = open_region(c, pos[0], p, ref);
	if (rc)
		return rc;
	rc = range(c, pos[0], offset_s, length_s, ref->size, off, len);
	if (rc)
		close_region(*p, ref);
	return rc;
}

int cmd_read(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "read"};
	uint64_t off = 0, len = 0, done = 0;
	vmshm_pool *p;
	vmshm_ref ref;
	int rc = open_span(&c, argc, argv, read_help, &p, &ref, &off, &len);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	while (done < len) {
		ssize_t w = write(STDOUT_FILENO, (unsigned char *)ref.addr + off + done,
				  len - done > (1u << 30) ? (1u << 30) : len - done);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = fail(&c, EXIT_FAIL, "writing to stdout: %s", strerror(errno));
			break;
		}
		done += (uint64_t)w;
	}
	close_region(p, &ref);
	return rc;
}

static void dump_line(uint64_t at, const unsigned char *b, size_t n)
{
	printf("%08" PRIx64 " ", at);
	for (size_t i = 0; i < 16; i++) {
		if (i == 8)
			fputc(' ', stdout);
		if (i < n)
			printf(" %02x", b[i]);
		else
			fputs("   ", stdout);
	}
	fputs("  |", stdout);
	for (size_t i = 0; i < n; i++)
		fputc(b[i] >= 0x20 && b[i] < 0x7f ? b[i] : '.', stdout);
	fputs("|\n", stdout);
}

int cmd_dump(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "dump"};
	uint64_t off = 0, len = 0;
	const unsigned char *base;
	vmshm_pool *p;
	vmshm_ref ref;
	int starred = 0;
	int rc = open_span(&c, argc, argv, dump_help, &p, &ref, &off, &len);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	base = (const unsigned char *)ref.addr + off;
	for (uint64_t i = 0; i < len; i += 16) {
		size_t n = len - i < 16 ? (size_t)(len - i) : 16;

		if (i >= 16 && n == 16 && !memcmp(base + i, base + i - 16, 16)) {
			if (!starred)
				fputs("*\n", stdout);
			starred = 1;
			continue;
		}
		starred = 0;
		dump_line(off + i, base + i, n);
	}
	if (len)
		printf("%08" PRIx64 "\n", off + len);
	fflush(stdout);
	close_region(p, &ref);
	return EXIT_OK;
}
