#!/usr/bin/env python3
"""Check each client library's downtime, as the drill's adapters measured it,
against the same library driven by an independent client on the same nodes
at the same moment.

    benches/clients_crosscheck.py [--runtime process|docker] [--runs N]

For each run: `client-matrix` (every shipped library through a reshard, a
kill, a partition isolating the primary of slot 12000, and a manual
failover) runs on a topology of its own (`redis-drill run --name`). Beside
it, where the drill's clients are (Docker: the run's clients namespace;
process runtime: the host), one independent client per library starts in a
process of its own, written here and sharing nothing with the adapters:
the library's cluster client with its defaults, GETs of the drill's keys of
one shard only (the one whose primary holds slot 12000 when it starts, read
with CLUSTER SLOTS), one at a time, 10 ms apart, every op timed with
CLOCK_MONOTONIC (the drill's clock). Reads only: the drill's lost-write
check is not disturbed.

When the drill ends, each independent client's longest unavailable window
is computed here, by availability by invocation as docs/checks.md defines
it (from the last success before the first failed op's sending to the end
of the first success sent after it), and set beside the drill's figure for
that library on that shard (report.json `client_libraries[].
downtime_by_shard_ms`), the probe's, and when the partition's replica was
promoted. They agree when they differ by at most 300 ms or 20 % of the
larger: each end of a window is within one op interval of the truth, and
the adapters' clients send that shard an op every ~25 ms, the independent
ones every ~10 ms, in a closed loop instead of the drill's open one.

Needs root on Docker (nsenter into the clients' namespace), redis-py for
this script (`pip install redis`), and the adapters (`./bootstrap.sh`).
Prints a Markdown table on stdout; exit 1 when a library disagrees.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from beside import ROOT, run_beside

LIBRARIES = ["redis-rs", "redis-py", "valkey-py", "valkey-glide", "node-redis"]
INDEPENDENT = ["redis-py", "valkey-py", "valkey-glide", "node-redis"]
SLOT = 12000
PAUSE_S = 0.010
ADAPTERS = os.environ.get("REDIS_DRILL_ADAPTERS") or os.path.expanduser("~/.local/share/redis-drill/adapters")
VENV_PY = os.path.join(ADAPTERS, "python", "bin", "python")
NODE_PATH = os.path.join(ADAPTERS, "node")

# One library's independent client, in the adapters' virtualenv: argv =
# library, nodes (comma-separated), keys file, out file.
PY_CLIENT = r'''
import asyncio, random, signal, sys, time
lib, nodes, keys_file, out = sys.argv[1:5]
nodes = [n.rsplit(":", 1) for n in nodes.split(",")]
keys = open(keys_file).read().split()
rng = random.Random(11)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
rows = []
deadline = time.monotonic() + 900

def loop(get):
    while not stop and time.monotonic() < deadline:
        t0 = time.monotonic_ns()
        try:
            get(rng.choice(keys)); ok = 1
        except Exception:
            ok = 0
        rows.append(f"{t0} {time.monotonic_ns()} {ok}\n")
        time.sleep(PAUSE)

if lib == "redis-py":
    from redis.cluster import RedisCluster, ClusterNode
    c = RedisCluster(startup_nodes=[ClusterNode(h, int(p)) for h, p in nodes])
    loop(c.get)
elif lib == "valkey-py":
    from valkey.cluster import ValkeyCluster, ClusterNode
    c = ValkeyCluster(startup_nodes=[ClusterNode(h, int(p)) for h, p in nodes])
    loop(c.get)
else:
    import glide
    glide.Logger.set_logger_config(glide.LogLevel.OFF)
    async def main():
        c = await glide.GlideClusterClient.create(glide.GlideClusterClientConfiguration(
            [glide.NodeAddress(h, int(p)) for h, p in nodes]))
        while not stop and time.monotonic() < deadline:
            t0 = time.monotonic_ns()
            try:
                await c.get(rng.choice(keys)); ok = 1
            except Exception:
                ok = 0
            rows.append(f"{t0} {time.monotonic_ns()} {ok}\n")
            await asyncio.sleep(PAUSE)
    asyncio.run(main())
open(out, "w").writelines(rows)
'''.replace("PAUSE", str(PAUSE_S))

# node-redis's: argv = nodes, keys file, out file.
NODE_CLIENT = r'''
const fs = require('fs');
const redis = require('redis');
const [nodes, keysFile, out] = process.argv.slice(2);
const keys = fs.readFileSync(keysFile, 'utf8').split(/\s+/).filter(Boolean);
const rows = [];
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const deadline = Date.now() + 900000;
(async () => {
  const c = redis.createCluster({ rootNodes: nodes.split(',').map((n) => ({ url: `redis://${n}` })) });
  c.on('error', () => {});
  await c.connect();
  while (!stop && Date.now() < deadline) {
    const t0 = process.hrtime.bigint();
    let ok = 1;
    try { await c.get(keys[Math.floor(Math.random() * keys.length)]); } catch (e) { ok = 0; }
    rows.push(`${t0} ${process.hrtime.bigint()} ${ok}\n`);
    await new Promise((r) => setTimeout(r, PAUSE_MS));
  }
  fs.writeFileSync(out, rows.join(''));
  process.exit(0);
})();
'''.replace("PAUSE_MS", str(int(PAUSE_S * 1000)))


def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def worker(nodes, keys, prefix, out):
    """Start one independent client per library on the keys of slot
    12000's shard; on SIGTERM stop them and wait for their records."""
    import redis

    h, p = nodes[0].rsplit(":", 1)
    lo = hi = None
    for r in redis.Redis(host=h, port=int(p), socket_timeout=5).execute_command("CLUSTER", "SLOTS"):
        if r[0] <= SLOT <= r[1]:
            lo, hi = r[0], r[1]
    if lo is None:
        raise RuntimeError(f"no node serves slot {SLOT}")
    mine = [f"{prefix}{i}" for i in range(keys) if lo <= crc16(f"{prefix}{i}".encode()) % 16384 <= hi]
    keys_file = out + ".keys"
    with open(keys_file, "w") as f:
        f.write("\n".join(mine))
    with open(out + ".range", "w") as f:
        f.write(f"{lo} {hi}\n")
    script = out + ".js"
    with open(script, "w") as f:
        f.write(NODE_CLIENT)
    children = []
    for lib in INDEPENDENT:
        if lib == "node-redis":
            cmd = ["node", script, ",".join(nodes), keys_file, f"{out}.{lib}"]
        else:
            cmd = [VENV_PY, "-c", PY_CLIENT, lib, ",".join(nodes), keys_file, f"{out}.{lib}"]
        children.append(subprocess.Popen(cmd, env=dict(os.environ, NODE_PATH=NODE_PATH)))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    deadline = time.monotonic() + 900  # bounded: the drill is far shorter
    while not stop and time.monotonic() < deadline:
        time.sleep(0.1)
    for c in children:
        c.send_signal(signal.SIGTERM)
    for c in children:
        try:
            c.wait(timeout=30)
        except subprocess.TimeoutExpired:
            c.kill()


def longest_window_ms(ops):
    """Availability by invocation over (sent_ns, end_ns, ok) ops: the longest
    window, ms (0 without failures). Written apart from the tool's Rust."""
    oks = sorted((s, e) for s, e, ok in ops if ok)
    ends = sorted(e for _, e in oks)
    last_seen = max((e for _, e, _ in ops), default=0)
    spans = []
    for s, _, ok in ops:
        if ok:
            continue
        before = [e for e in ends if e <= s]
        frm = before[-1] if before else s
        after = [e for (sent, e) in oks if sent >= s]
        spans.append((frm, min(after) if after else last_seen))
    spans.sort()
    best, cur = 0.0, None
    for a, b in spans:
        if cur and a <= cur[1]:
            cur = (cur[0], max(cur[1], b))
        else:
            cur = (a, b)
        best = max(best, (cur[1] - cur[0]) / 1e6)
    return best


def longest_gap_ms(ops):
    ends = sorted(e for _, e, ok in ops if ok)
    return max(((b - a) / 1e6 for a, b in zip(ends, ends[1:])), default=0.0)


def one_run(runtime, i, tmp):
    scenario = os.path.join(ROOT, "scenarios", "client-matrix.yaml")
    samples = os.path.join(tmp, f"indep{i}")
    report = run_beside(runtime, scenario, f"clients-crosscheck-{os.getpid()}-{i}",
                        os.path.join(tmp, f"run{i}"), __file__, [10000, "drill:"], samples,
                        timeout=900)
    lo, hi = map(int, open(samples + ".range").read().split())
    return report, lo, hi, samples


def partition_of(report):
    """The isolating partition's fault record (its target is slot 12000's primary)."""
    return next(f for f in report["faults"] if f["fault"] == "partition")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        nodes, keys, prefix, out = sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4], sys.argv[5]
        worker(nodes, keys, prefix, out)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="process", choices=["docker", "process"])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--keep", help="copy the runs' reports and samples here")
    a = ap.parse_args()
    ok_all = True
    print("| run | library | drill: downtime on the shard | independent client: downtime (ops, failed) "
          "| agree (≤ 300 ms or 20 %) | independent: longest wait | probe on the shard | replica promoted after the cut |")
    print("|--:|---|--:|--:|---|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, a.runs + 1):
            report, lo, hi, samples = one_run(a.runtime, i, tmp)
            json.dump(report, open(samples + ".report.json", "w"))
            if a.keep:
                os.makedirs(a.keep, exist_ok=True)
                subprocess.run(["cp", "-r", tmp + "/.", a.keep], check=False)
            part = partition_of(report)
            (shard,) = part["primaries"]
            probe = report["downtime_ms"]["probe_per_shard"].get(shard)
            promoted = next((f["promoted_after_ms"] for f in part.get("failover", [])
                             if f.get("promoted_after_ms") is not None), None)
            by_lib = {lib["name"]: lib for lib in report.get("client_libraries", [])}
            for lib in LIBRARIES:
                drill = by_lib.get(lib, {}).get("downtime_by_shard_ms", {}).get(shard)
                if lib not in INDEPENDENT:
                    print(f"| {i} | {lib} (no independent client: the drill's own) | "
                          f"{fmt(drill)} | – | – | – | {fmt(probe)} | {fmt(promoted)} |")
                    continue
                path = f"{samples}.{lib}"
                ops = ([tuple(map(int, line.split())) for line in open(path)]
                       if os.path.exists(path) else [])
                # The drill's ops run from the baseline's start to the last phase's end.
                epoch = report["epoch_monotonic_ns"]
                lo_ns = epoch + report["phases"][0]["start_ms"] * 1e6
                hi_ns = epoch + report["phases"][-1]["end_ms"] * 1e6
                ops = [o for o in ops if lo_ns <= o[0] <= hi_ns]
                if not ops or drill is None:
                    ok_all = False
                    print(f"| {i} | {lib} | {fmt(drill)} | unknown ({len(ops)} ops) | NO | – | {fmt(probe)} | {fmt(promoted)} |")
                    continue
                indep = longest_window_ms(ops)
                agree = abs(drill - indep) <= max(300.0, 0.2 * max(drill, indep))
                ok_all &= agree
                failed = sum(1 for o in ops if not o[2])
                print(f"| {i} | {lib} | {fmt(drill)} | {fmt(indep)} ({len(ops)}, {failed}) | "
                      f"{'yes' if agree else 'NO'} | {fmt(longest_gap_ms(ops))} | {fmt(probe)} | {fmt(promoted)} |",
                      flush=True)
    print(f"\nshard: slots {lo}-{hi} ({shard}); drill: report.json client_libraries[].downtime_by_shard_ms; "
          f"independent: one client per library, GETs 10 ms apart in a closed loop")
    sys.exit(0 if ok_all else 1)


def fmt(ms):
    return "–" if ms is None else f"{ms:.0f} ms"


if __name__ == "__main__":
    main()
