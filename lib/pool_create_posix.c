/*
 * pool_create_posix.c - vmshm_pool_create() on Linux: a file, preallocated
 * and formatted.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "internal.h"

int vmshm_pool_create(const char *path, uint64_t size, uint32_t objects, unsigned flags)
{
	struct fmt_layout plan;
	int rc;
	if (!path || (flags & ~VMSHM_CREATE_FORCE))
		return VMSHM_EINVAL;
	if ((rc = fmt_plan(size, objects, &plan)) < 0)
		return rc;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0660);
	if (fd < 0)
		return errno == EACCES ? VMSHM_EPERM : errno == ENOENT ? VMSHM_ENOPOOL : VMSHM_EIO;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return VMSHM_EIO;
	}
	if (st.st_size >= (off_t)sizeof(uint64_t) && !(flags & VMSHM_CREATE_FORCE)) {
		uint64_t magic = 0;
		if (pread(fd, &magic, sizeof(magic), 0) == sizeof(magic) && magic == FMT_MAGIC) {
			close(fd);
			return VMSHM_EEXISTS_FILE;
		}
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return errno == ENOSPC ? VMSHM_ENOSPC : VMSHM_EIO;
	}
	rc = posix_fallocate(fd, 0, (off_t)size);
	if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
		close(fd);
		return rc == ENOSPC ? VMSHM_ENOSPC : VMSHM_EIO;
	}
	void *base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return errno == ENOMEM ? VMSHM_ENOSPC : VMSHM_EIO;
	rc = vmshm_format(base, size, objects);
	munmap(base, (size_t)size);
	return rc;
}
