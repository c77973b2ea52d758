#!/usr/bin/env python3
"""The two-guest harness of `make vm-test` and `make demo`.

The host CLI (build/bin/vmshm) creates the pool; two QEMU guests ("win" and
"rt") boot the vm-images kernels and initramfs under TCG (win: Debian 12's
6.1; rt: Debian 12's 6.12 PREEMPT_RT), attach the pool as the BAR2 of an
ivshmem device with the options of `vmshm qemu-args` and run the scenario
named on their kernel command line (tests/vm/scenarios/). The harness reads their serial consoles,
looks at the pool with the CLI while they run, and ends with
`vm-test: N passed, M failed`.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GUEST_TIMEOUT = int(os.environ.get("VMSHM_VM_TIMEOUT", "150"))  # seconds for one guest step (TCG, 2 cores)
MiB = 1 << 20


class Harness:
    def __init__(self, build, demo=False):
        self.build = os.path.abspath(build)
        self.vm = os.path.join(self.build, "vm")
        self.kernel = os.path.join(self.vm, "vmlinux")  # 6.1, Debian 12's own
        self.kernel_rt = os.path.join(self.build, "vm-rt", "vmlinux")  # 6.12 PREEMPT_RT
        self.kernel_612 = os.path.join(self.build, "vm-612", "vmlinux")  # 6.12
        self.initrd = os.path.join(self.vm, "initramfs.cpio")
        self.cli = os.path.join(self.build, "bin", "vmshm")
        self.hostctl = os.path.join(self.vm, "bin", "hostctl")
        self.work = os.path.join(self.build, "vm-test")
        tag = "demo" if demo else "test"
        self.pool = "/dev/shm/vmshm-vm%s-%d.pool" % (tag, os.getpid())
        self.extra_pools = []
        self.guests = []
        self.accel = "tcg"
        self.server = None
        self.passed = 0
        self.failed = 0
        self.qemu = shutil.which("qemu-system-x86_64") or "qemu-system-x86_64"
        os.makedirs(self.work, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="vmshm-vm-")

    # ---- host side ---------------------------------------------------------

    def run(self, *args, check=True, quiet=False):
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check and p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                    p.stderr.strip()))
        return p

    def vmshm(self, *args, pool=None, check=True):
        return self.run(self.cli, *args, "--pool", pool or self.pool, check=check)

    def vmshm_json(self, *args, pool=None):
        return json.loads(self.vmshm(*args, "--json", pool=pool).stdout)

    def pool_create(self, path, size):
        if os.path.exists(path):
            os.unlink(path)
        self.run(self.cli, "pool", "create", path, "--size", size)

    def objects(self):
        return self.vmshm_json("ls")["objects"]

    def peers(self):
        return self.vmshm_json("peers")["peers"]

    def info(self):
        return self.vmshm_json("pool", "info")

    def host_go(self):
        self.run(self.hostctl, self.pool, "go")

    def host_nogo(self):
        self.run(self.hostctl, self.pool, "nogo")

    # ---- guests ----------------------------------------------------------

    def boot(self, name, run, devices, args="", initrd=None, kernel=None):
        """Guest "rt" boots the PREEMPT_RT kernel unless KERNEL says otherwise."""
        log = os.path.join(self.work, "%s-%s.log" % (run, name))
        kernel = kernel or (self.kernel_rt if name == "rt" else self.kernel)
        cmd = [self.qemu, "-M", "q35"] + self.accel_args() + ["-m", "128M", "-nographic",
               "-no-reboot", "-vga", "none", "-nic", "none", "-kernel", kernel,
               "-initrd", initrd or self.initrd, "-append",
               "console=ttyS0 quiet panic=-1 no_timer_check vmshm.run=%s vmshm.role=%s %s" % (run, name, args)]
        cmd += devices
        out = open(log, "w")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        g = Guest(name, proc, log)
        self.guests.append(g)
        return g

    def accel_args(self):
        """Under TCG a guest whose machine has a single vCPU runs its atomic
        instructions as plain loads and stores (QEMU needs no atomicity
        inside one vCPU), so two guests' compare-and-swap on the shared
        pool could both succeed. maxcpus=2 makes QEMU translate them into
        real host atomics, with one vCPU still running."""
        if self.accel == "tcg":
            return ["-accel", "tcg,thread=multi", "-smp", "1,maxcpus=2"]
        return ["-accel", self.accel]

    def probe_kvm(self):
        """KVM only if a guest really boots with it: some hosts have a /dev/kvm
        on which a stock kernel hangs. VMSHM_VM_ACCEL=tcg|kvm skips the probe."""
        forced = os.environ.get("VMSHM_VM_ACCEL")
        if forced in ("tcg", "kvm"):
            self.accel = forced
            return "%s (VMSHM_VM_ACCEL)" % forced
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "TCG (no usable /dev/kvm)"
        self.accel = "kvm"
        g = self.boot("probe", "hello", [])
        try:
            g.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        ok = g.passed("hello") and g.proc.returncode == 0
        self.stop_guests()
        self.accel = "kvm" if ok else "tcg"
        return "KVM (a probe guest booted)" if ok else "TCG (a probe guest did not boot with KVM)"

    def plain(self, pool, i=0, high=True):
        """The options of `vmshm qemu-args` (HIGH: with its root port that
        moves the BAR above 4 GiB, where the guest maps it write-back)."""
        return self.vmshm_json("qemu-args", "--id", "shm%d" % i,
                               *([] if high else ["--no-high"]), pool=pool)["args"]

    def doorbell(self, sock, vectors=2):
        return self.vmshm_json("qemu-args", "--doorbell", sock, "--vectors", str(vectors),
                               "--id", "ivsh0")["args"]

    def stop_guests(self):
        for g in self.guests:
            g.kill()
        self.guests = []

    # ---- results ---------------------------------------------------------

    def result(self, num, title, ok, notes, guests):
        if ok:
            self.passed += 1
            print("PASS  scenario %s: %s" % (num, title))
        else:
            self.failed += 1
            print("FAIL  scenario %s: %s" % (num, title))
        for n in notes:
            print("      " + n)
        if not ok:
            for g in guests:
                print("      --- serial log of %s (%s), last lines:" % (g.name, g.log))
                for line in g.lines()[-40:]:
                    print("      | " + re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1bc", "", line))
        sys.stdout.flush()

    def scenario(self, num, title, fn):
        notes = []
        guests = []
        try:
            ok = fn(notes, guests)
        except Exception as e:  # a failed step, a timeout, bad JSON
            notes.append("error: %s" % e)
            ok = False
        for g in guests:
            if g.alive():
                notes.append("guest %s still running: killed" % g.name)
                ok = False
        self.stop_guests()
        if not ok:
            self.cleanup(guests)
        self.result(num, title, ok, notes, guests)

    def cleanup(self, guests):
        """After a failure: drop host.go and reclaim what the killed guests
        held, so that the next scenario starts from an empty pool."""
        self.run(self.hostctl, self.pool, "nogo", check=False)
        for g in guests:
            m = re.search(r"vmshm-guest: boot ([0-9a-f-]{36})", g.text())
            if m:
                self.vmshm("gc", "--vm", m.group(1), "--force", check=False)
                self.vmshm("gc", "--vm", m.group(1), "--release", check=False)

    def pool_back(self, notes, empty_free):
        """The pool is empty again, its space all free, and the check clean."""
        ok = True
        objs = self.objects()
        if objs:
            notes.append("objects left: %s" % ", ".join(str(o["name"]) for o in objs))
            ok = False
        free = self.info()["free_bytes"]
        if free != empty_free:
            notes.append("free bytes %d, empty pool has %d" % (free, empty_free))
            ok = False
        chk = self.vmshm("check", check=False)
        if chk.returncode != 0:
            notes.append("vmshm check: %s" % (chk.stdout + chk.stderr).strip())
            ok = False
        if ok:
            notes.append("pool back to empty: %d bytes free, 0 objects, check clean" % free)
        return ok


class Guest:
    def __init__(self, name, proc, log):
        self.name = name
        self.proc = proc
        self.log = log
        self.t0 = time.time()
        self.booted = None  # seconds from QEMU's start to the guest's init

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def lines(self):
        return [l.rstrip("\r") for l in self.text().splitlines()]

    def alive(self):
        return self.proc.poll() is None

    def wait_for(self, pattern, timeout=GUEST_TIMEOUT):
        end = time.time() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.text())
            if m:
                return m
            if not self.alive():
                raise RuntimeError("guest %s ended before '%s'" % (self.name, pattern))
            if time.time() > end:
                raise RuntimeError("guest %s: timed out after %ds waiting for '%s'"
                                   % (self.name, timeout, pattern))
            time.sleep(0.1)

    def wait_exit(self, timeout=GUEST_TIMEOUT):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError("guest %s: hung, killed after %ds" % (self.name, timeout))
        return self.proc.returncode

    def boot_id(self):
        m = self.wait_for(r"vmshm-guest: boot ([0-9a-f-]{36})")
        if self.booted is None:
            self.booted = time.time() - self.t0
        return m.group(1)

    def kernel(self):
        m = re.search(r"vmshm-guest: kernel (\S+)( PREEMPT_RT)?", self.text())
        return (m.group(1) + (" PREEMPT_RT" if m.group(2) else "")) if m else "?"

    def passed(self, test):
        return re.search(r"vmguest: PASS %s\b" % test, self.text()) is not None

    def status(self):
        m = re.search(r"vmshm-guest: end status (\d+)", self.text())
        return int(m.group(1)) if m else None

    def kill(self):
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


def holders_vms(h, name):
    """The VMs (boot ids) of the peers that hold object NAME."""
    vm_of = {p["index"]: p["vm"] for p in h.peers()}
    for o in h.objects():
        if o["name"] == name:
            return [vm_of.get(i) for i in o["holders"]], o
    return None, None


def guests_ok(notes, guests, test):
    ok = True
    for g in guests:
        if not g.passed(test) or g.status() != 0:
            notes.append("guest %s: %s failed (status %s)" % (g.name, test, g.status()))
            ok = False
    for g in guests:
        for line in g.lines():
            if "vmguest: error:" in line:
                notes.append("%s: %s" % (g.name, line.split("vmguest: ", 1)[1]))
    return ok


def exchange(h, empty_free, run, args, notes, guests):
    """Scenarios 1 and 3: win creates sensor, rt opens it, both hold it."""
    devs = h.plain(h.pool)
    win = h.boot("win", run, devs, args)
    rt = h.boot("rt", run, devs, args)
    guests += [win, rt]
    ids = {"win": win.boot_id(), "rt": rt.boot_id()}
    ok = rt_kernel(notes, win, rt)
    win.wait_for(r"vmguest: HOLDING exchange")
    rt.wait_for(r"vmguest: HOLDING exchange")
    vms, obj = holders_vms(h, "sensor")
    if obj is None:
        notes.append("vmshm ls: no sensor while both guests hold it")
        ok = False
    else:
        held = sorted(set(v for v in vms if v))
        notes.append("vmshm ls --json: sensor %d bytes, state %s, held by peers %s of VMs %s"
                     % (obj["size"], obj["state"], obj["holders"], ", ".join(held)))
        if obj["size"] != MiB or sorted(ids.values()) != held:
            notes.append("expected holders in exactly the VMs win=%s rt=%s" % (ids["win"], ids["rt"]))
            ok = False
    h.host_go()
    for g in guests:
        g.wait_exit()
    h.host_nogo()
    for g in guests:
        for line in g.lines():
            if re.search(r"vmguest: (backend|pat|pool info|pci backend|rules|win: verified|rt: opened)", line):
                notes.append("%s: %s" % (g.name, re.sub(r"^(win|rt): ", "", line.split("vmguest: ", 1)[1])))
    ok = guests_ok(notes, guests, "exchange") and ok
    ok = guests_ok(notes, guests, "rules") and ok
    return h.pool_back(notes, empty_free) and ok


def solo_end(notes, g, lines, test):
    """A one-guest scenario: waits for the end, notes the kernel, the boot
    time and the guest's lines that match LINES; TEST passed?"""
    g.wait_exit()
    notes.append("kernel %s, booted in %.1f s" % (g.kernel(), g.booted or -1))
    for line in g.lines():
        if re.search(r"vmguest: (%s)" % lines, line):
            notes.append(line.split("vmguest: ", 1)[1])
    return guests_ok(notes, [g], test)


def rt_kernel(notes, win, rt):
    """The rt guest runs the PREEMPT_RT kernel; both boot times."""
    notes.append("win: kernel %s, booted in %.1f s; rt: kernel %s, booted in %.1f s"
                 % (win.kernel(), win.booted or -1, rt.kernel(), rt.booted or -1))
    if "PREEMPT_RT" not in rt.kernel():
        notes.append("rt did not boot a PREEMPT_RT kernel")
        return False
    return True


def serve(h, sock, notes):
    """Starts `vmshm serve` on SOCK for the pool (once; it serves every later
    doorbell guest). False (and a note) if it does not start."""
    if h.server and h.server.poll() is None:
        return True
    if os.path.exists(sock):
        os.unlink(sock)
    log = open(os.path.join(h.work, "serve.log"), "w")
    h.server = subprocess.Popen([h.cli, "serve", "--pool", h.pool, "--socket", sock,
                                 "--vectors", "2"], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    log.close()
    end = time.time() + 10
    while not os.path.exists(sock):
        if h.server.poll() is not None or time.time() > end:
            notes.append("vmshm serve did not start: %s"
                         % open(os.path.join(h.work, "serve.log")).read().strip()[-300:])
            return False
        time.sleep(0.05)
    return True


def sync_scenario(h, sock, empty_free, notes, guests):
    """Scenario 7: events and mutexes across three VMs with doorbells (vmshm
    serve + ivshmem-doorbell): a win <-> rt event ping-pong, a counter under
    one mutex incremented by win, rt and a third VM, then the third VM's
    QEMU is killed while it owns vm.owned and win and rt wait for it."""
    if not serve(h, sock, notes):
        return False
    devs = h.doorbell(sock)
    args = "vmshm.rounds=50 vmshm.incs=200"
    win, rt, third = (h.boot(n, "sync", devs, args) for n in ("win", "rt", "third"))
    guests += [win, rt, third]
    ids = {g.name: g.boot_id() for g in guests}
    ok = rt_kernel(notes, win, rt)
    third.wait_for(r"vmguest: HOLDING sync")
    for g in (win, rt):
        g.wait_for(r"vmguest: sync: WAITING")
    held = [p for p in h.peers() if p["vm"] == ids["third"]]
    time.sleep(0.3)  # both are asleep in RtWaitForSingleObject
    with open(os.path.join(h.work, "serve.log")) as f:
        seen = len(f.readlines())
    t_kill = time.time()
    third.kill()
    notes.append("killed the QEMU of the third VM (%s, %d peer(s)) owning vm.owned"
                 % (ids["third"], len(held)))
    got = {}
    end = time.time() + 30
    while len(got) < 2 and time.time() < end:
        for g in (win, rt):
            m = re.search(r"vmguest: sync: (?:win|rt) got (WAIT_\w+)", g.text())
            if m and g.name not in got:
                got[g.name] = (m.group(1), time.time() - t_kill)
        time.sleep(0.05)
    for n, (what, t) in sorted(got.items(), key=lambda x: x[1][1]):
        notes.append("%s got %s %.2f s after the kill (as the host saw its console)" % (n, what, t))
    if len(got) < 2:
        notes.append("win or rt did not return from its wait within 30 s of the kill")
        ok = False
    with open(os.path.join(h.work, "serve.log")) as f:
        notes += ["  serve: " + l.strip() for l in f.readlines()[seen:] if l.strip()]
    if any(p["vm"] == ids["third"] for p in h.peers()):
        notes.append("the third VM's peers are still in the pool")
        ok = False
    for g in (win, rt):
        g.wait_for(r"vmguest: HOLDING sync")
    h.host_go()
    for g in (win, rt):
        g.wait_exit()
    h.host_nogo()
    for g in guests:
        for line in g.lines():
            if re.search(r"vmguest: sync: (?!WAITING)", line):
                notes.append("%s: %s" % (g.name, line.split("vmguest: sync: ", 1)[1]))
    ok = guests_ok(notes, [win, rt], "sync") and ok
    return h.pool_back(notes, empty_free) and ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--demo", action="store_true")
    ap.add_argument("--only", help="comma-separated scenario numbers")
    opt = ap.parse_args()
    # make's SIGTERM (or a CI timeout) still stops the guests and removes the pool.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    h = Harness(opt.build, opt.demo)
    for f in (h.kernel, h.kernel_rt, h.kernel_612, h.initrd, h.cli, h.hostctl):
        if not os.path.exists(f):
            print("vm-test: missing %s (run make vm-image cli)" % f)
            print("vm-test: 0 passed, 1 failed")
            return 1
    try:
        if opt.demo:
            return demo(h)
        try:
            return vm_test(h, opt.only.split(",") if opt.only else None)
        except Exception as e:  # the pool or the CLI failed outside a scenario
            print("vm-test: error: %s" % e)
            print("vm-test: %d passed, %d failed" % (h.passed, h.failed + 1))
            return 1
    finally:
        h.stop_guests()
        if h.server and h.server.poll() is None:
            h.server.terminate()
            try:
                h.server.wait(10)
            except subprocess.TimeoutExpired:
                h.server.kill()
        for p in [h.pool] + h.extra_pools:
            if os.path.exists(p):
                os.unlink(p)
        shutil.rmtree(h.tmp, ignore_errors=True)


def vm_test(h, only):
    t0 = time.time()
    qv = re.search(r"version ([0-9.]+)", h.run(h.qemu, "--version").stdout)
    accel = h.probe_kvm()
    kver = lambda d: open(os.path.join(h.build, d, "kver")).read().strip()
    print("vm-test: QEMU %s, %s, guest kernels %s (win), %s (rt), %s (scenario 0b)"
          % (qv.group(1) if qv else "?", accel, kver("vm"), kver("vm-rt"), kver("vm-612")))
    # 64 MiB: `vmshm qemu-args` adds a root port that reserves 64-bit space, so SeaBIOS puts
    # the BAR above 4 GiB, outside the firmware's uncachable MTRR range, and the guests map
    # it write-back (scenario 4 checks it; guest-driver/README.md).
    h.pool_create(h.pool, "64M")
    empty_free = h.info()["free_bytes"]
    print("vm-test: pool %s, 64 MiB, %d bytes free" % (h.pool, empty_free))

    def want(n):
        return only is None or n in only

    def s0(notes, guests, kernel, high):
        pools = []
        for i in range(2):
            p = "%s.dev%d" % (h.pool, i)
            if p not in h.extra_pools:
                h.extra_pools.append(p)
            h.pool_create(p, "16M")
            pools.append(p)
        g = h.boot("solo", "driver", h.plain(pools[0], 0, high) + h.plain(pools[1], 1, high),
                   "vmshm.devices=none vmshm.memtype=%s"
                   % ("write-back" if high else "uncached-minus"),
                   initrd=os.path.join(h.vm, "initramfs-udev.cpio"), kernel=kernel)
        guests.append(g)
        g.boot_id()
        return solo_end(notes, g, r"uio\d|backend|unbind|attach|udev|binding", "driver")

    if want("0"):
        h.scenario("0", "guest driver on 6.1: binds only the named devices, maps, sysfs, udev rule, "
                   "unbind/rebind, unload; pools mapped write-back (qemu-args root port)",
                   lambda n, g: s0(n, g, h.kernel, True))
    if want("0b"):
        h.scenario("0b", "the same on 6.12, without the root port: BARs in the 32-bit hole, the "
                   "library reports uncached-minus and warns once under VMSHM_DEBUG",
                   lambda n, g: s0(n, g, h.kernel_612, False))

    def s1(notes, guests):
        ok = exchange(h, empty_free, "exchange", "", notes, guests)
        return ok

    if want("1"):
        h.scenario("1", "win creates sensor (W), rt opens it (A), every byte both ways (uio)", s1)
        # Scenario 4 ran inside scenario 1's win guest (its mapping was live).
        g = Guest("win", None, os.path.join(h.work, "exchange-win.log"))
        notes = [l.split("vmguest: ", 1)[1] for l in g.lines() if "vmguest: pat:" in l
                 or ("vmguest: error:" in l and "write-back" in l)]
        h.result("4", "the uio backend maps a 64 MiB BAR2 write-back (pat_memtype_list, "
                 "vmshm_memory_type)",
                 g.passed("pat"), notes, [] if g.passed("pat") else [g])

    def s2(notes, guests):
        devs = h.plain(h.pool)
        guests += [h.boot("win", "race", devs), h.boot("rt", "race", devs)]
        for g in guests:
            g.wait_exit()
        ok = guests_ok(notes, guests, "race")
        for g in guests:
            if "vmguest: backend uio" not in g.text():
                notes.append("guest %s: VMSHM_POOL unset did not find the uio device" % g.name)
                ok = False
        sets = []
        for g in guests:
            m = re.search(r"vmguest: race-created:([ 0-9]*)", g.text())
            sets.append(set(int(x) for x in m.group(1).split()) if m else set())
            notes.append("%s created %d names" % (g.name, len(sets[-1])))
        if sets[0] & sets[1]:
            notes.append("names created by both VMs: %s" % sorted(sets[0] & sets[1]))
            ok = False
        if sets[0] | sets[1] != set(range(50)):
            notes.append("names with no creator: %s" % sorted(set(range(50)) - (sets[0] | sets[1])))
            ok = False
        if ok:
            notes.append("each of the 50 names has exactly one creator across the two VMs")
        return h.pool_back(notes, empty_free) and ok

    if want("2"):
        h.scenario("2", "50-name create race across the two VMs", s2)

    def s3(notes, guests):
        ok = exchange(h, empty_free, "pci", "vmshm.nodriver=1", notes, guests)
        for g in guests:
            if "vmguest: backend pci" not in g.text():
                notes.append("guest %s did not use the pci backend" % g.name)
                ok = False
        return ok

    if want("3"):
        h.scenario("3", "the same exchange through the pci backend (libpciaccess, no driver)", s3)

    # A UNIX socket path has at most 107 bytes: keep it short, not under $(BUILD).
    sock = os.path.join(h.tmp, "doorbell.sock")
    serve_ok = True

    def start_server(notes):
        return serve(h, sock, notes)

    def s5(notes, guests):
        if not start_server(notes):
            return False
        devs = h.doorbell(sock)
        guests += [h.boot("win", "doorbell", devs, "vmshm.rounds=50"),
                   h.boot("rt", "doorbell", devs, "vmshm.rounds=50")]
        for g in guests:
            g.boot_id()
        for g in guests:
            g.wait_exit()
        ok = rt_kernel(notes, guests[0], guests[1])
        for g in guests:
            for line in g.lines():
                if "vmguest: doorbell:" in line or "vmguest: MSI-X" in line:
                    notes.append("%s: %s" % (g.name, line.split("vmguest: ", 1)[1]))
        ok = guests_ok(notes, guests, "doorbell") and ok
        return h.pool_back(notes, empty_free) and ok

    if want("5"):
        h.scenario("5", "doorbells through vmshm serve + ivshmem-doorbell (uio backend): round "
                   "trips, per-vector counts, masking (write 0) keeps a doorbell until unmask",
                   s5)

    def s5b(notes, guests):
        if not start_server(notes):
            return False
        g = h.boot("solo", "nomsi", h.doorbell(sock), "pci=nomsi")
        guests.append(g)
        g.boot_id()
        return solo_end(notes, g, r"dmesg|backend|pool info", "nomsi")

    if want("5b"):
        h.scenario("5b", "MSI-X setup fails (pci=nomsi): the driver warns and binds the doorbell "
                   "device without interrupts", s5b)

    def s6(notes, guests, by_server):
        if by_server:
            if not start_server(notes):
                return False
            devs = h.doorbell(sock)
        else:
            devs = h.plain(h.pool)
        win = h.boot("win", "vmdies", devs)
        rt = h.boot("rt", "vmdies", devs)
        guests += [win, rt]
        wid = win.boot_id()
        win.wait_for(r"vmguest: HOLDING vmdies")
        rt.wait_for(r"vmguest: HOLDING vmdies")
        names = sorted(o["name"] for o in h.objects())
        notes.append("before: objects %s" % ", ".join(names))
        ok = all(n in names for n in ("vm.w1", "vm.w2", "vm.shared", "vm.r"))
        win.kill()
        notes.append("killed the QEMU of win (VM %s)" % wid)
        if by_server:
            end = time.time() + 15
            while time.time() < end and any(p["vm"] == wid for p in h.peers()):
                time.sleep(0.2)
            if any(p["vm"] == wid for p in h.peers()):
                notes.append("the server did not reclaim win's peers: vmshm gc --vm %s" % wid)
                h.vmshm("gc", "--vm", wid, "--force")
                h.vmshm("gc", "--vm", wid, "--release")
                ok = False
            else:
                notes.append("the server reclaimed win's peers on its disconnect:")
                with open(os.path.join(h.work, "serve.log")) as f:
                    notes += ["  " + l.strip() for l in f if "reclaimed" in l]
        else:
            # Plain devices: no server sees the VM go. Without the operator's
            # word nothing of it is reclaimed (it cannot be proven gone);
            # --force fences its peers (their references dropped), and
            # --release frees their entries (the operator killed that QEMU).
            j = h.vmshm_json("gc", "--vm", wid)
            notes.append("vmshm gc --vm %s: %d reclaimed, %d kept" % (wid, j["reclaimed"],
                                                                      j["kept"]))
            if j["reclaimed"] != 0 or j["kept"] < 1:
                notes.append("a VM that cannot be judged was reclaimed without --force")
                ok = False
            j = h.vmshm_json("gc", "--vm", wid, "--force")
            notes.append("vmshm gc --vm %s --force: %d fenced" % (wid, j["fenced"]))
            fenced = [p for p in h.peers() if p["vm"] == wid]
            if j["fenced"] < 1 or any(p["state"] != "fenced" for p in fenced):
                notes.append("win's peers were not fenced")
                ok = False
            j = h.vmshm_json("gc", "--vm", wid, "--release")
            notes.append("vmshm gc --vm %s --release: %d freed" % (wid, j["reclaimed"]))
            if j["reclaimed"] != len(fenced) or any(p["vm"] == wid for p in h.peers()):
                notes.append("win's peers are still in the pool")
                ok = False
        rid = rt.boot_id()
        after = {}
        vm_of = {p["index"]: p["vm"] for p in h.peers()}
        for o in h.objects():
            after[o["name"]] = sorted(set(vm_of.get(i) for i in o["holders"]))
        for n in ("vm.w1", "vm.w2"):
            if n in after:
                notes.append("%s (held by win only) survived" % n)
                ok = False
        for n in ("vm.shared", "vm.r"):
            if after.get(n) != [rid]:
                notes.append("%s: held by VMs %s, expected only rt" % (n, after.get(n)))
                ok = False
        notes.append("after: objects %s" % ", ".join(sorted(after)))
        h.host_go()
        rt.wait_exit()
        h.host_nogo()
        for line in rt.lines():
            if re.search(r"vmguest: rt: ", line):
                notes.append("rt: " + line.split("vmguest: rt: ", 1)[1])
        ok = guests_ok(notes, [rt], "vmdies") and ok
        return h.pool_back(notes, empty_free) and ok

    if want("6"):
        h.scenario("6", "a VM dies holding regions: the server's disconnect reclaims it, "
                   "survivor intact, nothing leaks", lambda n, g: s6(n, g, True))
        h.scenario("6b", "a VM dies holding regions: vmshm gc --vm --force fences it, --release frees it (plain devices)",
                   lambda n, g: s6(n, g, False))

    def s7(notes, guests):
        pool = h.pool + ".hostile"
        if pool not in h.extra_pools:
            h.extra_pools.append(pool)
        h.pool_create(pool, "16M")
        devs = h.plain(pool)
        win = h.boot("win", "hostile", devs)
        rt = h.boot("rt", "hostile", devs)
        guests += [win, rt]
        for g in guests:
            g.wait_exit()
        ok = win.passed("scribble")
        ok = guests_ok(notes, [rt], "victim") and ok
        for g in guests:
            notes += [l.split("vmguest: ", 1)[1] for l in g.lines()
                      if "vmguest: victim:" in l or "vmguest: scribbled" in l]
        p = h.run(h.cli, "check", "--json", "--pool", pool, check=False)
        faults = json.loads(p.stdout)["faults"] if p.stdout.strip() else []
        kinds = {}
        for f in faults:
            kinds[f["fault"]] = kinds.get(f["fault"], 0) + 1
        notes.append("host: vmshm check exit %d, %d faults: %s" % (
            p.returncode, len(faults), ", ".join("%s %d" % kv for kv in sorted(kinds.items()))))
        return ok and p.returncode == 1 and len(faults) > 0

    if want("7"):
        h.scenario("7", "a hostile guest scribbles over the pool's tables while the other creates, "
                   "opens and closes: no crash, no hang, documented codes; vmshm check names the "
                   "damage", s7)
    if want("8"):
        h.scenario("8", "events and mutexes across three VMs (doorbells): event ping-pong, a "
                   "mutex-protected counter, the owner's VM killed -> WAIT_ABANDONED",
                   lambda n, g: sync_scenario(h, sock, empty_free, n, g))

    print("vm-test: %.0f s" % (time.time() - t0))
    print("vm-test: %d passed, %d failed" % (h.passed, h.failed))
    return 1 if h.failed else 0


def demo(h):
    def show(cmd, out):
        print("$ " + cmd)
        for line in out.rstrip("\n").splitlines():
            print("  " + line)

    print("vmshm demo: a Windows-side guest (win) and a real-time guest (rt) share a region;")
    print("win sets an event after each command, rt sleeps in RtWaitForSingleObject until it comes")
    print("(guests under %s)\n" % h.probe_kvm())
    if os.path.exists(h.pool):
        os.unlink(h.pool)
    # 64 MiB, as in vm-test: with the root port of `vmshm qemu-args` the BAR
    # lands above 4 GiB and the guests map it write-back (guest-driver/README.md).
    p = h.run(h.cli, "pool", "create", h.pool, "--size", "64M")
    show("vmshm pool create %s --size 64M" % h.pool, p.stdout + p.stderr)
    # The guests wake each other through ivshmem doorbells: `vmshm serve` is
    # the doorbell server their ivshmem-doorbell devices connect to.
    sock = os.path.join(h.tmp, "doorbell.sock")
    notes = []
    print("$ vmshm serve --pool %s --socket %s --vectors 2 &" % (h.pool, sock))
    if not serve(h, sock, notes):
        print("demo: " + "; ".join(notes))
        return 1
    devs = h.doorbell(sock)
    print("$ qemu-system-x86_64 -M q35 %s -m 128M -kernel build/vm/vmlinux "
          "-initrd build/vm/initramfs.cpio -append '... vmshm.run=demo vmshm.role=win|rt' %s"
          "   # twice: guests win and rt" % (" ".join(h.accel_args()), " ".join(devs)))
    win = h.boot("win", "demo", devs)
    rt = h.boot("rt", "demo", devs)
    state = {"next": 1, "done": set()}
    ok = True

    def pump(final=False):
        """Prints the guests' demo lines in the order of their step numbers."""
        steps = {}
        for g in (win, rt):
            for l in g.lines():
                m = re.match(r"vmguest: demo (\d+) (.*)", l)
                if m:
                    steps[int(m.group(1))] = (g.name, m.group(2))
        while state["next"] in steps or (final and steps and state["next"] <= max(steps)):
            n = state["next"]
            if n in steps:
                print("  [%-3s] %s" % steps[n])
            state["next"] += 1

    try:
        end = time.time() + GUEST_TIMEOUT
        while not ("vmguest: HOLDING demo" in win.text() and "vmguest: HOLDING demo" in rt.text()):
            pump()
            if not (win.alive() and rt.alive()) or time.time() > end:
                raise RuntimeError("a guest ended or hung before the exchange")
            time.sleep(0.1)
        pump()
        print("  (win is VM %s, rt is VM %s; sync.demo is where the two guests meet)"
              % (win.boot_id(), rt.boot_id()))
        show("vmshm ls --pool %s" % h.pool, h.vmshm("ls").stdout)
        show("vmshm peers --pool %s" % h.pool, h.vmshm("peers").stdout)
        h.host_go()
        for g in (win, rt):
            g.wait_exit()
        h.host_nogo()
        pump(final=True)
        for g in (win, rt):
            ok = ok and g.passed("demo")
        info = h.info()
        show("vmshm ls --pool %s" % h.pool, h.vmshm("ls").stdout or "(no objects)\n")
        show("vmshm pool info --pool %s" % h.pool, h.vmshm("pool", "info").stdout)
        if info["objects"] != 0:
            ok = False
    except RuntimeError as e:
        print("demo: %s" % e)
        for g in (win, rt):
            print("--- serial log of %s:" % g.name)
            print(g.text()[-3000:])
        ok = False
    print("\ndemo: %s" % ("the pool is back to empty" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
