#!/usr/bin/env python3
"""What TLS and ACL checks cost clients: the same drill on the same cluster
shape, plain and behind TLS with an ACL user, side by side, each checked
against an independent client on the same nodes at the same moment.

    benches/security.py [--runs N] [--scenario scenarios/cluster-manual-failover.yaml]

For each run, alternating: topologies/cluster-3x1-fast.yaml (plain TCP, no
AUTH) and topologies/cluster-3x1-fast-tls.yaml (TLS on every port, the
cluster bus and replication included, a throwaway CA made at bring-up,
clients logged in as the ACL user `drill`), both on the process runtime.
Beside each drill, redis-py's RedisCluster (TLS and the same user when the
cluster has them) GETs the drill's keys in a closed loop. Prints a Markdown
table: the drill's app latency p50 / p99 and service-time p99 in the
baseline phase, the independent client's p50 / p99 over the same phase, the
failover's promotion and the app downtime.
"""

import argparse
import os
import sys
import tempfile

from beside import ROOT, closed_loop_gets, run_beside, samples_of

KINDS = {
    "plain": os.path.join(ROOT, "topologies", "cluster-3x1-fast.yaml"),
    "TLS + ACL": os.path.join(ROOT, "topologies", "cluster-3x1-fast-tls.yaml"),
}


def worker(nodes, keys, state, out):
    """The independent client: GETs in a closed loop until SIGTERM, with the
    credentials the tool made when the cluster has any."""
    from redis.cluster import ClusterNode, RedisCluster

    kw = {}
    # The cluster is up (with its secrets) before the drill starts.
    found = [os.path.join(state, d, "secrets", "credentials.yaml") for d in os.listdir(state)]
    found = [f for f in found if os.path.exists(f)]
    if found:
        text = dict(line.strip().split(": ", 1) for line in open(found[0])
                    if ": " in line and not line.startswith("#"))
        kw = dict(ssl=True, ssl_ca_certs=text["ca"], ssl_cert_reqs="required",
                  ssl_check_hostname=False, username=text.get("user"), password=text["password"])
    rc = RedisCluster(
        startup_nodes=[ClusterNode(*n.rsplit(":", 1)) for n in nodes],
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        **kw,
    )
    closed_loop_gets(rc, keys, out)


def pct(v, q):
    if not v:
        return float("nan")
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def one_run(kind, scenario, i, tmp):
    state = os.path.join(tmp, f"state-{i}-{len(kind)}")
    os.makedirs(state)
    samples = os.path.join(tmp, f"indep-{i}-{len(kind)}.txt")
    env = dict(os.environ, REDIS_DRILL_STATE_DIR=state)
    report = run_beside("process", scenario, f"security-{os.getpid()}-{i}", os.path.join(tmp, f"run-{i}-{len(kind)}"),
                        __file__, [10000, state], samples, timeout=600, topology=KINDS[kind], env=env)
    phase = next(p for p in report["phases"] if p["name"] == "baseline")
    epoch = report["epoch_monotonic_ns"]
    lo, hi = epoch + phase["start_ms"] * 1e6, epoch + phase["end_ms"] * 1e6
    ops = samples_of(samples)
    base = [(b - a) / 1e6 for a, b, ok in ops if lo <= a < hi and ok]
    failed = sum(1 for a, b, ok in ops if lo <= a < hi and not ok)
    w = report["workload"]
    slo = {s["name"]: s.get("value") for s in report["slo"]}
    fault = (report.get("faults") or [{}])[0]
    return {
        "verdict": report["verdict"],
        "connections": (report["environment"].get("connections") or {}),
        "p50": w["latency_ms"]["baseline"]["p50"],
        "p99": w["latency_ms"]["baseline"]["p99"],
        "svc99": w["service_ms"]["baseline"]["p99"],
        "lag99": w["tool_lag_ms"]["baseline"]["p99"],
        "i50": pct(base, 0.50),
        "i99": pct(base, 0.99),
        "iops": len(base),
        "ifailed": failed,
        "promoted": fault.get("promoted_after_ms"),
        "downtime": slo.get("max_app_downtime_ms"),
    }


def fmt(x):
    return "—" if x is None else f"{x:.2f}" if x < 10 else f"{x:.0f}"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "cluster-manual-failover.yaml"))
    a = ap.parse_args()
    print("| cluster | run | verdict | drill app p50 / p99 (ms) | drill service p99 | drill tool lag p99 "
          "| redis-py p50 / p99 (ops) | promoted (ms) | app downtime (ms) |")
    print("|---|--:|---|--:|--:|--:|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, a.runs + 1):
            for kind in KINDS:
                r = one_run(kind, os.path.abspath(a.scenario), i, tmp)
                if kind != "plain" and not r["connections"].get("tls"):
                    sys.exit(f"run {i}: the {kind} drill's report says its connections were plain")
                print(f"| {kind} | {i} | {r['verdict']} | {fmt(r['p50'])} / {fmt(r['p99'])} | {fmt(r['svc99'])} "
                      f"| {fmt(r['lag99'])} | {fmt(r['i50'])} / {fmt(r['i99'])} ({r['iops']}, {r['ifailed']} failed) "
                      f"| {fmt(r['promoted'])} | {fmt(r['downtime'])} |", flush=True)


if __name__ == "__main__":
    main()
