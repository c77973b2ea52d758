/*
 * memtype_linux.c - the memory type of a mapping of device memory (an
 * ivshmem BAR2) in a Linux guest: see memtype.h.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtype.h"
#include "platform.h"

#define PAT_LIST "/sys/kernel/debug/x86/pat_memtype_list"

/* The PAT's names (arch/x86/mm/pat/memtype.c, cattr_name), as static strings. */
static const char *const types[] = {"write-back",      "uncached-minus", "uncached",
				    "write-combining", "write-through",  "write-protected"};

static const char *known(const char *s)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(s, types[i]) == 0)
			return types[i];
	return NULL;
}

/* "PAT: [mem 0x0000000100000000-0x0000000104000000] write-back" for exactly
 * our range. Every mapping of one range has one type (PAT refuses others). */
static const char *from_pat(uint64_t phys, uint64_t len)
{
	char line[256], want[64], *t;
	const char *type = NULL;
	FILE *f = fopen(PAT_LIST, "re");

	if (!f)
		return NULL;
	snprintf(want, sizeof(want), "[mem 0x%016llx-0x%016llx]", (unsigned long long)phys,
		 (unsigned long long)(phys + len));
	while (!type && fgets(line, sizeof(line), f)) {
		t = strstr(line, want);
		if (!t)
			continue;
		t += strlen(want);
		t += strspn(t, " ");
		t[strcspn(t, " \n")] = 0;
		type = known(t);
	}
	fclose(f);
	return type;
}

/* Does an uncachable variable MTRR overlap the range? ("reg00:
 * base=0x0c0000000 ( 3072MB), size= 1024MB, count=1: uncachable") -1 when
 * /proc/mtrr cannot be read. */
static int mtrr_uncachable(uint64_t phys, uint64_t len)
{
	char line[256], type[32], unit;
	unsigned long long base, size;
	int uc = 0;
	FILE *f = fopen("/proc/mtrr", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "reg%*d: base=%llx (%*[^)]), size=%llu%cB, count=%*d: %31s", &base,
			   &size, &unit, type) != 4)
			continue;
		size <<= unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : 0;
		if (strcmp(type, "uncachable") == 0 && base < phys + len && phys < base + size)
			uc = 1;
	}
	fclose(f);
	return uc;
}

const char *be_memtype(uint64_t phys, uint64_t len, const char *asked, const char *spec)
{
	static atomic_int warned;
	const char *type = from_pat(phys, len);

	if (!type) {
		int uc = mtrr_uncachable(phys, len);

		if (strcmp(asked, "write-back") != 0)
			type = known(asked);
		else if (uc >= 0)
			type = uc ? "uncached-minus" : "write-back";
	}
	if (!type)
		type = "unknown";
	if (strcmp(type, "write-back") != 0 && plat_getenv("VMSHM_DEBUG") &&
	    !atomic_exchange(&warned, 1)) {
		char msg[320];

		snprintf(msg, sizeof(msg),
			 "%s: the pool is mapped %s, not write-back: atomics and copies on it "
			 "are slow (guest-driver/README.md: write-back below 4 GiB)",
			 spec, type);
		plat_debug(msg);
	}
	return type;
}
