/*
 * main.c - the vmshm command: dispatch, option parsing, sizes, messages.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"

#define STR_(x) #x
#define STR(x)  STR_(x)
/* The command is released with the library it is built from. */
#define VMSHM_CLI_VERSION                                                                          \
	STR(VMSHM_VERSION_MAJOR) "." STR(VMSHM_VERSION_MINOR) "." STR(VMSHM_VERSION_PATCH)

static const char usage_text[] =
    "usage: vmshm COMMAND [OPTIONS]\n"
    "\n"
    "Pools (every command but `pool create` takes --pool PATH or $VMSHM_POOL):\n"
    "  pool create PATH --size SIZE [--hugepages] [--objects N] [--force]\n"
    "              [--owner USER[:GROUP]] [--group GROUP] [--mode MODE]\n"
    "  pool info [--json]\n"
    "Regions:\n"
    "  ls [--json]\n"
    "  create NAME SIZE          a region that persists after the command exits\n"
    "  rm NAME                   drop the pool's hold on NAME\n"
    "  write NAME [--offset N] [--file F]   (default: stdin)\n"
    "  read NAME [--offset N] [--length N]  (to stdout)\n"
    "  dump NAME [--offset N] [--length N]  (hex)\n"
    "Events, semaphores and mutexes:\n"
    "  event create NAME [--manual] [--set] [--json]   persists, like create\n"
    "  event set|reset|pulse NAME\n"
    "  semaphore create NAME --max M [--initial N] [--json]\n"
    "  release NAME [--count N] [--json]    a semaphore\n"
    "  wait NAME [--timeout MS] [--json]    exit 0 signaled, 1 timed out\n"
    "Peers and health:\n"
    "  peers [--json]\n"
    "  gc [--peer INDEX | --vm UUID|IVPOSITION] [--force] [--json]\n"
    "  check [--json]\n"
    "QEMU and libvirt:\n"
    "  qemu-args [--doorbell SOCKET] [--vectors N] [--id ID] [--json]\n"
    "  libvirt-xml NAME [--doorbell SOCKET] [--vectors N]\n"
    "  serve --socket SOCKET [--vectors N]   the ivshmem doorbell server\n"
    "\n"
    "SIZE: 4096, 4K, 64M, 1G. Exit status: 0 ok, 1 failed check or operation,\n"
    "2 usage error. See vmshm(1).\n";

static const char pool_usage[] =
    "usage: vmshm pool create PATH --size SIZE [--hugepages] [--objects N] [--force]\n"
    "                         [--owner USER[:GROUP]] [--group GROUP] [--mode MODE]\n"
    "       vmshm pool info [--pool PATH] [--json]\n"
    "See vmshm pool create --help and vmshm pool info --help.\n";

/* Is stderr the journal? JOURNAL_STREAM names its device and inode. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

const char *log_prefix(int prio)
{
	static const char *const tags[] = {"<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>"};
	static int journal = -1;

	if (journal < 0)
		journal = stderr_is_journal();
	return journal && prio >= 0 && prio <= 7 ? tags[prio] : "";
}

int fail(const struct cmd_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%svmshm %s: ", log_prefix(LOG_ERR), c ? c->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* --pool PATH: accepted by every command. */
static const struct opt pool_opt = {"pool", 1, NULL, NULL};

int parse_opts(struct cmd_ctx *c, int argc, char **argv, const struct opt *opts, int json_ok,
	       const char **pos, int maxpos, int *npos)
{
	int only_pos = 0;

	*npos = 0;
	if (!c->pool)
		c->pool = getenv("VMSHM_POOL");
	if (c->pool && !*c->pool)
		c->pool = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *name, *eq, *val = NULL;
		size_t nlen;
		const struct opt *o;

		/* "-4K" is a (bad) value, not an option. */
		if (only_pos || a[0] != '-' || !strcmp(a, "-") || isdigit((unsigned char)a[1])) {
			if (*npos >= maxpos)
				return fail(c, EXIT_USAGE,
					    "unexpected argument '%s' (see vmshm %s --help)", a,
					    c->cmd);
			pos[(*npos)++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = 1;
			continue;
		}
		if (!strcmp(a, "-h")) {
			c->help = 1;
			continue;
		}
		if (a[1] != '-')
			return fail(c, EXIT_USAGE, "unknown option '%s' (see vmshm %s --help)", a,
				    c->cmd);
		name = a + 2;
		eq = strchr(name, '=');
		nlen = eq ? (size_t)(eq - name) : strlen(name);
		if (nlen == 4 && !strncmp(name, "help", 4)) {
			c->help = 1;
			continue;
		}
		if (json_ok && nlen == 4 && !strncmp(name, "json", 4)) {
			if (eq)
				return fail(c, EXIT_USAGE, "option --json takes no value");
			c->json = 1;
			continue;
		}
		if (nlen == 4 && !strncmp(name, "pool", 4)) {
			o = &pool_opt;
		} else {
			for (o = opts; o && o->name; o++)
				if (strlen(o->name) == nlen && !strncmp(o->name, name, nlen))
					break;
			if (!o || !o->name)
				return fail(c, EXIT_USAGE,
					    "unknown option '--%.*s' (see vmshm %s --help)",
					    (int)nlen, name, c->cmd);
		}
		if (o->arg) {
			if (eq) {
				val = eq + 1;
			} else {
				if (i + 1 >= argc)
					return fail(c, EXIT_USAGE, "option --%s needs a value",
						    o->name);
				val = argv[++i];
			}
			if (o == &pool_opt) {
				if (!*val)
					return fail(c, EXIT_USAGE, "--pool needs a path");
				c->pool = val;
			} else {
				*o->val = val;
			}
		} else {
			if (eq)
				return fail(c, EXIT_USAGE, "option --%s takes no value", o->name);
			*o->flag = 1;
		}
	}
	return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		return -1;
	}
	if (shift) {
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	}
	if (*end)
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int lookup_user(const char *s, uid_t *uid)
{
	struct passwd *pw = getpwnam(s);
	uint64_t v;

	if (pw) {
		*uid = pw->pw_uid;
		return 0;
	}
	if (parse_u64(s, &v) < 0 || v >= (uid_t)-1)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

int lookup_group(const char *s, gid_t *gid)
{
	struct group *gr = getgrnam(s);
	uint64_t v;

	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (parse_u64(s, &v) < 0 || v >= (gid_t)-1)
		return -1;
	*gid = (gid_t)v;
	return 0;
}

int parse_mode(const char *s, mode_t *mode)
{
	char *end;
	unsigned long m;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	m = strtoul(s, &end, 8);
	if (*end || m > 0777)
		return -1;
	*mode = (mode_t)m;
	return 0;
}

const char *fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (v && (v & 1023) == 0 && u < 3) {
		v >>= 10;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
	return buf;
}

uint64_t next_pow2(uint64_t v)
{
	uint64_t p = 1;

	while (p < v && p < (1ull << 63))
		p <<= 1;
	return p;
}

int put_safe(FILE *f, const char *s)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\') {
			fprintf(f, "\\x%02x", *p);
			n += 4;
		} else {
			fputc(*p, f);
			n++;
		}
	}
	return n;
}

/* A pool file (absolute or relative path), not a device spec. */
static int is_file_spec(const char *spec)
{
	return strncmp(spec, "/dev/uio", 8) && strncmp(spec, "pci:", 4) &&
	       strncmp(spec, "ivshmem:", 8);
}

int open_pool(const struct cmd_ctx *c, unsigned flags, vmshm_pool **out)
{
	char why[256] = "";
	struct stat st;
	int rc;

	if (!c->pool)
		return fail(c, EXIT_USAGE, "no pool given: use --pool PATH or set VMSHM_POOL");
	if (is_file_spec(c->pool)) {
		if (stat(c->pool, &st) < 0) {
			if (errno == ENOENT)
				return fail(c, EXIT_FAIL, "no such pool: %s", c->pool);
			return fail(c, EXIT_FAIL, "cannot use %s: %s", c->pool, strerror(errno));
		}
		if (S_ISDIR(st.st_mode))
			return fail(c, EXIT_FAIL, "%s is a directory, not a pool file", c->pool);
	}
	rc = vmshm_attach(c->pool, flags, out, why, sizeof(why));
	if (rc < 0 && strncmp(why, c->pool, strlen(c->pool)) == 0)
		return fail(c, EXIT_FAIL, "%s", why); /* the reason names the pool already */
	if (rc < 0)
		return fail(c, EXIT_FAIL, "%s: %s", c->pool, why[0] ? why : vmshm_strerror(rc));
	return 0;
}

void uuid_str(const uint8_t id[16], char out[37])
{
	char *p = out;

	for (int i = 0; i < 16; i++) {
		p += sprintf(p, "%02x", id[i]);
		if (i == 3 || i == 5 || i == 7 || i == 9)
			*p++ = '-';
	}
	*p = 0;
}

struct command {
	const char *w1, *w2;
	int (*fn)(int, char **);
};

static const struct command commands[] = {
    {"pool", "create", cmd_pool_create},
    {"pool", "info", cmd_pool_info},
    {"ls", NULL, cmd_ls},
    {"create", NULL, cmd_create},
    {"rm", NULL, cmd_rm},
    {"write", NULL, cmd_write},
    {"read", NULL, cmd_read},
    {"dump", NULL, cmd_dump},
    {"peers", NULL, cmd_peers},
    {"gc", NULL, cmd_gc},
    {"check", NULL, cmd_check},
    {"qemu-args", NULL, cmd_qemu_args},
    {"libvirt-xml", NULL, cmd_libvirt_xml},
    {"serve", NULL, cmd_serve},
    {"event", NULL, cmd_event},
    {"semaphore", NULL, cmd_semaphore},
    {"release", NULL, cmd_release},
    {"wait", NULL, cmd_wait},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
	int i = 1;

	/* A leading --pool PATH applies to the command that follows. */
	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("vmshm %s (libvmshm %s, pool format %d.%d)\n", VMSHM_CLI_VERSION,
			       vmshm_version(), VMSHM_FORMAT_MAJOR, VMSHM_FORMAT_MINOR);
			return EXIT_OK;
		}
		if (!strcmp(argv[i], "--pool") && i + 1 < argc && argv[i + 1][0]) {
			setenv("VMSHM_POOL", argv[i + 1], 1);
			i += 2;
			continue;
		}
		if (!strncmp(argv[i], "--pool=", 7) && argv[i][7]) {
			setenv("VMSHM_POOL", argv[i] + 7, 1);
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--pool") || !strcmp(argv[i], "--pool=")) {
			fprintf(stderr, "vmshm: --pool needs a path\n");
			return EXIT_USAGE;
		}
		fprintf(stderr, "vmshm: unknown option '%s' (see vmshm --help)\n", argv[i]);
		return EXIT_USAGE;
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	for (const struct command *c = commands; c->w1; c++) {
		if (strcmp(argv[i], c->w1))
			continue;
		if (!c->w2)
			return c->fn(argc - i - 1, argv + i + 1);
		if (i + 1 < argc && !strcmp(argv[i + 1], c->w2))
			return c->fn(argc - i - 2, argv + i + 2);
	}
	if (!strcmp(argv[i], "pool")) {
		if (i + 1 < argc &&
		    (!strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h"))) {
			fputs(pool_usage, stdout);
			return EXIT_OK;
		}
		if (i + 1 >= argc)
			fprintf(stderr, "vmshm pool: missing subcommand: create or info\n");
		else
			fprintf(stderr, "vmshm pool: unknown subcommand '%s': create or info\n",
				argv[i + 1]);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help")) {
		fputs(usage_text, stdout);
		return EXIT_OK;
	}
	fprintf(stderr, "vmshm: unknown command '%s' (see vmshm --help)\n", argv[i]);
	return EXIT_USAGE;
}
