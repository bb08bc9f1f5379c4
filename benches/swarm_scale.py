#!/usr/bin/env python3
"""Bring clusters of growing size up over the swarm's engines and say where
the time goes.

    benches/swarm_scale.py [--sizes 10,30,60] [--engines FILE]

For each size N (N/2 primaries, one replica each, over the three regions of
topologies/swarm-3-region.yaml): `redis-drill up --runtime swarm --json`, its
stages (the node image on every engine, the services created and their tasks
running, every node answering PING, then the cluster: slots and every pair's
MEET until every node knows every other, then replicas and convergence), the
memory of one node's task as its engine counts it and redis-server's own
`used_memory_rss`, and `down`. Prints a Markdown table on stdout; the lab
(`redis-drill lab up 3`, root) or an engines file must be in force. Exits 1
when an `up` or a `down` failed.

The runtime stages come from the tool's own debug log (RUST_LOG), which
stamps each with the time since `up` began.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "redis-drill")

TOPOLOGY = """name: {name}
kind: cluster
regions:
  - name: eu-west
  - name: us-east
  - name: ap-south
cluster:
  shards: {shards}
  replicas: 1
  node_timeout_ms: 5000
"""


def stage(log, what):
    """The elapsed_ms the debug line `what` carries, or None."""
    for line in re.sub(r"\x1b\[[0-9;]*m", "", log).splitlines():
        if what in line:
            m = re.search(r"elapsed_ms=(\d+)", line)
            if m:
                return int(m.group(1))
    return None


def memory_of_one_node(env, engines_file, name):
    """(the engine's count, redis-server's used_memory_rss) for node s1n1."""
    st = subprocess.run([BIN, "status", "--name", name, "--runtime", "swarm", "--json"],
                        env=env, capture_output=True, text=True, timeout=120)
    if st.returncode != 0:
        return None, None
    node = next((n for n in json.loads(st.stdout)["nodes"] if n["name"] == "s1n1"), None)
    if node is None:
        return None, None
    host, port = node["address"].rsplit(":", 1)
    try:
        info = subprocess.run(["redis-cli", "-h", host, "-p", port, "info", "memory"],
                              capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        info = ""
    rss = re.search(r"used_memory_rss:(\d+)", info)
    rss = f"{int(rss.group(1)) / 2**20:.1f} MiB" if rss else None
    if not node.get("host"):
        return None, rss
    with open(engines_file) as f:
        text = f.read()
    # The engine's own entry: its name, then its endpoint before the next entry.
    sock = re.search(r"^\s*" + re.escape(node["host"]) + r":(?:(?!^\s*[\w.-]+:\s*(?:\{|$)).)*?"
                     r"endpoint:\s*'?unix://([^'\s,}]+)", text, re.S | re.M)
    if not sock:
        return None, rss
    denv = dict(os.environ, DOCKER_HOST="unix://" + sock.group(1))
    ps = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], env=denv,
                        capture_output=True, text=True, timeout=30).stdout.split()
    c = next((c for c in ps if "-s1n1." in c), None)
    if c is None:
        return None, rss
    used = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", c],
                          env=denv, capture_output=True, text=True, timeout=60).stdout
    return used.split("/")[0].strip() or None, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,30,60")
    ap.add_argument("--engines", default=None, help="engines file (default: the lab's)")
    a = ap.parse_args()
    env = dict(os.environ, RUST_LOG="warn,redis_drill::runtime::swarm=debug")
    if a.engines:
        env["REDIS_DRILL_ENGINES"] = a.engines
    # The file the runtime reads: --engines, else REDIS_DRILL_ENGINES, else the lab's.
    engines_file = (a.engines or os.environ.get("REDIS_DRILL_ENGINES")
                    or "/tmp/redis-drill-lab/engines.yaml")
    rows, failed = [], False
    with tempfile.TemporaryDirectory() as tmp:
        for n in [int(s) for s in a.sizes.split(",")]:
            name = f"scale-{n}"
            path = os.path.join(tmp, f"{name}.yaml")
            with open(path, "w") as f:
                f.write(TOPOLOGY.format(name=name, shards=n // 2))
            print(f"# {n} nodes: up...", file=sys.stderr)
            up = subprocess.run(
                [BIN, "up", path, "--runtime", "swarm", "--json", "--timeout", "600"],
                env=env, capture_output=True, text=True, timeout=900,
            )
            if up.returncode != 0:
                failed = True
                rows.append(f"| {n} | up failed (exit {up.returncode}) | | | | | | | |")
                print(up.stderr[-2000:], file=sys.stderr)
                subprocess.run([BIN, "down", "--name", name, "--runtime", "swarm"], env=env,
                               capture_output=True, timeout=900)
                continue
            # Whatever fails between `up` and `down`, the cluster goes.
            try:
                t = json.loads(up.stdout)["timings"]
                images = stage(up.stderr, "images on every engine")
                running = stage(up.stderr, "tasks running")
                engine_mem, rss = memory_of_one_node(env, engines_file, name)
            finally:
                started = time.monotonic()
                down = subprocess.run(
                    [BIN, "down", "--name", name, "--runtime", "swarm"],
                    env=env, capture_output=True, text=True, timeout=900,
                )
                down_s = time.monotonic() - started
            if down.returncode != 0:
                failed = True
            sec = lambda ms: "—" if ms is None else f"{ms / 1000:.1f}"
            pairs = n * (n - 1) // 2
            rows.append(
                f"| {n} | {sec(t['total_ms'])} | {sec(images)} | "
                f"{sec(None if running is None or images is None else running - images)} | "
                f"{sec(None if running is None else t['nodes_ready_ms'] - running)} | "
                f"{sec(t['meet_ms'])} ({pairs} pairs) | {sec(t['converge_ms'])} | "
                f"{engine_mem or '—'} / {rss or '—'} | {down_s:.1f}"
                + ("" if down.returncode == 0 else f" (exit {down.returncode})")
                + " |"
            )
            print(rows[-1], file=sys.stderr)
    print("| nodes | `up` | image on every engine | services, tasks running | nodes answering PING "
          "| every pair met (MEETs) | replicas, converged | one node's memory (engine / RSS) | `down` |")
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(r)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
