/*
 * cmd_qemu.c - `vmshm qemu-args` and `vmshm libvirt-xml`: the QEMU options
 * and the libvirt <shmem> element that hand a pool to a VM.
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char qemu_help[] =
    "usage: vmshm qemu-args [--pool PATH] [--doorbell SOCKET] [--vectors N] [--id ID]\n"
    "                       [--no-high] [--json]\n"
    "\n"
    "Prints the QEMU options that give a VM this pool as an ivshmem device, on\n"
    "one line, quoted for a POSIX shell. Without --doorbell: a\n"
    "memory-backend-file (share=on) and an ivshmem-plain device. With\n"
    "--doorbell: a socket chardev to `vmshm serve --socket SOCKET` and an\n"
    "ivshmem-doorbell device with N interrupt vectors (default 1; the server\n"
    "must use the same N). ID names the QEMU objects (default vmshm0).\n"
    "\n"
    "First comes an empty PCIe root port that reserves 4 GiB of 64-bit\n"
    "prefetchable space (pref64-reserve=4G, no memory behind it): SeaBIOS then\n"
    "places every 64-bit BAR above 4 GiB, outside the uncachable MTRR range of\n"
    "the 32-bit PCI hole, so that a guest maps the pool write-back whatever its\n"
    "size. It needs a PCIe machine (-M q35); --no-high leaves it out (-M pc).\n"
    "With several pools in one VM, give each its own --id.\n";
static const char libvirt_help[] =
    "usage: vmshm libvirt-xml [--pool PATH] NAME [--doorbell SOCKET] [--vectors N]\n"
    "\n"
    "Prints the libvirt <shmem> element for this pool. libvirt gives QEMU the\n"
    "file /dev/shm/NAME for an ivshmem-plain device, so the pool must be that\n"
    "file (create it there, or link it: ln -s POOL /dev/shm/NAME).\n";

/* Appends S to the QEMU option in B with commas doubled. */
static void qemu_escape(char *b, size_t len, const char *s)
{
	size_t n = strlen(b);

	for (; *s && n + 2 < len; s++) {
		b[n++] = *s;
		if (*s == ',')
			b[n++] = ',';
	}
	b[n] = 0;
}

static void shell_word(FILE *f, const char *s)
{
	int plain = *s != 0;

	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_./,=:@%+-", *p))
			plain = 0;
	if (plain) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static int valid_id(const char *id)
{
	if (!isalpha((unsigned char)id[0]))
		return 0;
	for (; *id; id++)
		if (!isalnum((unsigned char)*id) && !strchr("_.-", *id))
			return 0;
	return 1;
}

/* Size and absolute path of the pool of C. */
static int pool_size(const struct cmd_ctx *c, uint64_t *size, char *abs)
{
	vmshm_pool *p;
	int rc = open_pool(c, VMSHM_ATTACH_OBSERVER, &p);

	if (rc)
		return rc;
	*size = vmshm_size(p);
	vmshm_detach(p);
	if (!realpath(c->pool, abs))
		snprintf(abs, PATH_MAX, "%s", c->pool);
	return 0;
}

static int parse_vectors(const struct cmd_ctx *c, const char *s, uint64_t *v)
{
	*v = 1;
	if (s && (parse_u64(s, v) < 0 || *v < 1 || *v > 64))
		return fail(c, EXIT_USAGE, "bad --vectors '%s': use 1 to 64", s);
	return 0;
}

int cmd_qemu_args(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "qemu-args"};
	const char *doorbell = NULL, *vectors_s = NULL, *id = "vmshm0", *pos[1];
	int no_high = 0;
	const struct opt opts[] = {
	    {"doorbell", 1, &doorbell, NULL},
	    {"vectors", 1, &vectors_s, NULL},
	    {"id", 1, &id, NULL},
	    {"no-high", 0, NULL, &no_high},
	    {NULL, 0, NULL, NULL},
	};
	char abs[PATH_MAX], a[32], w[6][PATH_MAX * 2 + 128];
	uint64_t size, vectors;
	unsigned chassis = 0;
	int npos, rc, nw = 0;

	rc = parse_opts(&c, argc, argv, opts, 1, pos, 0, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(qemu_help, stdout);
		return EXIT_OK;
	}
	if (!valid_id(id))
		return fail(&c, EXIT_USAGE, "bad --id '%s': a letter, then letters, digits, _ . -",
			    id);
	if (vectors_s && !doorbell)
		return fail(&c, EXIT_USAGE, "--vectors goes with --doorbell");
	rc = parse_vectors(&c, vectors_s, &vectors);
	if (rc)
		return rc;
	if (doorbell && !*doorbell)
		return fail(&c, EXIT_USAGE, "--doorbell needs a socket path");
	rc = pool_size(&c, &size, abs);
	if (rc)
		return rc;
	if (!no_high) {
		/* The root port's chassis number must differ between ports of
		 * one VM: derive it from the ID (1..255). */
		for (const char *q = id; *q; q++)
			chassis = chassis * 31 + (unsigned char)*q;
		snprintf(w[nw++], sizeof(w[0]), "-device");
		snprintf(w[nw++], sizeof(w[0]),
			 "pcie-root-port,id=%s-high,chassis=%u,pref64-reserve=4G", id,
			 chassis % 255 + 1);
	}
	if (doorbell) {
		char sock[PATH_MAX];

		if (!realpath(doorbell, sock))
			snprintf(sock, sizeof(sock), "%s", doorbell);
		snprintf(w[nw++], sizeof(w[0]), "-chardev");
		snprintf(w[nw], sizeof(w[0]), "socket,path=");
		qemu_escape(w[nw], sizeof(w[0]), sock);
		snprintf(w[nw] + strlen(w[nw]), sizeof(w[0]) - strlen(w[nw]), ",id=%s", id);
		nw++;
		snprintf(w[nw++], sizeof(w[0]), "-device");
		snprintf(w[nw++], sizeof(w[0]), "ivshmem-doorbell,chardev=%s,vectors=%" PRIu64, id,
			 vectors);
	} else {
		snprintf(w[nw++], sizeof(w[0]), "-object");
		snprintf(w[nw], sizeof(w[0]), "memory-backend-file,id=%s,mem-path=", id);
		qemu_escape(w[nw], sizeof(w[0]), abs);
		snprintf(w[nw] + strlen(w[nw]), sizeof(w[0]) - strlen(w[nw]), ",size=%s,share=on",
			 fmt_size(size, a, sizeof(a)));
		nw++;
		snprintf(w[nw++], sizeof(w[0]), "-device");
		snprintf(w[nw++], sizeof(w[0]), "ivshmem-plain,memdev=%s", id);
	}
	if (c.json) {
		struct json j;

		json_init(&j, stdout);
		json_obj(&j, NULL);
		json_str(&j, "pool", abs);
		json_u64(&j, "size", size);
		json_str(&j, "device", doorbell ? "ivshmem-doorbell" : "ivshmem-plain");
		json_arr(&j, "args");
		for (int i = 0; i < nw; i++)
			json_str(&j, NULL, w[i]);
		json_end_arr(&j);
		json_end_obj(&j);
		json_done(&j);
		return EXIT_OK;
	}
	for (int i = 0; i < nw; i++) {
		if (i)
			fputc(' ', stdout);
		shell_word(stdout, w[i]);
	}
	fputc('\n', stdout);
	return EXIT_OK;
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

int cmd_libvirt_xml(int argc, char **argv)
{
	struct cmd_ctx c = {.cmd = "libvirt-xml"};
	const char *doorbell = NULL, *vectors_s = NULL, *pos[1];
	const struct opt opts[] = {
	    {"doorbell", 1, &doorbell, NULL},
	    {"vectors", 1, &vectors_s, NULL},
	    {NULL, 0, NULL, NULL},
	};
	char abs[PATH_MAX], want[PATH_MAX + 16], wantabs[PATH_MAX];
	uint64_t size, vectors;
	const char *name;
	int npos, rc;

	rc = parse_opts(&c, argc, argv, opts, 0, pos, 1, &npos);
	if (rc)
		return rc;
	if (c.help) {
		fputs(libvirt_help, stdout);
		return EXIT_OK;
	}
	if (npos != 1)
		return fail(&c, EXIT_USAGE, "needs NAME (see vmshm libvirt-xml --help)");
	name = pos[0];
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strlen(name) > 200)
		return fail(&c, EXIT_USAGE,
			    "bad name '%s': libvirt uses /dev/shm/NAME, so no '/' and not . or ..",
			    name);
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail(&c, EXIT_USAGE, "bad name: control characters are not allowed");
	if (vectors_s && !doorbell)
		return fail(&c, EXIT_USAGE, "--vectors goes with --doorbell");
	rc = parse_vectors(&c, vectors_s, &vectors);
	if (rc)
		return rc;
	rc = pool_size(&c, &size, abs);
	if (rc)
		return rc;
	snprintf(want, sizeof(want), "/dev/shm/%s", name);
	if (!doorbell && (!realpath(want, wantabs) || strcmp(wantabs, abs)))
		fprintf(stderr,
			"vmshm libvirt-xml: note: libvirt gives QEMU %s, which is not the pool "
			"%s: create the pool there or link it (ln -s %s %s)\n",
			want, abs, abs, want);
	printf("<shmem name='");
	xml_text(stdout, name);
	printf("'>\n");
	printf("  <model type='%s'/>\n", doorbell ? "ivshmem-doorbell" : "ivshmem-plain");
	printf("  <size unit='M'>%" PRIu64 "</size>\n", size >> 20);
	if (doorbell) {
		char sock[PATH_MAX];

		if (!realpath(doorbell, sock))
			snprintf(sock, sizeof(sock), "%s", doorbell);
		printf("  <server path='");
		xml_text(stdout, sock);
		printf("'/>\n");
		printf("  <msi vectors='%" PRIu64 "' ioeventfd='on'/>\n", vectors);
	}
	printf("</shmem>\n");
	return EXIT_OK;
}
