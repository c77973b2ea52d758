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
    "\n"
    "Creates the pool file PATH of SIZE bytes (a power of two, 1M or more: QEMU\n"
    "needs a power-of-two BAR), preallocates it and formats an empty directory\n"
    "with room for N objects (default: chosen from SIZE).\n"
    "  --hugepages  PATH is on a hugetlbfs mount; SIZE must be a multiple of its\n"
    "               huge page size and enough huge pages must be free\n"
    "  --force      overwrite PATH even if it already holds a pool\n";

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

int cmd_pool_create(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "pool create"};
	const char *size_s = NULL, *objects_s = NULL, *pos[1];
	int hugepages = 0, force = 0, npos, rc, fd, e;
	const struct opt opts[] = {
	    {"size", 1, &size_s, NULL},
	    {"objects", 1, &objects_s, NULL},
	    {"hugepages", 0, NULL, &hugepages},
	    {"force", 0, NULL, &force},
	    {NULL, 0, NULL, NULL},
	};
	uint64_t size, objects = 0, align = VMSHM_PAGE_SIZE;
	char dirbuf[PATH_MAX], basebuf[PATH_MAX], tmp[PATH_MAX + 64], a[32], b[32];
	const char *path, *dir;
	struct stat st, dst;
	struct statfs sfs;
	struct statvfs svfs;
	struct hugeinfo h = {0};
	int on_huge;
	void *mem;

	rc = parse_opts(&c, argc, argv, opts, 0, pos, 1, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(create_help, stdout);
		return EXIT_OK;
	}
	if (npos != 1)
		return fail(&c, EXIT_USAGE, "needs the pool's PATH (see vmshm pool create --help)");
	path = pos[0];
	if (!size_s)
		return fail(&c, EXIT_USAGE, "needs --size SIZE (e.g. 64M)");
	if (parse_size(size_s, &size) < 0)
		return fail(&c, EXIT_USAGE,
			    "bad size '%s': use a number with an optional K, M, G or T", size_s);
	if (size < VMSHM_MIN_POOL_SIZE)
		return fail(&c, EXIT_USAGE, "size %s is too small: a pool has at least 1M", size_s);
	if (size > VMSHM_MAX_POOL_SIZE)
		return fail(&c, EXIT_USAGE, "size %s is too large: a pool has at most %s", size_s,
			    fmt_size(VMSHM_MAX_POOL_SIZE, a, sizeof(a)));
	if (size & (size - 1))
		return fail(&c, EXIT_USAGE,
			    "size %s is not a power of two (QEMU needs a power-of-two BAR): use %s",
			    size_s, fmt_size(next_pow2(size), a, sizeof(a)));
	if (objects_s) {
		if (parse_u64(objects_s, &objects) < 0 || objects == 0 ||
		    objects > VMSHM_MAX_OBJECTS)
			return fail(&c, EXIT_USAGE, "bad --objects '%s': use 1 to %u", objects_s,
				    VMSHM_MAX_OBJECTS);
	}

	/* The directory and its file system. */
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	snprintf(basebuf, sizeof(basebuf), "%s", path);
	dir = dirname(dirbuf);
	if (stat(dir, &dst) < 0) {
		if (errno == ENOENT)
			return fail(&c, EXIT_FAIL, "no such directory: %s", dir);
		return fail(&c, EXIT_FAIL, "%s: %s", dir, strerror(errno));
	}
	if (!S_ISDIR(dst.st_mode))
		return fail(&c, EXIT_FAIL, "not a directory: %s", dir);
	if (statfs(dir, &sfs) < 0)
		return fail(&c, EXIT_FAIL, "%s: %s", dir, strerror(errno));
	on_huge = sfs.f_type == HUGETLBFS_MAGIC;
	if (hugepages && !on_huge)
		return fail(&c, EXIT_FAIL,
			    "%s is not a hugetlbfs mount (--hugepages): mount one with "
			    "'mount -t hugetlbfs none %s'",
			    dir, dir);

	/* An existing file. */
	if (lstat(path, &st) == 0) {
		struct vmshm_stats ps;

		if (!S_ISREG(st.st_mode))
			return fail(&c, EXIT_FAIL, "%s exists and is not a regular file", path);
		if (st.st_size > 0 && is_pool(path, &ps)) {
			if (!force)
				return fail(&c, EXIT_FAIL,
					    "%s is already a vmshm pool (%u objects, %u peers): "
					    "use --force to overwrite it",
					    path, ps.objects, ps.peers);
			if (ps.peers)
				fprintf(
				    stderr,
				    "vmshm pool create: warning: %s had %u peers; they keep the "
				    "old pool until they detach\n",
				    path, ps.peers);
		} else if (st.st_size > 0 && !force) {
			return fail(
			    &c, EXIT_FAIL,
			    "%s exists and is not a vmshm pool: use --force to overwrite it", path);
		}
	} else if (errno != ENOENT) {
		return fail(&c, EXIT_FAIL, "%s: %s", path, strerror(errno));
	} else {
		st.st_size = -1;
	}

	if (on_huge) {
		uint64_t need, have;

		h.page = (uint64_t)sfs.f_bsize;
		align = h.page;
		if (size % h.page)
			return fail(&c, EXIT_FAIL,
				    "size %s is not a multiple of the huge page size %s of %s",
				    size_s, fmt_size(h.page, a, sizeof(a)), dir);
		huge_counts(&h);
		need = size / h.page;
		have = h.free > h.resv ? (uint64_t)(h.free - h.resv) : 0;
		/* The old file's pages come back when it is replaced. */
		if (st.st_size > 0)
			have += (uint64_t)st.st_blocks * 512 / h.page;
		if (h.free >= 0 && have < need)
			return fail(&c, EXIT_FAIL,
				    "not enough huge pages: the pool needs %" PRIu64
				    " pages of %s, %" PRIu64 " are free; reserve more with "
				    "'echo %" PRIu64 " > %s/nr_hugepages'",
				    need, fmt_size(h.page, a, sizeof(a)), have,
				    (uint64_t)(h.nr > 0 ? h.nr : 0) + (need - have), h.sysdir);
		if (sfs.f_blocks > 0 &&
		    (uint64_t)sfs.f_bfree + (uint64_t)st.st_blocks * 512 / h.page < need)
			return fail(&c, EXIT_FAIL,
				    "not enough room on %s: the pool needs %" PRIu64
				    " huge pages, the mount's size limit leaves %" PRIu64,
				    dir, need, (uint64_t)sfs.f_bfree);
	} else if (statvfs(dir, &svfs) == 0) {
		uint64_t avail = (uint64_t)svfs.f_bavail * svfs.f_frsize;

		if (st.st_size > 0)
			avail += (uint64_t)st.st_blocks * 512;
		if (avail < size)
			return fail(&c, EXIT_FAIL, "no space on %s: the pool needs %s, %s are free",
				    dir, fmt_size(size, a, sizeof(a)),
				    fmt_size(avail & ~1023ull, b, sizeof(b)));
	}

	/* On hugetlbfs the old file must go first to give its pages back. */
	if (on_huge && st.st_size > 0 && unlink(path) < 0)
		return fail(&c, EXIT_FAIL, "cannot replace %s: %s", path, strerror(errno));

	snprintf(tmp, sizeof(tmp), "%s/.%s.vmshm-new.%ld", dir, basename(basebuf), (long)getpid());
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0) {
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return fail(&c, EXIT_FAIL, "permission denied: cannot create a file in %s",
				    dir);
		return fail(&c, EXIT_FAIL, "cannot create a file in %s: %s", dir, strerror(errno));
	}
	show_progress = isatty(STDERR_FILENO) && size >= PROGRESS_MIN;
	e = preallocate(fd, path, size, align);
	if (e) {
		close(fd);
		unlink(tmp);
		if (e == ENOSPC && on_huge) {
			huge_counts(&h);
			return fail(&c, EXIT_FAIL,
				    "not enough huge pages: the pool needs %" PRIu64
				    " pages of %s, %lld are free; reserve more in %s/nr_hugepages",
				    size / h.page, fmt_size(h.page, a, sizeof(a)), h.free - h.resv,
				    h.sysdir);
		}
		if (e == ENOSPC || e == ENOMEM)
			return fail(&c, EXIT_FAIL, "no space on %s for %s", dir,
				    fmt_size(size, a, sizeof(a)));
		return fail(&c, EXIT_FAIL, "cannot preallocate %s: %s", path, strerror(e));
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		e = errno;
		close(fd);
		unlink(tmp);
		return fail(&c, EXIT_FAIL, "cannot map %s: %s", path, strerror(e));
	}
	rc = vmshm_format(mem, size, (uint32_t)objects);
	munmap(mem, size);
	if (rc < 0) {
		close(fd);
		unlink(tmp);
		if (rc == VMSHM_EINVAL && objects)
			return fail(&c, EXIT_USAGE,
				    "%" PRIu64 " objects do not fit in a pool of %s", objects,
				    fmt_size(size, a, sizeof(a)));
		return fail(&c, EXIT_FAIL, "cannot format %s: %s", path, vmshm_strerror(rc));
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		return fail(&c, EXIT_FAIL, "cannot rename the new pool to %s: %s", path,
			    strerror(e));
	}
	printf("%s: pool of %s, room for %u objects\n", path, fmt_size(size, a, sizeof(a)),
	       objects ? (uint32_t)objects : vmshm_default_objects(size));
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
