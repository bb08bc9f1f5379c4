#!/usr/bin/env python3
"""Atomic vs key-by-key slot migration on Valkey 9.1, with the write stall as
an independent client saw it beside the drill's figures and the server's own.

    benches/stall.py [--runtime docker|process] [--runs N]
                     [--scenario scenarios/reshard-atomic.yaml]

For each method (keys, then atomic) and run: the scenario's topology is
brought up under a name of its own and the drill started on it with that
method (`redis-drill run --name`, the scenario's `reshard.method` replaced).
Beside it, an independent client — redis-py's RedisCluster, in a process of
its own, where the drill's clients are (Docker: the run's clients container;
process runtime: the host) — SETs keys of its own (`stall:*`, every one in a
slot the drill moves: 0-1999) one at a time in a closed loop, each timed with
time.monotonic_ns(). Its longest wait for a SET to complete, and its longest
gap between two successful SETs, over the drill's `during` phase, are set
beside the drill's own (app clients: longest gap between successes, p99 while
the slots moved) and, for atomic, the server's migration as the tool polled it
(its duration and the write pause seen). The topology is taken down on every
path.

Needs redis-py (`pip install redis`), Valkey 9.1 (`./bootstrap.sh`), and
root on Docker (nsenter into the clients' namespace). Prints a Markdown
table on stdout.
"""

import argparse
import os
import sys
import tempfile

from beside import ROOT, closed_loop, run_beside, samples_of


def worker(nodes, out):
    """The independent client: SETs of its own keys in the moved slots,
    closed loop, until SIGTERM (or 600 s)."""
    from redis.cluster import ClusterNode, RedisCluster
    from redis.crc import key_slot

    rc = RedisCluster(
        startup_nodes=[ClusterNode(*n.rsplit(":", 1)) for n in nodes],
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
    )
    keys = [k for k in (f"stall:{i}" for i in range(20000)) if key_slot(k.encode()) < 2000][:200]
    closed_loop(lambda i: rc.set(keys[i % len(keys)], i), out)


def scenario_with(path, method, tmp):
    """The scenario with `reshard.method` set to `method`, written beside the
    original's topology (its `topology:` is relative to it)."""
    text = open(path).read()
    lines = [line for line in text.splitlines() if not line.strip().startswith("method:")]
    out, done = [], False
    for line in lines:
        out.append(line)
        if line.startswith("reshard:") and not done:
            out.append(f"  method: {method}")
            done = True
    p = os.path.join(os.path.dirname(path), f".stall-{method}-{os.getpid()}.yaml")
    open(p, "w").write("\n".join(out) + "\n")
    return p


def one_run(runtime, scenario, method, i, tmp):
    samples = os.path.join(tmp, f"stall-{method}-{i}.txt")
    sc = scenario_with(scenario, method, tmp)
    try:
        report = run_beside(runtime, sc, f"stall-{os.getpid()}-{method}-{i}",
                            os.path.join(tmp, f"run-{method}-{i}"), __file__, [], samples,
                            timeout=600)
    finally:
        os.unlink(sc)
    phase = next(p for p in report["phases"] if p["name"] == "during")
    epoch = report["epoch_monotonic_ns"]
    lo, hi = epoch + phase["start_ms"] * 1e6, epoch + phase["end_ms"] * 1e6
    ops = samples_of(samples)
    # Ops that overlap the phase; the gap between successive successes
    # whose later end falls in it.
    within = [(a, b, ok) for a, b, ok in ops if b >= lo and a < hi]
    longest = max(((b - a) / 1e6 for a, b, ok in within), default=float("nan"))
    ends = [b for a, b, ok in ops if ok]
    gaps = [(b - a) / 1e6 for a, b in zip(ends, ends[1:]) if lo <= b < hi + 200e6]
    rs = report.get("reshard") or {}
    migrations = rs.get("migrations") or []
    pauses = [m["pause_seen_ms"] for m in migrations if m.get("pause_seen_ms") is not None]
    w = report["workload"]
    during = w["latency_ms"].get("during", {})
    return {
        "verdict": report["verdict"],
        "method": rs.get("method", "?"),
        "reshard_ms": rs.get("duration_ms", float("nan")),
        "drill_gap": report["downtime_ms"].get("gap_max", float("nan")),
        "drill_p99": during.get("p99", float("nan")),
        "indep_longest": longest,
        "indep_gap": max(gaps, default=float("nan")),
        "indep_ops": len(within),
        "indep_failed": sum(1 for _, _, ok in within if not ok),
        "server_ms": max((m["duration_ms"] for m in migrations), default=None),
        "pause": max(pauses) if pauses else None,
    }


def pause_text(r):
    if r["server_ms"] is None:
        return "—"
    if r["pause"] is None:
        return "not seen (shorter than a 10 ms poll)"
    return f"{r['pause']:.1f} ms"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2].split(","), sys.argv[3])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="docker", choices=["docker", "process"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "reshard-atomic.yaml"))
    a = ap.parse_args()
    print("| method | run | verdict | reshard | drill: longest gap between successes | drill: p99 while moving "
          "| independent SETs: longest op | independent SETs: longest gap (ops, failed) "
          "| server: migration as polled | server: write pause seen |")
    print("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|")
    show = lambda v: "—" if v is None else f"{v:.1f} ms"
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("keys", "atomic"):
            for i in range(1, a.runs + 1):
                r = one_run(a.runtime, os.path.abspath(a.scenario), method, i, tmp)
                print(f"| {r['method']} | {i} | {r['verdict']} | {r['reshard_ms']:.0f} ms "
                      f"| {r['drill_gap']:.1f} ms | {r['drill_p99']:.1f} ms "
                      f"| {r['indep_longest']:.1f} ms | {r['indep_gap']:.1f} ms ({r['indep_ops']}, "
                      f"{r['indep_failed']} failed) | {show(r['server_ms'])} | "
                      f"{pause_text(r)} |", flush=True)


if __name__ == "__main__":
    main()
