#!/usr/bin/env python3
"""How long the source of a Valkey atomic slot migration stops answering at
the end of a job, measured without redis-drill: redis-py, three valkey-server
processes, `CLUSTER MIGRATESLOTS` sent by hand.

    benches/atomic_stall.py [--keys N] [--slots S] [--job-keys K]...

A three-primary cluster of Valkey 9.1 (the binary `./bootstrap.sh`
installs) on free ports of 127.0.0.1; N keys of 100 B loaded into the lowest
S slots of the first primary; then those slots are migrated to the second
primary once per job size — all in one job (`--job-keys 0`, the default's
first), else in consecutive jobs of at most K keys, one after the other —
while two threads PING the source and the target in closed loops and one
SETs the data set's keys through RedisCluster. Between sizes the slots are
migrated back. For each size it prints the migrations' time and the
longest PING of the source and of the target and the longest SET, with
when (s after the first MIGRATESLOTS), and fails if a job did not end in
`success`. Every server is shut down on every path.
"""

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import redis
from redis.crc import key_slot

HOME = os.path.expanduser("~/.local/share/redis-drill/servers/valkey-9.1/valkey-server")
VALUE = b"v" * 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(cond, what, limit=30.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def jobs_of(node):
    out = []
    for j in node.execute_command("CLUSTER", "GETSLOTMIGRATIONS"):
        d = j if isinstance(j, dict) else dict(zip(j[::2], j[1::2]))
        out.append({(k.decode() if isinstance(k, bytes) else k):
                    (v.decode() if isinstance(v, bytes) else v) for k, v in d.items()})
    return out


def migrate(src, dst_id, ranges):
    """One job; returns when it ended (success, or raises)."""
    before = {j["name"] for j in jobs_of(src)}
    args = ["CLUSTER", "MIGRATESLOTS", "SLOTSRANGE"]
    for a, b in ranges:
        args += [a, b]
    src.execute_command(*args, "NODE", dst_id)
    end = time.monotonic() + 120
    while time.monotonic() < end:
        new = [j for j in jobs_of(src) if j["name"] not in before]
        if new and new[0]["state"] in ("success", "failed", "cancelled"):
            if new[0]["state"] != "success":
                raise RuntimeError(f"job {new[0]}")
            return
        time.sleep(0.005)
    raise RuntimeError("a job did not end within 120 s")


def ranges_of(slots):
    out = []
    for s in slots:
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def jobs_for(slots, counts, limit):
    if limit <= 0:
        return [slots]
    out, cur, n = [], [], 0
    for s, c in zip(slots, counts):
        if cur and n + c > limit:
            out.append(cur)
            cur, n = [], 0
        cur.append(s)
        n += c
    return out + ([cur] if cur else [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--slots", type=int, default=200)
    ap.add_argument("--job-keys", type=int, action="append")
    a = ap.parse_args()
    sizes = a.job_keys or [0, 50_000]
    if not os.access(HOME, os.X_OK):
        raise SystemExit(f"error: {HOME} is missing: run ./bootstrap.sh --deps-only")
    work = tempfile.mkdtemp(prefix="atomic-stall-")
    ports = [free_port() for _ in range(3)]
    procs = []
    try:
        for p in ports:
            d = os.path.join(work, str(p))
            os.makedirs(d)
            procs.append(subprocess.Popen(
                [HOME, "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--dir", d, "--save", "", "--appendonly", "no", "--logfile", "log"]))
        nodes = [redis.Redis(host="127.0.0.1", port=p) for p in ports]
        wait(lambda: all(_pings(n) for n in nodes), "the servers")
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-yes"], check=True, capture_output=True)
        wait(lambda: all(n.cluster("info")["cluster_state"] == "ok" for n in nodes), "cluster ok")
        src, dst = nodes[0], nodes[1]
        src_id = src.execute_command("CLUSTER", "MYID").decode()
        dst_id = dst.execute_command("CLUSTER", "MYID").decode()
        slots = list(range(a.slots))  # the first primary's lowest slots
        keys, i = [], 0
        per = [0] * a.slots
        while len(keys) < a.keys:
            k = f"stall:{i}"
            s = key_slot(k.encode())
            if s < a.slots:
                keys.append(k)
                per[s] += 1
            i += 1
        pipe = src.pipeline(transaction=False)
        for k in keys:
            pipe.set(k, VALUE)
            if len(pipe) >= 5000:
                pipe.execute()
        pipe.execute()
        print(f"Valkey {src.info('server')['valkey_version']}; {len(keys)} keys of 100 B "
              f"in slots 0-{a.slots - 1}; redis-py {redis.__version__}\n")
        print("| keys per job | jobs | seconds | longest source PING (ms, at s) "
              "| longest target PING (ms, at s) | longest SET (ms, at s) | SETs failed |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            jobs = jobs_for(slots, per, size)
            row = measure(nodes, ports, keys, lambda: [migrate(src, dst_id, ranges_of(j))
                                                     for j in jobs])
            print(f"| {size or 'all'} | {len(jobs)} | {row}")
            # Back, in one job, for the next size.
            migrate(dst, src_id, ranges_of(slots))
            wait(lambda: src.cluster("countkeysinslot", 0) == per[0], "the keys back")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


def _pings(n):
    try:
        return n.ping()
    except redis.ConnectionError:
        return False


def measure(nodes, ports, keys, move):
    stop = threading.Event()
    ping_src, ping_dst, sets = [], [], []

    def pinger(port, out):
        r = redis.Redis(host="127.0.0.1", port=port)
        while not stop.is_set():
            t = time.monotonic()
            r.ping()
            out.append((t, time.monotonic() - t))

    def setter():
        rc = redis.RedisCluster(host="127.0.0.1", port=ports[0])
        j = 0
        while not stop.is_set():
            t = time.monotonic()
            try:
                rc.set(keys[j % len(keys)], VALUE)
                sets.append((t, time.monotonic() - t, False))
            except redis.RedisError:
                sets.append((t, time.monotonic() - t, True))
            j += 7919

    ths = [threading.Thread(target=pinger, args=(ports[0], ping_src)),
           threading.Thread(target=pinger, args=(ports[1], ping_dst)),
           threading.Thread(target=setter)]
    for t in ths:
        t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    try:
        move()
        took = time.monotonic() - t0
        time.sleep(0.5)
    finally:
        stop.set()
        for t in ths:
            t.join()

    def worst(xs):
        t, d = max(((x[0], x[1]) for x in xs if x[0] >= t0), key=lambda x: x[1])
        return f"{d * 1000:.1f} ({t - t0:.2f})"

    failed = sum(1 for x in sets if x[0] >= t0 and x[2])
    return f"{took:.2f} | {worst(ping_src)} | {worst(ping_dst)} | {worst(sets)} | {failed} |"


if __name__ == "__main__":
    main()
