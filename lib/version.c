/*
 * version.c - the library's version, as built.
 */
#include "vmshm.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

const char *vmshm_version(void)
{
	return STR(VMSHM_VERSION_MAJOR) "." STR(VMSHM_VERSION_MINOR) "." STR(VMSHM_VERSION_PATCH);
}
