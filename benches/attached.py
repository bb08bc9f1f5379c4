#!/usr/bin/env python3
"""The same drills on a cluster redis-drill owns and on one it attached.

For each run and each drill (cluster-failover, cluster-reshard): the drill
on the tool's own Docker cluster (`run --runtime docker`), then the compose
cluster from compose/cluster-3x1-fast.yml brought up fresh by docker-compose
and drilled with `run --attach` and a `docker kill` hook. Prints one
Markdown table per drill: verdict, the clients' path, app p99 by phase,
app downtime, the failover (or the reshard) and the rejoin.

    python3 benches/attached.py [--runs N] [--bin target/release/redis-drill]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

COMPOSE = "compose/cluster-3x1-fast.yml"
PROJECT = "rdbench"
SEEDS = ",".join(f"{n}=127.0.0.1:{7001 + i}" for i, n in
                 enumerate(["s1n1", "s1n2", "s2n1", "s2n2", "s3n1", "s3n2"]))
DRILLS = ["cluster-failover", "cluster-reshard"]


def compose(*args):
    return subprocess.run(["docker-compose", "-f", COMPOSE, "-p", PROJECT, *args],
                          capture_output=True, text=True, timeout=300)


def fresh_cluster():
    compose("down", "-v")
    up = compose("up", "-d")
    if up.returncode != 0:
        sys.exit(f"docker-compose up failed: {up.stderr}")
    subprocess.run(["docker", "wait", f"{PROJECT}_cluster-create_1"], capture_output=True, timeout=120)
    for _ in range(120):
        ok = 0
        for port in range(7001, 7007):
            info = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"],
                                  capture_output=True, text=True, timeout=10).stdout
            ok += "cluster_state:ok" in info
        if ok == 6:
            return
        time.sleep(0.5)
    sys.exit("the compose cluster did not become ok")


def fmt(x):
    return "—" if x is None else (f"{x:.0f}" if x >= 10 else f"{x:.1f}")


def row(kind, n, drill, report):
    r = json.load(open(report))
    lat = r["workload"]["latency_ms"]
    p99 = lambda ph: lat.get(ph, {}).get("p99")
    slo = {s["name"]: s for s in r["slo"]}
    val = lambda name: slo.get(name, {}).get("value")
    failed = [s["name"] for s in r["slo"] if s["result"] == "fail"]
    path = r["environment"]["client_path"]
    path = ("the run's network namespace" if "inside" in path
            else "published ports (docker-proxy)" if "attached" in path or "published" in path
            else path)
    act = val("max_failover_ms") if drill == "cluster-failover" else (r.get("reshard") or {}).get("duration_ms")
    rejoin = fmt(val("max_rejoin_ms")) if drill == "cluster-failover" else "—"
    verdict = r["verdict"] + (f" ({', '.join(failed)})" if failed else "")
    return (f"| {kind} | {n} | {verdict} | {path} | {fmt(p99('baseline'))} / {fmt(p99('during'))} / "
            f"{fmt(p99('after'))} | {fmt(val('max_app_downtime_ms'))} | {fmt(act)} | {rejoin} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default="target/release/redis-drill")
    a = ap.parse_args()
    out = tempfile.mkdtemp(prefix="rd-attached-")
    hooks = os.path.join(out, "hooks.yaml")
    with open(hooks, "w") as f:
        f.write(f'kill: "docker kill {PROJECT}_{{seed}}_1"\nstart: "docker start {PROJECT}_{{seed}}_1"\n')
    rows = {d: [] for d in DRILLS}
    try:
        for i in range(1, a.runs + 1):
            for drill in DRILLS:
                for kind in ["owned", "attached"]:
                    dest = os.path.join(out, kind, str(i))
                    cmd = [a.bin, "run", f"scenarios/{drill}.yaml", "--out", dest]
                    if kind == "owned":
                        cmd += ["--runtime", "docker"]
                    else:
                        fresh_cluster()
                        cmd += ["--attach", SEEDS, "--hooks", hooks]
                    code = subprocess.run(cmd, capture_output=True, timeout=600).returncode
                    reports = glob.glob(os.path.join(dest, drill, "2*", "report.json"))
                    print(f"{kind} {drill} run {i}: exit {code}", file=sys.stderr)
                    if reports:
                        rows[drill].append((kind, i, reports[0]))
    finally:
        compose("down", "-v")
    for drill in DRILLS:
        print(f"\n`{drill}`\n")
        print("| cluster | run | verdict | clients' path | app p99 baseline / during / after (ms) | app downtime (ms) | "
              + ("failover (ms)" if drill == "cluster-failover" else "reshard (ms)") + " | rejoin (ms) |")
        print("|---|--:|---|---|--:|--:|--:|--:|")
        for kind in ["owned", "attached"]:
            for k, i, rep in rows[drill]:
                if k == kind:
                    print(row(kind, i, drill, rep))


if __name__ == "__main__":
    main()
