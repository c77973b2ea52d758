#!/bin/sh
# vm-images/kernel.sh OUT [META] - the guest kernel and its module build tree,
# from Debian packages only (apt-get download + dpkg-deb extraction, nothing
# else). META is the Debian meta package that names the kernel:
#   linux-image-amd64         (default) Debian 12's own kernel, 6.1
#   linux-image-6.12-amd64    6.12 from bookworm-security (Debian 12's
#                             "backported" 6.12, in the archive itself)
#   linux-image-6.12-rt-amd64 the same 6.12 with PREEMPT_RT
#
# Produces, under OUT (default build/vm):
#   vmlinux          uncompressed kernel, boots under QEMU -kernel through PVH
#   kver             the kernel release, e.g. 6.1.0-56-amd64
#   modules/uio.ko   the UIO core the guest driver needs
#   kernel/usr/src/linux-headers-KVER   headers + kbuild for out-of-tree modules
# A second run with everything in place does nothing.
set -eu

out=${1:-build/vm}
meta=${2:-linux-image-amd64}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ -s "$out/vmlinux" ] && [ -s "$out/kver" ] && [ -s "$out/modules/uio.ko" ] &&
	[ -f "$out/kernel/.done" ]; then
	exit 0
fi

say() { echo "vm-images: $*" >&2; }

# The kernel release that META points at, and the headers' common and kbuild
# packages that linux-headers-KVER depends on (6.1: linux-headers-6.1.0-N-common
# and linux-kbuild-6.1; 6.12 rt: linux-headers-6.12.N+deb12-common-rt and
# linux-kbuild-6.12.N+deb12). The package lists may be missing on a fresh
# machine: refresh them once.
kver_of() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/.*Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n 1
}
kver=$(kver_of)
if [ -z "$kver" ]; then
	say "refreshing the package lists"
	apt-get update -qq >/dev/null
	kver=$(kver_of)
fi
[ -n "$kver" ] || { say "no $meta in the package lists"; exit 1; }
hdeps=$(apt-cache depends "linux-headers-$kver" 2>/dev/null)
common=$(echo "$hdeps" | sed -n 's/.*Depends: \(linux-headers-.*-common.*\)$/\1/p' | head -n 1)
kbuild=$(echo "$hdeps" | sed -n 's/.*Depends: \(linux-kbuild-.*\)$/\1/p' | head -n 1)
[ -n "$common" ] && [ -n "$kbuild" ] ||
	{ say "linux-headers-$kver: no common headers or kbuild among its dependencies"; exit 1; }
say "guest kernel $kver ($meta)"

dl="$out/debs"
mkdir -p "$dl"
pkgs="linux-image-$kver linux-headers-$kver $common $kbuild"
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
	tar -x -C "$tmp" --wildcards "./boot/vmlinuz-$kver" "./boot/config-$kver" \
		"*/modules/$kver/kernel/drivers/uio/uio.ko*"
uio=$(find "$tmp" -name 'uio.ko*' | head -n 1)
case "$uio" in
*.ko) ;;
*.ko.xz) xz -d "$uio" && uio=${uio%.xz} ;;
*) say "no uio.ko in $img"; exit 1 ;;
esac

# The bzImage payload is XZ (6.1) or zstd (6.12): decompress it from the
# first magic number of the kernel's compressor (its config says which).
bz="$tmp/boot/vmlinuz-$kver"
if grep -q '^CONFIG_KERNEL_ZSTD=y' "$tmp/boot/config-$kver"; then
	magic='\x28\xb5\x2f\xfd' unpack='zstd -dcq'
else
	magic='\xfd7zXZ\x00' unpack='xz -dc --single-stream'
fi
off=$(LC_ALL=C grep -obUaP "$magic" "$bz" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || { say "no compressed payload in $bz"; exit 1; }
# (the kernel appends its decompressed size after the stream: zstd
# complains about it and exits non-zero; the ELF check below judges)
tail -c +$((off + 1)) "$bz" | $unpack >"$out/vmlinux.tmp" 2>/dev/null || true
case "$(head -c 4 "$out/vmlinux.tmp" | od -An -c | tr -d ' ')" in
*ELF*) ;;
*) say "the decompressed kernel is not an ELF file"; exit 1 ;;
esac
mv "$out/vmlinux.tmp" "$out/vmlinux"
mkdir -p "$out/modules"
cp "$uio" "$out/modules/uio.ko"
cp "$tmp/boot/config-$kver" "$out/config"
rm -rf "$tmp"
rm -f "$img" # 70 MB, of which we keep what we need

# Headers and kbuild for out-of-tree modules. Their symlinks are relative;
# only the amd64 Makefile names the common tree by an absolute path.
rm -rf "$out/kernel"
mkdir -p "$out/kernel"
for p in linux-headers-$kver $common $kbuild; do
	dpkg-deb -x "$(ls "$dl/${p}_"*.deb)" "$out/kernel"
done
hdr="$out/kernel/usr/src/linux-headers-$kver"
sed -i "s|^include /usr/src/|include $out/kernel/usr/src/|" "$hdr/Makefile"
grep -q "^include $out/kernel/usr/src/$common/Makefile" "$hdr/Makefile" ||
	{ say "unexpected $hdr/Makefile"; exit 1; }
touch "$out/kernel/.done"
echo "$kver" >"$out/kver"
say "vmlinux $(du -h "$out/vmlinux" | cut -f1), headers in $hdr"
