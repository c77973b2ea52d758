#!/bin/sh
# check-pages.sh MANDIR HEADER... - does every function a public header
# exports have its man page?
#
# The functions are the prototypes that start a line with VMSHM_API or
# RTAPI_EXPORT (up to the ';', possibly over several lines). Function F
# passes when MANDIR/F.3 exists and is either a page or a one-line alias
# ".so man3/PAGE.3" to a page in MANDIR, and that page
#   - lists F in its NAME section, and
#   - carries F's prototype in its SYNOPSIS exactly as the header has it
#     (compared without white space, after dropping the export macro and
#     the roff font requests, quotes and escapes).
# Prints one line per failure, then "N passed, M failed" (one count per
# function); exits 1 if any failed, no function was found, or any alias
# page in MANDIR leads nowhere.
# Needs only a POSIX sh and awk, sed, grep, tr, sort, head: no groff, no man-db.

set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 MANDIR HEADER..." >&2
	exit 2
fi
mandir=$1
shift

tab=$(printf '\t')
list=$(awk '
	function flush() {
		p = proto
		sub(/;.*/, ";", p)
		sub(/^(VMSHM_API|RTAPI_EXPORT)[ \t]+/, "", p)
		n = p
		sub(/[ \t]*\(.*/, "", n)
		sub(/.*[^A-Za-z0-9_]/, "", n)
		shown = p
		gsub(/[ \t]+/, " ", shown)
		gsub(/[ \t]+/, "", p)
		if (n != "")
			printf "%s\t%s\t%s\n", n, p, shown
		proto = ""
		inproto = 0
	}
	inproto { proto = proto " " $0; if (index($0, ";")) flush(); next }
	/^(VMSHM_API|RTAPI_EXPORT)[ \t]/ {
		proto = $0
		inproto = 1
		if (index($0, ";"))
			flush()
	}
' "$@" | sort -u)

# Text of section SEC of page FILE, roff stripped, white space removed.
section() {
	awk -v want="$2" '
		/^\.SH[ \t]/ {
			s = $0
			sub(/^\.SH[ \t]+/, "", s)
			gsub(/"/, "", s)
			on = (s == want)
			next
		}
		!on { next }
		/^\.\\"/ { next }
		/^\.(B|I|BI|IB|BR|RB|IR|RI)([ \t]|$)/ { sub(/^\.[A-Z]+[ \t]*/, ""); }
		/^[.\047]/ { next }
		{
			line = $0
			gsub(/\\f[BIRP]/, "", line)
			gsub(/\\f\[[A-Z]*\]/, "", line)
			gsub(/\\&/, "", line)
			gsub(/\\-/, "-", line)
			gsub(/\\e/, "\\", line)
			gsub(/\\ /, " ", line)
			gsub(/"/, "", line)
			out = out line " "
		}
		END { print out }
	' "$1"
}

pass=0
fail=0
report() {
	echo "man-test: FAIL $1: $2"
	fail=$((fail + 1))
}

old_ifs=$IFS
IFS='
'
for entry in $list; do
	IFS=$old_ifs
	name=${entry%%"$tab"*}
	rest=${entry#*"$tab"}
	proto=${rest%%"$tab"*}
	shown=${rest#*"$tab"}
	page=$mandir/$name.3
	if [ ! -f "$page" ]; then
		report "$name" "no page $page"
		IFS='
'
		continue
	fi
	target=$page
	so=$(sed -n 's/^\.so[ \t][ \t]*//p' "$page" | head -n 1)
	if [ -n "$so" ]; then
		target=$mandir/${so##*/}
		if [ ! -f "$target" ]; then
			report "$name" "$page is an alias of $so, which is missing"
			IFS='
'
			continue
		fi
		if grep -q '^\.so[ \t]' "$target"; then
			report "$name" "$page is an alias of $so, itself an alias"
			IFS='
'
			continue
		fi
	fi
	names=$(section "$target" NAME | sed 's/\\-.*//; s/ - .*//' | tr ',' ' ')
	found=0
	for n in $names; do
		[ "$n" = "$name" ] && found=1
	done
	synopsis=$(section "$target" SYNOPSIS | tr -d ' \t')
	if [ "$found" = 0 ]; then
		report "$name" "the NAME section of $target does not list it"
	else
		case $synopsis in
		*"$proto"*) pass=$((pass + 1)) ;;
		*) report "$name" "the SYNOPSIS of $target lacks the header's prototype: $shown" ;;
		esac
	fi
	IFS='
'
done
IFS=$old_ifs

# Every alias page, also those of macros (RtGetLastError), must lead to a
# page. Reported, and failing the step, but not counted above.
bad_alias=0
for page in "$mandir"/*.3; do
	so=$(sed -n 's/^\.so[ \t][ \t]*//p' "$page" | head -n 1)
	if [ -n "$so" ] && [ ! -f "$mandir/${so##*/}" ]; then
		echo "man-test: FAIL alias $page: $so is missing"
		bad_alias=1
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ] && [ "$bad_alias" = 0 ]
