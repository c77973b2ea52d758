#!/bin/sh
# run.sh BUILD_WIN - the Windows tests under Wine, headless, against Linux
# peers. BUILD_WIN holds RtApi.dll, the .exe tests and xos-linux.
#
# Wine recipe (see the project notes): a WINEPREFIX of our own under the
# build directory, one persistent wineserver, a warm-up run with output to a
# file, WINEDEBUG=-all, every Wine program's output to a file (never a pipe),
# and `wineserver -k` at the end. Prints "win-test: N passed, M failed".
set -u

W=$(cd "$1" && pwd)
export WINEPREFIX="$W/wineprefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=" # no Mono/Gecko installers
unset DISPLAY WAYLAND_DISPLAY
unset VMSHM_POOL VMSHM_DEBUG

tag=vmshm-win-test-$$
run="$W/run"
rm -rf "$run"
mkdir -p "$run"
pools=""
passed=0
failed=0

# A Linux path as Wine's Z: drive sees it.
winpath() {
	printf 'Z:%s' "$1" | tr / '\\'
}

cleanup() {
	for p in $pools; do rm -f "$p"; done
	wineserver -k >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Adds a log's closing "N passed, M failed" to the totals; a log without
# one (crash, hang) or a non-zero exit counts as one more failure.
tally() { # NAME LOG STATUS
	echo "--- $1"
	tr -d '\r' <"$2" >"$2.txt" # Wine writes CRLF
	cat "$2.txt"
	line=$(grep -E '^(\[[a-z]+\] )?[0-9]+ passed, [0-9]+ failed$' "$2.txt" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$1: no result line (exit status $3)"
		failed=$((failed + 1))
		return
	fi
	p=$(echo "$line" | sed -E 's/^(\[[a-z]+\] )?([0-9]+) passed, ([0-9]+) failed$/\2/')
	f=$(echo "$line" | sed -E 's/^(\[[a-z]+\] )?([0-9]+) passed, ([0-9]+) failed$/\3/')
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$1: exit status $3"
		failed=$((failed + 1))
	fi
}

newpool() { # NAME SIZE [OBJECTS]: a fresh pool file in $pool
	pool=/dev/shm/$tag-$1
	pools="$pools $pool"
	"$W/xos-linux" mkpool "$pool" "$2" ${3:-}
}

# One wineserver for every run; the first run creates the prefix.
t0=$(date +%s)
setsid wineserver -p </dev/null >/dev/null 2>&1 &
timeout 300 wine "$W/ivshmem_test.exe" "$(winpath "$run")" >"$run/warmup.log" 2>&1 </dev/null
t1=$(date +%s)
echo "wine: prefix and wineserver ready in $((t1 - t0)) s"

# (c) the ivshmem backend's discovery and error paths, no pool set, and the
# backend over a stand-in for the driver.
timeout 120 wine "$W/ivshmem_test.exe" "$(winpath "$run")" >"$run/ivshmem.log" 2>&1 </dev/null
tally ivshmem_test "$run/ivshmem.log" $?
timeout 60 wine "$W/ivorder_test.exe" >"$run/ivorder.log" 2>&1 </dev/null
tally ivorder_test "$run/ivorder.log" $?
mkdir -p "$run/ivdrv"
timeout 120 wine "$W/ivdrv_test.exe" "$(winpath "$run/ivdrv")" >"$run/ivdrv.log" 2>&1 </dev/null
tally ivdrv_test "$run/ivdrv.log" $?
mkdir -p "$run/plat"
timeout 120 wine "$W/plat_test.exe" "$(winpath "$run/plat")" >"$run/plat.log" 2>&1 </dev/null
tally plat_test "$run/plat.log" $?
timeout 300 wine "$W/hostile_test.exe" "$(winpath "$run")" >"$run/hostile.log" 2>&1 </dev/null
tally hostile_test "$run/hostile.log" $?

# LABEL LOG SIZE OBJECTS EXE [ARG...]: EXE under Wine on a fresh pool of SIZE
# bytes (OBJECTS: "" for the default), its output in $run/LOG.log.
on_pool() {
	label=$1 log=$run/$2.log
	if newpool "$2" "$3" $4; then
		shift 4
		VMSHM_POOL=$(winpath "$pool") timeout 300 wine "$@" >"$log" 2>&1 </dev/null
		tally "$label" "$log" $?
	else
		echo "$label: cannot create a pool"; failed=$((failed + 1))
	fi
}

# (a) the RtApi semantics suite on a fresh pool, the rules of the events,
# mutexes, semaphores and waits (A and W), and the directory-full rule.
on_pool rtapi_test rtapi 16777216 "" "$W/rtapi_test.exe"
on_pool sync_test sync 16777216 "" "$W/sync_test.exe"
on_pool "rtapi_test small" small 1048576 16 "$W/rtapi_test.exe" small 16

# A cross-OS pair: NAME-linux (native) and NAME.exe (Wine) on one new pool
# file at the same time, each with "SIDE [DIR]"; DIR (optional) is a
# directory of $run that both sides see (Wine by its Z: path).
cross() { # NAME [DIR]
	if ! newpool "$1" 16777216; then
		echo "$1: cannot create a pool"; failed=$((failed + 1))
		return
	fi
	ldir="" wdir=""
	if [ -n "${2:-}" ]; then
		mkdir -p "$run/$2"
		ldir="$run/$2"
		wdir=$(winpath "$run/$2")
	fi
	VMSHM_POOL=$pool timeout 300 "$W/$1-linux" lin ${ldir:+"$ldir"} >"$run/$1-lin.log" 2>&1 &
	lin=$!
	VMSHM_POOL=$(winpath "$pool") timeout 300 wine "$W/$1.exe" win ${wdir:+"$wdir"} \
		>"$run/$1-win.log" 2>&1 </dev/null &
	win=$!
	wait $win
	ws=$?
	wait $lin
	ls=$?
	tally "$1 (Windows side)" "$run/$1-win.log" $ws
	tally "$1 (Linux side)" "$run/$1-lin.log" $ls
}

# (b) cross-OS: xos-linux and xos.exe on one pool file at the same time.
cross xos xos

# (d) events and a mutex across the OS boundary (tests/win/xsync.c): the
# Linux side prints the event round trip.
cross xsync

echo "win-test: $(($(date +%s) - t0)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
