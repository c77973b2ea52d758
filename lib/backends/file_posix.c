/*
 * file_posix.c - the file backend on Linux: the pool is a file (on the
 * host: /dev/shm or hugetlbfs), mapped shared. pool.c prefaults the
 * directory at attach, so that later calls take no page fault on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "vmshm.h"

static int file_claims(const char *spec)
{
	return strncmp(spec, "/dev/uio", 8) != 0 && strncmp(spec, "pci:", 4) != 0 &&
	       strncmp(spec, "ivshmem:", 8) != 0;
}

static int file_open(const char *spec, struct be_map *m, char *why, size_t whylen)
{
	int fd = open(spec, O_RDWR | O_CLOEXEC);
	/* A pool this user may only read: mapped read-only, for observers.
	 * The peers' lock queries (F_OFD_GETLK) work on it too. */
	if (fd < 0 && (errno == EACCES || errno == EROFS)) {
		fd = open(spec, O_RDONLY | O_CLOEXEC);
		m->readonly = fd >= 0;
	}
	if (fd < 0) {
		int e = errno;
		be_why(why, whylen, "%s: %s", spec, strerror(e));
		return e == ENOENT ? VMSHM_ENOPOOL : e == EACCES ? VMSHM_EPERM : VMSHM_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		be_why(why, whylen, "%s: not a regular file", spec);
		close(fd);
		return VMSHM_EIO;
	}
	if (st.st_size < (off_t)VMSHM_MIN_POOL_SIZE || st.st_size % VMSHM_PAGE_SIZE) {
		be_why(why, whylen, "%s: %lld bytes is not a pool size", spec,
		       (long long)st.st_size);
		close(fd);
		return VMSHM_EFORMAT;
	}
	int prot = m->readonly ? PROT_READ : PROT_READ | PROT_WRITE;
	void *base = mmap(NULL, (size_t)st.st_size, prot, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		be_why(why, whylen, "%s: mmap: %s", spec, strerror(errno));
		close(fd);
		return VMSHM_EIO;
	}
	/* The peers' kernel locks ride on this open file, which the mapping
	 * holds too: the kernel drops them only when both are gone. */
	m->lock_fd = fd;
	m->base = base;
	m->size = (uint64_t)st.st_size;
	m->memtype = "write-back"; /* a file's pages: ordinary memory */
	return 0;
}

static void file_close(struct be_map *m)
{
	if (m->base)
		munmap(m->base, (size_t)m->size);
	m->base = NULL;
}

const struct backend be_file = {
    .name = "file",
    .futex_ok = 1,
    .claims = file_claims,
    .open = file_open,
    .close = file_close,
};
