/*
 * ivshmem_win32.c - the "ivshmem:N" backend: BAR2 of the N-th ivshmem PCI
 * device of a Windows guest, through the virtio-win ivshmem driver.
 *
 * Devices are found by the driver's interface GUID and ordered by PCI bus
 * number and address (device << 16 | function), so ivshmem:0 is the device
 * with the lowest bus/slot, whatever order Windows enumerates them in.
 *
 * The driver allows ONE mapping of a device at a time, owned by the handle
 * that asked for it; doorbells and events work only through that handle, and
 * closing it releases the mapping and its events. So in one Windows VM one
 * process at a time can attach ivshmem:N: a second process gets VMSHM_EBUSY.
 * Inside one process every attach of the same device shares the one mapping
 * (counted here), so several attaches in a process are fine.
 */
#include <windows.h>
#include <setupapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmshm.h"
#include "backend.h"

extern const struct backend be_ivshmem;

/* The virtio-win ivshmem driver's interface (its Public.h). */
static const GUID ivshmem_guid = {
    0xdf576976, 0x569d, 0x4672, {0x95, 0xa0, 0xf5, 0x7e, 0x4e, 0xa0, 0xb2, 0x10}};
#define IVSHMEM_GUID_TEXT "{df576976-569d-4672-95a0-f57e4ea0b210}"

#define IVSHMEM_IOCTL(n)             CTL_CODE(FILE_DEVICE_UNKNOWN, (n), METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOCTL_IVSHMEM_REQUEST_PEERID IVSHMEM_IOCTL(0x800)
#define IOCTL_IVSHMEM_REQUEST_SIZE   IVSHMEM_IOCTL(0x801)
#define IOCTL_IVSHMEM_REQUEST_MMAP   IVSHMEM_IOCTL(0x802)
#define IOCTL_IVSHMEM_RELEASE_MMAP   IVSHMEM_IOCTL(0x803)
#define IOCTL_IVSHMEM_RING_DOORBELL  IVSHMEM_IOCTL(0x804)
#define IOCTL_IVSHMEM_REGISTER_EVENT IVSHMEM_IOCTL(0x805)

#define IVSHMEM_CACHE_CACHED 1

/* The driver's structures, natural alignment. */
struct ivshmem_mmap_config {
	UINT8 cache_mode;
};
struct ivshmem_mmap {
	UINT16 peer_id;
	UINT64 size;
	PVOID ptr;
	UINT16 vectors;
};
struct ivshmem_ring {
	UINT16 peer_id;
	UINT16 vector;
};
struct ivshmem_event {
	UINT16 vector;
	HANDLE event;
	BOOLEAN single_shot;
};

#ifndef ERROR_DEVICE_ALREADY_ATTACHED
#define ERROR_DEVICE_ALREADY_ATTACHED 548L /* STATUS_DEVICE_ALREADY_ATTACHED */
#endif

/* ---- discovery ---------------------------------------------------------- */

struct ivdev {
	WCHAR *path;
	DWORD bus;
	DWORD addr; /* device << 16 | function */
	DWORD seq;  /* enumeration order, the last tie-break */
};

static int ivdev_cmp(const void *a, const void *b)
{
	const struct ivdev *x = a, *y = b;

	if (x->bus != y->bus)
		return x->bus < y->bus ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void ivdev_free(struct ivdev *d, int n)
{
	for (int i = 0; i < n; i++)
		free(d[i].path);
	free(d);
}

/* Every present ivshmem device, ordered by PCI bus/address. Returns the
 * count (0: none) or a VMSHM_E* code. */
static int ivdev_list(struct ivdev **out, char *why, size_t whylen)
{
	HDEVINFO set;
	SP_DEVICE_INTERFACE_DATA ifd;
	struct ivdev *d = NULL;
	int n = 0, cap = 0;

	*out = NULL;
	set =
	    SetupDiGetClassDevsW(&ivshmem_guid, NULL, NULL, DIGCF_PRESENT | DIGCF_DEVICEINTERFACE);
	if (set == INVALID_HANDLE_VALUE) {
		be_why(why, whylen, "SetupDiGetClassDevs(" IVSHMEM_GUID_TEXT ") failed (error %lu)",
		       (unsigned long)GetLastError());
		return VMSHM_EIO;
	}
	for (DWORD i = 0;; i++) {
		SP_DEVICE_INTERFACE_DETAIL_DATA_W *det;
		SP_DEVINFO_DATA dev;
		DWORD need = 0, bus = 0xffffffffu, addr = 0xffffffffu;
		size_t plen;

		memset(&ifd, 0, sizeof ifd);
		ifd.cbSize = sizeof ifd;
		if (!SetupDiEnumDeviceInterfaces(set, NULL, &ivshmem_guid, i, &ifd))
			break; /* ERROR_NO_MORE_ITEMS */
		SetupDiGetDeviceInterfaceDetailW(set, &ifd, NULL, 0, &need, NULL);
		if (need < sizeof(SP_DEVICE_INTERFACE_DETAIL_DATA_W))
			continue;
		det = calloc(1, need);
		if (!det)
			break;
		det->cbSize = sizeof(SP_DEVICE_INTERFACE_DETAIL_DATA_W);
		memset(&dev, 0, sizeof dev);
		dev.cbSize = sizeof dev;
		if (!SetupDiGetDeviceInterfaceDetailW(set, &ifd, det, need, NULL, &dev)) {
			free(det);
			continue;
		}
		if (!SetupDiGetDeviceRegistryPropertyW(set, &dev, SPDRP_BUSNUMBER, NULL,
						       (PBYTE)&bus, sizeof bus, NULL))
			bus = 0xffffffffu;
		if (!SetupDiGetDeviceRegistryPropertyW(set, &dev, SPDRP_ADDRESS, NULL, (PBYTE)&addr,
						       sizeof addr, NULL))
			addr = 0xffffffffu;
		if (n == cap) {
			struct ivdev *nd = realloc(d, (size_t)(cap ? 2 * cap : 4) * sizeof *d);

			if (!nd) {
				free(det);
				break;
			}
			d = nd;
			cap = cap ? 2 * cap : 4;
		}
		plen = wcslen(det->DevicePath) + 1;
		d[n].path = malloc(plen * sizeof(WCHAR));
		if (!d[n].path) {
			free(det);
			break;
		}
		memcpy(d[n].path, det->DevicePath, plen * sizeof(WCHAR));
		d[n].bus = bus;
		d[n].addr = addr;
		d[n].seq = i;
		n++;
		free(det);
	}
	SetupDiDestroyDeviceInfoList(set);
	if (n > 1)
		qsort(d, (size_t)n, sizeof *d, ivdev_cmp);
	*out = d;
	return n;
}

/* "ivshmem:N" -> N (0..65535), or -1. */
static int parse_index(const char *spec)
{
	const char *p = spec + 8;
	long v = 0;

	if (strncmp(spec, "ivshmem:", 8) != 0 || !*p)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return -1;
	}
	return (int)v;
}

/* ---- one mapping per device, shared by the attaches of this process ----- */

struct ivmap {
	struct ivmap *next;
	WCHAR *path;
	HANDLE dev;
	void *base;
	uint64_t size;
	uint16_t peer_id;
	uint16_t vectors;
	HANDLE event; /* registered for vector 0 on the first wait */
	unsigned refs;
};

static SRWLOCK ivmap_lock = SRWLOCK_INIT;
static struct ivmap *ivmaps;

static int map_device(const WCHAR *path, const char *spec, struct ivmap *im, char *why,
		      size_t whylen)
{
	struct ivshmem_mmap_config cfg = {.cache_mode = IVSHMEM_CACHE_CACHED};
	struct ivshmem_mmap mm;
	UINT64 size = 0;
	DWORD ret, e;

	im->dev = CreateFileW(path, GENERIC_READ | GENERIC_WRITE,
			      FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0, NULL);
	if (im->dev == INVALID_HANDLE_VALUE) {
		e = GetLastError();
		if (e == ERROR_SHARING_VIOLATION || e == ERROR_BUSY) {
			be_why(why, whylen,
			       "%s: the device is in use by another process of this VM "
			       "(the ivshmem driver allows one mapping per device)",
			       spec);
			return VMSHM_EBUSY;
		}
		be_why(why, whylen, "%s: cannot open the device (error %lu)", spec,
		       (unsigned long)e);
		return e == ERROR_ACCESS_DENIED ? VMSHM_EPERM : VMSHM_EIO;
	}
	if (!DeviceIoControl(im->dev, IOCTL_IVSHMEM_REQUEST_SIZE, NULL, 0, &size, sizeof size, &ret,
			     NULL) ||
	    ret != sizeof size) {
		e = GetLastError();
		CloseHandle(im->dev);
		be_why(why, whylen, "%s: IOCTL_IVSHMEM_REQUEST_SIZE failed (error %lu)", spec,
		       (unsigned long)e);
		return VMSHM_EIO;
	}
	memset(&mm, 0, sizeof mm);
	if (!DeviceIoControl(im->dev, IOCTL_IVSHMEM_REQUEST_MMAP, &cfg, sizeof cfg, &mm, sizeof mm,
			     &ret, NULL)) {
		e = GetLastError();
		CloseHandle(im->dev);
		if (e == ERROR_DEVICE_ALREADY_ATTACHED) {
			be_why(why, whylen,
			       "%s: the device is already mapped by another process of this VM "
			       "(the ivshmem driver allows one mapping per device)",
			       spec);
			return VMSHM_EBUSY;
		}
		be_why(why, whylen, "%s: IOCTL_IVSHMEM_REQUEST_MMAP failed (error %lu)", spec,
		       (unsigned long)e);
		return VMSHM_EIO;
	}
	if (!mm.ptr || mm.size < VMSHM_MIN_POOL_SIZE || mm.size > size) {
		DeviceIoControl(im->dev, IOCTL_IVSHMEM_RELEASE_MMAP, NULL, 0, NULL, 0, &ret, NULL);
		CloseHandle(im->dev);
		be_why(why, whylen, "%s: the driver mapped %llu of %llu bytes", spec,
		       (unsigned long long)mm.size, (unsigned long long)size);
		return mm.ptr ? VMSHM_EFORMAT : VMSHM_EIO;
	}
	im->base = mm.ptr;
	im->size = mm.size;
	im->peer_id = mm.peer_id;
	im->vectors = mm.vectors;
	im->event = NULL;
	return 0;
}

static void unmap_device(struct ivmap *im)
{
	DWORD ret;

	DeviceIoControl(im->dev, IOCTL_IVSHMEM_RELEASE_MMAP, NULL, 0, NULL, 0, &ret, NULL);
	CloseHandle(im->dev); /* also releases the registered event */
	if (im->event)
		CloseHandle(im->event);
}

static int iv_claims(const char *spec)
{
	return spec && strncmp(spec, "ivshmem:", 8) == 0;
}

static int iv_open(const char *spec, struct be_map *m, char *why, size_t whylen)
{
	struct ivdev *devs;
	struct ivmap *im;
	int idx, n, r;

	if (!spec || !m) {
		be_why(why, whylen, "no ivshmem spec");
		return VMSHM_EINVAL;
	}
	idx = parse_index(spec);
	if (idx < 0) {
		be_why(why, whylen, "%s: expected ivshmem:N with N a device index (0..65535)",
		       spec);
		return VMSHM_EINVAL;
	}
	n = ivdev_list(&devs, why, whylen);
	if (n < 0)
		return n;
	if (idx >= n) {
		if (n == 0)
			be_why(why, whylen,
			       "%s: no ivshmem device in this system (no device offers the "
			       "virtio-win ivshmem interface " IVSHMEM_GUID_TEXT ")",
			       spec);
		else
			be_why(why, whylen, "%s: this system has only %d ivshmem device%s", spec, n,
			       n == 1 ? "" : "s");
		ivdev_free(devs, n);
		return VMSHM_ENOPOOL;
	}

	AcquireSRWLockExclusive(&ivmap_lock);
	for (im = ivmaps; im; im = im->next)
		if (wcscmp(im->path, devs[idx].path) == 0)
			break;
	if (im) {
		im->refs++;
	} else {
		im = calloc(1, sizeof *im);
		if (!im) {
			ReleaseSRWLockExclusive(&ivmap_lock);
			ivdev_free(devs, n);
			be_why(why, whylen, "%s: out of memory", spec);
			return VMSHM_EIO;
		}
		r = map_device(devs[idx].path, spec, im, why, whylen);
		if (r < 0) {
			ReleaseSRWLockExclusive(&ivmap_lock);
			free(im);
			ivdev_free(devs, n);
			return r;
		}
		im->path = devs[idx].path;
		devs[idx].path = NULL;
		im->refs = 1;
		im->next = ivmaps;
		ivmaps = im;
	}
	ReleaseSRWLockExclusive(&ivmap_lock);
	ivdev_free(devs, n);

	m->base = im->base;
	m->size = im->size;
	/* Without interrupts the driver reports peer 0, which says nothing. */
	m->ivposition = im->vectors ? (int32_t)im->peer_id : -1;
	m->be = &be_ivshmem;
	m->priv = im;
	return 0;
}

static void iv_close(struct be_map *m)
{
	struct ivmap *im, **pp;

	if (!m || !m->priv)
		return;
	AcquireSRWLockExclusive(&ivmap_lock);
	for (pp = &ivmaps; *pp; pp = &(*pp)->next) {
		if (*pp != m->priv)
			continue;
		im = *pp;
		if (--im->refs == 0) {
			*pp = im->next;
			unmap_device(im);
			free(im->path);
			free(im);
		}
		break;
	}
	ReleaseSRWLockExclusive(&ivmap_lock);
	m->priv = NULL;
	m->base = NULL;
}

static int iv_ring(struct be_map *m, uint16_t peer, uint16_t vector)
{
	struct ivmap *im = m ? m->priv : NULL;
	struct ivshmem_ring r = {.peer_id = peer, .vector = vector};
	DWORD ret;

	if (!im)
		return VMSHM_EINVAL;
	if (im->vectors == 0)
		return VMSHM_ENOTSUP; /* ivshmem-plain: no doorbells */
	if (!DeviceIoControl(im->dev, IOCTL_IVSHMEM_RING_DOORBELL, &r, sizeof r, NULL, 0, &ret,
			     NULL))
		return VMSHM_EIO;
	return 0;
}

static int iv_wait(struct be_map *m, int timeout_ms)
{
	struct ivmap *im = m ? m->priv : NULL;
	struct ivshmem_event ev;
	HANDLE h;
	DWORD ret, w;

	if (!im)
		return VMSHM_EINVAL;
	if (im->vectors == 0)
		return VMSHM_ENOTSUP;
	AcquireSRWLockExclusive(&ivmap_lock);
	if (!im->event) {
		/* Auto-reset, registered once: the driver keeps a repeating
		 * event until the device handle is closed. */
		h = CreateEventW(NULL, FALSE, FALSE, NULL);
		memset(&ev, 0, sizeof ev);
		ev.vector = 0;
		ev.event = h;
		ev.single_shot = FALSE;
		if (h && DeviceIoControl(im->dev, IOCTL_IVSHMEM_REGISTER_EVENT, &ev, sizeof ev,
					 NULL, 0, &ret, NULL))
			im->event = h;
		else if (h)
			CloseHandle(h);
	}
	h = im->event;
	ReleaseSRWLockExclusive(&ivmap_lock);
	if (!h)
		return VMSHM_EIO;
	w = WaitForSingleObject(h, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
	if (w == WAIT_OBJECT_0)
		return 1;
	if (w == WAIT_TIMEOUT)
		return 0;
	return VMSHM_EIO;
}

static int iv_discover(char *spec, size_t len)
{
	struct ivdev *devs;
	int n = ivdev_list(&devs, NULL, 0);

	if (n < 0)
		return n;
	ivdev_free(devs, n);
	if (n == 0)
		return VMSHM_ENOPOOL;
	if (!spec || snprintf(spec, len, "ivshmem:0") >= (int)len)
		return VMSHM_EINVAL;
	return 0;
}

const struct backend be_ivshmem = {
    .name = "ivshmem",
    .claims = iv_claims,
    .open = iv_open,
    .close = iv_close,
    .ring = iv_ring,
    .wait = iv_wait,
    .discover = iv_discover,
};
