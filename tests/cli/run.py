#!/usr/bin/env python3
"""The vmshm CLI suite: every command, its --json output (parsed), its exit
codes and its errors; regions shared with a process using the RtApi calls;
reclaim; the consistency check against injected corruptions; hugetlbfs
pools; the doorbell server driven by its own test client and by QEMU.

Run by `make cli-test` as: python3 tests/cli/run.py --build BUILD
Prints one line per check and closes with "N passed, M failed"; exits 1 if
any check failed.
"""

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

PASSED = 0
FAILED = 0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check(cond, what, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print("ok - " + what)
    else:
        FAILED += 1
        print("not ok - " + what + (" :: " + detail if detail else ""))
    sys.stdout.flush()
    return cond


class Env:
    def __init__(self, build):
        self.build = build
        self.vmshm = os.path.abspath(os.path.join(build, "bin", "vmshm"))
        self.rtpeer = os.path.abspath(os.path.join(build, "tests", "cli", "rtpeer"))
        self.dbclient = os.path.abspath(os.path.join(build, "tests", "cli", "dbclient"))
        self.tag = "vmshm-cli-%d" % os.getpid()
        self.paths = []
        self.tmp = tempfile.mkdtemp(prefix=self.tag + "-")
        self.n = 0

    def pool_path(self):
        self.n += 1
        p = "/dev/shm/%s-%d" % (self.tag, self.n)
        self.paths.append(p)
        return p

    def cleanup(self):
        for p in self.paths:
            try:
                os.unlink(p)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


E = None


def run(args, pool=None, input=None, env=None, timeout=60):
    """Runs vmshm ARGS; returns (rc, stdout bytes, stderr text)."""
    e = dict(os.environ)
    e.pop("VMSHM_POOL", None)
    e.pop("VMSHM_IVPOSITION", None)
    if pool is not None:
        e["VMSHM_POOL"] = pool
    if env:
        e.update(env)
    p = subprocess.run([E.vmshm] + args, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def run_json(args, pool=None):
    rc, out, err = run(args + ["--json"], pool=pool)
    try:
        return rc, json.loads(out.decode("utf-8")), err
    except ValueError as ex:
        return rc, None, err + " (JSON: %s)" % ex


def one_line(err):
    return len(err.strip().splitlines()) == 1


def expect_error(args, code, needle, what, pool=None, input=None):
    rc, out, err = run(args, pool=pool, input=input)
    check(rc == code and needle in err and one_line(err),
          "%s: exit %d, one line naming '%s'" % (what, code, needle),
          "rc=%d err=%r" % (rc, err))
    return rc, out, err


def new_pool(size="4M", extra=()):
    p = E.pool_path()
    rc, out, err = run(["pool", "create", p, "--size", size] + list(extra))
    if rc != 0:
        raise RuntimeError("pool create failed: %s" % err)
    return p


def info(pool):
    rc, j, err = run_json(["pool", "info"], pool=pool)
    return j


def objects(pool):
    rc, j, err = run_json(["ls"], pool=pool)
    if rc != 0 or j is None:
        return None
    return {o["name"]: o for o in j["objects"]}


def peers(pool):
    rc, j, err = run_json(["peers"], pool=pool)
    return j["peers"] if j else None


def hexdump_c(data, base=0):
    """The output of hexdump -C (offsets from BASE)."""
    lines = []
    prev = None
    starred = False
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        if i and len(chunk) == 16 and chunk == prev:
            if not starred:
                lines.append("*")
            starred = True
            continue
        starred = False
        prev = chunk
        hx = ""
        for k in range(16):
            if k == 8:
                hx += " "
            hx += " %02x" % chunk[k] if k < len(chunk) else "   "
        asc = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in chunk)
        lines.append("%08x %s  |%s|" % (base + i, hx, asc))
    if data:
        lines.append("%08x" % (base + len(data)))
    return "".join(l + "\n" for l in lines)


class RtPeer:
    """A running tests/cli/rtpeer holding a handle until release()."""

    def __init__(self, pool, args, extra_env=None):
        e = dict(os.environ)
        e["VMSHM_POOL"] = pool
        e.pop("VMSHM_IVPOSITION", None)
        if extra_env:
            e.update(extra_env)
        self.p = subprocess.Popen([E.rtpeer] + args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
        self.first = self.p.stdout.readline().decode().strip()
        self.fields = dict(kv.split("=", 1) for kv in self.first.split() if "=" in kv)

    def lasterr(self):
        return int(self.fields.get("lasterr", "-1"))

    def size(self):
        return int(self.fields.get("size", "-1"))

    def release(self):
        out, err = self.p.communicate(b"\n", timeout=30)
        return self.p.returncode, out.decode()

    def kill(self):
        self.p.kill()
        self.p.wait()


# ---------------------------------------------------------------------------

def test_usage():
    rc, out, err = run([])
    check(rc == 2 and "usage" in err, "no command: exit 2 with the usage", err)
    rc, out, err = run(["--help"])
    check(rc == 0 and b"pool create PATH" in out, "--help: exit 0, lists the commands")
    expect_error(["frobnicate"], 2, "unknown command", "unknown command")
    expect_error(["pool"], 2, "missing subcommand", "pool without subcommand")
    expect_error(["pool", "destroy"], 2, "unknown subcommand", "pool destroy")
    for cmd in (["pool", "create"], ["pool", "info"], ["ls"], ["create"], ["rm"], ["write"],
                ["read"], ["dump"], ["peers"], ["gc"], ["check"], ["qemu-args"],
                ["libvirt-xml"], ["serve"], ["event", "create"], ["semaphore", "create"],
                ["release"], ["wait"]):
        rc, out, err = run(cmd + ["--help"])
        check(rc == 0 and out.startswith(b"usage: vmshm " + " ".join(cmd).encode()),
              "vmshm %s --help: exit 0 and its usage" % " ".join(cmd), repr(out[:60]))
    expect_error(["ls", "--bogus"], 2, "unknown option '--bogus'", "unknown option")
    expect_error(["ls", "extra"], 2, "unexpected argument 'extra'", "stray argument")
    expect_error(["ls"], 2, "no pool given", "no pool given")
    expect_error(["ls", "--pool", "/dev/shm/%s-missing" % E.tag], 1, "no such pool",
                 "missing pool (--pool)")
    expect_error(["pool", "info"], 1, "no such pool", "missing pool ($VMSHM_POOL)",
                 pool="/dev/shm/%s-missing" % E.tag)
    junk = os.path.join(E.tmp, "junk")
    with open(junk, "wb") as f:
        f.write(b"\x01" * (1 << 20))
    rc, out, err = run(["ls"], pool=junk)
    check(rc == 1 and one_line(err) and junk in err, "a file that is not a pool: exit 1",
          err)


def test_pool_create():
    p = E.pool_path()
    for bad in ("abc", "12Q", "", "-4M", "4MX", "99999999999999999999"):
        expect_error(["pool", "create", p, "--size", bad], 2, "bad size",
                     "pool create --size %r" % bad)
    expect_error(["pool", "create", p, "--size", "3M"], 2, "use 4M", "3M is refused, names 4M")
    expect_error(["pool", "create", p, "--size", "5000000"], 2, "use 8M",
                 "5000000 is refused, names 8M")
    expect_error(["pool", "create", p, "--size", "1536K"], 2, "use 2M",
                 "1536K is refused, names 2M")
    expect_error(["pool", "create", p, "--size", "512K"], 2, "too small", "512K is too small")
    expect_error(["pool", "create", p], 2, "needs --size", "no --size")
    expect_error(["pool", "create", "--size", "4M"], 2, "needs the pool's PATH", "no PATH")
    expect_error(["pool", "create", p, "--size", "4M", "--objects", "0"], 2, "bad --objects",
                 "--objects 0")
    expect_error(["pool", "create", p, "--size", "1M", "--objects", "1048576"], 2,
                 "1048576 objects do not fit in a pool of 1M", "--objects too many for 1M")
    check(not os.path.exists(p), "refused creates leave no file")
    expect_error(["pool", "create", "/nonexistent-%s/pool" % E.tag, "--size", "4M"], 1,
                 "no such directory", "no such directory")

    rc, out, err = run(["pool", "create", p, "--size", "4M"])
    check(rc == 0 and os.path.getsize(p) == 4 << 20, "pool create 4M: exit 0, 4194304 bytes",
          err)
    st = os.stat(p)
    check(st.st_blocks * 512 >= 4 << 20, "the file is preallocated (%d blocks)" % st.st_blocks)
    j = info(p)
    check(j and j["size"] == 4 << 20 and j["version_major"] == 5 and j["version_minor"] == 0
          and j["objects"] == 0 and j["peers"] == 0 and j["used_bytes"] == 0
          and j["free_bytes"] == j["data_bytes"] and j["object_capacity"] == 1024
          and j["peer_capacity"] == 63 and j["backend"] == "file" and j["pool"] == p,
          "pool info --json of a new 4M pool", repr(j))
    rc, out, err = run(["pool", "info"], pool=p)
    check(rc == 0 and b"4194304 (4M)" in out and b"format:   5.0" in out,
          "pool info (text)", repr(out))

    # overwrite refusal, and --force
    run(["create", "keep", "4096"], pool=p)
    expect_error(["pool", "create", p, "--size", "8M"], 1, "use --force",
                 "pool create over a pool")
    check("keep" in (objects(p) or {}) and os.path.getsize(p) == 4 << 20,
          "the refused overwrite left the pool as it was")
    old_id = j["pool_id"]
    rc, out, err = run(["pool", "create", p, "--size", "8M", "--objects", "100", "--force"])
    j = info(p)
    check(rc == 0 and j and j["size"] == 8 << 20 and j["object_capacity"] == 128
          and j["objects"] == 0 and j["pool_id"] != old_id,
          "pool create --force --objects 100: a new empty 8M pool (128 slots)", repr(j))
    check(not [f for f in os.listdir("/dev/shm") if f.startswith("." + os.path.basename(p))],
          "no temporary file left behind")
    jf = os.path.join(E.tmp, "notapool")
    with open(jf, "wb") as f:
        f.write(b"precious")
    expect_error(["pool", "create", jf, "--size", "1M"], 1, "not a vmshm pool",
                 "pool create over another file")
    check(open(jf, "rb").read() == b"precious", "the other file is untouched")

    # a progress bar on a terminal for a large pool, none otherwise
    big = E.pool_path()
    rc, out, err = run(["pool", "create", big, "--size", "256M"])
    check(rc == 0 and err == "", "256M pool, stderr not a terminal: no progress bar", err)
    if shutil.which("script"):
        q = subprocess.run(["script", "-qec", "%s pool create %s --size 256M --force"
                            % (shlex.quote(E.vmshm), shlex.quote(big)), "/dev/null"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        txt = q.stdout.decode("utf-8", "replace")
        check(q.returncode == 0 and "preallocating" in txt and "] 100% 256M/256M" in txt,
              "256M pool on a terminal: a progress bar up to 100%", txt[-200:])
    os.unlink(big)

    # no space: a small tmpfs
    d = os.path.join(E.tmp, "small")
    os.mkdir(d)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", d]).returncode == 0:
        try:
            expect_error(["pool", "create", d + "/p", "--size", "4M"], 1, "no space",
                         "4M pool on a 2M tmpfs")
            check(os.listdir(d) == [], "nothing left on the full file system")
        finally:
            subprocess.run(["umount", d])
    else:
        check(False, "mount a 2M tmpfs for the no-space test")

    # no permission: an unprivileged user and a root-owned directory
    d2 = os.path.join(E.tmp, "rootonly")
    os.mkdir(d2, 0o755)
    os.chmod(E.tmp, 0o755)
    exe = os.path.join(E.tmp, "vmshm")  # reachable by nobody wherever the build is
    shutil.copy(E.vmshm, exe)
    os.chmod(exe, 0o755)
    pr = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         exe, "pool", "create", d2 + "/p", "--size", "1M"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = pr.stderr.decode()
    check(pr.returncode == 1 and "permission denied" in err and one_line(err),
          "pool create as nobody in a root-owned directory: permission denied", err)


def test_hugepages():
    base = "/sys/kernel/mm/hugepages/hugepages-2048kB"
    if not os.path.isdir(base):
        check(False, "the kernel offers 2 MiB huge pages")
        return
    p = E.pool_path()
    expect_error(["pool", "create", p, "--size", "4M", "--hugepages"], 1,
                 "not a hugetlbfs mount", "--hugepages on /dev/shm")
    nr_path = base + "/nr_hugepages"
    nr0 = int(open(nr_path).read())
    d = os.path.join(E.tmp, "huge")
    os.mkdir(d)
    mounted = False
    try:
        with open(nr_path, "w") as f:
            f.write(str(nr0 + 3))
        free = int(open(base + "/free_hugepages").read())
        resv = int(open(base + "/resv_hugepages").read())
        if not check(free - resv >= 3, "reserve 3 huge pages (free %d, reserved %d)"
                     % (free, resv)):
            return
        mounted = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none",
                                  d]).returncode == 0
        if not check(mounted, "mount hugetlbfs"):
            return
        hp = d + "/pool"
        expect_error(["pool", "create", hp, "--size", "1M", "--hugepages"], 1,
                     "not a multiple of 2M, the huge page size on", "1M pool on 2M pages")
        rc, out, err = run(["pool", "create", hp, "--size", "4M", "--hugepages"])
        free2 = int(open(base + "/free_hugepages").read())
        check(rc == 0 and free - free2 == 2, "4M pool on hugetlbfs takes 2 huge pages "
              "(free %d -> %d)" % (free, free2), err)
        j = info(hp)
        check(j and j["size"] == 4 << 20 and j["objects"] == 0, "pool info of the hugetlbfs pool")
        run(["create", "big", "1M"], pool=hp)
        rc, out, err = run(["write", "big"], pool=hp, input=b"huge" * 1000)
        rc2, out2, err2 = run(["read", "big", "--length", "4000"], pool=hp)
        check(rc == 0 and rc2 == 0 and out2 == b"huge" * 1000, "write/read on hugetlbfs")
        qemu = shutil.which("qemu-system-x86_64")
        if qemu:
            rc, out, err = run(["qemu-args"], pool=hp)
            q = subprocess.run([qemu, "-M", "q35", "-accel", "tcg", "-S", "-nodefaults",
                                "-display", "none", "-monitor", "stdio"]
                               + shlex.split(out.decode()), input=b"info pci\nquit\n",
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            check(q.returncode == 0 and b"PCI device 1af4:1110" in q.stdout,
                  "QEMU maps the hugetlbfs pool with the qemu-args options",
                  q.stderr.decode()[-300:])
        rc, out, err = run(["pool", "create", d + "/pool2", "--size", "4M", "--hugepages"])
        check(rc == 1 and "not enough huge pages" in err and "1 are free" in err
              and "nr_hugepages" in err and one_line(err),
              "a second 4M pool: not enough huge pages, says 1 free and how to reserve", err)
        check(not os.path.exists(d + "/pool2") and os.listdir(d) == ["pool"],
              "the refused pool left no file")
        os.unlink(hp)
    finally:
        if mounted:
            subprocess.run(["umount", d])
        with open(nr_path, "w") as f:
            f.write(str(nr0))


def test_regions():
    p = new_pool("4M")
    j0 = info(p)
    rc, out, err = run(["create", "r1", "10000"], pool=p)
    check(rc == 0 and out == b"" and err == "", "create r1 10000: exit 0, silent", err)
    o = objects(p)
    r1 = o and o.get("r1")
    check(r1 and r1["type"] == "shm" and r1["state"] == "live" and r1["size"] == 10000
          and r1["pool_hold"] is True and r1["holders"] == [] and r1["pages"] == 3
          and r1["offset"] % 4096 == 0 and r1["offset"] >= j0["data_offset"],
          "ls --json: r1 is a live 10000-byte shm region held by the pool only", repr(r1))
    j1 = info(p)
    check(j1["objects"] == 1 and j1["used_bytes"] == 3 * 4096
          and j1["free_bytes"] == j0["free_bytes"] - 3 * 4096 and j1["peers"] == 0,
          "pool info: 1 object, 3 pages used, no peer left behind", repr(j1))
    rc, out, err = run(["ls"], pool=p)
    lines = out.decode().splitlines()
    check(rc == 0 and len(lines) == 2 and lines[0].split()[-1] == "NAME"
          and lines[1].split()[-1] == "r1" and " pool " in lines[1], "ls (text)", repr(out))

    for form in (["--pool", p, "ls", "--json"], ["--pool=" + p, "ls", "--json"],
                 ["ls", "--json", "--pool", p], ["ls", "--pool=" + p, "--json"]):
        rc, out, err = run(form)
        check(rc == 0 and "r1" in [x["name"] for x in json.loads(out)["objects"]],
              "pool named by %s" % " ".join(x.replace(p, "P") for x in form))
    expect_error(["ls", "--pool="], 2, "--pool needs a path", "--pool= (empty)")
    expect_error(["create", "r1", "10000"], 1, "already exists", "create r1 again", pool=p)
    expect_error(["create", "r1", "20000"], 1, "fewer than 20000", "create r1 larger", pool=p)
    expect_error(["create", "", "4096"], 2, "bad name", "empty name")
    expect_error(["create", "x" * 260, "4096"], 2, "longer than 259", "260-unit name")
    rc, out, err = run(["create", "x" * 259, "4096"], pool=p)
    check(rc == 0 and ("x" * 259) in (objects(p) or {}), "259-unit name is fine (name page)",
          err)
    rc, out, err = run(["create", "é" * 259, "4096"], pool=p)
    check(rc == 0 and ("é" * 259) in (objects(p) or {}),
          "259 two-byte UTF-8 characters: fine, listed by name", err)
    odd = 'q"uote\\back\nline\ttab\x01ctl \u2028 \U0001F600'
    rc, out, err = run(["create", odd, "4096"], pool=p)
    check(rc == 0 and odd in (objects(p) or {}),
          "a name with quote, backslash, newline, tab, control, U+2028, emoji: exact in JSON",
          err)
    rc, out, err = run(["ls"], pool=p)
    check(rc == 0 and b"q\"uote\\x5cback\\x0aline\\x09tab\\x01ctl" in out,
          "ls (text) escapes the name's control bytes and backslash", repr(out))
    run(["rm", odd], pool=p)
    p2 = subprocess.run([E.vmshm, "create", b"bad\xff\xfe", "4096"], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, env=dict(os.environ, VMSHM_POOL=p))
    check(p2.returncode == 2 and b"bad name" in p2.stderr, "invalid UTF-8 name: exit 2")
    for bad in ("0", "abc", "4Q"):
        expect_error(["create", "rz", bad], 2, "bad size", "create size %r" % bad, pool=p)
    expect_error(["create", "toobig", "1G"], 1, "no room", "create 1G in a 4M pool", pool=p)
    expect_error(["create", "r1"], 2, "needs NAME and SIZE", "create without SIZE", pool=p)
    check(set(objects(p)) == {"r1", "x" * 259, "é" * 259}, "failed creates changed nothing")

    # write / read / dump
    data = bytes(random.Random(7).getrandbits(8) for _ in range(10000))
    rc, out, err = run(["write", "r1"], pool=p, input=data)
    rc2, out2, err2 = run(["read", "r1"], pool=p)
    check(rc == 0 and rc2 == 0 and out2 == data, "write from stdin, read back: same 10000 bytes",
          err + err2)
    f = os.path.join(E.tmp, "part")
    with open(f, "wb") as fh:
        fh.write(b"0123456789" * 5)
    rc, out, err = run(["write", "r1", "--offset", "100", "--file", f], pool=p)
    rc2, out2, err2 = run(["read", "r1", "--offset", "100", "--length", "50"], pool=p)
    check(rc == 0 and out2 == b"0123456789" * 5, "write --file --offset 100, read it back")
    data = data[:100] + b"0123456789" * 5 + data[150:]
    rc, out, err = run(["read", "r1"], pool=p)
    check(out == data, "bytes around the write are unchanged")
    expect_error(["read", "r1", "--offset", "9990", "--length", "20"], 1, "past the end",
                 "read past the region's end", pool=p)
    expect_error(["read", "r1", "--offset", "10001"], 1, "past the end",
                 "read from beyond the end", pool=p)
    rc, out, err = run(["read", "r1", "--offset", "10000"], pool=p)
    check(rc == 0 and out == b"", "read at the very end: 0 bytes")
    rc, out, err = run(["read", "r1", "--offset", "9990"], pool=p)
    check(rc == 0 and out == data[9990:], "read --offset without --length: to the end")
    expect_error(["write", "r1"], 1, "nothing written", "write 10001 bytes into 10000",
                 pool=p, input=b"Z" * 10001)
    expect_error(["write", "r1", "--offset", "9999"], 1, "nothing written",
                 "write 2 bytes at 9999", pool=p, input=b"ZZ")
    rc, out, err = run(["read", "r1"], pool=p)
    check(out == data, "the refused writes changed nothing")
    expect_error(["read", "r1", "--offset", "x"], 2, "bad offset", "bad --offset", pool=p)
    expect_error(["read", "nope"], 1, "no such region", "read a missing region", pool=p)
    expect_error(["write", "nope"], 1, "no such region", "write a missing region", pool=p,
                 input=b"")
    rc, out, err = run(["dump", "r1"], pool=p)
    check(rc == 0 and out.decode() == hexdump_c(data), "dump: hexdump -C of the region")
    rc, out, err = run(["dump", "r1", "--offset", "96", "--length", "70"], pool=p)
    check(rc == 0 and out.decode() == hexdump_c(data[96:166], 96),
          "dump --offset 96 --length 70", out.decode())
    if shutil.which("hexdump"):
        f2 = os.path.join(E.tmp, "r1.bin")
        with open(f2, "wb") as fh:
            fh.write(data)
        ref = subprocess.run(["hexdump", "-C", f2], stdout=subprocess.PIPE).stdout
        rc, out, err = run(["dump", "r1"], pool=p)
        check(out == ref, "dump matches the system's hexdump -C byte for byte")
    rc, out, err = run(["create", "zeros", "8192"], pool=p)
    rc, out, err = run(["dump", "zeros"], pool=p)
    check(out.decode() == "00000000  " + "00 " * 8 + " " + "00 " * 8 + " |" + "." * 16
          + "|\n*\n00002000\n", "dump of zeros folds repeats into '*'", out.decode())
    expect_error(["dump", "r1", "--length", "10001"], 1, "past the end", "dump past the end",
                 pool=p)

    # rm
    free_before = info(p)["free_bytes"]
    rc, out, err = run(["rm", "zeros"], pool=p)
    check(rc == 0 and "zeros" not in objects(p) and info(p)["free_bytes"] == free_before + 8192,
          "rm zeros (no handle left): gone, its 2 pages free")
    expect_error(["rm", "zeros"], 1, "no such object", "rm it again", pool=p)
    expect_error(["rm", ""], 2, "bad name", "rm with an empty name", pool=p)
    return p


def test_rtapi(p):
    # vmshm create -> RtOpenSharedMemory
    data = bytes(range(256)) * 32
    run(["create", "fromcli", "8192"], pool=p)
    run(["write", "fromcli"], pool=p, input=data)
    out = os.path.join(E.tmp, "rt.out")
    rt = RtPeer(p, ["open", "fromcli", out])
    check(rt.lasterr() == 0 and rt.size() == 8192, "RtOpenSharedMemory of a CLI region: "
          "GetLastError 0, size 8192", rt.first)
    rc, txt = rt.release()
    check(rc == 0 and open(out, "rb").read() == data, "RtApi sees the bytes vmshm wrote")
    rt = RtPeer(p, ["open", "nosuch", out])
    check(rt.lasterr() == 2, "RtOpenSharedMemory of a missing name: 2 (FILE_NOT_FOUND)",
          rt.first)
    rt.release()

    # RtCreateSharedMemory -> vmshm read, ls, peers
    inp = os.path.join(E.tmp, "rt.in")
    payload = os.urandom(5000)
    with open(inp, "wb") as fh:
        fh.write(payload)
    rt = RtPeer(p, ["create", "fromrt", "5000", inp])
    rt.p.stdout.readline()  # copied=
    check(rt.lasterr() == 0 and rt.size() == 5000, "RtCreateSharedMemory: new, 5000 bytes",
          rt.first)
    rc, got, err = run(["read", "fromrt"], pool=p)
    check(rc == 0 and got == payload, "vmshm read sees the bytes RtApi wrote")
    o = objects(p).get("fromrt")
    pe = peers(p)
    mine = [x for x in pe if x["pid"] == rt.p.pid]
    check(o and o["pool_hold"] is False and len(o["holders"]) == 1,
          "ls: fromrt is held by one peer, not by the pool", repr(o))
    check(len(mine) == 1 and mine[0]["state"] == "alive" and mine[0]["os"] == "linux"
          and mine[0]["liveness"] == "yes" and mine[0]["comm"] == "rtpeer"
          and mine[0]["ivposition"] is None and o and o["holders"] == [mine[0]["index"]]
          and len(mine[0]["vm"]) == 36,
          "peers --json: the RtApi process, alive, holding fromrt", repr(mine))
    expect_error(["rm", "fromrt"], 1, "no such object held by the pool",
                 "rm of a region the pool does not hold", pool=p)
    expect_error(["create", "fromrt", "5000"], 1, "already exists",
                 "vmshm create of the RtApi region", pool=p)
    rt2 = RtPeer(p, ["create", "fromrt", "4096", inp])
    check(rt2.lasterr() == 183, "RtCreateSharedMemory of the same name, smaller: 183",
          rt2.first)
    rt2.release()
    rc, txt = rt.release()
    check(rc == 0 and "fromrt" not in objects(p), "after RtCloseHandle the region is gone")

    # an object of another type under the name
    ev = RtPeer(p, ["event", "anevent"])
    check(ev.fields.get("rc") == "0", "a process creates the event 'anevent'", ev.first)
    o = objects(p).get("anevent")
    check(o and o["type"] == "event" and o["state"] == "live", "ls: anevent is an event",
          repr(o))
    expect_error(["create", "anevent", "4096"], 1, "another type of object",
                 "vmshm create over an event's name", pool=p)
    expect_error(["read", "anevent"], 1, "not a shared-memory region", "read of an event",
                 pool=p)
    check(objects(p)["anevent"] == o, "the event is unchanged")
    ev.release()
    check("anevent" not in objects(p), "the event is gone with its last handle")

    # vmshm rm while a handle is open; the last close frees it
    j0 = info(p)
    run(["create", "shared", "100000"], pool=p)
    j1 = info(p)
    check(j1["free_bytes"] == j0["free_bytes"] - 25 * 4096 and j1["objects"] == j0["objects"] + 1,
          "create shared 100000: 25 pages taken")
    rt = RtPeer(p, ["open", "shared", out])
    rc, o, err = run(["rm", "shared"], pool=p)
    o = objects(p).get("shared")
    check(rc == 0 and o and o["pool_hold"] is False and len(o["holders"]) == 1,
          "rm while an RtApi handle is open: still listed, no pool hold", repr(o))
    rc, txt = rt.release()
    j2 = info(p)
    check("shared" not in objects(p) and j2["free_bytes"] == j0["free_bytes"]
          and j2["objects"] == j0["objects"] and j2["used_bytes"] == j0["used_bytes"],
          "after the last close: not listed, pool info shows the space back", repr(j2))


def bg_wait(pool, name, extra=()):
    """A `vmshm wait NAME --json` running in the background."""
    e = dict(os.environ, VMSHM_POOL=pool)
    e.pop("VMSHM_IVPOSITION", None)
    return subprocess.Popen([E.vmshm, "wait", name, "--json"] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)


def finished(proc, timeout):
    """(rc, parsed stdout, stderr) of PROC once it ends, or None if it is still running."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    try:
        j = json.loads(out.decode())
    except ValueError:
        j = None
    return proc.returncode, j, err.decode()


def waiting(pool, name, n, timeout=5.0):
    """Waits until N peers wait on NAME (its waiters in ls --json)."""
    t = time.time()
    while time.time() - t < timeout:
        o = (objects(pool) or {}).get(name)
        if o and len(o.get("waiters", [])) >= n:
            return True
        time.sleep(0.02)
    return False


def sync_fields(o):
    keep = ("type", "state", "pool_hold", "holders", "signaled", "manual", "count", "max",
            "mutex_owner", "mutex_thread", "abandoned", "waiters")
    return {k: o[k] for k in keep if k in o} if o else None


def wait_doc(p, name, type_, result, **more):
    return dict({"pool": p, "name": name, "type": type_, "result": result}, **more)


def test_events(p):
    rc, out, err = run(["event", "create", "ev"], pool=p)
    check(rc == 0 and out == b"" and err == "", "event create ev: exit 0, silent", err)
    check(sync_fields(objects(p).get("ev")) == {
        "type": "event", "state": "live", "pool_hold": True, "holders": [], "signaled": False,
        "manual": False, "waiters": []}, "ls --json: ev is a reset auto-reset event held by the "
          "pool", repr(objects(p).get("ev")))
    rc, j, err = run_json(["event", "create", "evm", "--manual", "--set"], pool=p)
    check(rc == 0 and j == {"pool": p, "name": "evm", "type": "event", "signaled": True,
                            "manual": True, "waiters": []},
          "event create --manual --set --json: its state as ls shows it", repr(j) + err)
    rc, out, err = run(["ls"], pool=p)
    rows = {l.split()[-1]: l.split() for l in out.decode().splitlines()}
    check(rc == 0 and rows["NAME"][-2] == "SYNC" and rows["ev"][-2] == "reset,auto"
          and rows["evm"][-2] == "set,manual", "ls (text): SYNC column set/reset, manual/auto",
          out.decode())
    expect_error(["event", "create", "ev"], 1, "ev already exists", "event create ev again",
                 pool=p)
    run(["create", "region", "4096"], pool=p)
    expect_error(["event", "create", "region"], 1, "another type of object",
                 "event create over a region's name", pool=p)

    t0 = time.time()
    rc, out, err = run(["wait", "ev", "--timeout", "100"], pool=p)
    dt = time.time() - t0
    check(rc == 1 and out == b"" and err == "" and 0.1 <= dt < 5,
          "wait --timeout 100 on a reset event: exit 1, silent, after 100 ms",
          "rc=%d dt=%.3f err=%r" % (rc, dt, err))
    rc, j, err = run_json(["wait", "ev", "--timeout", "0"], pool=p)
    check(rc == 1 and j == wait_doc(p, "ev", "event", "timeout"),
          "wait --timeout 0 --json: exit 1, result timeout", repr(j) + err)
    rc, out, err = run(["event", "set", "ev"], pool=p)
    check(rc == 0 and out == b"" and err == "" and objects(p)["ev"]["signaled"] is True,
          "event set: exit 0, silent, ls shows it set", err)
    rc, j, err = run_json(["wait", "ev"], pool=p)
    check(rc == 0 and j == wait_doc(p, "ev", "event", "signaled")
          and objects(p)["ev"]["signaled"] is False,
          "wait on a set auto-reset event: exit 0, signaled, the wait reset it", repr(j) + err)
    rcs = [run(["wait", "evm", "--timeout", "0"], pool=p)[0] for _ in range(2)]
    check(rcs == [0, 0] and objects(p)["evm"]["signaled"] is True,
          "a set manual-reset event releases every wait and stays set", repr(rcs))
    run(["event", "reset", "evm"], pool=p)
    check(objects(p)["evm"]["signaled"] is False
          and run(["wait", "evm", "--timeout", "0"], pool=p)[0] == 1,
          "event reset: reset, a wait times out")

    w = bg_wait(p, "ev")
    check(waiting(p, "ev", 1), "a background wait registers as a waiter (ls waiters)")
    check(finished(w, 0.3) is None, "it is still waiting after 300 ms")
    t0 = time.time()
    rc, out, err = run(["event", "set", "ev"], pool=p)
    r = finished(w, 5)
    check(rc == 0 and r is not None and r[0] == 0 and r[1] == wait_doc(p, "ev", "event", "signaled"),
          "event set from another process releases it: exit 0 (%.0f ms)" % (1000 * (time.time() - t0)),
          repr(r))
    o = objects(p)["ev"]
    check(o["signaled"] is False and o["waiters"] == [],
          "the event is reset by the released wait, nobody waits any more", repr(o))

    ws = [bg_wait(p, "evm") for _ in range(2)]
    check(waiting(p, "evm", 2), "two waits on the manual-reset event")
    run(["event", "pulse", "evm"], pool=p)
    rs = [finished(x, 5) for x in ws]
    check(all(r and r[0] == 0 for r in rs) and objects(p)["evm"]["signaled"] is False,
          "event pulse (manual) releases both waits and leaves it reset", repr(rs))
    ws = [bg_wait(p, "ev") for _ in range(2)]
    check(waiting(p, "ev", 2), "two waits on the auto-reset event")
    run(["event", "pulse", "ev"], pool=p)
    time.sleep(0.5)
    ended = [x for x in ws if x.poll() is not None]
    check(len(ended) == 1 and ended[0].returncode == 0,
          "event pulse (auto) releases exactly one of two waits", "%d ended" % len(ended))
    run(["event", "set", "ev"], pool=p)
    rs = [finished(x, 5) for x in ws]
    check(all(r and r[0] == 0 for r in rs), "event set releases the other", repr(rs))
    run(["event", "pulse", "ev"], pool=p)
    check(run(["wait", "ev", "--timeout", "0"], pool=p)[0] == 1,
          "a pulse with no waiter is lost")

    expect_error(["event", "set", "nope"], 1, "nope: no such event", "event set of a missing name",
                 pool=p)
    expect_error(["event", "pulse", "region"], 1, "region is a shared-memory region, not an event",
                 "event pulse of a region", pool=p)
    expect_error(["event"], 2, "missing subcommand", "event without subcommand", pool=p)
    expect_error(["event", "toggle", "ev"], 2, "unknown subcommand 'toggle'", "event toggle",
                 pool=p)
    expect_error(["event", "set"], 2, "needs NAME", "event set without NAME", pool=p)
    expect_error(["event", "set", "ev", "--json"], 2, "unknown option '--json'",
                 "event set prints nothing: no --json", pool=p)
    expect_error(["event", "create", ""], 2, "bad name", "event create with an empty name",
                 pool=p)
    expect_error(["wait", "ev", "--timeout", "soon"], 2, "bad timeout", "wait --timeout soon",
                 pool=p)
    expect_error(["wait"], 2, "needs NAME", "wait without NAME", pool=p)
    expect_error(["wait", "nope"], 1, "no such event, semaphore or mutex", "wait on a missing name",
                 pool=p)
    expect_error(["wait", "region"], 1, "is a shared-memory region", "wait on a region", pool=p)
    expect_error(["event", "set", "ev"], 2, "no pool given", "event set without a pool")
    rc, out, err = run(["rm", "ev"], pool=p)
    check(rc == 0 and "ev" not in objects(p), "rm ev: the event is gone", err)
    run(["rm", "evm"], pool=p)


def test_semaphores(p):
    rc, j, err = run_json(["semaphore", "create", "sem", "--initial", "1", "--max", "3"], pool=p)
    check(rc == 0 and j == {"pool": p, "name": "sem", "type": "semaphore", "signaled": True,
                            "count": 1, "max": 3, "waiters": []},
          "semaphore create --initial 1 --max 3 --json", repr(j) + err)
    check(sync_fields(objects(p).get("sem")) == {
        "type": "semaphore", "state": "live", "pool_hold": True, "holders": [], "signaled": True,
        "count": 1, "max": 3, "waiters": []}, "ls --json: sem 1 of 3", repr(objects(p).get("sem")))
    rc, out, err = run(["ls"], pool=p)
    row = [l.split() for l in out.decode().splitlines() if l.endswith(" sem")]
    check(row and row[0][-2] == "1/3", "ls (text): count/max", out.decode())
    rc, out, err = run(["release", "sem"], pool=p)
    check(rc == 0 and out == b"" and err == "" and objects(p)["sem"]["count"] == 2,
          "release: exit 0, silent, count 2", err)
    expect_error(["release", "sem", "--count", "2"], 1, "would pass the maximum count",
                 "release --count 2 at 2 of 3", pool=p)
    check(objects(p)["sem"]["count"] == 2, "the refused release left the count at 2")
    rc, j, err = run_json(["release", "sem", "--count", "1"], pool=p)
    check(rc == 0 and j == {"pool": p, "name": "sem", "type": "semaphore", "previous": 2,
                            "count": 3}, "release --count 1 --json: previous 2, count 3",
          repr(j) + err)
    rc, j, err = run_json(["wait", "sem"], pool=p)
    check(rc == 0 and j == wait_doc(p, "sem", "semaphore", "signaled")
          and objects(p)["sem"]["count"] == 2, "wait on the semaphore takes one: count 2",
          repr(j) + err)
    run(["wait", "sem"], pool=p)
    run(["wait", "sem"], pool=p)
    check(objects(p)["sem"]["signaled"] is False
          and run(["wait", "sem", "--timeout", "50"], pool=p)[0] == 1,
          "at 0 a wait times out")
    w = bg_wait(p, "sem")
    check(waiting(p, "sem", 1), "a background wait on the semaphore")
    run(["release", "sem"], pool=p)
    r = finished(w, 5)
    check(r and r[0] == 0 and objects(p)["sem"]["count"] == 0,
          "release from another process lets it through; the count is back to 0", repr(r))
    for bad, needle in ((["--max", "0"], "bad --max '0'"), (["--max", "x"], "bad --max"),
                        (["--max", "2147483648"], "bad --max"), ([], "needs --max"),
                        (["--max", "2", "--initial", "3"], "above --max"),
                        (["--max", "2", "--initial", "-1"], "bad --initial")):
        expect_error(["semaphore", "create", "s2"] + bad, 2, needle,
                     "semaphore create %s" % " ".join(bad), pool=p)
    check("s2" not in objects(p), "no refused semaphore create made anything")
    rc, out, err = run(["semaphore", "create", "s2", "--max", "2147483647"], pool=p)
    check(rc == 0 and objects(p)["s2"]["max"] == 2147483647 and objects(p)["s2"]["count"] == 0,
          "semaphore create --max 2147483647: count 0 by default", err)
    expect_error(["semaphore", "create", "sem", "--max", "1"], 1, "sem already exists",
                 "semaphore create of an existing name", pool=p)
    expect_error(["semaphore"], 2, "missing subcommand", "semaphore without subcommand")
    expect_error(["semaphore", "destroy", "sem"], 2, "unknown subcommand", "semaphore destroy")
    for bad in ("0", "x", "2147483648"):
        expect_error(["release", "sem", "--count", bad], 2, "bad --count",
                     "release --count %s" % bad, pool=p)
    expect_error(["release", "nope"], 1, "nope: no such semaphore", "release of a missing name",
                 pool=p)
    run(["event", "create", "anev"], pool=p)
    expect_error(["release", "anev"], 1, "anev is an event, not a semaphore", "release of an event",
                 pool=p)
    for n in ("sem", "s2", "anev"):
        run(["rm", n], pool=p)


def test_mutexes(p):
    mx = RtPeer(p, ["mutex", "mx"])
    me = [x for x in peers(p) if x["pid"] == mx.p.pid]
    o = objects(p).get("mx")
    check(mx.lasterr() == 0 and len(me) == 1 and sync_fields(o) == {
        "type": "mutex", "state": "live", "pool_hold": False, "holders": [me[0]["index"]],
        "signaled": False, "mutex_owner": me[0]["index"], "mutex_thread": mx.p.pid,
        "abandoned": False, "waiters": []},
          "ls --json: a mutex owned by a process (peer, thread), not abandoned", repr(o))
    rc, out, err = run(["ls"], pool=p)
    row = [l.split() for l in out.decode().splitlines() if l.endswith(" mx")]
    check(row and row[0][-2] == "owner=%d" % me[0]["index"], "ls (text): owner=PEER",
          out.decode())
    rc, j, err = run_json(["wait", "mx", "--timeout", "100"], pool=p)
    check(rc == 1 and j == wait_doc(p, "mx", "mutex", "timeout", released=False),
          "wait --timeout 100 on an owned mutex: exit 1, timeout", repr(j) + err)
    expect_error(["release", "mx"], 1, "mx is a mutex, not a semaphore",
                 "release of a mutex is refused", pool=p)
    w = bg_wait(p, "mx")
    check(waiting(p, "mx", 1), "a background wait on the owned mutex")
    mx.p.stdin.write(b"release\n")
    mx.p.stdin.flush()
    line = mx.p.stdout.readline().decode()
    r = finished(w, 5)
    check("released=1" in line and r and r[0] == 0
          and r[1] == wait_doc(p, "mx", "mutex", "signaled", released=True),
          "RtReleaseMutex in the owner lets the wait through; it took and released the mutex",
          line + repr(r))
    o = objects(p)["mx"]
    check(o["signaled"] is True and o["mutex_owner"] is None and o["abandoned"] is False,
          "the mutex is free after the wait (the command never keeps it)", repr(o))
    mx.p.stdin.write(b"take\n")
    mx.p.stdin.flush()
    check(mx.p.stdout.readline().decode().strip() == "wait=0x0", "the process takes it again")
    other = RtPeer(p, ["mutex", "mx"])  # a second handle keeps the mutex once the first dies
    check(other.lasterr() == 183, "RtCreateMutex of the existing mutex in another process: 183",
          other.first)
    mx.kill()
    t0 = time.time()
    rc, out, err = run(["wait", "mx"], pool=p)
    check(rc == 0 and out == b"" and "mx: abandoned" in err and one_line(err)
          and time.time() - t0 < 2,
          "its owner killed: wait exits 0 within 2 s and says it was abandoned", err)
    o = objects(p).get("mx")
    check(o and o["abandoned"] is True and o["signaled"] is True and o["mutex_owner"] is None,
          "the mutex is left abandoned for the next waiter", repr(o))
    rc, out, err = run(["ls"], pool=p)
    check(" abandoned " in out.decode(), "ls (text): abandoned", out.decode())
    rc, j, err = run_json(["wait", "mx"], pool=p)
    check(rc == 0 and j == wait_doc(p, "mx", "mutex", "abandoned", released=False),
          "wait --json on it again: exit 0, abandoned, not released", repr(j) + err)
    other.release()
    check("mx" not in objects(p), "the mutex is gone with its last handle")


def test_gc(p):
    run(["create", "held", "4096"], pool=p)
    out = os.path.join(E.tmp, "gc.out")
    # a process killed while holding a handle
    rt = RtPeer(p, ["open", "held", out])
    pid = rt.p.pid
    rt.kill()
    pe = [x for x in peers(p) if x["pid"] == pid]
    check(len(pe) == 1 and pe[0]["liveness"] == "no", "peers: the killed process is judged dead",
          repr(pe))
    o = objects(p)["held"]
    check(pe and o["holders"] == [pe[0]["index"]], "its reference is still counted")
    rc, j, err = run_json(["gc"], pool=p)
    check(rc == 0 and j and j["reclaimed"] == 1, "gc --json: reclaimed 1", repr(j) + err)
    check(objects(p)["held"]["holders"] == [] and not [x for x in peers(p) if x["pid"] == pid],
          "after gc: its reference and its peer entry are gone")
    rc, out2, err = run(["gc"], pool=p)
    check(rc == 0 and out2 == b"reclaimed 0 peers\n", "gc again: reclaimed 0 peers")

    # a live process: --peer refuses without --force
    rt = RtPeer(p, ["open", "held", out])
    idx = [x for x in peers(p) if x["pid"] == rt.p.pid][0]["index"]
    expect_error(["gc", "--peer", str(idx)], 1, "it is alive (lock held)", "gc --peer of a live peer",
                 pool=p)
    check(objects(p)["held"]["holders"] == [idx], "the live peer keeps its reference")
    rc, j, err = run_json(["gc", "--peer", str(idx), "--force"], pool=p)
    check(rc == 0 and j["reclaimed"] == 0 and j["fenced"] == 1
          and objects(p)["held"]["holders"] == [],
          "gc --peer N --force fences a live peer: its reference is dropped", err)
    pe = [x for x in peers(p) if x["index"] == idx]
    check(len(pe) == 1 and pe[0]["state"] == "fenced" and pe[0]["liveness"] == "yes"
          and pe[0]["why"] == "lock held", "peers: the fenced peer is kept while it lives",
          repr(pe))
    expect_error(["gc", "--peer", str(idx), "--force"], 1, "--release",
                 "gc --force on a fenced live peer names --release", pool=p)
    rt.release()
    rc, j, err = run_json(["gc"], pool=p)
    check(rc == 0 and j["reclaimed"] == 1 and not [x for x in peers(p) if x["index"] == idx],
          "gc: the fenced peer's entry is freed once its process is gone", repr(j) + err)
    expect_error(["gc", "--peer", "62"], 1, "no peer 62", "gc --peer of a free entry", pool=p)

    # a VM by ivshmem peer ID
    guest_vm = "0b0b0b0b-0000-4000-8000-000000000007"
    rt = RtPeer(p, ["open", "held", out], {"VMSHM_IVPOSITION": "7",
                                           "VMSHM_TEST_BOOT_ID": guest_vm})
    pe = [x for x in peers(p) if x["pid"] == rt.p.pid]
    check(len(pe) == 1 and pe[0]["ivposition"] == 7 and pe[0]["liveness"] == "unknown"
          and pe[0]["why"] == "cannot judge: another OS instance",
          "peers: ivposition 7 recorded, another OS instance cannot be judged", repr(pe))
    rc, j, err = run_json(["gc", "--vm", "8"], pool=p)
    check(rc == 0 and j["reclaimed"] == 0 and j["kept"] == 0, "gc --vm 8: no peer of that VM")
    rc, j, err = run_json(["gc", "--vm", "7"], pool=p)
    check(rc == 0 and j["reclaimed"] == 0 and j["kept"] == 1
          and objects(p)["held"]["holders"] == [pe[0]["index"]],
          "gc --vm 7 without --force: kept, it cannot be proven gone", repr(j) + err)
    rc, j, err = run_json(["gc", "--vm", guest_vm, "--force"], pool=p)
    check(rc == 0 and j["fenced"] == 1 and objects(p)["held"]["holders"] == [],
          "gc --vm UUID --force: its peer fenced, its reference dropped", repr(j) + err)
    rc, j, err = run_json(["gc", "--vm", "7", "--release"], pool=p)
    check(rc == 0 and j["reclaimed"] == 1 and not [x for x in peers(p) if x["pid"] == rt.p.pid],
          "gc --vm 7 --release frees its fenced entry", repr(j) + err)
    rt.release()
    # this host's own boot id: its live processes are not a VM that is gone
    rt = RtPeer(p, ["open", "held", out])
    me = [x for x in peers(p) if x["pid"] == rt.p.pid][0]
    rc, j, err = run_json(["gc", "--vm", me["vm"], "--force"], pool=p)
    check(rc == 0 and j["reclaimed"] == 0 and j["fenced"] == 0 and j["kept"] == 1
          and objects(p)["held"]["holders"] == [me["index"]],
          "gc --vm <this host> --force keeps a live local process", repr(j) + err)
    rt.release()
    for bad, needle in ((["--peer", "0"], "bad peer index"), (["--peer", "64"], "bad peer index"),
                        (["--vm", "xyz"], "bad VM"), (["--vm", "65536"], "bad VM"),
                        (["--peer", "1", "--vm", "1"], "not both"), (["--force"], "--force goes"),
                        (["--release"], "--release goes"),
                        (["--vm", "1", "--force", "--release"], "--release goes")):
        expect_error(["gc"] + bad, 2, needle, "gc %s" % " ".join(bad), pool=p)
    run(["rm", "held"], pool=p)


def rw(path, off, fmt, value=None):
    with open(path, "r+b") as f:
        f.seek(off)
        if value is None:
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
        f.write(struct.pack(fmt, value))


def test_check():
    src = new_pool("4M")
    run(["create", "alpha", "8192"], pool=src)
    run(["create", "beta", "4096"], pool=src)
    rc, j, err = run_json(["check"], pool=src)
    check(rc == 0 and j and j["clean"] is True and j["count"] == 0 and j["faults"] == [],
          "check --json of a clean pool: exit 0, no fault", repr(j))
    rc, out, err = run(["check"], pool=src)
    check(rc == 0 and out.decode().endswith(": clean\n"), "check (text) of a clean pool")
    objs = objects(src)
    sa, sb = objs["alpha"]["slot"], objs["beta"]["slot"]
    slots_off = rw(src, 64, "<Q")
    owners_off = rw(src, 80, "<Q")
    data_off = rw(src, 88, "<Q")
    slot = lambda s: slots_off + 256 * s
    page_a = (objs["alpha"]["offset"] - data_off) // 4096
    free_page = page_a + 10

    def corrupt(name, edits, fault):
        dst = E.pool_path()
        shutil.copyfile(src, dst)
        for off, fmt, val in edits:
            rw(dst, off, fmt, val)
        rc, j, err = run_json(["check"], pool=dst)
        names = [f["fault"] for f in j["faults"]] if j else []
        check(rc == 1 and fault in names and j["clean"] is False and j["count"] == len(names),
              "check finds %s: fault '%s'" % (name, fault), "rc=%d %r %s" % (rc, j, err))
        rc, out, err = run(["check"], pool=dst)
        check(rc == 1 and [l for l in out.decode().splitlines() if l.startswith(fault + " ")]
              and "fault" in err,
              "check (text) names '%s' and exits 1" % fault, out.decode() + err)
        os.unlink(dst)

    sw = rw(src, slot(sa), "<Q")
    corrupt("a bad magic", [(0, "<Q", 0x1122334455667788)], "header")
    corrupt("a wrong slot count", [(72, "<I", 100)], "header")
    corrupt("an invalid object type", [(slot(sa), "<Q", sw | (0xF << 28))], "slot-state")
    corrupt("an invalid object state", [(slot(sa), "<Q", (sw & ~(0xF << 24)) | (9 << 24))],
            "slot-state")
    corrupt("a name byte changed", [(slot(sa) + 80, "<B", ord("A"))], "slot-name")
    corrupt("a name length too long", [(slot(sa) + 48, "<I", 185)], "slot-name")
    corrupt("an extent past the object space", [(slot(sa) + 32, "<Q", 1 << 40)], "slot-extent")
    corrupt("a live object with no holder", [(slot(sa) + 8, "<Q", 0)], "holders")
    corrupt("a holder bit of a free peer", [(slot(sa) + 8, "<Q", 1 | (1 << 9))], "holders")
    nslots = rw(src, 72, "<I")
    free_slot = next(k for k in range(nslots) if k not in (sa, sb))
    corrupt("a free page owned by a free slot",
            [(owners_off + 8 * free_page, "<Q", (free_slot + 1) | (1 << 32))], "page-leak")
    corrupt("a page of alpha owned by beta",
            [(owners_off + 8 * page_a, "<Q", (sb + 1) | (1 << 32))], "page-owner")
    corrupt("an invalid peer state", [(4096 + 256 * 5, "<Q", 7)], "peer-state")
    # a second live slot with alpha's name, right after alpha's
    with open(src, "rb") as f:
        f.seek(slot(sa))
        raw = f.read(256)
    dup = (sa + 1) % rw(src, 72, "<I")
    if dup == sb:
        dup = (sa + 2) % rw(src, 72, "<I")
    dst = E.pool_path()
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(slot(dup))
        f.write(raw)
    rc, j, err = run_json(["check"], pool=dst)
    names = [x["fault"] for x in j["faults"]] if j else []
    check(rc == 1 and "dup-name" in names, "check finds a duplicated name: 'dup-name'", repr(j))
    rc, j, err = run_json(["check"], pool=src)
    check(rc == 0 and j["clean"], "the source pool is still clean")


def test_qemu(p):
    rc, j, err = run_json(["qemu-args"], pool=p)
    port = ["-device", "pcie-root-port,id=vmshm0-high,chassis=199,pref64-reserve=4G"]
    want = ["-object", "memory-backend-file,id=vmshm0,mem-path=%s,size=4M,share=on" % p,
            "-device", "ivshmem-plain,memdev=vmshm0"]
    check(rc == 0 and j["args"] == port + want and j["size"] == 4 << 20
          and j["device"] == "ivshmem-plain",
          "qemu-args --json: a root port reserving 4G of 64-bit space, then the device", repr(j))
    rc, out, err = run(["qemu-args"], pool=p)
    check(rc == 0 and shlex.split(out.decode()) == port + want, "qemu-args text is the same words")
    rc, j, err = run_json(["qemu-args", "--no-high"], pool=p)
    check(rc == 0 and j["args"] == want, "qemu-args --no-high: the device alone", repr(j))
    sock = os.path.join(E.tmp, "door.sock")
    rc, j, err = run_json(["qemu-args", "--doorbell", sock, "--vectors", "2", "--id", "db1"],
                          pool=p)
    check(rc == 0 and j["args"][2:] == ["-chardev", "socket,path=%s,id=db1" % sock, "-device",
                                        "ivshmem-doorbell,chardev=db1,vectors=2"]
          and j["args"][1].startswith("pcie-root-port,id=db1-high,chassis=")
          and j["args"][1] != port[1],
          "qemu-args --doorbell --vectors 2 --id db1 (a root port of its own chassis)", repr(j))
    rc, j, err = run_json(["pool", "info"], pool=p)
    check(rc == 0 and j["memory_type"] == "write-back" and j["backend"] == "file",
          "pool info: a pool file is mapped write-back", repr(j))
    comma = E.pool_path() + ",x"
    E.paths.append(comma)
    run(["pool", "create", comma, "--size", "1M"])
    rc, j, err = run_json(["qemu-args"], pool=comma)
    check(rc == 0 and ("mem-path=%s,,x," % comma[:-2]) in j["args"][3],
          "a comma in the path is doubled for QEMU", repr(j))
    expect_error(["qemu-args", "--vectors", "2"], 2, "goes with --doorbell", "--vectors alone",
                 pool=p)
    expect_error(["qemu-args", "--doorbell", sock, "--vectors", "0"], 2, "bad --vectors",
                 "--vectors 0", pool=p)
    expect_error(["qemu-args", "--id", "9x"], 2, "bad --id", "--id 9x", pool=p)

    rc, out, err = run(["libvirt-xml", "vmshm-demo"], pool=p)
    x = ET.fromstring(out.decode()) if rc == 0 else None
    check(x is not None and x.tag == "shmem" and x.get("name") == "vmshm-demo"
          and x.find("model").get("type") == "ivshmem-plain"
          and x.find("size").get("unit") == "M" and x.find("size").text == "4"
          and x.find("server") is None,
          "libvirt-xml: <shmem name> ivshmem-plain, 4 M", out.decode())
    check("/dev/shm/vmshm-demo" in err and "ln -s" in err,
          "libvirt-xml notes the /dev/shm/NAME rule when the pool is elsewhere", err)
    name = os.path.basename(p)
    rc, out, err = run(["libvirt-xml", name], pool=p)
    check(rc == 0 and err == "", "libvirt-xml for the pool's own /dev/shm name: no note", err)
    rc, out, err = run(["libvirt-xml", "a&b", "--doorbell", sock, "--vectors", "4"], pool=p)
    x = ET.fromstring(out.decode()) if rc == 0 else None
    check(x is not None and x.get("name") == "a&b"
          and x.find("model").get("type") == "ivshmem-doorbell"
          and x.find("server").get("path") == sock
          and x.find("msi").get("vectors") == "4", "libvirt-xml --doorbell (escaped name)",
          out.decode())
    expect_error(["libvirt-xml", "a/b"], 2, "bad name", "libvirt-xml a/b", pool=p)

    # QEMU itself accepts the options
    qemu = shutil.which("qemu-system-x86_64")
    if not check(qemu is not None, "qemu-system-x86_64 is installed"):
        return
    rc, out, err = run(["qemu-args"], pool=p)
    args = shlex.split(out.decode())
    q = subprocess.run([qemu, "-M", "pc", "-accel", "tcg", "-S", "-nodefaults", "-display",
                        "none", "-monitor", "stdio"] + args, input=b"info pci\nquit\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(q.returncode == 0 and b"PCI device 1af4:1110" in q.stdout
          and b"prefetchable memory at 0xffffffffffffffff [0x003ffffe]" in q.stdout,
          "QEMU starts with the qemu-args options: ivshmem 1af4:1110 with a 4M BAR2",
          q.stderr.decode()[-300:])


def serve(pool, sock, vectors):
    e = dict(os.environ, VMSHM_POOL=pool)
    e.pop("VMSHM_IVPOSITION", None)
    logf = open(os.path.join(E.tmp, "serve-%d.log" % E.n), "w+")
    s = subprocess.Popen([E.vmshm, "serve", "--socket", sock, "--vectors", str(vectors)],
                         stdout=logf, stderr=logf, env=e)
    for _ in range(200):
        if " on %s, " % sock in log_text(logf) or s.poll() is not None:
            break
        time.sleep(0.05)
    return s, logf


def log_text(logf):
    logf.flush()
    logf.seek(0)
    return logf.read()


def test_serve():
    p = new_pool("4M")
    sock = os.path.join(E.tmp, "db.sock")
    expect_error(["serve"], 2, "needs --socket", "serve without --socket", pool=p)
    expect_error(["serve", "--socket", sock, "--vectors", "0"], 2, "bad --vectors",
                 "serve --vectors 0", pool=p)
    expect_error(["serve", "--socket", sock], 1, "no such pool", "serve a missing pool",
                 pool=p + "-missing")
    reg = os.path.join(E.tmp, "regular")
    open(reg, "w").close()
    expect_error(["serve", "--socket", reg], 1, "not a socket", "serve onto a regular file",
                 pool=p)

    s, logf = serve(p, sock, 2)
    check(s.poll() is None and os.path.exists(sock), "serve is listening")
    c = subprocess.run([E.dbclient, sock, p, "2"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    for line in c.stdout.decode().splitlines():
        if line.startswith("ok - "):
            check(True, "doorbell: " + line[5:])
        elif line.startswith("not ok - "):
            check(False, "doorbell: " + line[9:])
    check(c.returncode == 0, "dbclient exit status 0", c.stderr.decode())
    log = log_text(logf)
    check("VM 3: reclaimed 1 peer: peer" in log, "the server logs the reclaim of VM 3", log[-500:])
    check("peer 4 sent data (not an ivshmem peer); dropped" in log,
          "the server logs the garbage client it dropped")
    check(s.poll() is None, "serve survived every client")

    # real QEMU as a doorbell peer
    qemu = shutil.which("qemu-system-x86_64")
    if qemu:
        rc, out, err = run(["qemu-args", "--doorbell", sock, "--vectors", "2"], pool=p)
        q = subprocess.run([qemu, "-M", "pc", "-accel", "tcg", "-S", "-nodefaults", "-display",
                            "none", "-monitor", "stdio"] + shlex.split(out.decode()),
                           input=b"info pci\nquit\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        time.sleep(0.3)
        log = log_text(logf)
        check(q.returncode == 0 and b"PCI device 1af4:1110" in q.stdout
              and b"BAR1: 32 bit memory" in q.stdout and b"[0x003ffffe]" in q.stdout,
              "QEMU's ivshmem-doorbell takes the server's fds and starts",
              q.stderr.decode()[-300:])
        check(log.count("peer 158 connected") == 1 and "peer 158 disconnected" in log,
              "the server saw QEMU (peer 158) come and go", log[-300:])

    expect_error(["serve", "--socket", sock], 1, "another server", "a second server on the "
                 "same socket", pool=p)
    s.send_signal(signal.SIGTERM)
    rc = s.wait(timeout=10)
    check(rc == 0 and not os.path.exists(sock), "SIGTERM: exit 0, socket removed")

    # a stale socket from a killed server; SIGINT
    s, logf = serve(p, sock, 1)
    s.kill()
    s.wait()
    check(os.path.exists(sock), "a killed server leaves its socket")
    s, logf = serve(p, sock, 1)
    ok = s.poll() is None and "removed the stale socket" in log_text(logf)
    if ok:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)
        c.settimeout(5)
        msg, anc, flags, addr = c.recvmsg(8, socket.CMSG_SPACE(4))
        ok = struct.unpack("<q", msg)[0] == 0
        c.close()
    check(ok, "a new server replaces the stale socket and serves")

    # the pool file replaced under a running server
    old_ino = os.stat(p).st_ino
    rc, out, err = run(["pool", "create", p, "--size", "4M", "--force"])
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(sock)
    c.settimeout(5)
    fds = []
    for _ in range(3):
        msg, anc, flags, addr = c.recvmsg(8, socket.CMSG_SPACE(4))
        for lvl, typ, data in anc:
            fds += list(struct.unpack("%di" % (len(data) // 4), data))
    c.close()
    check(rc == 0 and len(fds) == 1 and os.fstat(fds[0]).st_ino == old_ino
          and os.stat(p).st_ino != old_ino,
          "pool replaced under the server: a new client still gets the served pool's fd")
    for fd in fds:
        os.close(fd)
    time.sleep(0.3)
    log = log_text(logf)
    check("was replaced or removed; peer" in log and "is no longer the pool served" in log,
          "the server warns, and does not reclaim in the new pool", log[-400:])
    s.send_signal(signal.SIGINT)
    rc = s.wait(timeout=10)
    check(rc == 0 and not os.path.exists(sock), "SIGINT: exit 0, socket removed")


# ---- issue 11: deployment --------------------------------------------------

def test_rough_edges():
    p = E.pool_path()
    rc, out, err = run(["pool", "create", p, "--size", "4M", "--objects", "1"])
    check(rc == 0 and "room for 16 objects" in out.decode(),
          "--objects 1: says the 16 objects made", out.decode())
    rc, out, err = run(["pool", "create", p, "--size", "4M", "--objects", "20", "--force"])
    check(rc == 0 and "room for 32 objects" in out.decode(),
          "--objects 20: says the 32 objects made", out.decode())
    expect_error(["pool", "create", p, "--size", "4M", "--objects", "0"], 2, "use 16 to 1048576",
                 "--objects 0: the range of the README")
    expect_error(["pool", "create", p, "--size", "4M"], 1, "(objects: 0, peers: 0)",
                 "an existing pool: counts without '1 objects'")
    expect_error(["pool", "create", p, "--size", "4M", "--hugepages"], 1,
                 "mount -t hugetlbfs none /dev/hugepages",
                 "--hugepages off hugetlbfs: a mount point that hides nothing")
    rc, out, err = run(["pool", "--help"])
    check(rc == 0 and out.startswith(b"usage: vmshm pool create"), "pool --help: the pool usage")
    expect_error(["--pool", "", "ls"], 2, "--pool needs a path", "--pool \"\"")
    expect_error(["ls", "--json=1"], 2, "--json takes no value", "--json=1", pool=p)
    expect_error(["create", "new", "-4K"], 2, "bad size '-4K'", "create new -4K: a size error",
                 pool=p)
    rc, out, err = run(["ls"], pool="/dev/shm")
    check(rc == 1 and err.count("/dev/shm") == 1 and "directory" in err,
          "a directory as pool: the path said once", err)
    rel = subprocess.run([E.vmshm, "--pool", "missing.pool", "ls"], cwd=E.tmp,
                         stderr=subprocess.PIPE).stderr.decode()
    check("no such pool: missing.pool" in rel, "a relative path is worded as an absolute one", rel)
    # --json on the commands that change things
    rc, j, err = run_json(["create", "zulu", "4K"], pool=p)
    check(rc == 0 and j == {"pool": p, "name": "zulu", "size": 4096}, "create --json", repr(j))
    run(["create", "alpha", "4K"], pool=p)
    r = subprocess.run([E.vmshm, "--pool", p, "write", "alpha", "--json"], input=b"abc",
                       stdout=subprocess.PIPE)
    j = json.loads(r.stdout) if r.returncode == 0 else None
    check(j and j["written"] == 3, "write --json: the bytes written", repr(j))
    rc, out, err = run(["ls"], pool=p)
    names = [l.split()[-1] for l in out.decode().splitlines()[1:]]
    check(names == ["alpha", "zulu"], "ls lists by name", repr(names))
    rc, j, err = run_json(["rm", "zulu"], pool=p)
    check(rc == 0 and j["removed"] is True, "rm --json", repr(j))
    q = E.pool_path()
    rc, j, err = run_json(["pool", "create", q, "--size", "1M"])
    check(rc == 0 and j["size"] == 1 << 20 and j["object_capacity"] == 256,
          "pool create --json", repr(j))
    # create refuses a pool whose tables are damaged
    sw_off = rw(p, 64, "<Q") + 256 * objects(p)["alpha"]["slot"]
    rw(p, sw_off + 32, "<Q", 1 << 40)
    expect_error(["create", "bravo", "4K"], 1, "fails its check (slot-extent",
                 "create on a damaged pool: refused with the check's finding", pool=p)
    # --force on a full tmpfs
    mnt = os.path.join(E.tmp, "full-tmpfs")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6M", "none", mnt]).returncode == 0:
        try:
            sp = os.path.join(mnt, "p")
            run(["pool", "create", sp, "--size", "4M"])
            expect_error(["pool", "create", sp, "--size", "4M", "--force"], 1,
                         "the old pool keeps its 4M until the new one replaces it",
                         "--force on a full tmpfs: the old pool's space and what is free")
        finally:
            subprocess.run(["umount", mnt])


def test_owner_mode():
    p = E.pool_path()
    rc, out, err = run(["pool", "create", p, "--size", "1M"])
    st = os.stat(p)
    check(rc == 0 and st.st_mode & 0o777 == 0o660, "default mode 0660",
          oct(st.st_mode))
    rc, out, err = run(["pool", "create", p, "--size", "1M", "--force", "--owner",
                        "nobody:nogroup", "--mode", "640"])
    st = os.stat(p)
    check(rc == 0 and st.st_uid == 65534 and st.st_gid == 65534 and st.st_mode & 0o777 == 0o640,
          "--owner nobody:nogroup --mode 640", err)
    rc, out, err = run(["pool", "create", p, "--size", "2M", "--force"])
    st = os.stat(p)
    check(rc == 0 and st.st_uid == 65534 and st.st_gid == 65534 and st.st_mode & 0o777 == 0o640
          and st.st_size == 2 << 20, "--force keeps the old owner, group and mode", err)
    rc, out, err = run(["pool", "create", p, "--size", "2M", "--force", "--group", "root"])
    st = os.stat(p)
    check(rc == 0 and st.st_uid == 65534 and st.st_gid == 0, "--force --group root: told")
    expect_error(["pool", "create", p, "--size", "1M", "--owner", "no-such-user-x"], 2,
                 "no such user", "--owner of an unknown user")
    expect_error(["pool", "create", p, "--size", "1M", "--mode", "999"], 2, "bad --mode",
                 "--mode 999")
    link = p + ".link"
    E.paths.append(link)
    os.symlink(p, link)
    rc, out, err = run(["pool", "create", link, "--size", "4M", "--force"])
    check(rc == 0 and os.path.islink(link) and os.stat(p).st_size == 4 << 20,
          "--force on a symlink replaces the pool it names, the link stays", err)
    rc, out, err = run(["pool", "create", p, "--size", "4M", "--exist-ok"])
    check(rc == 0 and "left as it is" in out.decode(), "--exist-ok leaves a pool", err)


def setpriv(user, argv, **kw):
    return subprocess.run(["setpriv", "--reuid", user, "--regid", user, "--init-groups"] + argv,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, **kw)


def ensure_user(name):
    if subprocess.run(["id", name], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["useradd", "-r", "-M", "-U", "-s", "/usr/sbin/nologin", name],
                       check=True)


def sha(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_users():
    """QEMU as a system user that has the pool and the socket by group; a
    user who may only read the pool looks at it; an unrelated one gets nothing."""
    if os.geteuid() != 0:
        check(True, "users: not root, skipped")
        return
    ensure_user("vmshm-test")
    ensure_user("vmshm-other")
    p = E.pool_path()
    run(["pool", "create", p, "--size", "4M", "--group", "vmshm-test", "--mode", "0660"])
    run(["create", "shared", "4K"], pool=p)
    os.chmod(E.tmp, 0o711)
    sock = os.path.join(E.tmp, "users.sock")
    e = dict(os.environ, VMSHM_POOL=p)
    logf = open(os.path.join(E.tmp, "serve-users.log"), "w+")
    s = subprocess.Popen([E.vmshm, "serve", "--socket", sock, "--socket-group", "vmshm-test",
                          "--socket-mode", "0660"], stdout=logf, stderr=logf, env=e)
    try:
        for _ in range(200):
            if os.path.exists(sock) or s.poll() is not None:
                break
            time.sleep(0.05)
        st = os.stat(sock)
        import grp
        check(grp.getgrgid(st.st_gid).gr_name == "vmshm-test" and st.st_mode & 0o777 == 0o660,
              "serve --socket-group --socket-mode: the socket's group and mode", oct(st.st_mode))
        qemu = shutil.which("qemu-system-x86_64")
        args = shlex.split(run(["qemu-args", "--doorbell", sock], pool=p)[1].decode())
        q = setpriv("vmshm-test", [qemu, "-M", "pc", "-accel", "tcg", "-S", "-nodefaults",
                                   "-display", "none", "-monitor", "stdio"] + args,
                    input=b"info pci\nquit\n")
        time.sleep(0.3)
        log = log_text(logf)
        check(q.returncode == 0 and b"1af4:1110" in q.stdout and "peer 0 connected" in log,
              "QEMU as vmshm-test maps the pool and connects to the doorbell server",
              q.stderr.decode()[-300:] + log[-300:])
        q = setpriv("vmshm-other", [qemu, "-M", "pc", "-accel", "tcg", "-S", "-nodefaults",
                                    "-display", "none", "-monitor", "stdio"] + args,
                    input=b"quit\n")
        check(q.returncode != 0 and b"Permission denied" in q.stderr,
              "QEMU as an unrelated user: refused (pool and socket)", q.stderr.decode()[-300:])
        c = setpriv("vmshm-other", ["python3", "-c", "import socket,sys\n"
                                    "s=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])",
                                    sock])
        check(c.returncode != 0 and b"PermissionError" in c.stderr,
              "an unrelated user cannot connect to the socket", c.stderr.decode()[-200:])
        w = setpriv("vmshm-other", ["python3", "-c", "open(__import__('sys').argv[1], 'r+b')", p])
        check(w.returncode != 0 and b"PermissionError" in w.stderr,
              "an unrelated user cannot open the pool for writing")
        r = setpriv("vmshm-other", [E.vmshm, "--pool", p, "ls"])
        check(r.returncode == 1 and b"Permission denied" in r.stderr,
              "an unrelated user cannot read it either (mode 0660)", r.stderr.decode())
    finally:
        s.send_signal(signal.SIGTERM)
        s.wait(timeout=10)
    # read-only: the pool readable by others; a live peer holds it
    os.chmod(p, 0o664)
    rt = RtPeer(p, ["open", "shared", "/dev/null"])
    before = sha(p)
    for cmd in (["ls", "--json"], ["pool", "info"], ["check"], ["peers", "--json"],
                ["qemu-args"], ["libvirt-xml", "x"]):
        r = setpriv("vmshm-other", [E.vmshm, "--pool", p] + cmd)
        check(r.returncode == 0, "read-only user: %s works" % " ".join(cmd),
              r.stderr.decode())
        if cmd[0] == "peers" and r.returncode == 0:
            pl = json.loads(r.stdout)["peers"]
            check(len(pl) == 1 and pl[0]["liveness"] == "yes"
                  and pl[0]["why"] == "lock held",
                  "read-only user: peers judges the live peer by its lock", repr(pl))
    r = setpriv("vmshm-other", [E.vmshm, "--pool", p, "create", "x", "4K"])
    check(r.returncode == 1 and b"read-only for this user" in r.stderr,
          "read-only user: create refused, saying why", r.stderr.decode())
    check(sha(p) == before, "read-only user: the pool's bytes are unchanged")
    rt.release()


def test_serve_deploy():
    p = new_pool("1M")
    sock = os.path.join(E.tmp, "deploy.sock")
    s, logf = serve(p, sock, 1)
    rc, out, err = run(["serve", "--socket", sock], pool=p)
    time.sleep(0.2)
    log = log_text(logf)
    check(rc == 1 and "another server" in err and "connected" not in log,
          "a second server is refused without connecting to the first", log[-300:])
    st = os.stat(sock)
    check(st.st_mode & 0o777 == 0o660, "the socket's default mode is 0660", oct(st.st_mode))
    s.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    check(s.poll() is None and "SIGHUP" in log_text(logf), "SIGHUP does not stop the server")
    s.send_signal(signal.SIGTERM)
    s.wait(timeout=10)
    # under the journal (JOURNAL_STREAM names stderr): priority prefixes; and
    # sd_notify READY=1 on $NOTIFY_SOCKET
    nsock = os.path.join(E.tmp, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(nsock)
    ns.settimeout(10)
    logf = open(os.path.join(E.tmp, "journal.log"), "w+")
    st = os.fstat(logf.fileno())
    e = dict(os.environ, VMSHM_POOL=p, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino),
             NOTIFY_SOCKET=nsock)
    s = subprocess.Popen([E.vmshm, "serve", "--socket", sock], stdout=logf, stderr=logf, env=e)
    try:
        msg = ns.recv(4096).decode()
    except OSError:
        msg = ""
    check("READY=1" in msg, "serve tells systemd it is ready (sd_notify)", msg)
    s.send_signal(signal.SIGTERM)
    s.wait(timeout=10)
    lines = log_text(logf).splitlines()
    check(lines and all(l[:3] in ("<6>", "<4>", "<3>") for l in lines)
          and lines[0].startswith("<6>vmshm serve: serving"),
          "under the journal each line has a syslog priority", repr(lines[:3]))
    r = subprocess.run([E.vmshm, "ls"], env=dict(e, VMSHM_POOL="/dev/shm/none-x"),
                       stderr=logf)
    check(log_text(logf).splitlines()[-1].startswith("<3>vmshm ls:"),
          "errors of every command carry <3> under the journal")


def test_version():
    rc, out, err = run(["--version"])
    check(rc == 0 and b"libvmshm 0." in out, "--version names the command and the library",
          out.decode())


def test_libvirt_validate():
    v = shutil.which("virt-xml-validate")
    if not check(v is not None, "virt-xml-validate is installed (libvirt-clients)"):
        return
    p = new_pool("4M")
    for extra in ([], ["--doorbell", "/run/vmshm/x/doorbell.sock", "--vectors", "2"]):
        rc, out, err = run(["libvirt-xml", os.path.basename(p)] + extra, pool=p)
        dom = ("<domain type='qemu'><name>t</name><memory unit='MiB'>128</memory>"
               "<os><type arch='x86_64'>hvm</type></os><devices>%s</devices></domain>"
               % out.decode())
        f = os.path.join(E.tmp, "dom.xml")
        open(f, "w").write(dom)
        r = subprocess.run([v, f, "domain"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        check(rc == 0 and r.returncode == 0,
              "libvirt-xml %s validates inside a domain" % " ".join(extra),
              r.stdout.decode()[-300:])


def test_install():
    """make install into a scratch prefix: the units name the installed
    vmshm and pass systemd-analyze verify; uninstall removes everything."""
    pre = os.path.join(E.tmp, "prefix")
    mk = ["make", "--no-print-directory", "-s", "BUILD=" + E.build, "PREFIX=" + pre]
    r = subprocess.run(mk + ["install"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       cwd=ROOT)
    if not check(r.returncode == 0, "make install PREFIX=...", r.stdout.decode()[-400:]):
        return
    units = os.path.join(pre, "lib", "systemd", "system")
    serve_unit = open(os.path.join(units, "vmshm-serve@.service")).read()
    check("ExecStart=%s/bin/vmshm " % pre in serve_unit, "the unit names the installed vmshm")
    inc = os.path.join(pre, "include")
    check(all(os.path.exists(os.path.join(inc, h)) for h in ("RtApi.h", "rtapi.h", "Rtapi.h")),
          "RtApi.h is installed under the spellings RTX code uses")
    check(os.path.exists(os.path.join(pre, "share", "bash-completion", "completions", "vmshm")),
          "bash completion installed")
    pcs = subprocess.run("find %s -name vmshm.pc" % pre, shell=True,
                         stdout=subprocess.PIPE).stdout.decode().split()
    check(pcs and "Requires.private: pciaccess" in open(pcs[0]).read(),
          "vmshm.pc: Requires.private: pciaccess", repr(pcs))
    vdir = os.path.join(E.tmp, "units")
    os.mkdir(vdir)
    for u in ("vmshm-serve@.service", "vmshm-pool@.service"):
        shutil.copy(os.path.join(units, u), vdir)
        os.symlink(u, os.path.join(vdir, u.replace("@.", "@demo.")))
    env = dict(os.environ, MANPATH=os.path.join(pre, "share", "man"),
               SYSTEMD_UNIT_PATH=vdir + ":")
    r = subprocess.run(["systemd-analyze", "verify", os.path.join(vdir, "vmshm-serve@demo.service"),
                        os.path.join(vdir, "vmshm-pool@demo.service")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(r.returncode == 0 and not r.stdout.strip(), "systemd-analyze verify: clean",
          r.stdout.decode()[-400:])
    r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        os.path.join(vdir, "vmshm-serve@demo.service")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode()
    import re
    m = re.search(r"exposure level for \S+: ([0-9.]+)", out)
    check(m and float(m.group(1)) <= 2.0, "systemd-analyze security of the server: %s"
          % (m.group(1) if m else "?"), out[-300:])
    # a program built against the installed library
    prog = os.path.join(E.tmp, "v.c")
    open(prog, "w").write('#include <rtapi.h>\n#include <vmshm.h>\n#include <stdio.h>\n'
                          'int main(void){puts(vmshm_version());'
                          'return VMSHM_VERSION_MAJOR < 0;}\n')
    pcdir = os.path.dirname(pcs[0]) if pcs else ""
    r = subprocess.run("cc %s -o %s/v $(PKG_CONFIG_PATH=%s pkg-config --cflags --libs vmshm) "
                       "-Wl,-rpath,%s && %s/v" % (prog, E.tmp, pcdir, os.path.dirname(pcdir),
                                                  E.tmp), shell=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    check(r.returncode == 0 and r.stdout.decode().strip().startswith("0."),
          "a program builds with pkg-config and <rtapi.h>; vmshm_version()", r.stdout.decode())
    r = subprocess.run(mk + ["uninstall"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       cwd=ROOT)
    left = subprocess.run(["find", pre, "-type", "f", "-o", "-type", "l"],
                          stdout=subprocess.PIPE).stdout.decode().split()
    check(r.returncode == 0 and not left, "make uninstall removes every file", repr(left[:5]))


def test_completion():
    bash = shutil.which("bash")
    comp = os.path.join(ROOT, "host-tool", "vmshm.bash-completion")
    p = new_pool("1M")
    run(["create", "sensor", "4K"], pool=p)
    script = ("_init_completion() { cur=${COMP_WORDS[COMP_CWORD]}; "
              "prev=${COMP_WORDS[COMP_CWORD-1]}; words=(\"${COMP_WORDS[@]}\"); "
              "cword=$COMP_CWORD; }\n"
              "PATH=%s:$PATH; . %s\n"
              "COMP_WORDS=(vmshm --pool %s rm se); COMP_CWORD=4; _vmshm; echo \"${COMPREPLY[@]}\"\n"
              "COMP_WORDS=(vmshm po); COMP_CWORD=1; _vmshm; echo \"${COMPREPLY[@]}\"\n"
              "COMP_WORDS=(vmshm serve --socket-); COMP_CWORD=2; _vmshm; echo \"${COMPREPLY[@]}\"\n"
              % (os.path.dirname(E.vmshm), comp, p))
    r = subprocess.run([bash, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = r.stdout.decode().splitlines()
    check(lines[:3] == ["sensor", "pool", "--socket-group --socket-mode"],
          "bash completion: object names, commands, options", repr(lines))


def main():
    global E
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    a = ap.parse_args()
    E = Env(a.build)
    t0 = time.time()
    try:
        for name, fn in (("usage", test_usage), ("pool create", test_pool_create),
                         ("hugepages", test_hugepages)):
            print("# " + name)
            fn()
        print("# regions")
        p = test_regions()
        print("# RtApi")
        test_rtapi(p)
        print("# events")
        test_events(p)
        print("# semaphores")
        test_semaphores(p)
        print("# mutexes")
        test_mutexes(p)
        print("# gc")
        test_gc(p)
        print("# check")
        test_check()
        print("# qemu-args, libvirt-xml")
        test_qemu(p)
        print("# serve")
        test_serve()
        for name, fn in (("rough edges", test_rough_edges), ("owner and mode", test_owner_mode),
                         ("users", test_users), ("serve under systemd", test_serve_deploy),
                         ("version", test_version), ("libvirt", test_libvirt_validate),
                         ("install", test_install), ("completion", test_completion)):
            print("# " + name)
            fn()
    except Exception as ex:  # a crash of the suite is a failure, never a pass
        import traceback
        traceback.print_exc()
        check(False, "the suite ran to its end", repr(ex))
    finally:
        E.cleanup()
    print("# %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
