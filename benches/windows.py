#!/usr/bin/env python3
"""Check the drill's downtime of a group of moved slots against an
independent client writing only keys of those slots, on the same nodes at
the same moment.

    benches/windows.py [--runtime docker|process] [--runs N]
                       [--scenario scenarios/reshard-under-failure.yaml]
                       [--slots 0-399] [--timeout 0.25] [--shard NODE] [--keep DIR]

    (the failover drill: --scenario scenarios/cluster-failover.yaml --shard s1n1)

For each run: the scenario's topology is brought up under a name of its own
and the drill started on it (`redis-drill run --name`). Beside the drill's
clients (Docker: in the run's `clients` container's network namespace;
process runtime: the host), an independent client in a process of its own --
redis-py's RedisCluster, no retries, a short socket timeout (0.25 s: with
1 s its own figure runs about a second high) -- SETs keys of the given slots
only, one at a time, every op timed with time.monotonic_ns(). In
reshard-under-failure the target is killed once 500 of the 3000 slots have
moved: slots 0-399 are then on a dead node until its replica is promoted,
while the source's other slots keep answering.

Its ops are placed on the drill's timeline (report.json's
epoch_monotonic_ns) and its longest window is computed by invocation, as the
drill does, but here in Python from its own record: from the end of the last
success before a failed op was sent to the end of the first op sent after it
that succeeded. That is set beside the drill's probe and app windows of the
group holding those slots (`downtime_ms.probe_per_group`). The check: the
drill's probe window within 10 % of the independent client's.

Needs root on Docker (nsenter into the clients' namespace) and redis-py
(`pip install redis`). Prints a Markdown table on stdout.
"""

import argparse
import os
import signal
import sys
import tempfile
import time

from beside import ROOT, run_beside, samples_of


def keys_in(lo, hi, n):
    """n keys whose slots are in lo..=hi (redis-py's own CRC16)."""
    from redis.crc import key_slot

    out, i = [], 0
    while len(out) < n and i < 10_000_000:
        k = f"indep:{i}"
        if lo <= key_slot(k.encode()) <= hi:
            out.append(k)
        i += 1
    return out


def worker(nodes, lo, hi, timeout, out):
    """The independent client: SETs of its own keys until SIGTERM."""
    from redis.backoff import NoBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    keys = keys_in(lo, hi, 200)
    rows = []
    rc = None
    deadline = time.monotonic() + 600  # bounded: the drill is far shorter
    i = 0
    while not stop and time.monotonic() < deadline:
        t0 = time.monotonic_ns()
        try:
            if rc is None:
                rc = RedisCluster(
                    startup_nodes=[ClusterNode(*n.rsplit(":", 1)) for n in nodes],
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    retry=Retry(NoBackoff(), 0),
                    require_full_coverage=False,
                )
            rc.set(keys[i % len(keys)], str(i))
            ok = 1
        except Exception:
            ok = 0
        rows.append(f"{t0} {time.monotonic_ns()} {ok}\n")
        i += 1
        if not ok:
            time.sleep(0.001)  # no busy loop on a refused connection
    with open(out, "w") as f:
        f.writelines(rows)


def window(ops):
    """The longest window by invocation over (sent, end, ok) ops, ms."""
    oks = [(a, b) for a, b, ok in ops if ok]
    ends = sorted(b for a, b in oks)
    by_sent = sorted(oks)
    first_end_from = [0] * len(by_sent)
    m = float("inf")
    for i in range(len(by_sent) - 1, -1, -1):
        m = min(m, by_sent[i][1])
        first_end_from[i] = m
    import bisect

    last = max((b for a, b, ok in ops), default=0)
    spans = []
    for a, b, ok in ops:
        if ok:
            continue
        i = bisect.bisect_right(ends, a)
        start = ends[i - 1] if i else a
        j = bisect.bisect_left([s for s, _ in by_sent], a)
        spans.append((start, first_end_from[j] if j < len(by_sent) else last))
    spans.sort()
    best, cur = 0, None
    for s, e in spans:
        if cur and s < cur[1]:
            cur = (cur[0], max(cur[1], e))
        else:
            if cur:
                best = max(best, cur[1] - cur[0])
            cur = (s, e)
    if cur:
        best = max(best, cur[1] - cur[0])
    return best / 1e6


def one_run(a, i, tmp):
    lo, hi = map(int, a.slots.split("-"))
    samples = os.path.join(tmp, f"indep{i}.txt")
    report = run_beside(a.runtime, a.scenario, f"windows-{os.getpid()}-{i}", os.path.join(tmp, f"run{i}"),
                        __file__, [lo, hi, a.timeout], samples)
    epoch = report["epoch_monotonic_ns"]
    ops = samples_of(samples)
    # On the drill's clock, within the drill's phases.
    end = report["phases"][-1]["end_ms"] * 1e6
    ops = [(s - epoch, e - epoch, ok) for s, e, ok in ops if 0 <= s - epoch < end]
    d = report["downtime_ms"]
    if a.shard:
        group, probe, app = a.shard, d["probe_per_shard"].get(a.shard), d["per_shard"].get(a.shard)
    else:
        group = next((g for g in d.get("probe_per_group", {}) if "→" in g and "kept" not in g
                      and g.split("→")[1] == "s2n1"), None)
        probe, app = d.get("probe_per_group", {}).get(group), d.get("per_group", {}).get(group)
    return {
        "verdict": report["verdict"],
        "group": group,
        "probe": probe,
        "app": app,
        "probe_shard": d["probe_per_shard"].get("s1n1"),
        "indep": window(ops),
        "indep_ops": len(ops),
        "indep_failed": sum(1 for _, _, ok in ops if not ok),
    }


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        nodes, lo, hi, timeout, out = sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
        worker(nodes, lo, hi, timeout, out)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="docker", choices=["docker", "process"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "reshard-under-failure.yaml"))
    ap.add_argument("--slots", default="0-399")
    ap.add_argument("--timeout", type=float, default=0.25)
    ap.add_argument("--keep", help="keep the runs and the client's record in this folder")
    ap.add_argument("--shard", help="compare with this shard's window (a failover) instead of the group of slots given to s2n1 (a reshard)")
    a = ap.parse_args()
    print(f"| run | verdict | group | drill probe (no retries) | drill app | probe, whole shard s1n1 "
          f"| independent client (redis-py, {a.timeout} s, slots {a.slots}) | within 10 % |")
    print("|--:|---|---|--:|--:|--:|--:|---|")
    ok_all = True
    with tempfile.TemporaryDirectory() as scratch:
        tmp = a.keep or scratch
        os.makedirs(tmp, exist_ok=True)
        for i in range(1, a.runs + 1):
            r = one_run(a, i, tmp)
            ok = r["probe"] is not None and abs(r["probe"] - r["indep"]) <= 0.10 * r["indep"]
            ok_all &= ok
            fmt = lambda v: "—" if v is None else f"{v:.0f} ms"
            print(f"| {i} | {r['verdict']} | {r['group']} | {fmt(r['probe'])} | {fmt(r['app'])} "
                  f"| {fmt(r['probe_shard'])} | {r['indep']:.0f} ms ({r['indep_ops']} ops, "
                  f"{r['indep_failed']} failed) | {'yes' if ok else 'NO'} |", flush=True)
    sys.exit(0 if ok_all else 1)


if __name__ == "__main__":
    main()
