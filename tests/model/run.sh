#!/bin/sh
# tests/model/run.sh - checks the directory protocol model (vmshm.pml) with
# SPIN, one exhaustive run per configuration (docs/MODEL.md).
#
# Each configuration has an expectation:
#   pass   no error may be found;
#   fail   a deliberately broken variant: the model must find its error
#          (this shows that the model can fail);
#   xfail  a known counterexample against the design (docs/MODEL.md,
#          "Findings"): it must still be found; when the design is fixed
#          and it no longer is, the step fails so that it becomes a pass.
# Exit status: 0 when every configuration met its expectation.
#
# Usage: sh tests/model/run.sh [NAME...]   (default: every configuration)
# Environment: MODEL_DIR (work directory, default build/model),
#              MODEL_TIMEOUT (seconds per run, default 120; the long runs
#              need far more and several GB: MODEL_TIMEOUT=3600),
#              MODEL_MEMLIM (MB per run, default 2000; the long runs need
#              8000), MODEL_LONG=1 (also the long configurations).
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${MODEL_DIR:-build/model}
limit=${MODEL_TIMEOUT:-120}
memlim=${MODEL_MEMLIM:-2000}
command -v spin >/dev/null || { echo "model: spin is not installed (apt-get install spin)"; exit 1; }
mkdir -p "$work" || exit 1
work=$(cd "$work" && pwd)

# name | expectation | spin defines
configs='
race2|pass|-DNP=2 -DNS=2 -DNPG=2 -DOPS=2 -DSC1=13 -DSC2=13 -DMAXCRASH=1
open2|pass|-DNP=2 -DNS=2 -DNPG=2 -DOPS=2 -DSC1=13 -DSC2=24 -DMAXCRASH=1
space2|pass|-DNP=2 -DNS=2 -DNPG=3 -DOBJPAGES=2 -DOPS=1 -DSC1=1 -DSC2=1 -DMAXCRASH=1
fenced-claim|pass|-DNP=2 -DNS=1 -DNPG=1 -DOPS=1 -DSC1=4 -DSC2=4 -DFENCE=1 -DFENCE_TARGET=1 -DCRASH_ONLY=1
broken-fenced-claim|fail|-DNP=2 -DNS=1 -DNPG=1 -DOPS=1 -DSC1=4 -DSC2=4 -DFENCE=1 -DFENCE_TARGET=1 -DCRASH_ONLY=1 -DBROKEN_FENCED_CLAIM
broken-settle|fail|-DNP=2 -DNS=2 -DNPG=2 -DOPS=2 -DSC1=13 -DSC2=13 -DBROKEN_SETTLE
broken-judge|fail|-DNP=2 -DNS=2 -DNPG=2 -DOPS=2 -DSC1=13 -DSC2=41 -DBROKEN_JUDGE
broken-join|fail|-DNP=2 -DNS=2 -DNPG=2 -DOPS=2 -DSC1=13 -DSC2=23 -DMAXCRASH=0 -DBROKEN_JOIN
broken-restore|fail|-DNP=2 -DNS=2 -DNPG=2 -DOPS=2 -DSC1=13 -DSC2=23 -DMAXCRASH=0 -DBROKEN_RESTORE
'
# Longer runs (MODEL_LONG=1, or by name): beyond the few minutes of make test.
long_configs='
broken-fence|fail|-DNP=2 -DNS=1 -DNPG=1 -DOPS=1 -DSC1=1 -DSC2=1 -DFENCE=1 -DFENCE_TARGET=1 -DCRASH_ONLY=1 -DATOMIC_ATTACH -DBROKEN_FENCE_OWNER -DBROKEN_FENCE_WAIT
fence|pass|-DNP=2 -DNS=1 -DNPG=1 -DOPS=1 -DSC1=1 -DSC2=1 -DFENCE=1 -DFENCE_TARGET=1 -DCRASH_ONLY=1 -DATOMIC_ATTACH
race3|pass|-DNP=3 -DNS=2 -DNPG=1 -DOPS=1 -DSC1=1 -DSC2=1 -DSC3=1 -DMAXCRASH=0 -DATOMIC_ATTACH
fence-crash|pass|-DNP=2 -DNS=1 -DNPG=1 -DOPS=1 -DSC1=1 -DSC2=1 -DFENCE=1 -DATOMIC_ATTACH
fence-takeover|pass|-DNP=2 -DNS=1 -DNPG=1 -DOPS=2 -DSC1=13 -DSC2=4 -DFENCE=2 -DFENCE_TARGET=1 -DATOMIC_ATTACH
'
if [ "${MODEL_LONG:-0}" = 1 ] || [ $# -gt 0 ]; then
	configs="$configs$long_configs"
fi

pass=0 fail=0 failed=""
run_one() { # name expect defines
	name=$1 expect=$2 defs=$3
	d=$work/$name
	rm -rf "$d" && mkdir -p "$d" && cp "$here/vmshm.pml" "$d/" || return 1
	(cd "$d" && spin -a $defs vmshm.pml >spin.log 2>&1) || { cat "$d/spin.log"; return 1; }
	(cd "$d" && cc -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=$memlim -o pan pan.c >cc.log 2>&1) ||
		{ cat "$d/cc.log"; return 1; }
	t0=$(date +%s)
	# -m: depth bound (a deeper path is reported as an error below);
	# -c1: stop at the first error; -w24: initial hash table size.
	(cd "$d" && timeout "$limit" nice -n 10 ./pan -m20000 -c1 -w24 >pan.log 2>&1)
	rc=$?
	t1=$(date +%s)
	states=$(sed -n 's/^ *\([0-9][0-9e+.]*\) states, stored.*/\1/p' "$d/pan.log" | head -1)
	mem=$(sed -n 's/^ *\([0-9.]*\).*total actual memory usage.*/\1/p' "$d/pan.log" | head -1)
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$d/pan.log" | head -1)
	what=$(grep -m1 -E '^pan:1:|max search depth too small' "$d/pan.log")
	if [ $rc -eq 124 ]; then
		echo "model: $name: timed out after ${limit}s"; return 1
	fi
	if [ -z "$errors" ]; then
		tail -5 "$d/pan.log"; echo "model: $name: pan did not finish (exit $rc)"; return 1
	fi
	if grep -q 'max search depth too small' "$d/pan.log"; then
		echo "model: $name: depth bound reached: the search was not exhaustive"; return 1
	fi
	if [ "$errors" = 0 ] && grep -qE 'reached -DMEMLIM|Search not completed' "$d/pan.log"; then
		echo "model: $name: memory bound (${memlim} MB) reached after $states states: the search was not exhaustive"
		return 1
	fi
	echo "model: $name ($expect): $states states, $((t1 - t0)) s, ${mem} MB, errors: $errors${what:+ ($what)}"
	case $expect in
	pass) [ "$errors" = 0 ] || { echo "model: $name: trail: (cd $d && spin -t -p $defs vmshm.pml)"; return 1; } ;;
	fail | xfail) [ "$errors" != 0 ] || { echo "model: $name: expected an error and found none"; return 1; } ;;
	esac
	return 0
}

echo "$configs" | while IFS='|' read -r name expect defs; do
	[ -n "$name" ] || continue
	if [ $# -gt 0 ]; then
		case " $* " in *" $name "*) ;; *) continue ;; esac
	fi
	echo "$name|$expect|$defs"
done >"$work/selected"

while IFS='|' read -r name expect defs; do
	if run_one "$name" "$expect" "$defs"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); failed="$failed $name"
	fi
done <"$work/selected"

[ -z "$failed" ] || echo "model: FAILED:$failed"
echo "model: $pass passed, $fail failed"
[ $fail -eq 0 ]
