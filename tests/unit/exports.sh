#!/bin/sh
# exports.sh LIBSO HEADER... - the shared library exports exactly the
# functions the public headers declare: nothing internal leaks out, nothing
# declared is missing. Ends with "exports-test: N passed, M failed".
set -u
so=$1
shift
tmp=${TMPDIR:-/tmp}/vmshm-exports.$$
trap 'rm -f "$tmp".*' EXIT
# Declarations carry VMSHM_API or RTAPI_EXPORT (the Windows branch of
# RtApi.h declares nothing of its own).
grep -hE '^(VMSHM_API|RTAPI_EXPORT) ' "$@" |
	grep -oE '\b(vmshm_[a-z0-9_]+|Rt[A-Za-z]+|GetLastError|SetLastError)[[:space:]]*\(' |
	sed 's/[[:space:]]*($//' | sort -u >"$tmp.declared"
nm -D --defined-only "$so" | awk '$2 ~ /^[TWiV]$/ { print $3 }' | sed 's/@.*//' |
	sort -u >"$tmp.exported"
passed=0
failed=0
extra=$(comm -13 "$tmp.declared" "$tmp.exported")
missing=$(comm -23 "$tmp.declared" "$tmp.exported")
if [ -z "$extra" ]; then passed=$((passed + 1)); else
	failed=$((failed + 1))
	echo "exports-test: exported but not in the public headers:" $extra
fi
if [ -z "$missing" ]; then passed=$((passed + 1)); else
	failed=$((failed + 1))
	echo "exports-test: declared but not exported:" $missing
fi
echo "exports-test: $(wc -l <"$tmp.exported") symbols exported, $(wc -l <"$tmp.declared") declared"
echo "exports-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
