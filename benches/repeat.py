#!/usr/bin/env python3
"""Run a drill several times, each on a fresh topology, and tabulate what
each run's report says.

    benches/repeat.py [--runtime docker|process] [--runs N]
                      [--workload 'FIELD: VALUE' ...] [SCENARIO]

Default: scenarios/cluster-reshard.yaml (what `just cluster-reshard` runs),
5 runs. Prints a Markdown table on stdout: exit code and verdict, the app
clients' latency p99 (from the schedule) in each phase, the service-time p99
and the tool's lag p99 during the action, the reference PING p99 of the worst
primary, the reshard's duration and the lost writes. Exits 1 when a run did
not pass. `--workload` lines are added to the scenario's `workload:` section
(in a copy), e.g. `--workload 'threads: 0'` to put the clients on the
controller's threads, `--workload 'realtime: false'` to leave them at `nice`.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "redis-drill")


def p99(m, phase):
    v = m.get(phase, {})
    return f"{v['p99']:.1f}" if v.get("count") else "—"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="docker", choices=["docker", "process"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workload", action="append", default=[])
    ap.add_argument("scenario", nargs="?", default=os.path.join(ROOT, "scenarios", "cluster-reshard.yaml"))
    a = ap.parse_args()
    a.scenario = os.path.abspath(a.scenario)
    if a.workload:
        text = open(a.scenario).read()
        extra = "".join(f"  {w}\n" for w in a.workload)
        if "\nworkload:\n" not in text:
            sys.exit("the scenario has no `workload:` section to add to")
        text = text.replace("\nworkload:\n", "\nworkload:\n" + extra, 1)
        text = text.replace("topology: ../", f"topology: {os.path.dirname(os.path.dirname(a.scenario))}/", 1)
        copy = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
        copy.write(text)
        copy.close()
        a.scenario = copy.name
    print("| run | exit | verdict | app p99 baseline / during / after (ms) | service p99 during | "
          "tool lag p99, worst phase | PING p99 during, worst primary | reshard | lost writes |")
    print("|--:|--:|---|--:|--:|--:|--:|--:|--:|")
    bad = 0
    with tempfile.TemporaryDirectory() as out:
        for i in range(1, a.runs + 1):
            rc = subprocess.run([BIN, "run", a.scenario, "--runtime", a.runtime, "--out", out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            name = next(l.split(":", 1)[1].strip() for l in open(a.scenario) if l.startswith("name:"))
            r = json.load(open(os.path.join(out, name, "latest", "report.json")))
            w = r["workload"]
            lag, lag_phase = max(((v["p99"], k) for k, v in w["tool_lag_ms"].items() if v["count"]),
                                 default=(0, "-"))
            pings = r.get("reference", {}).get("ping_ms", {}).get("during", {})
            ping = max((p["p99"] for p in pings.values() if p["count"] > p["failed"]), default=float("nan"))
            reshard = f"{r['reshard']['duration_ms']:.0f} ms" if r.get("reshard") else "—"
            bad += r["verdict"] != "pass"
            print(f"| {i} | {rc} | {r['verdict']} | {p99(w['latency_ms'], 'baseline')} / "
                  f"{p99(w['latency_ms'], 'during')} / {p99(w['latency_ms'], 'after')} | "
                  f"{p99(w['service_ms'], 'during')} ms | {lag:.2f} ms ({lag_phase}) | {ping:.1f} ms | {reshard} | "
                  f"{r['checks']['lost_writes']} |", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
