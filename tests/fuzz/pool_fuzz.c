/*
 * pool_fuzz.c - libFuzzer target: a populated pool image whose peer table,
 * directory and page owner table are patched with the fuzzer's bytes, then
 * attached and used through the native API. Nothing may crash, read or
 * write outside the pool, hang or leak; every object handed out lies inside
 * the pool and is touched end to end.
 *
 * Input: records of [u16 offset][u8 length][length bytes]; the offset is
 * taken modulo the size of the tables (docs/FORMAT.md: from peers_off to
 * data_off).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmshm.h"

#define POOL_SIZE (1u << 20)

/* The pool file lives in $VMSHM_FUZZ_DIR (make fuzz-test: the build
 * directory), else /dev/shm. */

static char path[64];
static uint8_t *image;
static uint64_t tables_off, tables_len;

static void die(const char *what, int rc)
{
	fprintf(stderr, "pool_fuzz: %s: %d (%s)\n", what, rc, vmshm_strerror(rc));
	exit(1);
}

static void cleanup(void)
{
	unlink(path);
}

/* Writes the first LEN bytes of IMG over the pool file. */
static void write_file(const uint8_t *img, size_t len)
{
	int fd = open(path, O_RDWR);

	if (fd < 0 || pwrite(fd, img, len, 0) != (ssize_t)len) {
		perror("pool_fuzz: write pool");
		exit(1);
	}
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	vmshm_pool *first, *p;
	char why[256] = "";
	int rc, fd;
	uint64_t peers, data;
	const char *dir;

	(void)argc;
	(void)argv;
	dir = getenv("VMSHM_FUZZ_DIR");
	snprintf(path, sizeof path, "%s/vmshm-fuzz-%ld", dir ? dir : "/dev/shm", (long)getpid());
	atexit(cleanup);
	rc = vmshm_pool_create(path, POOL_SIZE, 16, VMSHM_CREATE_FORCE);
	if (rc < 0)
		die("pool create", rc);
	/* The objects are made by peer 2, so that a slot the fuzzer turns back
	 * into CREATING names a peer that is gone, not the fuzzing process
	 * (peer 1), which would make every such run wait the bounded 2 s. */
	rc = vmshm_attach(path, 0, &first, why, sizeof why);
	if (rc < 0)
		die(why, rc);
	rc = vmshm_attach(path, 0, &p, why, sizeof why);
	if (rc < 0)
		die(why, rc);
	for (int i = 0; i < 12; i++) {
		char name[300];
		vmshm_ref ref;

		if (i % 4 == 3)
			snprintf(name, sizeof name, "%0200d-long-%d", 0, i);
		else
			snprintf(name, sizeof name, "obj-%d", i);
		rc = vmshm_create(p, i % 5 == 4 ? VMSHM_TYPE_MUTEX : VMSHM_TYPE_SHM, name,
				  1 + (uint64_t)i * 5000, 4, VMSHM_PERSIST, &ref);
		if (rc < 0)
			die("populate", rc);
		memset(ref.addr, i, ref.size);
		vmshm_close(p, &ref);
	}
	vmshm_detach(p);
	vmshm_detach(first);
	image = malloc(POOL_SIZE);
	fd = open(path, O_RDONLY);
	if (!image || fd < 0 || read(fd, image, POOL_SIZE) != POOL_SIZE) {
		perror("pool_fuzz: read pool");
		exit(1);
	}
	close(fd);
	memcpy(&peers, image + 48, 8);
	memcpy(&data, image + 88, 8);
	if (peers != 4096 || data <= peers || data > POOL_SIZE) {
		fprintf(stderr, "pool_fuzz: unexpected layout\n");
		exit(1);
	}
	tables_off = peers;
	tables_len = data - peers;
	return 0;
}

static void touch(vmshm_pool *p, const vmshm_ref *ref)
{
	uint8_t *base = vmshm_base(p), *a = ref->addr;
	volatile uint8_t *b = ref->addr;

	if (ref->size == 0)
		return; /* no memory (an event, or a size-0 slot): nothing to touch */
	if (a < base || a > base + POOL_SIZE || ref->size > (uint64_t)(base + POOL_SIZE - a)) {
		fprintf(stderr,
			"pool_fuzz: object of %llu bytes at offset %lld: outside the pool\n",
			(unsigned long long)ref->size, (long long)(a - base));
		abort();
	}
	for (uint64_t i = 0; i < ref->size; i += 1024)
		b[i] = b[i];
	if (ref->size)
		b[ref->size - 1] = b[ref->size - 1];
}

struct walk {
	vmshm_pool *p;
	int n;
};

static int walk(const struct vmshm_objinfo *o, void *arg)
{
	struct walk *w = arg;
	vmshm_ref ref;

	if (!memchr(o->name, 0, sizeof o->name))
		abort();
	if (o->named && vmshm_open(w->p, o->type, o->name, &ref) == 0) {
		touch(w->p, &ref);
		vmshm_close(w->p, &ref);
	}
	return ++w->n > 4096;
}

static int peer(const struct vmshm_peerinfo *pi, void *arg)
{
	(void)arg;
	if (!memchr(pi->comm, 0, sizeof pi->comm) || !memchr(pi->vm, 0, sizeof pi->vm))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t img[POOL_SIZE];
	vmshm_pool *p;
	struct vmshm_stats st;
	struct walk w;
	char why[256];
	size_t i = 0;
	int rc;

	memcpy(img, image, POOL_SIZE);
	while (i + 3 <= size) {
		uint64_t off = tables_off + (uint64_t)(data[i] | data[i + 1] << 8) % tables_len;
		size_t len = data[i + 2];

		i += 3;
		if (len > size - i)
			len = size - i;
		if (len > tables_off + tables_len - off)
			len = tables_off + tables_len - off;
		memcpy(img + off, data + i, len);
		i += len;
	}
	/* Only the header and the tables matter; object bytes are left as
	 * the last run wrote them. */
	write_file(img, tables_off + tables_len);

	rc = vmshm_attach(path, size % 2 ? VMSHM_ATTACH_NORECLAIM : 0, &p, why, sizeof why);
	if (rc < 0)
		return 0;
	vmshm_stats(p, &st);
	w.p = p;
	w.n = 0;
	vmshm_list(p, walk, &w);
	vmshm_peers(p, peer, NULL);
	vmshm_check(p, NULL, NULL);
	for (int k = 0; k < 6; k++) {
		char name[300];
		vmshm_ref ref;

		if (k % 3 == 2)
			snprintf(name, sizeof name, "%0200d-long-%d", 0, k + 1);
		else
			snprintf(name, sizeof name, "obj-%d", k * 2);
		if (vmshm_create(p, VMSHM_TYPE_SHM, k == 4 ? NULL : name, 1 + (uint64_t)k * 9000, 4,
				 0, &ref) >= 0) {
			touch(p, &ref);
			vmshm_close(p, &ref);
		}
		if (vmshm_open(p, VMSHM_TYPE_SHM, name, &ref) == 0) {
			touch(p, &ref);
			if (k % 2)
				vmshm_close(p, &ref);
		}
	}
	vmshm_reclaim(p);
	vmshm_detach(p);
	return 0;
}
