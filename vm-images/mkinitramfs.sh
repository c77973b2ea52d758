#!/bin/sh
# vm-images/mkinitramfs.sh OUT.cpio VMDIR:DRIVER.ko... [SRC=DEST ...]
# Builds the guest initramfs (an uncompressed newc cpio: under TCG the
# decompression would cost more than it saves): busybox-static, the init of
# vm-images/init, for each kernel tree VMDIR (vm-images/kernel.sh) its UIO
# core and the vmshm driver built for it in /lib/modules/KVER/ (one image
# boots every kernel: init loads the modules of `uname -r`), and every SRC
# copied to DEST inside the image (guest programs, scenarios).
set -eu

[ $# -ge 2 ] || { echo "usage: $0 OUT.cpio VMDIR:DRIVER.ko... [SRC=DEST ...]" >&2; exit 2; }
out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)

bb=/bin/busybox
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
	{ echo "$0: $bb missing or not static (install busybox-static)" >&2; exit 1; }

root=$(mktemp -d "${out}.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/lib/modules" "$root/scenarios" \
	"$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc"
cp "$bb" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/init" "$root/init"
chmod 755 "$root/init"
for f in "$@"; do
	case "$f" in
	*=*) continue ;;
	esac
	vmdir=${f%%:*}
	kver=$(cat "$vmdir/kver")
	mkdir -p "$root/lib/modules/$kver"
	cp "$vmdir/modules/uio.ko" "$root/lib/modules/$kver/uio.ko"
	cp "${f#*:}" "$root/lib/modules/$kver/vmshm_uio.ko"
done
for f in "$@"; do
	case "$f" in
	*=*) ;;
	*) continue ;;
	esac
	src=${f%%=*}
	dst=${f#*=}
	mkdir -p "$root/$(dirname "$dst")"
	cp "$src" "$root/$dst"
done
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
