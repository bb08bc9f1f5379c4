#!/usr/bin/env python3
"""Cross-check a run's linearizability verdict with Porcupine.

    python3 benches/lin_crosscheck.py RUN_DIR [RUN_DIR ...] [--porcupine DIR]

For each stored run (a folder `redis-drill run` wrote: history.jsonl,
keys.jsonl, report.json), every key's history is cut out of the recorded ops
here, in Python, apart from redis-drill's own Rust (the same rules, written
again: an op answered ok took effect between its send and its answer; one
timed out, or failed in a client that retries, may have taken effect any time
after its send or never; a probe's failure did not; a GET is a read, a SET or
DEL a write, an INCR an increment with the count it returned, MULTI/EXEC a
write of each member and MGET a read of each; the value loaded before the run
is the initial state and the value read back at the end a read after every
op; keys written with a TTL are left out). Porcupine then checks each key
through a register model written in Go (benches/lin_crosscheck/main.go), and
the count of keys it finds illegal is set beside the report's
`linearizability.violations`, and the keys checked beside its `keys_checked`.
The keys of the report's counter-examples must be among those Porcupine finds
illegal. Exits 1 when anything differs.

Porcupine's source: a git directory or source tree (default
/work/.mirror/anishathalye+porcupine/repo, or $PORCUPINE_SRC); Go from
Debian (`apt-get install golang-go`). Nothing is fetched: Go builds offline.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SRC = os.environ.get("PORCUPINE_SRC", "/work/.mirror/anishathalye+porcupine/repo")


def jsonl(path):
    """The entries of a counted JSON-lines file (its end marker left out)."""
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            o = json.loads(line)
            if "end" in o and len(o) == 1:
                continue
            yield o


def histories(run):
    """Every key's history, as main.go reads it."""
    keys = {k["key"]: k for k in jsonl(run / "keys.jsonl")}
    ops = {}
    expiring = set()
    end = 0

    def add(key, entry):
        ops.setdefault(key, []).append(entry)

    for o in jsonl(run / "history.jsonl"):
        end = max(end, o["end_ns"], o["sent_ns"])
        kind, call = o["kind"], o["sent_ns"]
        ok = o["outcome"] == "ok"
        ret = max(o["end_ns"], call) if ok else None
        if kind in ("get", "txn_read"):
            ops.setdefault(o["key"], []) if kind == "get" else None
            if not ok:
                continue
            if kind == "get":
                add(o["key"], {"call": call, "ret": ret, "f": "read", "value": o["value"]})
            elif len(o.get("values", [])) == len(o.get("members", [])):
                for m, v in zip(o["members"], o["values"]):
                    add(m, {"call": call, "ret": ret, "f": "read", "value": v})
            continue
        if o.get("ttl_ms") is not None:
            expiring.add(o["key"])
        if not ok:
            failed = isinstance(o["outcome"], dict) and "fail" in o["outcome"]
            if failed and o["mode"] == "probe":
                ops.setdefault(o["key"], [])
                continue  # certainly not applied
        if kind == "set":
            add(o["key"], {"call": call, "ret": ret, "f": "write", "value": o["value"]})
        elif kind == "del":
            add(o["key"], {"call": call, "ret": ret, "f": "write", "value": None})
        elif kind == "incr":
            v = o["value"] if ok else None
            add(o["key"], {"call": call, "ret": ret, "f": "incr", "value": v})
        elif kind == "txn":
            for m in o["members"]:
                add(m, {"call": call, "ret": ret, "f": "write", "value": o["value"]})
    record = json.load(open(run / "record.json"))
    end = max(end, record.get("end_ns", 0)) + 1
    for k in keys:
        ops.setdefault(k, [])
    out = []
    for key in sorted(ops):
        if key in expiring:
            continue
        h = list(ops[key])
        if key in keys:
            h.append({"call": end, "ret": end, "f": "read", "value": keys[key].get("final")})
        if not h:
            continue
        init = keys[key]["initial"] if key in keys else None
        out.append({"key": key, "initial": init, "ops": h})
    return out


def build(src, work):
    """Porcupine exported to `work`/porcupine, the cross-check built beside it."""
    dest = work / "porcupine"
    dest.mkdir()
    if (Path(src) / "HEAD").is_file() or (Path(src) / ".git").exists():
        tar = subprocess.run(["git", "-C", src, "archive", "--format=tar", "HEAD"],
                             check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
        rev = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
    else:
        shutil.copytree(src, dest, dirs_exist_ok=True)
        rev = "unknown"
    main = work / "crosscheck"
    main.mkdir()
    shutil.copy(HERE / "lin_crosscheck" / "main.go", main / "main.go")
    (main / "go.mod").write_text(
        "module crosscheck\n\ngo 1.19\n\nrequire github.com/anishathalye/porcupine v0.0.0\n\n"
        "replace github.com/anishathalye/porcupine => ../porcupine\n")
    env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", GOTOOLCHAIN="local",
               GOCACHE=str(work / "gocache"), GOPATH=str(work / "gopath"))
    subprocess.run(["go", "build", "-o", str(work / "xc"), "."], cwd=main, env=env, check=True)
    return work / "xc", rev


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--porcupine", default=DEFAULT_SRC)
    ap.add_argument("--timeout", default="10s", help="Porcupine's time per key")
    a = ap.parse_args()
    if shutil.which("go") is None:
        sys.exit("go not found: apt-get install -y golang-go")
    if not Path(a.porcupine).exists():
        sys.exit(f"Porcupine's source not found at {a.porcupine} (--porcupine DIR or $PORCUPINE_SRC)")
    bad = False
    with tempfile.TemporaryDirectory(prefix="lin-xc-") as tmp:
        xc, rev = build(a.porcupine, Path(tmp))
        print(f"Porcupine {rev}; time per key {a.timeout}\n")
        print("| run | keys (drill / Porcupine) | violations (drill) | illegal (Porcupine) | undecided (drill / Porcupine) | Porcupine's time |")
        print("|---|---:|---:|---:|---:|---:|")
        for run in a.runs:
            run = run.resolve()
            lin = json.load(open(run / "report.json")).get("linearizability") or {}
            keys = histories(run)
            feed = "".join(json.dumps(k) + "\n" for k in keys)
            p = subprocess.run([str(xc), a.timeout], input=feed, capture_output=True, text=True, check=True)
            lines = p.stdout.strip().splitlines()
            summary = json.loads(lines[-1])
            ours = (lin.get("keys_checked"), lin.get("violations"), lin.get("keys_undecided"))
            theirs = (summary["keys"], summary["illegal"], summary["unknown"])
            illegal = {l.split(" ", 1)[1] for l in lines[:-1] if l.startswith("illegal ")}
            # Every counter-example the report draws is a key Porcupine finds illegal.
            drawn = [w["key"] for w in lin.get("witnesses", [])]
            same = ours == theirs and all(k in illegal for k in drawn)
            bad |= not same
            name = f"{run.parent.name}/{run.name}"
            print(f"| {name} | {ours[0]} / {theirs[0]} | {ours[1]} | {theirs[1]} | {ours[2]} / {theirs[2]} | {summary['ms']:.0f} ms |"
                  + ("" if same else " **differs**"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
