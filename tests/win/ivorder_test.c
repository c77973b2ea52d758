/*
 * ivorder_test.c - white-box checks of the ivshmem:N backend that need no
 * device: how specs are parsed and claimed, and the order of devices (PCI
 * bus, then address, then enumeration order) that decides which device is
 * ivshmem:0. Compiles the backend's source (and the platform layer it
 * uses, which the DLL does not export) into this program.
 *
 * Ends with "N passed, M failed".
 */
#include <stdarg.h>

#include "backends/ivshmem_win32.c"
#include "platform_win32.c"

#include "check.h"

void be_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

int main(void)
{
	/* bus, address (device << 16 | function), enumeration order */
	struct ivdev d[] = {
	    {NULL, 1, 0x00000000u, 0},
	    {NULL, 0, 0x00050000u, 1},
	    {NULL, 0, 0x00030001u, 2},
	    {NULL, 0xffffffffu, 0xffffffffu, 3}, /* bus/address unknown: last */
	    {NULL, 0, 0x00030000u, 4},
	    {NULL, 0, 0x00050000u, 5}, /* tie: by order */
	};
	static const DWORD want_seq[] = {4, 2, 1, 5, 0, 3};
	struct be_map m;
	char spec[32] = "", why[256];
	int ok = 1;

	qsort(d, sizeof d / sizeof d[0], sizeof d[0], ivdev_cmp);
	for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
		if (d[i].seq != want_seq[i])
			ok = 0;
	CHECK(ok, "devices not ordered by bus, address, enumeration: %lu %lu %lu %lu %lu %lu",
	      (unsigned long)d[0].seq, (unsigned long)d[1].seq, (unsigned long)d[2].seq,
	      (unsigned long)d[3].seq, (unsigned long)d[4].seq, (unsigned long)d[5].seq);

	CHECK(parse_index("ivshmem:0") == 0, "ivshmem:0");
	CHECK(parse_index("ivshmem:7") == 7, "ivshmem:7");
	CHECK(parse_index("ivshmem:65535") == 65535, "ivshmem:65535");
	CHECK(parse_index("ivshmem:65536") == -1, "ivshmem:65536");
	CHECK(parse_index("ivshmem:") == -1, "ivshmem:");
	CHECK(parse_index("ivshmem:+1") == -1, "ivshmem:+1");
	CHECK(parse_index("ivshmem:1 ") == -1, "ivshmem:1 with a space");
	CHECK(parse_index("ivshmem:99999999999999999999") == -1, "a huge index");

	CHECK(iv_claims("ivshmem:0"), "claims ivshmem:0");
	CHECK(iv_claims("ivshmem:x"), "claims ivshmem:x (and then refuses it)");
	CHECK(!iv_claims("C:\\pools\\a"), "claims a path");
	CHECK(!iv_claims("ivshmem"), "claims 'ivshmem' without a colon");
	CHECK(!iv_claims("pci:0000:00:04.0"), "claims pci:");
	CHECK(be_ivshmem.ring && be_ivshmem.wait && be_ivshmem.discover,
	      "the ivshmem backend has doorbells and discovery");

	/* Under Wine: no device, so discovery finds nothing. */
	CHECK(iv_discover(spec, sizeof spec) == VMSHM_ENOPOOL, "discover: '%s'", spec);
	memset(&m, 0, sizeof m);
	CHECK(iv_open("ivshmem:0", &m, why, sizeof why) == VMSHM_ENOPOOL, "open ivshmem:0");
	CHECK(m.base == NULL && m.priv == NULL, "a failed open filled the map");
	CHECK(iv_ring(&m, 1, 0) == VMSHM_EINVAL, "ring on an unopened map");
	CHECK(iv_wait(&m, 0) == VMSHM_EINVAL, "wait on an unopened map");
	iv_close(&m); /* nothing to do, must not crash */
	return check_summary();
}
