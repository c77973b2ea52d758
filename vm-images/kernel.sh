#!/bin/sh
# vm-images/kernel.sh OUT - the guest kernel and its module build tree, from
# Debian packages only (apt-get download + dpkg-deb extraction, nothing else).
#
# Produces, under OUT (default build/vm):
#   vmlinux          uncompressed kernel, boots under QEMU -kernel through PVH
#   kver             the kernel release, e.g. 6.1.0-56-amd64
#   modules/uio.ko   the UIO core the guest driver needs
#   kernel/usr/src/linux-headers-KVER   headers + kbuild for out-of-tree modules
# A second run with everything in place does nothing.
set -eu

out=${1:-build/vm}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ -s "$out/vmlinux" ] && [ -s "$out/kver" ] && [ -s "$out/modules/uio.ko" ] &&
	[ -f "$out/kernel/.done" ]; then
	exit 0
fi

say() { echo "vm-images: $*" >&2; }

# The kernel release that Debian's linux-image-amd64 points at. The package
# lists may be missing on a fresh machine: refresh them once.
kver=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n 1)
if [ -z "$kver" ]; then
	say "refreshing the package lists"
	apt-get update -qq >/dev/null
	kver=$(apt-cache depends linux-image-amd64 |
		sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n 1)
fi
[ -n "$kver" ] || { say "no linux-image-amd64 in the package lists"; exit 1; }
abi=${kver%-amd64} # 6.1.0-56
kmaj=$(echo "$abi" | cut -d. -f1-2)
say "guest kernel $kver"

dl="$out/debs"
mkdir -p "$dl"
pkgs="linux-image-$kver linux-headers-$kver linux-headers-$abi-common linux-kbuild-$kmaj"
need=""
for p in $pkgs; do
	ls "$dl/${p}_"*.deb >/dev/null 2>&1 || need="$need $p"
done
download() {
	# shellcheck disable=SC2086
	(cd "$dl" && apt-get download -q $need 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	missing=""
	for p in $need; do
		ls "$dl/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"
	done
}
if [ -n "$need" ]; then
	say "apt-get download$need"
	download
	if [ -n "$missing" ]; then
		# Old package lists name versions the archive no longer has.
		say "refreshing the package lists"
		apt-get update -qq >/dev/null
		need=$missing
		download
		[ -z "$missing" ] || { say "download of$missing failed"; exit 1; }
	fi
fi

# The kernel image and the UIO core only (not the 400 MB of modules).
img=$(ls "$dl/linux-image-${kver}_"*.deb)
tmp="$out/img.tmp"
rm -rf "$tmp"
mkdir -p "$tmp"
dpkg-deb --fsys-tarfile "$img" |
	tar -x -C "$tmp" "./boot/vmlinuz-$kver" "./boot/config-$kver" \
		"./lib/modules/$kver/kernel/drivers/uio/uio.ko"

# The bzImage payload is XZ: decompress it from the first XZ magic.
bz="$tmp/boot/vmlinuz-$kver"
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$bz" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || { say "no XZ payload in $bz"; exit 1; }
tail -c +$((off + 1)) "$bz" | xz -dc --single-stream >"$out/vmlinux.tmp" 2>/dev/null || true
case "$(head -c 4 "$out/vmlinux.tmp" | od -An -c | tr -d ' ')" in
*ELF*) ;;
*) say "the decompressed kernel is not an ELF file"; exit 1 ;;
esac
mv "$out/vmlinux.tmp" "$out/vmlinux"
mkdir -p "$out/modules"
cp "$tmp/lib/modules/$kver/kernel/drivers/uio/uio.ko" "$out/modules/uio.ko"
cp "$tmp/boot/config-$kver" "$out/config"
rm -rf "$tmp"
rm -f "$img" # 70 MB, of which we keep what we need

# Headers and kbuild for out-of-tree modules. Their symlinks are relative;
# only the amd64 Makefile names the common tree by an absolute path.
rm -rf "$out/kernel"
mkdir -p "$out/kernel"
for p in linux-headers-$kver linux-headers-$abi-common linux-kbuild-$kmaj; do
	dpkg-deb -x "$(ls "$dl/${p}_"*.deb)" "$out/kernel"
done
hdr="$out/kernel/usr/src/linux-headers-$kver"
sed -i "s|^include /usr/src/|include $out/kernel/usr/src/|" "$hdr/Makefile"
grep -q "^include $out/kernel/usr/src/linux-headers-$abi-common/Makefile" "$hdr/Makefile" ||
	{ say "unexpected $hdr/Makefile"; exit 1; }
touch "$out/kernel/.done"
echo "$kver" >"$out/kver"
say "vmlinux $(du -h "$out/vmlinux" | cut -f1), headers in $hdr"
