#!/usr/bin/env python3
"""Check the reshard drill's latency against an independent client, side by
side on the same nodes at the same moment.

    benches/crosscheck.py [--runtime docker|process] [--runs N]
                          [--scenario scenarios/cluster-reshard.yaml]

For each run: the scenario's topology is brought up under a name of its own,
and the drill started on it (`redis-drill run --name`). As soon as the
drill's clients have a place (Docker: the run's `clients` container, whose
network namespace the drill's clients use; process runtime: the host), an
independent client starts there in a process of its own: redis-py's
RedisCluster, one GET at a time in a closed loop on the drill's own keys
(reads: it cannot disturb the drill's lost-write check), every op timed with
time.monotonic_ns(). When the drill ends, the independent client's ops are
placed on the drill's timeline (report.json's epoch_monotonic_ns) and its p99
over the drill's `during` phase is set beside the drill's app p99 (from the
schedule) and service-time p99 for the same phase. The topology is taken down
on every path.

A closed loop measures service time only (it waits for each reply before it
asks again), so the drill's service-time p99 is the like-for-like figure; the
drill's latency p99 adds the time ops waited for their turn on a busy node,
which a closed loop does not see. The check: the drill's latency p99 during
the move is at most 3 x the independent client's, plus 5 ms.

Needs root on Docker (nsenter into the clients' namespace) and redis-py
(`pip install redis`). Prints a Markdown table on stdout.
"""

import argparse
import os
import sys
import tempfile

from beside import ROOT, closed_loop_gets, run_beside, samples_of


def worker(nodes, keys, out):
    """The independent client: GETs in a closed loop until SIGTERM."""
    from redis.cluster import ClusterNode, RedisCluster

    rc = RedisCluster(
        startup_nodes=[ClusterNode(*n.rsplit(":", 1)) for n in nodes],
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
    )
    closed_loop_gets(rc, keys, out)


def pct(v, q):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def scenario_keys(path):
    for line in open(path):
        line = line.split("#")[0].strip()
        if line.startswith("keys:"):
            return int(line.split(":")[1])
    return 10000


def one_run(runtime, scenario, i, tmp):
    samples = os.path.join(tmp, f"indep{i}.txt")
    report = run_beside(runtime, scenario, f"crosscheck-{os.getpid()}-{i}", os.path.join(tmp, f"run{i}"),
                        __file__, [scenario_keys(scenario)], samples, timeout=600)
    phase = next(p for p in report["phases"] if p["name"] == "during")
    epoch = report["epoch_monotonic_ns"]
    lo, hi = epoch + phase["start_ms"] * 1e6, epoch + phase["end_ms"] * 1e6
    ops = samples_of(samples)
    during = [(b - a) / 1e6 for a, b, ok in ops if lo <= a < hi and ok]
    failed = sum(1 for a, b, ok in ops if lo <= a < hi and not ok)
    w = report["workload"]
    return {
        "verdict": report["verdict"],
        "tool_latency_p99": w["latency_ms"]["during"]["p99"],
        "tool_service_p99": w["service_ms"]["during"]["p99"],
        "tool_lag_p99": w["tool_lag_ms"]["during"]["p99"],
        "indep_p99": pct(during, 0.99),
        "indep_ops": len(during),
        "indep_failed": failed,
    }


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        nodes, keys, out = sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
        worker(nodes, keys, out)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="docker", choices=["docker", "process"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "cluster-reshard.yaml"))
    a = ap.parse_args()
    print("| run | verdict | drill latency p99 | drill service p99 | drill tool lag p99 "
          "| independent client p99 (ops) | check: latency <= 3 x independent + 5 ms |")
    print("|--:|---|--:|--:|--:|--:|---|")
    ok_all = True
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, a.runs + 1):
            r = one_run(a.runtime, os.path.abspath(a.scenario), i, tmp)
            ok = r["tool_latency_p99"] <= 3 * r["indep_p99"] + 5
            ok_all &= ok
            print(f"| {i} | {r['verdict']} | {r['tool_latency_p99']:.1f} ms | {r['tool_service_p99']:.1f} ms "
                  f"| {r['tool_lag_p99']:.2f} ms | {r['indep_p99']:.1f} ms ({r['indep_ops']}, "
                  f"{r['indep_failed']} failed) | {'yes' if ok else 'NO'} |", flush=True)
    sys.exit(0 if ok_all else 1)


if __name__ == "__main__":
    main()
