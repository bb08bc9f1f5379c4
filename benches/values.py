#!/usr/bin/env python3
"""What the size of values does to a drill: the same scenario run once per
`value_size` (fixed, a uniform range, sizes by weight), each on a fresh
topology, beside redis-benchmark at the same fixed sizes on a node of its own.

    benches/values.py [--runtime docker|process] [--model open|closed]
                      [--sizes 'SPEC;SPEC;...'] [--requests N] [SCENARIO]

Default: scenarios/cluster-reshard.yaml (2000 slots moved under 4000 ops/s
of GET/SET), the process runtime, sizes `100;1000;10000;{min: 100, max:
10000};[{size: 100, weight: 9}, {size: 10000, weight: 1}]`. `--model closed`
replaces the open loop with a closed one (each client keeps one op in flight):
the throughput column is then the most the clients got, not the rate asked.

Prints a Markdown table on stdout: per size, the verdict, the app clients'
throughput (answered ops per second of the run) and latency p99 in each phase,
the reshard's duration, keys and bytes moved and its MB/s; then
redis-benchmark's table (SET and GET, 8 connections, closed loop, its own
redis-server) for each fixed size: the peer's view of what size costs on this
machine. Exits 1 when a run did not pass.
"""

import argparse
import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "redis-drill")
DEFAULT_SIZES = "100;1000;10000;{min: 100, max: 10000};[{size: 100, weight: 9}, {size: 10000, weight: 1}]"


def p99(m, phase):
    v = m.get(phase, {})
    return f"{v['p99']:.1f}" if v.get("count") else "—"


def variant(scenario, size, model):
    """A copy of the scenario with its value_size (and model) replaced."""
    text = open(scenario).read()
    if not re.search(r"^  value_size: .*$", text, flags=re.M):
        sys.exit(f"{scenario}: no `  value_size:` line in its workload to replace")
    text = re.sub(r"^  value_size: .*$", f"  value_size: {size}", text, count=1, flags=re.M)
    if model == "closed":
        text, n = re.subn(r"^  model: .*$", "  model: closed", text, count=1, flags=re.M)
        if n != 1:
            sys.exit(f"{scenario}: no `  model:` line to replace")
        # A closed loop at its most: latency SLOs are not what is measured.
        text = re.sub(r"^  max_p99_\w+: .*\n", "", text, flags=re.M)
    text = text.replace("topology: ../", f"topology: {os.path.dirname(os.path.dirname(scenario))}/", 1)
    f = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    f.write(text)
    f.close()
    return f.name


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peer(sizes, requests):
    """redis-benchmark's SET and GET at each fixed size, on a redis-server of its own."""
    server = shutil.which("redis-server")
    bench = shutil.which("redis-benchmark")
    if not server or not bench:
        return ["redis-benchmark or redis-server not found: no peer table"]
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", d],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                                 text=True).stdout.strip() != "PONG":
                if time.monotonic() > deadline:
                    return ["redis-server for the peer did not start within 10 s"]
                time.sleep(0.05)
            lines = ["| value size | redis-benchmark SET ops/s | SET p99 ms | GET ops/s | GET p99 ms |",
                     "|--:|--:|--:|--:|--:|"]
            for size in sizes:
                out = subprocess.run([bench, "-p", str(port), "-t", "set,get", "-d", str(size),
                                      "-n", str(requests), "-c", "8", "-r", "36000", "--csv"],
                                     capture_output=True, text=True, check=True).stdout
                rows = {r["test"]: r for r in csv.DictReader(io.StringIO(out))}
                s, g = rows["SET"], rows["GET"]
                lines.append(f"| {size} B | {float(s['rps']):.0f} | {float(s['p99_latency_ms']):.2f} | "
                             f"{float(g['rps']):.0f} | {float(g['p99_latency_ms']):.2f} |")
            return lines
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="process", choices=["docker", "process"])
    ap.add_argument("--model", default="open", choices=["open", "closed"])
    ap.add_argument("--sizes", default=DEFAULT_SIZES)
    ap.add_argument("--requests", type=int, default=50000, help="redis-benchmark's requests per test")
    ap.add_argument("scenario", nargs="?", default=os.path.join(ROOT, "scenarios", "cluster-reshard.yaml"))
    a = ap.parse_args()
    scenario = os.path.abspath(a.scenario)
    name = next(l.split(":", 1)[1].strip() for l in open(scenario) if l.startswith("name:"))
    sizes = [s.strip() for s in a.sizes.split(";") if s.strip()]
    print(f"{name}, {a.runtime} runtime, {a.model} loop; one run per value_size\n")
    print("| value_size | exit | verdict | ops/s | app p99 baseline / during / after (ms) | "
          "reshard ms | keys moved | MB moved | MB/s | lost writes |")
    print("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|")
    bad = 0
    notes = []
    with tempfile.TemporaryDirectory() as out:
        for size in sizes:
            copy = variant(scenario, size, a.model)
            try:
                rc = subprocess.run([BIN, "run", copy, "--runtime", a.runtime, "--out", out],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            finally:
                os.unlink(copy)
            path = os.path.join(out, name, "latest", "report.json")
            if not os.path.exists(path):
                bad += 1
                print(f"| `{size}` | {rc.returncode} | no report | | | | | | | |  {rc.stderr.strip()[-200:]}")
                continue
            r = json.load(open(path))
            w = r["workload"]
            span_s = (r["phases"][-1]["end_ms"] - r["phases"][0]["start_ms"]) / 1000
            ops_s = w["ops_ok"] / span_s if span_s > 0 else float("nan")
            rs = r.get("reshard") or {}
            if rs:
                mb = rs["bytes_moved"] / 1e6
                reshard = (f"{rs['duration_ms']:.0f} | {rs['keys_moved']} | {mb:.1f} | "
                           f"{mb / (rs['duration_ms'] / 1000):.1f}")
            else:
                reshard = "— | — | — | —"
            bad += r["verdict"] != "pass"
            for x in r["slo"]:
                if x["result"] != "pass":
                    notes.append(f"`{size}`: {x['name']} {x['result']}"
                                 f" ({x.get('value')} against {x['limit']}){': ' + x['note'] if x.get('note') else ''}")
            print(f"| `{size}` | {rc.returncode} | {r['verdict']} | {ops_s:.0f} | "
                  f"{p99(w['latency_ms'], 'baseline')} / {p99(w['latency_ms'], 'during')} / "
                  f"{p99(w['latency_ms'], 'after')} | {reshard} | {r['checks']['lost_writes']} |", flush=True)
    if notes:
        print()
        print("\n".join(f"- {n}" for n in notes))
    fixed = [int(s) for s in sizes if s.isdigit()]
    if fixed:
        print()
        print("\n".join(peer(fixed, a.requests)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
