"""A drill and an independent client side by side, on the same nodes at the
same moment: what benches/crosscheck.py and benches/windows.py share.

`run_beside` brings the scenario's topology up under a name of its own,
starts the drill on it (`redis-drill run --name`), and starts the calling
script again as the independent client (`SCRIPT --worker ARGS... SAMPLES`)
where the drill's clients are: on Docker inside the run's `clients`
container's network namespace (nsenter: needs root), as processes on the
host. When the drill ends the client is sent SIGTERM; the topology is taken
down on every exit path.
"""

import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "target", "release", "redis-drill")


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw)


def topology_of(scenario):
    """The topology file a scenario names, as a path."""
    for line in open(scenario):
        if line.startswith("topology:"):
            rel = line.split(":", 1)[1].split("#")[0].strip()
            return os.path.join(os.path.dirname(scenario), rel)
    raise ValueError(f"{scenario}: no `topology:` line")


def clients_namespace(run_id, drill, region=None):
    """The command prefix that enters the drill's clients' network namespace
    on Docker (the container appears once the drill starts its workload);
    with `region`, the namespace of the clients living in that region."""
    cid = ""
    where = [] if region is None else ["--filter", f"label=redis-drill.region={region}"]
    for _ in range(300):  # bounded: 30 s for the drill to create it
        cid = sh("docker", "ps", "-q", "--filter", f"label=redis-drill.run-id={run_id}",
                 "--filter", "label=redis-drill.role=clients", *where).stdout.strip()
        if cid or drill.poll() is not None:
            break
        time.sleep(0.1)
    if not cid:
        raise RuntimeError("the drill's clients container did not appear")
    pid = sh("docker", "inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
    return ["nsenter", f"--net=/proc/{pid}/ns/net"]


def run_beside(runtime, scenario, name, out, script, worker_args, samples, timeout=900,
               topology=None, env=None):
    """Run the drill and `script --worker NODES *worker_args SAMPLES` beside
    it; returns the drill's report.json, parsed. NODES are the addresses the
    drill's clients use, comma-separated. `topology`: another topology file
    than the scenario's (of its kind); `env`: the tool's environment."""
    scenario = os.path.abspath(scenario)
    env = dict(env or os.environ, REDIS_DRILL_RUNTIME=runtime)
    sh(BIN, "up", topology or topology_of(scenario), "--name", name, env=env)
    drill = indep = None
    try:
        status = json.loads(sh(BIN, "status", "--name", name, "--json", env=env).stdout)
        drill = subprocess.Popen(
            [BIN, "run", scenario, "--name", name, "--out", out],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if runtime == "docker":
            nodes = [n["announce"] for n in status["nodes"]]
            cmd = clients_namespace(status["run_id"], drill)
        else:
            nodes = [n["address"] for n in status["nodes"]]
            cmd = []
        cmd += [sys.executable, os.path.abspath(script), "--worker", ",".join(nodes),
                *map(str, worker_args), samples]
        indep = subprocess.Popen(cmd)
        drill.communicate(timeout=timeout)
        indep.send_signal(signal.SIGTERM)
        indep.wait(timeout=30)
        (drill_dir,) = os.listdir(out)
        return json.load(open(os.path.join(out, drill_dir, "latest", "report.json")))
    finally:
        for p in (indep, drill):
            if p and p.poll() is None:
                p.kill()
        subprocess.run([BIN, "down", "--name", name], env=env, capture_output=True)


def closed_loop(op, out):
    """An independent client's loop: `op(i)` for i = 1, 2, ..., one at a
    time, each timed with time.monotonic_ns(), until SIGTERM (or 600 s);
    written to `out` as `sent_ns end_ns ok` lines."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    rows = []
    deadline = time.monotonic() + 600  # bounded: the drill is far shorter
    i = 0
    while not stop and time.monotonic() < deadline:
        i += 1
        t0 = time.monotonic_ns()
        try:
            op(i)
            ok = 1
        except Exception:
            ok = 0
        rows.append(f"{t0} {time.monotonic_ns()} {ok}\n")
    with open(out, "w") as f:
        f.writelines(rows)


def closed_loop_gets(rc, keys, out):
    """GETs of the drill's keys, at random, in [`closed_loop`]."""
    import random

    rng = random.Random(7)
    closed_loop(lambda _: rc.get(f"drill:{rng.randrange(keys)}"), out)


def samples_of(path):
    """The client's record: (sent_ns, end_ns, ok) per op."""
    return [tuple(map(int, line.split())) for line in open(path)]
