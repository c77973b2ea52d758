/*
 * notify.c - readiness and stopping reported to systemd (Type=notify), when
 * the command is built with libsystemd; otherwise nothing. Kept apart so
 * that the static build for the guests goes without libsystemd.
 */
#include "cli.h"

#ifdef VMSHM_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

void notify_systemd(const char *state)
{
#ifdef VMSHM_HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}
