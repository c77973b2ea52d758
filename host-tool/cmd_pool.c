/*
 * cmd_pool.c - `vmshm pool create` and `vmshm pool info`.
 *
 * pool create makes the file itself: checks the directory, the file system
 * (tmpfs or hugetlbfs), free space and free huge pages, preallocates the
 * file in a temporary name next to PATH (with a progress bar on a terminal),
 * formats it with vmshm_format() and renames it into place, so that a
 * failure leaves PATH as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define PROGRESS_MIN (256ull << 20) /* pools from this size get a progress bar */

static const char create_help[] =
    "usage: vmshm pool create PATH --size SIZE [--hugepages] [--objects N] [--force]\n"
    "                         [--owner USER[:GROUP]] [--group GROUP] [--mode MODE]\n"
    "                         [--exist-ok] [--json]\n"
    "\n"
    "Creates the pool file PATH of SIZE bytes (a power of two, 1M or more: QEMU\n"
    "needs a power-of-two BAR), preallocates it and formats an empty directory\n"
    "with room for N objects (16 to 1048576, rounded up to a power of two;\n"
    "default: chosen from SIZE).\n"
    "  --hugepages  PATH is on a hugetlbfs mount; SIZE must be a multiple of its\n"
    "               huge page size and enough huge pages must be free\n"
    "  --force      overwrite PATH even if it already holds a pool; the new file\n"
    "               keeps the old one's owner, group and mode unless given\n"
    "  --owner, --group  the file's owner and group (names or numbers); a QEMU\n"
    "               that runs as another user needs read and write access\n"
    "  --mode       the file's mode in octal (default 0660)\n"
    "  --exist-ok   if PATH already holds a pool, leave it and succeed (boot\n"
    "               scripts, vmshm-pool@.service)\n"
    "A symbolic link PATH is followed: the pool replaces the file it names.\n";

static const char info_help[] = "usage: vmshm pool info [--pool PATH] [--json]\n"
				"\n"
				"Shows the pool's size, format version, directory capacity, bytes\n"
				"used and free, and the number of objects and peers.\n";

/* Reads one unsigned number from a sysfs file; -1 if it cannot. */
static long long read_sys_num(const char *path)
{
	FILE *f = fopen(path, "r");
	long long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int show_progress;

static void progress(const char *path, uint64_t done, uint64_t total)
{
	char a[32], b[32];
	int width = 30, fill;

	if (!show_progress)
		return;
	fill = total ? (int)(done * width / total) : width;
	fprintf(stderr, "\rpreallocating %s [", path);
	for (int i = 0; i < width; i++)
		fputc(i < fill ? '#' : '.', stderr);
	fprintf(stderr, "] %3d%% %s/%s", total ? (int)(done * 100 / total) : 100,
		fmt_size(done & ~((1ull << 20) - 1), a, sizeof(a)), fmt_size(total, b, sizeof(b)));
	if (done == total)
		fputc('\n', stderr);
	fflush(stderr);
}

/* Preallocates FD to SIZE bytes in chunks (a multiple of ALIGN). */
static int preallocate(int fd, const char *path, uint64_t size, uint64_t align)
{
	uint64_t chunk = 64ull << 20, off = 0;

	if (chunk < align)
		chunk = align;
	progress(path, 0, size);
	while (off < size) {
		uint64_t n = size - off < chunk ? size - off : chunk;

		if (fallocate(fd, 0, (off_t)off, (off_t)n) < 0) {
			int e = errno;

			if (show_progress)
				fputc('\n', stderr);
			if ((e == EOPNOTSUPP || e == ENOSYS) && off == 0)
				return ftruncate(fd, (off_t)size) < 0 ? errno : 0;
			return e;
		}
		off += n;
		progress(path, off, size);
	}
	return 0;
}

struct hugeinfo {
	uint64_t page; /* bytes */
	long long nr, free, resv;
	char sysdir[96];
};

static void huge_counts(struct hugeinfo *h)
{
	char p[160];

	snprintf(h->sysdir, sizeof(h->sysdir), "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB",
		 h->page >> 10);
	snprintf(p, sizeof(p), "%s/nr_hugepages", h->sysdir);
	h->nr = read_sys_num(p);
	snprintf(p, sizeof(p), "%s/free_hugepages", h->sysdir);
	h->free = read_sys_num(p);
	snprintf(p, sizeof(p), "%s/resv_hugepages", h->sysdir);
	h->resv = read_sys_num(p);
	if (h->resv < 0)
		h->resv = 0;
}

/* The new file's owner, group and mode: given, kept from the file it
 * replaces (--force), or the defaults (the creator, 0660). */
struct file_attrs {
	uid_t uid; /* (uid_t)-1: unchanged */
	gid_t gid;
	mode_t mode;
	int have_uid, have_gid, have_mode;
};

/* --owner USER[:GROUP], --group GROUP, --mode MODE into A. */
static int parse_attrs(const struct cmd_ctx *c, const char *owner, const char *group,
		       const char *mode, struct file_attrs *a)
{
	char user[256];
	const char *colon = owner ? strchr(owner, ':') : NULL;

	*a = (struct file_attrs){.uid = (uid_t)-1, .gid = (gid_t)-1, .mode = 0660};
	if (owner) {
		snprintf(user, sizeof(user), "%.*s", colon ? (int)(colon - owner) : 255, owner);
		if (!*user || lookup_user(user, &a->uid) < 0)
			return fail(c, EXIT_USAGE, "no such user '%s' (--owner)", user);
		a->have_uid = 1;
		if (colon && !group)
			group = colon + 1;
	}
	if (group) {
		if (!*group || lookup_group(group, &a->gid) < 0)
			return fail(c, EXIT_USAGE, "no such group '%s'", group);
		a->have_gid = 1;
	}
	if (mode) {
		if (parse_mode(mode, &a->mode) < 0)
			return fail(c, EXIT_USAGE, "bad --mode '%s': use octal 0000 to 0777", mode);
		a->have_mode = 1;
	}
	return 0;
}

/* --force: what was not given comes from the file replaced. */
static void keep_attrs(struct file_attrs *a, const struct stat *old)
{
	if (!a->have_uid)
		a->uid = old->st_uid;
	if (!a->have_gid)
		a->gid = old->st_gid;
	if (!a->have_mode)
		a->mode = old->st_mode & 0777;
}

static int apply_attrs(const struct cmd_ctx *c, int fd, const char *path,
		       const struct file_attrs *a)
{
	if ((a->uid != (uid_t)-1 || a->gid != (gid_t)-1) && fchown(fd, a->uid, a->gid) < 0)
		return fail(c, EXIT_FAIL, "cannot give %s its owner or group: %s", path,
			    strerror(errno));
	if (fchmod(fd, a->mode) < 0)
		return fail(c, EXIT_FAIL, "cannot set the mode of %s: %s", path, strerror(errno));
	return 0;
}

/* Is PATH (a regular, non-empty file) a formatted pool? 1 yes, 0 no. */
static int is_pool(const char *path, struct vmshm_stats *st)
{
	vmshm_pool *p;
	int rc = vmshm_attach(path, VMSHM_ATTACH_OBSERVER, &p, NULL, 0);

	if (rc == VMSHM_EVERSION || rc == VMSHM_ECORRUPT) {
		memset(st, 0, sizeof(*st));
		return 1;
	}
	if (rc < 0)
		return 0;
	if (vmshm_stats(p, st) < 0)
		memset(st, 0, sizeof(*st));
	vmshm_detach(p);
	return 1;
}

/* What pool create works on: the path, its directory and file system, the
 * file it replaces. */
struct target {
	char path[PATH_MAX]; /* a symbolic link resolved */
	char dir[PATH_MAX];
	char base[PATH_MAX];
	struct stat old; /* st_size -1: no file */
	struct statfs sfs;
	int on_huge;
};

static int resolve_target(const struct cmd_ctx *c, const char *path, struct target *t)
{
	char buf[PATH_MAX];
	struct stat dst;

	snprintf(t->path, sizeof(t->path), "%s", path);
	if (lstat(path, &t->old) == 0 && S_ISLNK(t->old.st_mode) && !realpath(path, t->path))
		return fail(c, EXIT_FAIL, "%s is a symbolic link to a missing file", path);
	snprintf(buf, sizeof(buf), "%s", t->path);
	snprintf(t->dir, sizeof(t->dir), "%s", dirname(buf));
	snprintf(buf, sizeof(buf), "%s", t->path);
	snprintf(t->base, sizeof(t->base), "%s", basename(buf));
	if (stat(t->dir, &dst) < 0) {
		if (errno == ENOENT)
			return fail(c, EXIT_FAIL, "no such directory: %s", t->dir);
		return fail(c, EXIT_FAIL, "cannot use directory %s: %s", t->dir, strerror(errno));
	}
	if (!S_ISDIR(dst.st_mode))
		return fail(c, EXIT_FAIL, "not a directory: %s", t->dir);
	if (statfs(t->dir, &t->sfs) < 0)
		return fail(c, EXIT_FAIL, "cannot use directory %s: %s", t->dir, strerror(errno));
	t->on_huge = t->sfs.f_type == HUGETLBFS_MAGIC;
	return 0;
}

#define KEEP_EXISTING (-1) /* check_existing: --exist-ok and PATH is a pool */

/* The file at the target: refused without --force if it holds anything. */
static int check_existing(const struct cmd_ctx *c, struct target *t, int force, int exist_ok)
{
	struct vmshm_stats ps;

	if (lstat(t->path, &t->old) < 0) {
		if (errno != ENOENT)
			return fail(c, EXIT_FAIL, "cannot use %s: %s", t->path, strerror(errno));
		t->old.st_size = -1;
		return 0;
	}
	if (!S_ISREG(t->old.st_mode))
		return fail(c, EXIT_FAIL, "%s exists and is not a regular file", t->path);
	if (t->old.st_size > 0 && is_pool(t->path, &ps)) {
		if (exist_ok && !force)
			return KEEP_EXISTING;
		if (!force)
			return fail(c, EXIT_FAIL,
				    "%s is already a vmshm pool (objects: %u, peers: %u): "
				    "use --force to overwrite it",
				    t->path, ps.objects, ps.peers);
		if (ps.peers)
			fprintf(stderr,
				"vmshm pool create: warning: %s had peers: %u; they keep the "
				"old pool until they detach\n",
				t->path, ps.peers);
	} else if (t->old.st_size > 0 && !force) {
		return fail(c, EXIT_FAIL,
			    "%s exists and is not a vmshm pool: use --force to overwrite it",
			    t->path);
	}
	return 0;
}

static int check_huge_room(const struct cmd_ctx *c, const struct target *t, uint64_t size,
			   struct hugeinfo *h)
{
	uint64_t need, have, old_pages = 0;
	char a[32], b[32];

	h->page = (uint64_t)t->sfs.f_bsize;
	if (size % h->page)
		return fail(c, EXIT_FAIL,
			    "size %s is not a multiple of %s, the huge page size on %s: use %s",
			    fmt_size(size, a, sizeof(a)), fmt_size(h->page, b, sizeof(b)), t->dir,
			    b);
	huge_counts(h);
	need = size / h->page;
	have = h->free > h->resv ? (uint64_t)(h->free - h->resv) : 0;
	/* The old file's pages come back: it is removed first on hugetlbfs. */
	if (t->old.st_size > 0)
		old_pages = (uint64_t)t->old.st_blocks * 512 / h->page;
	have += old_pages;
	if (h->free >= 0 && have < need)
		return fail(c, EXIT_FAIL,
			    "not enough huge pages: the pool needs %" PRIu64
			    " pages of %s, %" PRIu64 " are free; reserve more with "
			    "'echo %" PRIu64 " > %s/nr_hugepages'",
			    need, fmt_size(h->page, a, sizeof(a)), have,
			    (uint64_t)(h->nr > 0 ? h->nr : 0) + (need - have), h->sysdir);
	if (t->sfs.f_blocks > 0 && (uint64_t)t->sfs.f_bfree + old_pages < need)
		return fail(c, EXIT_FAIL,
			    "not enough room on %s: the pool needs %" PRIu64
			    " huge pages, the mount's size limit leaves %" PRIu64,
			    t->dir, need, (uint64_t)t->sfs.f_bfree);
	return 0;
}

/* On tmpfs the new pool is built beside the old one, which keeps its space
 * until the rename: both must fit. */
static int check_room(const struct cmd_ctx *c, const struct target *t, uint64_t size)
{
	struct statvfs svfs;
	char a[32], b[32], o[32];

	if (statvfs(t->dir, &svfs) < 0)
		return 0;
	uint64_t avail = (uint64_t)svfs.f_bavail * svfs.f_frsize;
	if (avail >= size)
		return 0;
	if (t->old.st_size > 0)
		return fail(c, EXIT_FAIL,
			    "no space on %s: the new pool needs %s, %s are free; the old pool "
			    "keeps its %s until the new one replaces it (remove it first, or "
			    "make room)",
			    t->dir, fmt_size(size, a, sizeof(a)),
			    fmt_size(avail & ~1023ull, b, sizeof(b)),
			    fmt_size((uint64_t)t->old.st_blocks * 512, o, sizeof(o)));
	return fail(c, EXIT_FAIL, "no space on %s: the pool needs %s, %s are free", t->dir,
		    fmt_size(size, a, sizeof(a)), fmt_size(avail & ~1023ull, b, sizeof(b)));
}

static int prealloc_failed(const struct cmd_ctx *c, const struct target *t, uint64_t size,
			   struct hugeinfo *h, int e)
{
	char a[32];

	if (e == ENOSPC && t->on_huge) {
		huge_counts(h);
		return fail(c, EXIT_FAIL,
			    "not enough huge pages: the pool needs %" PRIu64
			    " pages of %s, %lld are free; reserve more in %s/nr_hugepages",
			    size / h->page, fmt_size(h->page, a, sizeof(a)), h->free - h->resv,
			    h->sysdir);
	}
	if (e == ENOSPC || e == ENOMEM)
		return fail(c, EXIT_FAIL, "no space on %s for %s", t->dir,
			    fmt_size(size, a, sizeof(a)));
	return fail(c, EXIT_FAIL, "cannot preallocate %s: %s", t->path, strerror(e));
}

/* Preallocates and formats the pool in TMP (open as FD). */
static int build_pool(const struct cmd_ctx *c, const struct target *t, int fd, uint64_t size,
		      uint64_t objects, struct hugeinfo *h)
{
	uint64_t align = t->on_huge ? h->page : VMSHM_PAGE_SIZE;
	char a[32];
	void *mem;
	int e, rc;

	show_progress = isatty(STDERR_FILENO) && size >= PROGRESS_MIN;
	e = preallocate(fd, t->path, size, align);
	if (e)
		return prealloc_failed(c, t, size, h, e);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return fail(c, EXIT_FAIL, "cannot map %s: %s", t->path, strerror(errno));
	rc = vmshm_format(mem, size, (uint32_t)objects);
	munmap(mem, size);
	if (rc == VMSHM_EINVAL && objects)
		return fail(c, EXIT_USAGE, "%" PRIu64 " objects do not fit in a pool of %s",
			    objects, fmt_size(size, a, sizeof(a)));
	if (rc < 0)
		return fail(c, EXIT_FAIL, "cannot format %s: %s", t->path, vmshm_strerror(rc));
	return 0;
}

static int parse_create_size(const struct cmd_ctx *c, const char *size_s, uint64_t *size)
{
	char a[32];

	if (!size_s)
		return fail(c, EXIT_USAGE, "needs --size SIZE (e.g. 64M)");
	if (parse_size(size_s, size) < 0)
		return fail(c, EXIT_USAGE,
			    "bad size '%s': use a number with an optional K, M, G or T", size_s);
	if (*size < VMSHM_MIN_POOL_SIZE)
		return fail(c, EXIT_USAGE, "size %s is too small: a pool has at least 1M", size_s);
	if (*size > VMSHM_MAX_POOL_SIZE)
		return fail(c, EXIT_USAGE, "size %s is too large: a pool has at most %s", size_s,
			    fmt_size(VMSHM_MAX_POOL_SIZE, a, sizeof(a)));
	if (*size & (*size - 1))
		return fail(c, EXIT_USAGE,
			    "size %s is not a power of two (QEMU needs a power-of-two BAR): use %s",
			    size_s, fmt_size(next_pow2(*size), a, sizeof(a)));
	return 0;
}

static int parse_objects(const struct cmd_ctx *c, const char *s, uint64_t *objects)
{
	*objects = 0;
	if (s && (parse_u64(s, objects) < 0 || *objects == 0 || *objects > VMSHM_MAX_OBJECTS))
		return fail(c, EXIT_USAGE,
			    "bad --objects '%s': use 16 to %u (2^20); a count is rounded up to a "
			    "power of two, at least 16",
			    s, VMSHM_MAX_OBJECTS);
	return 0;
}

/* The pool made: what it holds, read back. */
static void created(const struct cmd_ctx *c, const char *path, uint64_t size,
		    const struct file_attrs *a)
{
	struct vmshm_stats st = {0};
	char sz[32];

	if (!is_pool(path, &st))
		st.object_capacity = 0;
	if (c->json) {
		struct json j;

		json_init(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "pool", path);
		json_u64(&j, "size", size);
		json_u64(&j, "object_capacity", st.object_capacity);
		json_u64(&j, "mode", a->mode);
		json_end_obj(&j);
		json_done(&j);
		return;
	}
	printf("%s: pool of %s, room for %u objects, mode %04o\n", path,
	       fmt_size(size, sz, sizeof(sz)), st.object_capacity, (unsigned)a->mode);
}

int cmd_pool_create(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "pool create"};
	const char *size_s = NULL, *objects_s = NULL, *owner = NULL, *group = NULL, *mode = NULL;
	const char *pos[1];
	int hugepages = 0, force = 0, exist_ok = 0, npos, rc, fd;
	const struct opt opts[] = {
	    {"size", 1, &size_s, NULL},
	    {"objects", 1, &objects_s, NULL},
	    {"hugepages", 0, NULL, &hugepages},
	    {"force", 0, NULL, &force},
	    {"owner", 1, &owner, NULL},
	    {"group", 1, &group, NULL},
	    {"mode", 1, &mode, NULL},
	    {"exist-ok", 0, NULL, &exist_ok},
	    {NULL, 0, NULL, NULL},
	};
	uint64_t size, objects;
	char tmp[2 * PATH_MAX + 64];
	struct hugeinfo h = {0};
	struct file_attrs attrs;
	static struct target t;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 1, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(create_help, stdout);
		return EXIT_OK;
	}
	if (npos != 1)
		return fail(&c, EXIT_USAGE, "needs the pool's PATH (see vmshm pool create --help)");
	if ((rc = parse_create_size(&c, size_s, &size)) ||
	    (rc = parse_objects(&c, objects_s, &objects)) ||
	    (rc = parse_attrs(&c, owner, group, mode, &attrs)))
		return rc;
	if ((rc = resolve_target(&c, pos[0], &t)))
		return rc;
	if (hugepages && !t.on_huge)
		return fail(&c, EXIT_FAIL,
			    "%s is not a hugetlbfs mount (--hugepages): make the pool on one, "
			    "e.g. 'mkdir -p /dev/hugepages && mount -t hugetlbfs none "
			    "/dev/hugepages'",
			    t.dir);
	if ((rc = check_existing(&c, &t, force, exist_ok)) == KEEP_EXISTING) {
		printf("%s: already a pool; left as it is\n", pos[0]);
		return EXIT_OK;
	}
	if (rc)
		return rc;
	if (t.old.st_size >= 0)
		keep_attrs(&attrs, &t.old);
	if ((rc = t.on_huge ? check_huge_room(&c, &t, size, &h) : check_room(&c, &t, size)))
		return rc;

	/* On hugetlbfs the old file must go first to give its pages back. */
	if (t.on_huge && t.old.st_size > 0 && unlink(t.path) < 0)
		return fail(&c, EXIT_FAIL, "cannot replace %s: %s", t.path, strerror(errno));

	snprintf(tmp, sizeof(tmp), "%s/.%s.vmshm-new.%ld", t.dir, t.base, (long)getpid());
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return fail(&c, EXIT_FAIL, "permission denied: cannot create a file in %s",
				    t.dir);
		return fail(&c, EXIT_FAIL, "cannot create a file in %s: %s", t.dir,
			    strerror(errno));
	}
	rc = build_pool(&c, &t, fd, size, objects, &h);
	if (!rc)
		rc = apply_attrs(&c, fd, t.path, &attrs);
	close(fd);
	if (!rc && rename(tmp, t.path) < 0)
		rc = fail(&c, EXIT_FAIL, "cannot rename the new pool to %s: %s", t.path,
			  strerror(errno));
	if (rc) {
		unlink(tmp);
		return rc;
	}
	created(&c, pos[0], size, &attrs);
	return EXIT_OK;
}

int cmd_pool_info(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "pool info"};
	const struct opt opts[] = {{NULL, 0, NULL, NULL}};
	const char *pos[1];
	int npos, rc;
	vmshm_pool *p;
	struct vmshm_stats st;
	char id[37], a[32];

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 0, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(info_help, stdout);
		return EXIT_OK;
	}
	rc = open_pool(&c, VMSHM_ATTACH_OBSERVER, &p);
	if (rc)
		return rc;
	rc = vmshm_stats(p, &st);
	if (rc < 0) {
		vmshm_detach(p);
		return fail(&c, EXIT_FAIL, "%s: %s", c.pool, vmshm_strerror(rc));
	}
	uuid_str(st.pool_id, id);
	if (c.json) {
		struct json j;

		json_init(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "pool", c.pool);
		json_str(&j, "backend", vmshm_backend_name(p));
		json_str(&j, "memory_type", vmshm_memory_type(p));
		json_u64(&j, "size", st.pool_size);
		json_u64(&j, "version_major", st.version_major);
		json_u64(&j, "version_minor", st.version_minor);
		json_str(&j, "pool_id", id);
		json_u64(&j, "data_offset", st.data_offset);
		json_u64(&j, "data_bytes", st.data_bytes);
		json_u64(&j, "used_bytes", st.used_bytes);
		json_u64(&j, "free_bytes", st.free_bytes);
		json_u64(&j, "largest_free", st.largest_free);
		json_u64(&j, "object_capacity", st.object_capacity);
		json_u64(&j, "objects", st.objects);
		json_u64(&j, "peer_capacity", st.peer_capacity);
		json_u64(&j, "peers", st.peers);
		json_end_obj(&j);
		json_done(&j);
	} else {
		printf("pool:     %s\n", c.pool);
		printf("mapping:  %s (%s backend)\n", vmshm_memory_type(p), vmshm_backend_name(p));
		printf("size:     %" PRIu64 " (%s)\n", st.pool_size,
		       fmt_size(st.pool_size, a, sizeof(a)));
		printf("format:   %u.%u\n", st.version_major, st.version_minor);
		printf("pool id:  %s\n", id);
		printf("space:    %" PRIu64 " bytes from offset %" PRIu64 "\n", st.data_bytes,
		       st.data_offset);
		printf("used:     %" PRIu64 " bytes\n", st.used_bytes);
		printf("free:     %" PRIu64 " bytes (largest run %" PRIu64 ")\n", st.free_bytes,
		       st.largest_free);
		printf("objects:  %u of %u\n", st.objects, st.object_capacity);
		printf("peers:    %u of %u\n", st.peers, st.peer_capacity);
	}
	vmshm_detach(p);
	return EXIT_OK;
}
