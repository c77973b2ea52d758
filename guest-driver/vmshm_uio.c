// SPDX-License-Identifier: GPL-2.0
/*
 * vmshm_uio.c - UIO driver for the ivshmem PCI device (1af4:1110) used by
 * vmshm pools inside a Linux guest.
 *
 *   map 0  BAR0, the ivshmem registers (256 bytes, mapped as one page,
 *          uncached): IVPosition at 0x8, Doorbell at 0xC.
 *   map 1  BAR2, the shared memory, mapped write-back cacheable where the
 *          firmware's MTRRs allow it: the pool directory lives on atomics
 *          and the data is bulk memory.
 *   map 2  one page of per-vector doorbell counters (doorbell variant
 *          only): u32 count[64], count[v] grows by one for each interrupt
 *          of MSI-X vector v.
 *
 * All three maps go through the UIO core's own mmap (alignment and size
 * checks, .access = generic_access_phys for gdb and /proc/PID/mem). Map 1
 * is declared UIO_MEM_IOVA rather than UIO_MEM_PHYS for one reason: the
 * core forces UIO_MEM_PHYS mappings uncached and maps UIO_MEM_IOVA ones with
 * the vma's default protection, write-back (Linux 5.2 and later; Jailhouse's
 * uio_ivshmem does the same). BAR2 is not DMA memory: the name is the
 * core's, the behaviour is what this device needs.
 *
 * Interrupts: every MSI-X vector of the doorbell variant counts in map 2 and
 * is a UIO event: read() on /dev/uioN returns the event count. write() of 0
 * masks the vectors, 1 unmasks them; a doorbell rung while masked is kept
 * and delivered at the unmask. The plain variant has no interrupt; neither
 * has a device whose MSI-X setup fails (it works without doorbells).
 *
 * Binding: the driver takes only the devices it is told to (an ivshmem
 * device may belong to other software): the module parameter `devices`
 * (comma-separated PCI addresses such as 0000:00:03.0, or "all"), or a
 * device's driver_override set to "vmshm_uio". It does not autoload.
 */
#include <linux/atomic.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uio_driver.h>

#define DRV_NAME    "vmshm_uio"
#define DRV_VERSION "0.2.0"

#define VMSHM_MAX_VECTORS 64

static char *devices;
module_param(devices, charp, 0444);
MODULE_PARM_DESC(devices,
		 "ivshmem devices to bind: comma-separated PCI addresses (0000:00:03.0) or \"all\"; others only through driver_override");

struct vmshm_dev;

struct vmshm_vec {
	struct vmshm_dev *d;
	unsigned int index;
};

struct vmshm_dev {
	struct uio_info info;
	struct pci_dev *pdev;
	u32 *counts; /* map 2: one zeroed page */
	struct mutex lock; /* nvec and masked: irqcontrol against remove */
	int nvec;
	bool masked;
	bool live; /* the UIO device exists: events may be notified */
	struct vmshm_vec vec[VMSHM_MAX_VECTORS];
};

static irqreturn_t vmshm_irq(int irq, void *arg)
{
	struct vmshm_vec *v = arg;
	struct vmshm_dev *d = v->d;

	/* The count first: a reader woken by the event sees it. One vector's
	 * handler never runs twice at once: a plain increment is enough. */
	WRITE_ONCE(d->counts[v->index], READ_ONCE(d->counts[v->index]) + 1);
	smp_wmb(); /* the count before the event count of uio_event_notify() */
	if (smp_load_acquire(&d->live))
		uio_event_notify(&d->info);
	return IRQ_HANDLED;
}

/* 0 masks every vector, 1 unmasks them. disable_irq() is lazy: a vector
 * that fires while masked is marked pending and resent by enable_irq(), so
 * no doorbell is lost. */
static int vmshm_irqcontrol(struct uio_info *info, s32 on)
{
	struct vmshm_dev *d = container_of(info, struct vmshm_dev, info);
	int i;

	if (on != 0 && on != 1)
		return -EINVAL;
	mutex_lock(&d->lock);
	if (!on != d->masked) {
		for (i = 0; i < d->nvec; i++) {
			if (on)
				enable_irq(pci_irq_vector(d->pdev, i));
			else
				disable_irq(pci_irq_vector(d->pdev, i));
		}
		d->masked = !on;
	}
	mutex_unlock(&d->lock);
	return 0;
}

static void vmshm_free_irqs(struct vmshm_dev *d)
{
	int i;

	mutex_lock(&d->lock);
	for (i = 0; i < d->nvec; i++) {
		if (d->masked)
			enable_irq(pci_irq_vector(d->pdev, i));
		free_irq(pci_irq_vector(d->pdev, i), &d->vec[i]);
	}
	if (d->nvec)
		pci_free_irq_vectors(d->pdev);
	d->nvec = 0;
	d->masked = false;
	mutex_unlock(&d->lock);
}

/* Requests every MSI-X vector of the doorbell variant (the plain variant
 * has none). Runs before the UIO device exists: an early doorbell only
 * counts in map 2 until LIVE is set. */
static int vmshm_setup_irqs(struct vmshm_dev *d)
{
	struct pci_dev *pdev = d->pdev;
	int n, i, err;

	n = pci_msix_vec_count(pdev);
	if (n <= 0)
		return 0;
	if (n > VMSHM_MAX_VECTORS)
		n = VMSHM_MAX_VECTORS;
	n = pci_alloc_irq_vectors(pdev, 1, n, PCI_IRQ_MSIX);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		d->vec[i].d = d;
		d->vec[i].index = i;
		err = request_irq(pci_irq_vector(pdev, i), vmshm_irq, 0, DRV_NAME, &d->vec[i]);
		if (err) {
			if (i == 0)
				pci_free_irq_vectors(pdev);
			vmshm_free_irqs(d);
			return err;
		}
		d->nvec = i + 1;
	}
	return 0;
}

/* Is this device one the user overrode to us or named in devices=? The
 * PCI core matches the override_only entry of vmshm_ids only for a device
 * whose driver_override is "vmshm_uio". */
static bool vmshm_wanted(struct pci_dev *pdev, const struct pci_device_id *id)
{
	const char *name = pci_name(pdev);
	size_t len = strlen(name);
	const char *p = devices;

	if (id->override_only)
		return true;
	if (!p)
		return false;
	if (!strcmp(p, "all"))
		return true;
	while (*p) {
		if (!strncmp(p, name, len) && (p[len] == ',' || p[len] == '\0'))
			return true;
		p = strchrnul(p, ',');
		if (*p)
			p++;
	}
	return false;
}

#define VMSHM_BARS (BIT(0) | BIT(2))

static int vmshm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vmshm_dev *d;
	int err;

	if (!vmshm_wanted(pdev, id))
		return -ENODEV;
	d = devm_kzalloc(&pdev->dev, sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->pdev = pdev;
	mutex_init(&d->lock);
	d->counts = (u32 *)devm_get_free_pages(&pdev->dev, GFP_KERNEL | __GFP_ZERO, 0);
	if (!d->counts)
		return -ENOMEM;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	if (!pci_resource_len(pdev, 0) || !pci_resource_len(pdev, 2))
		return -ENODEV;
	err = pci_request_selected_regions(pdev, VMSHM_BARS, DRV_NAME);
	if (err)
		return err;
	pci_set_master(pdev);

	err = vmshm_setup_irqs(d);
	if (err)
		dev_warn(&pdev->dev,
			 "vmshm: MSI-X setup failed (%d): carrying on without doorbells\n", err);

	d->info.name = DRV_NAME;
	d->info.version = DRV_VERSION;
	d->info.mem[0].name = "registers";
	d->info.mem[0].addr = pci_resource_start(pdev, 0);
	d->info.mem[0].size = PAGE_ALIGN(pci_resource_len(pdev, 0));
	d->info.mem[0].memtype = UIO_MEM_PHYS;
	d->info.mem[1].name = "shmem";
	d->info.mem[1].addr = pci_resource_start(pdev, 2);
	d->info.mem[1].size = pci_resource_len(pdev, 2);
	d->info.mem[1].memtype = UIO_MEM_IOVA; /* write-back: see the top */
	if (d->nvec) {
		d->info.mem[2].name = "vectors";
		d->info.mem[2].addr = (phys_addr_t)(uintptr_t)d->counts;
		d->info.mem[2].size = PAGE_SIZE;
		d->info.mem[2].memtype = UIO_MEM_LOGICAL;
		d->info.irq = UIO_IRQ_CUSTOM;
		d->info.irqcontrol = vmshm_irqcontrol;
	} else {
		d->info.irq = UIO_IRQ_NONE;
	}

	err = uio_register_device(&pdev->dev, &d->info);
	if (err)
		goto out_irqs;
	smp_store_release(&d->live, true);
	pci_set_drvdata(pdev, d);
	dev_info(&pdev->dev, "vmshm: %llu MiB shared memory, %d interrupt vector(s)\n",
		 (unsigned long long)pci_resource_len(pdev, 2) >> 20, d->nvec);
	return 0;

out_irqs:
	vmshm_free_irqs(d);
	pci_release_selected_regions(pdev, VMSHM_BARS);
	return err;
}

/* Interrupts go first: none may reach a UIO device that is going away. */
static void vmshm_remove(struct pci_dev *pdev)
{
	struct vmshm_dev *d = pci_get_drvdata(pdev);

	vmshm_free_irqs(d);
	uio_unregister_device(&d->info);
	pci_release_selected_regions(pdev, VMSHM_BARS);
}

/* The first entry matches only devices overridden to this driver, the
 * second every ivshmem device, taken only if named in devices=. No
 * MODULE_DEVICE_TABLE: udev must not load the driver for every ivshmem
 * device; whoever wants it loads it. */
static const struct pci_device_id vmshm_ids[] = {
	{PCI_DEVICE_DRIVER_OVERRIDE(0x1af4, 0x1110, 1)},
	{PCI_DEVICE(0x1af4, 0x1110)},
	{0},
};

static struct pci_driver vmshm_driver = {
	.name = DRV_NAME,
	.id_table = vmshm_ids,
	.probe = vmshm_probe,
	.remove = vmshm_remove,
};
module_pci_driver(vmshm_driver);

MODULE_VERSION(DRV_VERSION);
MODULE_LICENSE("GPL v2");
MODULE_DESCRIPTION("UIO driver for ivshmem devices carrying vmshm pools");
