#!/usr/bin/env python3
"""Make the golden stored runs again: each drill kind, shrunk (a low rate, few
keys, short phases) so that its folder stays small, run once on the process
runtime with a fixed seed, then checked again with `check-run` so that the
report files beside it are exactly what `check-run` writes.

    python3 tests/golden/make.py [scenario ...]     (root: the region drills need namespaces)

Each drill leaves NAME.tar.gz (the stored run without its reports) and NAME/
(the reports `check-run` wrote from it). tests/golden.rs unpacks every archive,
checks it again and wants report.json, report.md, report.html and report.xml
byte for byte (REDIS_DRILL_BLESS=1 writes them anew instead). Remake them only when a change to
what a report says is intended, and say so in the commit.
"""
import os, shutil, subprocess, sys, tempfile
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.join(ROOT, "tests", "golden")
BIN = os.path.join(ROOT, "target", "release", "redis-drill")

# One drill of each kind the report renders differently.
KINDS = [
    "cluster-reshard", "reshard-under-failure", "cluster-failover", "cluster-partition",
    "pause-primary", "cluster-add-primary", "replica-promotion", "standalone-restart",
    "lock-failover", "redlock-restart", "counter-contention", "txn-atomicity",
    "ttl-accuracy", "eviction-lru", "stampede", "cold-start", "stale-reads",
    "cross-region-replication", "region-partition",
]


def shrink(sc):
    """A low rate, few keys and short phases; faults keep their times."""
    w = sc.get("workload", {})
    model = w.get("model", {})
    if "open" in model:
        model["open"]["rate"] = max(20, model["open"]["rate"] // 40)
    if "keys" in w:
        w["keys"] = min(w["keys"], 300)
    st = sc.get("stampede", {})
    if "readers" in st:
        st["readers"] = min(st["readers"], 10)
    if "keys" in st:
        st["keys"] = min(st["keys"], 100)
    for k in ("baseline_ms", "settle_ms"):
        if k in sc:
            sc[k] = min(sc[k], 1000)
    if "reshard" in sc and isinstance(sc["reshard"].get("slots"), int):
        sc["reshard"]["slots"] = min(sc["reshard"]["slots"], 100)
        for f in sc.get("faults", []):
            if "after_slots" in f:
                f["after_slots"] = min(f["after_slots"], 50)
    return sc


def make(name, work):
    src = os.path.join(ROOT, "scenarios", name + ".yaml")
    sc = shrink(yaml.safe_load(open(src)))
    sc["topology"] = os.path.join(ROOT, "scenarios", sc["topology"])
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        yaml.safe_dump(sc, f, sort_keys=False)
    out = os.path.join(work, "runs")
    r = subprocess.run([BIN, "run", path, "--runtime", "process", "--seed", "1", "--out", out],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode not in (0, 1, 4):
        sys.exit(f"{name}: exit {r.returncode}\n{r.stderr[-2000:]}")
    run = os.path.realpath(os.path.join(out, name, "latest"))
    stored = os.path.join(work, name)
    shutil.copytree(run, stored)
    subprocess.run([BIN, "check-run", stored], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The reports as plain files (a change to them reads as a diff), the record
    # as one reproducible archive (no times, owners or order of its own).
    dest = os.path.join(HERE, name)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    records = []
    for f in sorted(os.listdir(stored)):
        if f.startswith("report."):
            shutil.copy(os.path.join(stored, f), dest)
        else:
            records.append(f)
    tar = subprocess.run(["tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                          "--numeric-owner", "-C", stored, "-cf", "-", *records],
                         check=True, stdout=subprocess.PIPE).stdout
    gz = subprocess.run(["gzip", "-n", "-9"], input=tar, check=True, stdout=subprocess.PIPE).stdout
    with open(os.path.join(HERE, name + ".tar.gz"), "wb") as f:
        f.write(gz)
    print(f"{name}: exit {r.returncode}, record {len(gz) // 1024} KiB compressed")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as work:
        for name in sys.argv[1:] or KINDS:
            make(name, work)
