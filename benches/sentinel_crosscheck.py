#!/usr/bin/env python3
"""Check the split-brain drill's lost writes against an independent client,
on the same nodes at the same moment.

    benches/sentinel_crosscheck.py [--runs N]
                                   [--scenario scenarios/sentinel-split-brain.yaml]
                                   [--region R] [--clients SPEC]

For each run (Docker: partitions of Sentinels need their own namespaces):
the scenario's topology is brought up under a name of its own and the drill
started on it (`redis-drill run --name`). As soon as the drill's clients
have a place (the run's `clients` container), an independent client starts
in its network namespace: redis-py's `Sentinel(...).master_for(...)`,
asking the same three Sentinels where the primary is, SETting fresh keys
(`xcheck:<i>`, each written once) one at a time until the drill ends, every
op timed with time.monotonic_ns(). Then, from the same place and through the
Sentinels again, every key it had acknowledged is read back: a key that is
gone is an acknowledged write lost. Its loss — how many, and when they were
acknowledged on the drill's timeline — is set beside the drill's own.

`--wait` (for sentinel-split-brain-wait.yaml): the independent client
follows each SET with `WAIT 1 100` and counts it acknowledged only when a
replica had it, as the drill does.

`--region R` (a scenario whose clients live in regions, e.g.
sentinel-split-brain-jepsen.yaml): the independent client lives among the
clients of region R, and is set beside theirs. `--clients SPEC` passes
`run --clients SPEC` to the drill (client libraries beside redis-rs, e.g.
redis-rs:4,redis-py:2,valkey-py:2): each library's loss is printed too.

Needs root (nsenter into the clients' namespace) and redis-py (`pip install
redis`). Prints a Markdown table on stdout.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from beside import BIN, ROOT, clients_namespace, closed_loop, sh, topology_of

SENTINEL_PORT = 26379


def sentinel(addrs, name):
    from redis.sentinel import Sentinel

    s = Sentinel([(a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])) for a in addrs],
                 socket_timeout=0.5)
    return s.master_for(name, socket_timeout=0.5, socket_connect_timeout=0.5)


def writer(addrs, name, out, wait=False):
    """Fresh keys, one SET at a time, until SIGTERM. With `wait`, each SET
    is followed by `WAIT 1 100` on the same connection (one pipeline), and
    counts as acknowledged only when a replica had it — as the drill's
    `workload.wait: {replicas: 1, timeout_ms: 100}` counts its writes."""
    m = sentinel(addrs, name)
    if not wait:
        closed_loop(lambda i: m.set(f"xcheck:{i}", i), out)
        return

    def set_and_wait(i):
        p = m.pipeline(transaction=False)
        p.set(f"xcheck:{i}", i)
        p.execute_command("WAIT", 1, 100)
        _, replicas = p.execute()
        if int(replicas) < 1:
            raise RuntimeError("no replica acknowledged it")

    closed_loop(set_and_wait, out)


def readback(addrs, name, samples, out):
    """Which acknowledged keys are gone: `i sent_ns end_ns` per lost write."""
    m = sentinel(addrs, name)
    lost = []
    for i, (a, b, ok) in enumerate((tuple(map(int, l.split())) for l in open(samples)), 1):
        if ok and m.get(f"xcheck:{i}") is None:
            lost.append(f"{i} {a} {b}\n")
    with open(out, "w") as f:
        f.writelines(lost)


def sentinel_ips(run_id):
    ids = sh("docker", "ps", "-q", "--filter", f"label=redis-drill.run-id={run_id}",
             "--filter", "label=redis-drill.role=sentinel").stdout.split()
    ips = [sh("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
              i).stdout.strip() for i in ids]
    return sorted(f"{ip}:{SENTINEL_PORT}" for ip in ips)


def one_run(scenario, i, tmp, region=None, clients=None, wait=False):
    name = f"sbxc-{os.getpid()}-{i}"
    out = os.path.join(tmp, f"run{i}")
    samples = os.path.join(tmp, f"writes{i}.txt")
    lost_file = os.path.join(tmp, f"lost{i}.txt")
    env = dict(os.environ, REDIS_DRILL_RUNTIME="docker")
    sh(BIN, "up", topology_of(scenario), "--name", name, env=env)
    drill = indep = None
    try:
        status = json.loads(sh(BIN, "status", "--name", name, "--json", env=env).stdout)
        # The Sentinels monitor the primary under the topology's own name.
        master = next(l.split(":", 1)[1].split("#")[0].strip()
                      for l in open(topology_of(scenario)) if l.startswith("name:"))
        addrs = sentinel_ips(status["run_id"])
        more = ["--clients", clients] if clients else []
        drill = subprocess.Popen([BIN, "run", scenario, "--name", name, "--out", out, *more],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ns = clients_namespace(status["run_id"], drill, region)
        me = [sys.executable, os.path.abspath(__file__)]
        indep = subprocess.Popen(ns + me + ["--writer", ",".join(addrs), master, samples]
                                 + (["--wait"] if wait else []))
        drill.communicate(timeout=600)
        indep.send_signal(signal.SIGTERM)
        indep.wait(timeout=30)
        # The drill left the deployment up (--name): read back from where
        # the writes were made, through the Sentinels.
        subprocess.run(ns + me + ["--readback", ",".join(addrs), master, samples, lost_file],
                       check=True, timeout=300)
        (d,) = os.listdir(out)
        report = json.load(open(os.path.join(out, d, "latest", "report.json")))
    finally:
        for p in (indep, drill):
            if p and p.poll() is None:
                p.kill()
        subprocess.run([BIN, "down", "--name", name], env=env, capture_output=True)
    epoch = report["epoch_monotonic_ns"]
    acked = sum(1 for l in open(samples) if l.split()[2] == "1")
    lost = [tuple(map(int, l.split())) for l in open(lost_file)]
    window = ((min(b for _, _, b in lost) - epoch) / 1e6, (max(b for _, _, b in lost) - epoch) / 1e6) if lost else None
    c = report["checks"]
    t = report["sentinel"]["timelines"][0]
    side = next((g for g in report.get("client_regions", []) if g["region"] == region), None)
    if side is not None:
        # Its acknowledged writes: the ok writes' latency count. When they
        # were acknowledged: the whole drill's loss window (the report has
        # none per region; the other side loses at most a write or two
        # acknowledged at the cut).
        c = {"lost_acknowledged_writes": side["lost_acknowledged_writes"],
             "acknowledged_writes": side["writes_ms"]["count"], "loss_window_ms": c.get("loss_window_ms")}
    return {
        "libraries": [(l["name"], l["lost_acknowledged_writes"]) for l in report.get("client_libraries", [])],
        "verdict": report["verdict"],
        "cut_ms": report["faults"][0]["start_ms"],
        "heal_ms": report["faults"][0]["undone_ms"],
        "converted_ms": next((s["after_ms"] for s in t["steps"] if s["event"] == "+convert-to-slave"), None),
        "drill_lost": c["lost_acknowledged_writes"],
        "drill_acked": c["acknowledged_writes"],
        "drill_window": c.get("loss_window_ms"),
        "indep_lost": len(lost),
        "indep_acked": acked,
        "indep_window": window,
    }


def span(w):
    return f"{w[0]:.0f}–{w[1]:.0f} ms" if w else "—"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer(sys.argv[2].split(","), sys.argv[3], sys.argv[4], wait="--wait" in sys.argv[5:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--readback":
        readback(sys.argv[2].split(","), sys.argv[3], sys.argv[4], sys.argv[5])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--scenario", default=os.path.join(ROOT, "scenarios", "sentinel-split-brain.yaml"))
    ap.add_argument("--region", help="the independent client among the clients of this region")
    ap.add_argument("--clients", help="run --clients SPEC for the drill")
    ap.add_argument("--wait", action="store_true",
                    help="the independent writer follows each SET with WAIT 1 100 (for sentinel-split-brain-wait.yaml)")
    a = ap.parse_args()
    whose = f"drill, clients in {a.region}" if a.region else "drill"
    print(f"| run | verdict | cut → heal | old primary made a replica | {whose}: lost of acknowledged (share), acknowledged when "
          "| independent redis-py: lost of acknowledged (share), acknowledged when |"
          + (" drill, by library: lost |" if a.clients else ""))
    print("|--:|---|--:|--:|--:|--:|" + ("--:|" if a.clients else ""))
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1, a.runs + 1):
            r = one_run(os.path.abspath(a.scenario), i, tmp, a.region, a.clients, a.wait)
            libs = " · ".join(f"{n} {x}" for n, x in r["libraries"])
            conv = f"{r['cut_ms'] + r['converted_ms']:.0f} ms" if r["converted_ms"] else "—"
            print(f"| {i} | {r['verdict']} | {r['cut_ms']:.0f} → {r['heal_ms']:.0f} ms | {conv} "
                  f"| {r['drill_lost']} of {r['drill_acked']} ({r['drill_lost'] / max(1, r['drill_acked']):.0%}), {span(r['drill_window'])} "
                  f"| {r['indep_lost']} of {r['indep_acked']} ({r['indep_lost'] / max(1, r['indep_acked']):.0%}), {span(r['indep_window'])} |"
                  + (f" {libs} |" if a.clients else ""),
                  flush=True)


if __name__ == "__main__":
    main()
