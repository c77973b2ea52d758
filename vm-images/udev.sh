#!/bin/sh
# vm-images/udev.sh OUT.cpio VMDIR RULES - a cpio archive to append to the
# guest initramfs: Debian's udevadm (systemd-udevd), the shared libraries it
# needs, the given udev rules file in /etc/udev/rules.d/ and a group "vmshm".
# The kernel unpacks concatenated archives in order, so initramfs.cpio
# followed by this one is an initramfs with udev (the driver scenario checks
# the rule's group and mode with it). From Debian packages only.
set -eu

[ $# -eq 3 ] || { echo "usage: $0 OUT.cpio VMDIR RULES" >&2; exit 2; }
out=$1
vmdir=$(cd "$2" && pwd)
rules=$3

dl="$vmdir/debs"
mkdir -p "$dl"
if ! ls "$dl"/udev_*.deb >/dev/null 2>&1; then
	echo "vm-images: apt-get download udev" >&2
	(cd "$dl" && apt-get download -q udev 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	if ! ls "$dl"/udev_*.deb >/dev/null 2>&1; then
		apt-get update -qq >/dev/null
		(cd "$dl" && apt-get download -q udev 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	fi
	ls "$dl"/udev_*.deb >/dev/null 2>&1 || { echo "vm-images: download of udev failed" >&2; exit 1; }
fi

root=$(mktemp -d "${out}.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
dpkg-deb --fsys-tarfile "$(ls "$dl"/udev_*.deb | head -n 1)" | tar -x -C "$root" ./bin/udevadm
mkdir -p "$root/lib/systemd" "$root/etc/udev/rules.d" "$root/run"
ln -s /bin/udevadm "$root/lib/systemd/systemd-udevd"
cp "$rules" "$root/etc/udev/rules.d/"
echo "root:x:0:" >"$root/etc/group"
echo "vmshm:x:990:" >>"$root/etc/group"
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"

# The host's copies of the libraries udevadm links against (the same
# Debian release as the guest's user space needs nothing more).
libs=$(ldd "$root/bin/udevadm" | awk '/=> \//{print $3} /^\t\/lib/{print $1}')
[ -n "$libs" ] || { echo "vm-images: ldd found no libraries for udevadm" >&2; exit 1; }
for l in $libs; do
	mkdir -p "$root$(dirname "$l")"
	cp -L "$l" "$root$l"
done
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
