// SPDX-License-Identifier: GPL-2.0
/*
 * vmshm_uio.c - UIO driver for the ivshmem PCI device (1af4:1110) used by
 * vmshm pools inside a Linux guest.
 *
 *   map 0  BAR0, the ivshmem registers (256 bytes, mapped as one page,
 *          uncached): IVPosition at 0x8, Doorbell at 0xC.
 *   map 1  BAR2, the shared memory, mapped write-back cacheable: the pool
 *          directory lives on atomics and the data is bulk memory, so the
 *          uncached mapping that UIO gives physical memory by default
 *          would be both slow and wrong for it.
 *
 * The doorbell variant of the device (with MSI-X) delivers every vector as a
 * UIO interrupt: read() on /dev/uioN returns the event count, write() of 1 is
 * accepted (MSI-X needs no re-enable). The plain variant has no interrupt.
 */
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uio_driver.h>

#define DRV_NAME    "vmshm_uio"
#define DRV_VERSION "0.1.0"

#define VMSHM_MAX_VECTORS 64

struct vmshm_dev {
	struct uio_info info;
	struct pci_dev *pdev;
	int nvec;
};

static irqreturn_t vmshm_irq(int irq, void *arg)
{
	struct vmshm_dev *d = arg;

	uio_event_notify(&d->info);
	return IRQ_HANDLED;
}

/* MSI-X vectors are edge-triggered: nothing to mask or unmask. Accepting
 * the write lets user space use the usual "write 1, then read" loop. */
static int vmshm_irqcontrol(struct uio_info *info, s32 on)
{
	return 0;
}

static int vmshm_mmap(struct uio_info *info, struct vm_area_struct *vma)
{
	unsigned long len = vma->vm_end - vma->vm_start;
	struct uio_mem *mem;

	if (vma->vm_pgoff > 1)
		return -EINVAL;
	mem = &info->mem[vma->vm_pgoff];
	if (len > mem->size)
		return -EINVAL;
	if (vma->vm_pgoff == 0)
		vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	/* map 1 keeps the vma's default protection: write-back. */
	vma->vm_flags |= VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
	return remap_pfn_range(vma, vma->vm_start, mem->addr >> PAGE_SHIFT, len, vma->vm_page_prot);
}

static void vmshm_free_irqs(struct vmshm_dev *d)
{
	int i;

	for (i = 0; i < d->nvec; i++)
		free_irq(pci_irq_vector(d->pdev, i), d);
	if (d->nvec)
		pci_free_irq_vectors(d->pdev);
	d->nvec = 0;
}

/* Requests every MSI-X vector of the doorbell variant; the plain variant
 * has none. Called after the UIO device exists: a doorbell may arrive as
 * soon as its vector is requested. */
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
		err = request_irq(pci_irq_vector(pdev, i), vmshm_irq, 0, DRV_NAME, d);
		if (err) {
			d->nvec = i;
			vmshm_free_irqs(d);
			if (i == 0)
				pci_free_irq_vectors(pdev);
			return err;
		}
		d->nvec = i + 1;
	}
	return 0;
}

#define VMSHM_BARS (BIT(0) | BIT(2))

static int vmshm_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct vmshm_dev *d;
	int err;

	d = devm_kzalloc(&pdev->dev, sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;
	d->pdev = pdev;

	err = pcim_enable_device(pdev);
	if (err)
		return err;
	if (!pci_resource_len(pdev, 0) || !pci_resource_len(pdev, 2))
		return -ENODEV;
	err = pci_request_selected_regions(pdev, VMSHM_BARS, DRV_NAME);
	if (err)
		return err;

	d->info.name = DRV_NAME;
	d->info.version = DRV_VERSION;
	d->info.mem[0].name = "registers";
	d->info.mem[0].addr = pci_resource_start(pdev, 0);
	d->info.mem[0].size = PAGE_ALIGN(pci_resource_len(pdev, 0));
	d->info.mem[0].memtype = UIO_MEM_PHYS;
	d->info.mem[1].name = "shmem";
	d->info.mem[1].addr = pci_resource_start(pdev, 2);
	d->info.mem[1].size = pci_resource_len(pdev, 2);
	d->info.mem[1].memtype = UIO_MEM_PHYS;
	d->info.mmap = vmshm_mmap;
	if (pci_msix_vec_count(pdev) > 0) {
		d->info.irq = UIO_IRQ_CUSTOM;
		d->info.irqcontrol = vmshm_irqcontrol;
	} else {
		d->info.irq = UIO_IRQ_NONE;
	}

	pci_set_master(pdev);
	err = uio_register_device(&pdev->dev, &d->info);
	if (err)
		goto out_regions;
	err = vmshm_setup_irqs(d);
	if (err)
		goto out_uio;
	pci_set_drvdata(pdev, d);
	dev_info(&pdev->dev, "vmshm: %llu MiB shared memory, %d interrupt vector(s)\n",
		 (unsigned long long)pci_resource_len(pdev, 2) >> 20, d->nvec);
	return 0;

out_uio:
	uio_unregister_device(&d->info);
out_regions:
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

static const struct pci_device_id vmshm_ids[] = {{PCI_DEVICE(0x1af4, 0x1110)}, {0}};
MODULE_DEVICE_TABLE(pci, vmshm_ids);

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
