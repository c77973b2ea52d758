/*
 * ivshmem_win32.c - the "ivshmem:N" backend: BAR2 of the N-th ivshmem PCI
 * device of a Windows guest, through the virtio-win IVSHMEM driver.
 *
 * Devices are found by the driver's interface GUID and ordered by PCI bus
 * number and address (device << 16 | function), so ivshmem:0 is the device
 * with the lowest bus/slot, whatever order Windows enumerates them in. With
 * VMSHM_POOL unset, the first device whose memory holds a vmshm pool is used:
 * a device of other software (Looking Glass, Scream) is never taken.
 *
 * The mapping belongs to the device handle that asked for it: doorbells and
 * events work only through that handle, and closing it releases the mapping
 * and its events. Driver builds differ in how many mappings a device allows:
 * some give every handle its own (then any number of processes can attach),
 * the others refuse a second one while the first lasts (then a second
 * process of this VM gets VMSHM_EBUSY). Both work. Inside one process every
 * attach of a device shares one mapping (counted here).
 */
#include <windows.h>
#include <setupapi.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmshm.h"
#include "backend.h"
#include "format.h"
#include "platform.h"

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
	BOOLEAN single_shot; /* absent in early driver builds: see register_event */
};

/* What the driver checks: every IOCTL is FILE_ANY_ACCESS (so the device
 * opens with access 0), and each buffer must have exactly the driver's size
 * (a 64-bit process; a 32-bit one would need the driver's 32-bit layout). */
_Static_assert(IOCTL_IVSHMEM_REQUEST_PEERID == 0x222000, "IOCTL 0x800");
_Static_assert(IOCTL_IVSHMEM_REQUEST_SIZE == 0x222004, "IOCTL 0x801");
_Static_assert(IOCTL_IVSHMEM_REQUEST_MMAP == 0x222008, "IOCTL 0x802");
_Static_assert(IOCTL_IVSHMEM_RELEASE_MMAP == 0x22200c, "IOCTL 0x803");
_Static_assert(IOCTL_IVSHMEM_RING_DOORBELL == 0x222010, "IOCTL 0x804");
_Static_assert(IOCTL_IVSHMEM_REGISTER_EVENT == 0x222014, "IOCTL 0x805");
_Static_assert(sizeof(void *) == 8, "the driver's structures below are its 64-bit ones");
_Static_assert(sizeof(struct ivshmem_mmap_config) == 1, "IVSHMEM_MMAP_CONFIG");
_Static_assert(sizeof(struct ivshmem_mmap) == 32 && offsetof(struct ivshmem_mmap, size) == 8 &&
		   offsetof(struct ivshmem_mmap, ptr) == 16 &&
		   offsetof(struct ivshmem_mmap, vectors) == 24,
	       "IVSHMEM_MMAP");
_Static_assert(sizeof(struct ivshmem_ring) == 4 && offsetof(struct ivshmem_ring, vector) == 2,
	       "IVSHMEM_RING");
_Static_assert(sizeof(struct ivshmem_event) == 24 && offsetof(struct ivshmem_event, event) == 8 &&
		   offsetof(struct ivshmem_event, single_shot) == 16,
	       "IVSHMEM_EVENT");
#define IVSHMEM_EVENT_V1_SIZE 16 /* early builds: vector and event only */

/* STATUS_DEVICE_ALREADY_ATTACHED, the refusal of a second mapping, reaches
 * Win32 as 548, or as 317 (ERROR_MR_MID_NOT_FOUND: "no message for this
 * status") where the status has no mapping to a Win32 error. */
#ifndef ERROR_DEVICE_ALREADY_ATTACHED
#define ERROR_DEVICE_ALREADY_ATTACHED 548L
#endif
#ifndef ERROR_MR_MID_NOT_FOUND
#define ERROR_MR_MID_NOT_FOUND 317L
#endif

/* How long an attach waits for a device that is "not ready": the driver
 * answers so until the ivshmem doorbell server has given this VM its ID. */
#ifndef IVSHMEM_READY_WAIT_MS
#define IVSHMEM_READY_WAIT_MS 5000
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

/*
 * The calls into the driver and SetupAPI. tests/win/ivdrv_test.c compiles
 * this file with IVSHMEM_FAKE_DRIVER defined and supplies them itself (a
 * driver in user space over pool files), to test what Wine cannot run.
 *
 * ivdev_enum: every present ivshmem device whose driver interface is
 *     active, in enumeration order; the count (0: none) or VMSHM_E*.
 * ivdev_driverless: how many ivshmem PCI devices have no driver.
 * drv_open: the device handle, opened with ACCESS (INVALID_HANDLE_VALUE and
 *     GetLastError on failure). drv_ioctl: DeviceIoControl. drv_close.
 */
static int ivdev_enum(struct ivdev **out, char *why, size_t whylen);
static int ivdev_driverless(void);
static HANDLE drv_open(const WCHAR *path, DWORD access);
static BOOL drv_ioctl(HANDLE dev, DWORD code, void *in, DWORD inlen, void *out, DWORD outlen,
		      DWORD *got);
static void drv_close(HANDLE dev);

#ifndef IVSHMEM_FAKE_DRIVER
static int ivdev_enum(struct ivdev **out, char *why, size_t whylen)
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
		/* An interface that is not active (driver stopped, device
		 * disabled or being removed) cannot be opened. */
		if (!(ifd.Flags & SPINT_ACTIVE) || (ifd.Flags & SPINT_REMOVED))
			continue;
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
	*out = d;
	return n;
}

/* Present PCI devices with the ivshmem IDs (1af4:1110), driver or not. */
static int ivdev_driverless(void)
{
	static const WCHAR want[] = L"PCI\\VEN_1AF4&DEV_1110";
	HDEVINFO set = SetupDiGetClassDevsW(NULL, L"PCI", NULL, DIGCF_ALLCLASSES | DIGCF_PRESENT);
	SP_DEVINFO_DATA dev;
	WCHAR ids[512];
	int n = 0;

	if (set == INVALID_HANDLE_VALUE)
		return 0;
	for (DWORD i = 0;; i++) {
		memset(&dev, 0, sizeof dev);
		dev.cbSize = sizeof dev;
		if (!SetupDiEnumDeviceInfo(set, i, &dev))
			break;
		memset(ids, 0, sizeof ids);
		if (SetupDiGetDeviceRegistryPropertyW(set, &dev, SPDRP_HARDWAREID, NULL, (PBYTE)ids,
						      sizeof ids - sizeof(WCHAR), NULL) &&
		    _wcsnicmp(ids, want, wcslen(want)) == 0)
			n++;
	}
	SetupDiDestroyDeviceInfoList(set);
	return n;
}

static HANDLE drv_open(const WCHAR *path, DWORD access)
{
	return CreateFileW(path, access, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0,
			   NULL);
}

static BOOL drv_ioctl(HANDLE dev, DWORD code, void *in, DWORD inlen, void *out, DWORD outlen,
		      DWORD *got)
{
	return DeviceIoControl(dev, code, in, inlen, out, outlen, got, NULL);
}

static void drv_close(HANDLE dev)
{
	CloseHandle(dev);
}
#endif

/* Every ivshmem device with its driver, in ivshmem:N order: by PCI bus and
 * address. The count (0: none) or a VMSHM_E* code. */
static int ivdev_list(struct ivdev **out, char *why, size_t whylen)
{
	int n = ivdev_enum(out, why, whylen);

	if (n > 1)
		qsort(*out, (size_t)n, sizeof **out, ivdev_cmp);
	return n;
}

/* The reason given when there is no device to use: it names the fix (and
 * fits the 256 bytes that callers give a reason). */
static void no_device_why(const char *spec, char *why, size_t whylen)
{
	int bare = ivdev_driverless();

	if (bare > 0)
		be_why(why, whylen,
		       "%s: %d ivshmem PCI device%s (1af4:1110) with no active driver interface: "
		       "install virtio-win's IVSHMEM driver (without it the device shows as \"PCI "
		       "standard RAM Controller\") or enable the device",
		       spec, bare, bare == 1 ? "" : "s");
	else
		be_why(why, whylen,
		       "%s: no ivshmem device (no interface " IVSHMEM_GUID_TEXT
		       "): install virtio-win's IVSHMEM driver (without it the device shows as "
		       "\"PCI standard RAM Controller\")",
		       spec);
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
	HANDLE event; /* vector 0's, registered at mapping; NULL: none */
	unsigned refs;
};

/* A plat_lock, not a bare SRWLOCK: the exit path (detach at process exit)
 * takes it again, and plat_lock copes with a thread that ExitProcess ended
 * while it held the lock (platform_win32.c). Initialised by the first open;
 * a close always follows an open. */
static plat_lock ivmap_lock;
static struct ivmap *ivmaps;

static void ivmap_init(void)
{
	plat_lock_init(&ivmap_lock);
}

/* One IOCTL. While the driver answers "not ready" (it does so until the
 * ivshmem doorbell server has given this VM its ID), tries again for up to
 * IVSHMEM_READY_WAIT_MS. */
static BOOL ioctl_ready(HANDLE dev, DWORD code, void *in, DWORD inlen, void *out, DWORD outlen,
			DWORD *got)
{
	for (unsigned waited = 0;; waited += 50) {
		if (drv_ioctl(dev, code, in, inlen, out, outlen, got))
			return TRUE;
		if (GetLastError() != ERROR_NOT_READY || waited >= IVSHMEM_READY_WAIT_MS)
			return FALSE;
		Sleep(50);
	}
}

/* The VMSHM_E* code and reason for a failed step (Win32 error E). */
static int map_error(const char *spec, const char *step, DWORD e, char *why, size_t whylen)
{
	switch (e) {
	case ERROR_DEVICE_ALREADY_ATTACHED:
	case ERROR_BUSY:
	case ERROR_SHARING_VIOLATION:
		be_why(why, whylen,
		       "%s: the device is already mapped by another process of this VM (this "
		       "build of the IVSHMEM driver allows one mapping per device at a time)",
		       spec);
		return VMSHM_EBUSY;
	case ERROR_NOT_READY:
		be_why(
		    why, whylen,
		    "%s: the device is not ready (still after %u ms): the ivshmem doorbell server "
		    "has not given this VM its ID yet; try again once QEMU is connected to "
		    "ivshmem-server",
		    spec, (unsigned)IVSHMEM_READY_WAIT_MS);
		return VMSHM_ETIMEDOUT;
	case ERROR_ACCESS_DENIED:
		be_why(why, whylen, "%s: %s: access denied", spec, step);
		return VMSHM_EPERM;
	default:
		be_why(why, whylen, "%s: %s failed (error %lu)", spec, step, (unsigned long)e);
		return VMSHM_EIO;
	}
}

/*
 * The event of vector 0, registered now, when the device is mapped: the
 * driver clears an event when it registers it and signals only registered
 * events, so a doorbell rung before a later registration would be lost.
 * Auto-reset and repeating (it stays registered until the device handle is
 * closed). NULL if the driver refuses it: then doorbell waits fail.
 */
static HANDLE register_event(HANDLE dev)
{
	struct ivshmem_event ev;
	HANDLE h = CreateEventW(NULL, FALSE, FALSE, NULL);
	DWORD got;

	if (!h)
		return NULL;
	memset(&ev, 0, sizeof ev);
	ev.vector = 0;
	ev.event = h;
	ev.single_shot = FALSE;
	if (drv_ioctl(dev, IOCTL_IVSHMEM_REGISTER_EVENT, &ev, sizeof ev, NULL, 0, &got))
		return h;
	/* Early driver builds take the structure without single_shot. */
	if (drv_ioctl(dev, IOCTL_IVSHMEM_REGISTER_EVENT, &ev, IVSHMEM_EVENT_V1_SIZE, NULL, 0, &got))
		return h;
	CloseHandle(h);
	return NULL;
}

/* Maps the device at PATH into IM; with EVENTS (a doorbell device), also
 * registers the doorbell event. 0 or a VMSHM_E* code. */
static int map_device(const WCHAR *path, const char *spec, int events, struct ivmap *im, char *why,
		      size_t whylen)
{
	struct ivshmem_mmap_config cfg = {.cache_mode = IVSHMEM_CACHE_CACHED};
	struct ivshmem_mmap mm;
	UINT64 size = 0;
	DWORD got = 0, e;

	/* Access 0: every IOCTL of the driver is FILE_ANY_ACCESS, and asking
	 * for read/write access would refuse users who are not administrators. */
	im->dev = drv_open(path, 0);
	if (im->dev == INVALID_HANDLE_VALUE)
		return map_error(spec, "opening the device", GetLastError(), why, whylen);
	if (!ioctl_ready(im->dev, IOCTL_IVSHMEM_REQUEST_SIZE, NULL, 0, &size, sizeof size, &got) ||
	    got != sizeof size) {
		e = GetLastError();
		drv_close(im->dev);
		return map_error(spec, "IOCTL_IVSHMEM_REQUEST_SIZE", e, why, whylen);
	}
	memset(&mm, 0, sizeof mm);
	if (!ioctl_ready(im->dev, IOCTL_IVSHMEM_REQUEST_MMAP, &cfg, sizeof cfg, &mm, sizeof mm,
			 &got)) {
		e = GetLastError();
		drv_close(im->dev);
		if (e == ERROR_MR_MID_NOT_FOUND)
			e = ERROR_DEVICE_ALREADY_ATTACHED; /* the same refusal */
		return map_error(spec, "IOCTL_IVSHMEM_REQUEST_MMAP", e, why, whylen);
	}
	if (!mm.ptr || mm.size < VMSHM_MIN_POOL_SIZE || mm.size > size) {
		drv_ioctl(im->dev, IOCTL_IVSHMEM_RELEASE_MMAP, NULL, 0, NULL, 0, &got);
		drv_close(im->dev);
		be_why(why, whylen, "%s: the driver mapped %llu of %llu bytes", spec,
		       (unsigned long long)mm.size, (unsigned long long)size);
		return mm.ptr ? VMSHM_EFORMAT : VMSHM_EIO;
	}
	im->base = mm.ptr;
	im->size = mm.size;
	im->peer_id = mm.peer_id;
	im->vectors = mm.vectors;
	im->event = events && mm.vectors ? register_event(im->dev) : NULL;
	return 0;
}

static void unmap_device(struct ivmap *im)
{
	DWORD got;

	drv_ioctl(im->dev, IOCTL_IVSHMEM_RELEASE_MMAP, NULL, 0, NULL, 0, &got);
	drv_close(im->dev); /* also releases the registered event */
	if (im->event)
		CloseHandle(im->event);
}

/* With ivmap_lock held: this process's mapping of the device at PATH. */
static struct ivmap *ivmap_find(const WCHAR *path)
{
	struct ivmap *im;

	for (im = ivmaps; im; im = im->next)
		if (wcscmp(im->path, path) == 0)
			return im;
	return NULL;
}

/* Does memory of SIZE bytes at BASE begin with a vmshm pool header of a
 * format this library reads (magic and major version)? */
static int holds_pool(const void *base, uint64_t size)
{
	uint64_t magic;
	uint16_t major;

	if (size < FMT_HEADER_SIZE)
		return 0;
	memcpy(&magic, (const char *)base + offsetof(struct fmt_header, magic), sizeof magic);
	memcpy(&major, (const char *)base + offsetof(struct fmt_header, major), sizeof major);
	return magic == FMT_MAGIC && major == VMSHM_FORMAT_MAJOR;
}

/* Discovery's look at one device: 1 it holds a vmshm pool, 0 it does not,
 * < 0 it could not be looked at (VMSHM_EBUSY: mapped by another process,
 * VMSHM_ETIMEDOUT: not ready, ...). The memory is only read. */
static int probe_device(const WCHAR *path)
{
	struct ivmap *im, tmp;
	int r;

	plat_lock_take(&ivmap_lock);
	im = ivmap_find(path);
	if (im) {
		r = holds_pool(im->base, im->size);
	} else {
		memset(&tmp, 0, sizeof tmp);
		r = map_device(path, "ivshmem", 0, &tmp, NULL, 0);
		if (r == 0) {
			r = holds_pool(tmp.base, tmp.size);
			unmap_device(&tmp);
		} else if (r == VMSHM_EFORMAT) {
			r = 0; /* too small to be a pool */
		}
	}
	plat_lock_give(&ivmap_lock);
	return r;
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
			no_device_why(spec, why, whylen);
		else
			be_why(why, whylen, "%s: this system has only %d ivshmem device%s", spec, n,
			       n == 1 ? "" : "s");
		ivdev_free(devs, n);
		return VMSHM_ENOPOOL;
	}

	plat_once(ivmap_init);
	plat_lock_take(&ivmap_lock);
	im = ivmap_find(devs[idx].path);
	if (im) {
		im->refs++;
	} else {
		im = calloc(1, sizeof *im);
		if (!im) {
			plat_lock_give(&ivmap_lock);
			ivdev_free(devs, n);
			be_why(why, whylen, "%s: out of memory", spec);
			return VMSHM_EIO;
		}
		r = map_device(devs[idx].path, spec, 1, im, why, whylen);
		if (r < 0) {
			plat_lock_give(&ivmap_lock);
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
	plat_lock_give(&ivmap_lock);
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
	plat_lock_take(&ivmap_lock);
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
	plat_lock_give(&ivmap_lock);
	m->priv = NULL;
	m->base = NULL;
}

static int iv_ring(struct be_map *m, uint16_t peer, uint16_t vector)
{
	struct ivmap *im = m ? m->priv : NULL;
	struct ivshmem_ring r = {.peer_id = peer, .vector = vector};
	DWORD got;

	if (!im)
		return VMSHM_EINVAL;
	if (im->vectors == 0)
		return VMSHM_ENOTSUP; /* ivshmem-plain: no doorbells */
	if (!drv_ioctl(im->dev, IOCTL_IVSHMEM_RING_DOORBELL, &r, sizeof r, NULL, 0, &got))
		return VMSHM_EIO;
	return 0;
}

static int iv_wait(struct be_map *m, int timeout_ms)
{
	struct ivmap *im = m ? m->priv : NULL;
	DWORD w;

	if (!im)
		return VMSHM_EINVAL;
	if (im->vectors == 0)
		return VMSHM_ENOTSUP;
	if (!im->event)
		return VMSHM_EIO; /* the driver refused the event at attach */
	w = WaitForSingleObject(im->event, timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms);
	if (w == WAIT_OBJECT_0)
		return 1;
	if (w == WAIT_TIMEOUT)
		return 0;
	return VMSHM_EIO;
}

/*
 * VMSHM_POOL unset: the first device (in ivshmem:N order) whose memory holds
 * a vmshm pool. Other software's devices are only looked at (mapped, read,
 * released), never written. When no device holds a pool, the first one that
 * could not be looked at (mapped by another process, not ready) is named, so
 * that the attach says why; with none of those, there is no pool.
 */
static int iv_discover(char *spec, size_t len)
{
	struct ivdev *devs;
	int n = ivdev_list(&devs, NULL, 0), pick = -1, unsure = -1;

	if (n < 0)
		return n;
	plat_once(ivmap_init);
	for (int i = 0; i < n && pick < 0; i++) {
		int r = probe_device(devs[i].path);

		if (r == 1)
			pick = i;
		else if (r < 0 && unsure < 0)
			unsure = i;
	}
	ivdev_free(devs, n);
	if (pick < 0)
		pick = unsure;
	if (pick < 0)
		return VMSHM_ENOPOOL;
	if (!spec || snprintf(spec, len, "ivshmem:%d", pick) >= (int)len)
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
