/*
 * uio_linux.c - the "uio" backend: a pool in the BAR2 of an ivshmem device
 * inside a Linux guest, through the vmshm UIO driver (guest-driver/).
 *
 * /dev/uioN of the driver "vmshm_uio": map 0 = BAR0 registers (one page),
 * map 1 = BAR2 shared memory (write-back where the firmware allows it),
 * map 2 = the per-vector doorbell counts (u32 count[64], doorbell devices
 * only). UIO selects map N by mmap offset N * page size. Doorbells: write
 * `peer << 16 | vector` to BAR0 + 0xC; wait: write 1 (unmask), then poll and
 * read the 32-bit event count; the vectors that rang are those whose count
 * moved since the previous wait.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "memtype.h"
#include "vmshm.h"

#define UIO_DRIVER_NAME "vmshm_uio"
#define REG_IVPOSITION  0x8
#define REG_DOORBELL    0xC
#define MAX_VECTORS     64

struct uio_priv {
	int fd;
	volatile uint32_t *regs;
	size_t regs_len;
	int irq;                /* the device delivers doorbells (MSI-X present) */
	const uint32_t *counts; /* map 2, or NULL (a driver without it) */
	size_t counts_len;
	uint32_t seen[MAX_VECTORS]; /* counts at the previous wait */
};

static int uio_claims(const char *spec)
{
	return strncmp(spec, "/dev/uio", 8) == 0;
}

/* Reads one line of a sysfs file into BUF without the newline. */
static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -1;
	if (!fgets(buf, (int)len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strlen(buf);
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return 0;
}

/* "/dev/uioN" -> N, or -1. */
static int uio_number(const char *spec)
{
	const char *p = spec + 8;
	char *end;
	long n;

	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno || *end || n < 0 || n > 1000000)
		return -1;
	return (int)n;
}

static int is_vmshm_uio(int n)
{
	char path[64], name[64];

	snprintf(path, sizeof(path), "/sys/class/uio/uio%d/name", n);
	return read_line(path, name, sizeof(name)) == 0 && strcmp(name, UIO_DRIVER_NAME) == 0;
}

/* A map's "size" or "addr" attribute. */
static int map_attr(int n, int map, const char *attr, uint64_t *out)
{
	char path[96], buf[64], *end;
	unsigned long long v;

	snprintf(path, sizeof(path), "/sys/class/uio/uio%d/maps/map%d/%s", n, map, attr);
	if (read_line(path, buf, sizeof(buf)))
		return -1;
	errno = 0;
	v = strtoull(buf, &end, 0);
	if (errno || end == buf || *end || v == 0)
		return -1;
	*out = v;
	return 0;
}

static int map_size(int n, int map, uint64_t *size)
{
	return map_attr(n, map, "size", size);
}

/* Does uioN deliver doorbells? Driver 0.2.0 and later have the vectors
 * map exactly when they have interrupts (a doorbell device whose MSI-X
 * setup failed has none); for 0.1.0, MSI-X vectors in use say it. */
static int has_irq(int n)
{
	char path[96], version[32];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/uio/uio%d/version", n);
	if (read_line(path, version, sizeof(version)) == 0 && strcmp(version, "0.1.0") != 0) {
		snprintf(path, sizeof(path), "/sys/class/uio/uio%d/maps/map2", n);
		return stat(path, &st) == 0;
	}
	snprintf(path, sizeof(path), "/sys/class/uio/uio%d/device/msi_irqs", n);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int uio_open(const char *spec, struct be_map *m, char *why, size_t whylen)
{
	long page = sysconf(_SC_PAGESIZE);
	struct uio_priv *p;
	uint64_t shm_size, reg_size, shm_addr = 0, cnt_size = 0;
	void *base, *regs, *counts = NULL;
	int n, fd, err;

	n = uio_number(spec);
	if (n < 0) {
		be_why(why, whylen, "%s: not a UIO device name (/dev/uioN)", spec);
		return VMSHM_EINVAL;
	}
	if (!is_vmshm_uio(n)) {
		be_why(why, whylen, "%s: not a device of the %s driver (/sys/class/uio/uio%d/name)",
		       spec, UIO_DRIVER_NAME, n);
		return VMSHM_ENOPOOL;
	}
	if (map_size(n, 0, &reg_size) || map_size(n, 1, &shm_size)) {
		be_why(why, whylen, "%s: cannot read the sizes of maps 0 and 1 in sysfs", spec);
		return VMSHM_EIO;
	}
	if (reg_size < 16 || reg_size % (uint64_t)page || shm_size % (uint64_t)page ||
	    shm_size > VMSHM_MAX_POOL_SIZE || (uint64_t)(size_t)shm_size != shm_size) {
		be_why(why, whylen, "%s: unusable map sizes (registers %llu, memory %llu bytes)",
		       spec, (unsigned long long)reg_size, (unsigned long long)shm_size);
		return VMSHM_EIO;
	}
	fd = open(spec, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		be_why(why, whylen, "%s: %s", spec, strerror(err));
		return err == EACCES || err == EPERM ? VMSHM_EPERM : VMSHM_EIO;
	}
	regs = mmap(NULL, (size_t)reg_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (regs == MAP_FAILED) {
		be_why(why, whylen, "%s: mmap of map 0 (registers): %s", spec, strerror(errno));
		close(fd);
		return VMSHM_EIO;
	}
	base = mmap(NULL, (size_t)shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, page);
	if (base == MAP_FAILED) {
		be_why(why, whylen, "%s: mmap of map 1 (shared memory): %s", spec, strerror(errno));
		munmap(regs, (size_t)reg_size);
		close(fd);
		return VMSHM_EIO;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		be_why(why, whylen, "out of memory");
		munmap(base, (size_t)shm_size);
		munmap(regs, (size_t)reg_size);
		close(fd);
		return VMSHM_EIO;
	}
	p->fd = fd;
	p->regs = regs;
	p->regs_len = (size_t)reg_size;
	p->irq = has_irq(n);
	/* The per-vector counts (driver 0.2.0 and later, doorbell devices). */
	if (p->irq && map_size(n, 2, &cnt_size) == 0 &&
	    cnt_size >= MAX_VECTORS * sizeof(uint32_t) && cnt_size % (uint64_t)page == 0) {
		counts = mmap(NULL, (size_t)cnt_size, PROT_READ, MAP_SHARED, fd, 2 * page);
		if (counts != MAP_FAILED) {
			p->counts = counts;
			p->counts_len = (size_t)cnt_size;
			for (int v = 0; v < MAX_VECTORS; v++)
				p->seen[v] = __atomic_load_n(&p->counts[v], __ATOMIC_ACQUIRE);
		}
	}
	m->base = base;
	m->size = shm_size;
	/* What the kernel made of the driver's write-back request for BAR2. */
	m->memtype = map_attr(n, 1, "addr", &shm_addr) == 0
			 ? be_memtype(shm_addr, shm_size, "write-back", spec)
			 : "unknown";
	/* Without interrupts IVPosition reads 0 for every VM: unknown. */
	m->ivposition = p->irq ? (int32_t)p->regs[REG_IVPOSITION / 4] : -1;
	m->priv = p;
	/* The peers' kernel locks ride on the mapping's open file (a second
	 * descriptor of it, kept until detach). */
	m->lock_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return 0;
}

static void uio_close(struct be_map *m)
{
	struct uio_priv *p = m->priv;

	if (m->base)
		munmap(m->base, (size_t)m->size);
	if (p) {
		if (p->counts)
			munmap((void *)p->counts, p->counts_len);
		munmap((void *)p->regs, p->regs_len);
		close(p->fd);
		free(p);
	}
	m->base = NULL;
	m->priv = NULL;
}

static int uio_ring(struct be_map *m, uint16_t peer, uint16_t vector)
{
	struct uio_priv *p = m->priv;

	if (!p || !p->irq)
		return VMSHM_ENOTSUP;
	p->regs[REG_DOORBELL / 4] = (uint32_t)peer << 16 | vector;
	return 0;
}

static int uio_wait_vectors(struct be_map *m, int timeout_ms, uint64_t *vectors)
{
	struct uio_priv *p = m->priv;
	struct pollfd pfd;
	uint32_t v = 1;
	int r;

	*vectors = 0;
	if (!p || !p->irq)
		return VMSHM_ENOTSUP;
	if (write(p->fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return VMSHM_EIO;
	pfd.fd = p->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return VMSHM_EIO;
	if (r == 0)
		return 0;
	if (read(p->fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return VMSHM_EIO;
	/* The driver counts before it signals the event: every vector behind
	 * this wake-up has moved. */
	for (int i = 0; p->counts && i < MAX_VECTORS; i++) {
		uint32_t c = __atomic_load_n(&p->counts[i], __ATOMIC_ACQUIRE);

		if (c != p->seen[i]) {
			*vectors |= UINT64_C(1) << i;
			p->seen[i] = c;
		}
	}
	return 1;
}

static int uio_wait(struct be_map *m, int timeout_ms)
{
	uint64_t vectors;

	return uio_wait_vectors(m, timeout_ms, &vectors);
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The vmshm UIO device with the lowest number. */
static int uio_discover(char *spec, size_t len)
{
	DIR *d = opendir("/sys/class/uio");
	struct dirent *e;
	int nums[256], count = 0, i;

	if (!d)
		return VMSHM_ENOPOOL;
	while ((e = readdir(d)) && count < 256) {
		char *end;
		long n;

		if (strncmp(e->d_name, "uio", 3) != 0)
			continue;
		n = strtol(e->d_name + 3, &end, 10);
		if (end == e->d_name + 3 || *end || n < 0 || n > 1000000)
			continue;
		nums[count++] = (int)n;
	}
	closedir(d);
	qsort(nums, (size_t)count, sizeof(nums[0]), cmp_int);
	for (i = 0; i < count; i++) {
		if (is_vmshm_uio(nums[i])) {
			snprintf(spec, len, "/dev/uio%d", nums[i]);
			return 0;
		}
	}
	return VMSHM_ENOPOOL;
}

const struct backend be_uio = {
    .name = "uio",
    .claims = uio_claims,
    .open = uio_open,
    .close = uio_close,
    .ring = uio_ring,
    .wait = uio_wait,
    .wait_vectors = uio_wait_vectors,
    .discover = uio_discover,
};
