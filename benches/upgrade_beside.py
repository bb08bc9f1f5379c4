#!/usr/bin/env python3
"""The rolling upgrade with an independent client beside the drill: what a
redis-py application saw while its Redis 7.0 cluster became a Valkey 9.1 one
node by node, next to the drill's own figures.

    benches/upgrade_beside.py [--runtime docker|process] [--runs N]

For each run the scenario's topology (scenarios/rolling-upgrade.yaml) is
brought up under a name of its own and the drill started on it (`redis-drill
run --name`). Beside it, an independent client — redis-py's RedisCluster, in a
process of its own, where the drill's clients are (Docker: the run's clients
container; process runtime: the host) — SETs keys of its own (`upgrade:*`,
spread over all three shards) one at a time in a closed loop, each timed with
time.monotonic_ns(). Over the drill's `during` phase (the seven steps), its
longest SET and its longest gap between two successful SETs are set beside the
drill's own (app clients: longest outage and longest gap between successes;
the probe's outage). The topology is taken down on every path.

Needs redis-py (`pip install redis`), Valkey 9.1 (`./bootstrap.sh`), and root
on Docker (nsenter into the clients' namespace). Prints a Markdown table.
"""

import argparse
import os
import sys
import tempfile

from beside import ROOT, closed_loop, run_beside, samples_of


def worker(nodes, out):
    """The independent client: SETs of its own keys over every shard, closed
    loop, until SIGTERM (or 600 s)."""
    from redis.cluster import ClusterNode, RedisCluster

    rc = RedisCluster(
        startup_nodes=[ClusterNode(*n.rsplit(":", 1)) for n in nodes],
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
    )
    keys = [f"upgrade:{i}" for i in range(300)]
    closed_loop(lambda i: rc.set(keys[i % len(keys)], i), out)


def one_run(runtime, i, tmp):
    samples = os.path.join(tmp, f"upgrade-{i}.txt")
    scenario = os.path.join(ROOT, "scenarios", "rolling-upgrade.yaml")
    report = run_beside(runtime, scenario, f"upgrade-{os.getpid()}-{i}",
                        os.path.join(tmp, f"run-{i}"), __file__, [], samples, timeout=900)
    phase = next(p for p in report["phases"] if p["name"] == "during")
    epoch = report["epoch_monotonic_ns"]
    lo, hi = epoch + phase["start_ms"] * 1e6, epoch + phase["end_ms"] * 1e6
    ops = samples_of(samples)
    within = [(a, b, ok) for a, b, ok in ops if b >= lo and a < hi]
    ends = [b for a, b, ok in ops if ok]
    gaps = [(b - a) / 1e6 for a, b in zip(ends, ends[1:]) if lo <= b < hi + 200e6]
    d = report["downtime_ms"]
    return {
        "verdict": report["verdict"],
        "lost": report["checks"]["lost_acknowledged_writes"],
        "drill_app": d.get("max", float("nan")),
        "drill_gap": d.get("gap_max", float("nan")),
        "drill_probe": d.get("probe_max", float("nan")),
        "indep_longest": max(((b - a) / 1e6 for a, b, ok in within), default=float("nan")),
        "indep_gap": max(gaps, default=float("nan")),
        "indep_ops": len(within),
        "indep_failed": sum(1 for _, _, ok in within if not ok),
    }


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2].split(","), sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="docker", choices=["docker", "process"])
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    print("| run | verdict | acknowledged writes lost | drill: app outage | drill: longest gap between successes "
          "| drill: probe outage | independent SETs: longest op | independent SETs: longest gap (ops, failed) |")
    print("|--:|---|--:|--:|--:|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, a.runs + 1):
            r = one_run(a.runtime, i, tmp)
            print(f"| {i} | {r['verdict']} | {r['lost']} | {r['drill_app']:.1f} ms | {r['drill_gap']:.1f} ms "
                  f"| {r['drill_probe']:.1f} ms | {r['indep_longest']:.1f} ms "
                  f"| {r['indep_gap']:.1f} ms ({r['indep_ops']}, {r['indep_failed']} failed) |", flush=True)


if __name__ == "__main__":
    main()
