#!/bin/sh
# Installs the Debian packages listed in scripts/packages.txt that are missing.
# Idempotent: a second run installs nothing. As root it runs apt-get; otherwise it
# names the missing packages and fails.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages.txt"
missing=""
for p in $(grep -v '^#' "$list" | grep -v '^$'); do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "vmshm: missing Debian packages:$missing" >&2
	echo "vmshm: run 'apt-get install$missing' as root, or run make as root" >&2
	exit 1
fi
echo "vmshm: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# An old or empty package list finds nothing: refresh it once per run.
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
