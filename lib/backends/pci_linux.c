/*
 * pci_linux.c - the "pci" backend: a pool in the BAR2 of an ivshmem device
 * (1af4:1110) reached through libpciaccess, with no driver in the guest.
 *
 * Spec: pci:DDDD:BB:DD.F. libpciaccess maps BAR2 through sysfs
 * (resource2); the device must not be bound to a driver that claims the
 * BAR (with CONFIG_IO_STRICT_DEVMEM the kernel refuses the mapping then).
 * No doorbells: the registers are not used. The mapping is uncached
 * (uncached-minus): sysfs resourceN maps that way, whatever the firmware.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pciaccess.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "memtype.h"
#include "vmshm.h"

#define IVSHMEM_VENDOR 0x1af4
#define IVSHMEM_DEVICE 0x1110
#define SHM_BAR        2

struct pci_priv {
	struct pci_device *dev;
};

/* libpciaccess keeps one global state: count its users. */
static pthread_mutex_t pci_lock = PTHREAD_MUTEX_INITIALIZER;
static int pci_users;

static int pci_up(void)
{
	int err = 0;

	pthread_mutex_lock(&pci_lock);
	if (pci_users == 0)
		err = pci_system_init();
	if (!err)
		pci_users++;
	pthread_mutex_unlock(&pci_lock);
	return err;
}

static void pci_down(void)
{
	pthread_mutex_lock(&pci_lock);
	if (pci_users > 0 && --pci_users == 0)
		pci_system_cleanup();
	pthread_mutex_unlock(&pci_lock);
}

static int pci_claims(const char *spec)
{
	return strncmp(spec, "pci:", 4) == 0;
}

/* "pci:DDDD:BB:DD.F" (hex domain, bus, device; decimal function). */
static int parse_addr(const char *spec, unsigned *dom, unsigned *bus, unsigned *dev, unsigned *fn)
{
	static const char shape[] = "pci:xxxx:xx:xx.x";
	int used = -1;
	size_t i;

	if (strlen(spec) != 16)
		return -1;
	for (i = 4; i < 16; i++)
		if (shape[i] == 'x' ? !isxdigit((unsigned char)spec[i]) : spec[i] != shape[i])
			return -1;
	if (sscanf(spec, "pci:%4x:%2x:%2x.%1u%n", dom, bus, dev, fn, &used) != 4 || used != 16)
		return -1;
	if (*dev > 31 || *fn > 7)
		return -1;
	return 0;
}

static int pci_open(const char *spec, struct be_map *m, char *why, size_t whylen)
{
	unsigned dom, bus, slot, fn;
	struct pci_device *dev;
	struct pci_priv *p;
	pciaddr_t base, size;
	void *addr = NULL;
	int err;

	if (parse_addr(spec, &dom, &bus, &slot, &fn)) {
		be_why(why, whylen, "%s: not a PCI address (pci:DDDD:BB:DD.F)", spec);
		return VMSHM_EINVAL;
	}
	err = pci_up();
	if (err) {
		be_why(why, whylen, "libpciaccess: %s", strerror(err));
		return err == EACCES || err == EPERM ? VMSHM_EPERM : VMSHM_EIO;
	}
	dev = pci_device_find_by_slot(dom, bus, slot, fn);
	if (!dev) {
		be_why(why, whylen, "%s: no such PCI device", spec);
		pci_down();
		return VMSHM_ENOPOOL;
	}
	if (dev->vendor_id != IVSHMEM_VENDOR || dev->device_id != IVSHMEM_DEVICE) {
		be_why(why, whylen, "%s: device %04x:%04x is not ivshmem (1af4:1110)", spec,
		       dev->vendor_id, dev->device_id);
		pci_down();
		return VMSHM_ENOPOOL;
	}
	err = pci_device_probe(dev);
	if (err) {
		be_why(why, whylen, "%s: probe: %s", spec, strerror(err));
		pci_down();
		return err == EACCES || err == EPERM ? VMSHM_EPERM : VMSHM_EIO;
	}
	base = dev->regions[SHM_BAR].base_addr;
	size = dev->regions[SHM_BAR].size;
	if (!base || size < VMSHM_MIN_POOL_SIZE || size > VMSHM_MAX_POOL_SIZE ||
	    (pciaddr_t)(size_t)size != size) {
		be_why(why, whylen, "%s: BAR2 is missing or of an unusable size (%llu bytes)", spec,
		       (unsigned long long)size);
		pci_down();
		return VMSHM_EIO;
	}
	err = pci_device_map_range(dev, base, size,
				   PCI_DEV_MAP_FLAG_WRITABLE | PCI_DEV_MAP_FLAG_CACHABLE, &addr);
	if (err) {
		char path[80], drv[256];
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%04x:%02x:%02x.%u/driver", dom,
			 bus, slot, fn);
		n = readlink(path, drv, sizeof(drv) - 1);
		if (n > 0) {
			drv[n] = 0;
			be_why(why, whylen,
			       "%s: mapping BAR2: %s (the device is bound to the driver %s: "
			       "use its device or unbind it)",
			       spec, strerror(err),
			       strrchr(drv, '/') ? strrchr(drv, '/') + 1 : drv);
		} else {
			be_why(why, whylen, "%s: mapping BAR2: %s", spec, strerror(err));
		}
		pci_down();
		return err == EACCES || err == EPERM ? VMSHM_EPERM : VMSHM_EIO;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		be_why(why, whylen, "out of memory");
		pci_device_unmap_range(dev, addr, size);
		pci_down();
		return VMSHM_EIO;
	}
	p->dev = dev;
	m->base = addr;
	m->size = size;
	m->ivposition = -1;
	m->memtype = be_memtype(base, size, "uncached-minus", spec);
	m->priv = p;
	/* The peers' kernel locks: on the BAR's sysfs file, kept open until
	 * detach (the mapping is libpciaccess's own open file). */
	char res[80];
	snprintf(res, sizeof(res), "/sys/bus/pci/devices/%04x:%02x:%02x.%u/resource2", dom, bus,
		 slot, fn);
	m->lock_fd = open(res, O_RDWR | O_CLOEXEC);
	return 0;
}

static void pci_close(struct be_map *m)
{
	struct pci_priv *p = m->priv;

	if (p) {
		if (m->base)
			pci_device_unmap_range(p->dev, m->base, m->size);
		free(p);
		pci_down();
	}
	m->base = NULL;
	m->priv = NULL;
}

/* The first ivshmem device in libpciaccess's (bus) order. */
static int pci_discover(char *spec, size_t len)
{
	struct pci_id_match match = {
	    .vendor_id = IVSHMEM_VENDOR,
	    .device_id = IVSHMEM_DEVICE,
	    .subvendor_id = PCI_MATCH_ANY,
	    .subdevice_id = PCI_MATCH_ANY,
	};
	struct pci_device_iterator *it;
	struct pci_device *dev;
	int ret = VMSHM_ENOPOOL;

	if (pci_up())
		return VMSHM_ENOPOOL;
	it = pci_id_match_iterator_create(&match);
	if (it) {
		dev = pci_device_next(it);
		if (dev) {
			snprintf(spec, len, "pci:%04x:%02x:%02x.%u", dev->domain & 0xffff, dev->bus,
				 dev->dev, dev->func);
			ret = 0;
		}
		pci_iterator_destroy(it);
	}
	pci_down();
	return ret;
}

const struct backend be_pci = {
    .name = "pci",
    .claims = pci_claims,
    .open = pci_open,
    .close = pci_close,
    .ring = NULL,
    .wait = NULL,
    .discover = pci_discover,
};
