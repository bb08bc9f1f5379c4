# redis-drill recipes. `just` alone lists them.

bin := "target/release/redis-drill"
topology := "topologies/cluster-3x1.yaml"

# List the recipes
default:
    @just --list

# Build the release binary
build:
    cargo build --release --quiet

# Bring up the 6-node cluster, print its topology report, check it, take it down again
demo: build
    #!/usr/bin/env bash
    set -euo pipefail
    trap '{{bin}} down --name demo >/dev/null 2>&1 || true' EXIT
    {{bin}} up {{topology}} --name demo
    {{bin}} check --name demo
    {{bin}} down --name demo

# The reshard drill: move 2000 slots under load, check, report (runs/cluster-reshard/latest/)
cluster-reshard *args="": build
    {{bin}} run scenarios/cluster-reshard.yaml {{args}}

# The failover drill: SIGKILL the primary of slot 0 under load, measure failover and rejoin
cluster-failover *args="": build
    {{bin}} run scenarios/cluster-failover.yaml {{args}}

# A lab of N Docker engines on this machine joined in a swarm (root): `just swarm-lab up 3`, `just swarm-lab down`
swarm-lab cmd="up" *args="": build
    {{bin}} lab {{cmd}} {{args}}

# The reshard, failover, region-partition, links and all-worker failover drills over the lab's three engines (`just swarm-lab up 3` first)
swarm-drills *args="": build
    {{bin}} run scenarios/swarm-reshard.yaml --runtime swarm {{args}}
    {{bin}} run scenarios/swarm-failover.yaml --runtime swarm {{args}}
    -{{bin}} run scenarios/swarm-region-partition.yaml --runtime swarm {{args}}
    {{bin}} run scenarios/swarm-links.yaml --runtime swarm {{args}}
    {{bin}} run scenarios/swarm-failover-workers.yaml --runtime swarm {{args}}

# Scale over the lab's engines: `up` of 10, 30 and 60 nodes, its time by stage, a node's memory, `down` (a Markdown table); then the failover drill on 60 nodes
swarm-scale sizes="10,30,60": build
    python3 benches/swarm_scale.py --sizes {{sizes}}
    -{{bin}} run scenarios/swarm-failover-60.yaml --runtime swarm

# Every shipped client library side by side (redis-rs, redis-py, valkey-py, valkey-glide, node-redis) through a reshard, a kill, a partition and a manual failover
client-matrix *args="": build
    {{bin}} run scenarios/client-matrix.yaml {{args}}

# client-matrix with the setting docs/clients.md tells each library's users to change (socket timeouts, GLIDE's periodic checks every 1 s, node-redis's offline queue off)
client-matrix-tuned *args="": build
    {{bin}} run scenarios/client-matrix-tuned.yaml {{args}}

# The failover and reshard drills once per server (Redis 7.0, Valkey 8.1, Valkey 9.1; ./bootstrap.sh installs Valkey), same seed, side by side (runs/<drill>/matrix-*/)
server-matrix *args="": build
    {{bin}} run scenarios/cluster-failover.yaml --servers redis-7.0,valkey-8.1,valkey-9.1 {{args}}
    {{bin}} run scenarios/cluster-reshard.yaml --servers redis-7.0,valkey-8.1,valkey-9.1 {{args}}

# A Redis 7.0 cluster upgraded to Valkey 9.1 node by node under load, then the rollback attempt
rolling-upgrade *args="": build
    {{bin}} run scenarios/rolling-upgrade.yaml {{args}}

# Valkey 9.1's atomic slot migration: the reshard drill key by key and atomically, same seed, side by side (runs/reshard-atomic/matrix-*/); then its target killed mid-move
reshard-atomic *args="": build
    {{bin}} run scenarios/reshard-atomic.yaml --methods keys,atomic {{args}}
    {{bin}} run scenarios/reshard-atomic-target-killed.yaml {{args}}

# The partition drill, without then with WAIT 1: acknowledged writes lost by an isolated primary
cluster-partition *args="": build
    {{bin}} run scenarios/cluster-partition.yaml {{args}}
    {{bin}} run scenarios/cluster-partition-wait.yaml {{args}}

# Every fault drill in turn (failover at 2 s and 5 s node timeout, manual failover, partition, reshard under failure, zombie primary, CLIENT PAUSE of a primary, a restart faster than the op timeout)
fault-drills *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in cluster-failover cluster-failover-5s cluster-manual-failover cluster-partition cluster-partition-wait reshard-under-failure pause-primary stall-primary drop-clients sleep-primary config-maxmemory restart-faster-than-timeout; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc

# Kill a Sentinel-watched primary under load: the Sentinels fail it over (their timeline from +sdown to +switch-master beside the clients'), then make it a replica when it is back
sentinel-failover *args="": build
    {{bin}} run scenarios/sentinel-failover.yaml {{args}}

# Jepsen's 2013 Sentinel split brain: the primary and one Sentinel cut off from the majority for 8 s, then healed — acknowledged writes lost; again with min-replicas-to-write 1, with WAIT 1, and in Jepsen's own shape (5 nodes, clients on both sides) (partitions: Docker, or the process runtime as root)
sentinel-split-brain *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in sentinel-split-brain sentinel-split-brain-min-replicas sentinel-split-brain-wait sentinel-split-brain-jepsen; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc

# Sentinels that cannot agree: cut apart from each other, then the primary killed; and a quorum of 3 of 3 when the primary's machine, with its Sentinel, is cut off — no failover, reported as such
sentinel-flapping *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in sentinel-flapping sentinel-flapping-quorum; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc

# Promote a replica of a primary under load: REPLICAOF NO ONE (lost writes counted), then Redis's coordinated FAILOVER (none lost)
replica-drills *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in replica-promotion replica-promotion-coordinated; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc

# Crash a standalone primary and start it again: without persistence (its shard is lost), then with AOF appendfsync always (nothing lost)
standalone-drills *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in standalone-restart standalone-restart-aof; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc

# The cache drills: 50 clients on 1 then 16 counters through a manual failover and a kill; MULTI/EXEC groups while their slots move and a kill; SET PX with mixed TTLs through a failover and a primary pause; allkeys-lru under 6x memory pressure through a failover; 100 readers of two hot keys expiring every second through a kill of their shard (single-flight recomputation); FLUSHALL under cache-aside readers of 500 zipfian keys (warm-up); GETs from replicas through a replica cut off and a failover (stale reads); a hot slot; invalidation; client-side caching; INCR against a locked GET + SET
cache-drills *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in counter-contention counter-contention-16 txn-atomicity ttl-accuracy eviction-lru stampede cold-start stale-reads hot-slot invalidation invalidation-cascade invalidation-cascade-atomic invalidation-failover client-side-cache client-side-cache-failover atomic-vs-locked atomic-vs-locked-pause; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc

# The region drills, over WAN links (root): replication lag per region and WAIT's cost; a region cut off and healed (lost writes, partial or full resync, time until every region agrees); a region going dark and its shard failing over to another region (clients outside every region, then clients in each); a latency spike on one link
region-drills *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in cross-region-replication cross-region-wait region-partition region-failover region-failover-clients region-local-reads redlock-regions stampede-regions invalidation-regions link-spike; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc

# A quarter of the keys under one hash tag: the hot slot's shard beside the others (`shards` in the report), then that slot moved under load
hot-slot *args="": build
    {{bin}} run scenarios/hot-slot.yaml {{args}}

# Cache-aside invalidation: delete, update and double delete side by side; written to fail (the fill race: exit 1, the report says whether as expected)
invalidation *args="": build
    {{bin}} run scenarios/invalidation.yaml {{args}}

# Dependants and tags invalidated one DEL after another, then in one MULTI/EXEC: cascade time and mixed reads
invalidation-cascade *args="": build
    {{bin}} run scenarios/invalidation-cascade.yaml {{args}} && {{bin}} run scenarios/invalidation-cascade-atomic.yaml {{args}}

# A primary cut off under cache-aside load: acknowledged DELs lost in the failover
invalidation-failover *args="": build
    {{bin}} run scenarios/invalidation-failover.yaml {{args}}

# Cache-aside readers in three regions reading their own replicas: the window of staleness per region (root: the links)
invalidation-regions *args="": build
    {{bin}} run scenarios/invalidation-regions.yaml {{args}}

# Cache-aside readers with client-side caching (RESP3 tracking): while 3000 slots move, then through a primary cut off and failed over (both written to fail: stale local copies)
client-side-cache *args="": build
    {{bin}} run scenarios/client-side-cache.yaml {{args}}; rc=$?; {{bin}} run scenarios/client-side-cache-failover.yaml {{args}} || rc=$?; exit $rc

# The same counters incremented with INCR and with GET + SET under a lock, side by side; then a lock holder frozen between its GET and SET (written to fail: lost updates)
atomic-vs-locked *args="": build
    {{bin}} run scenarios/atomic-vs-locked.yaml {{args}}; rc=$?; {{bin}} run scenarios/atomic-vs-locked-pause.yaml {{args}} || rc=$?; exit $rc

# Every shipped drill (scenarios/*.yaml), each bounded in time, into runs/nightly/<UTC time>/ with summary.json, index.html, junit.xml and the trend since the last nightly; exit 0 passed, 1 failed, 5 regressed, 4 unknown
nightly *args="": build
    {{bin}} nightly {{args}}

# Move slots on a running cluster: --from A --to B --slots N | --rebalance | --drain NODE
reshard *args: build
    {{bin}} reshard {{args}}

# Grow a running cluster by one empty primary (or --replica-of NODE)
add-node *args="": build
    {{bin}} add-node {{args}}

# Render a stored report: just report runs/cluster-reshard/latest/report.json --format md
report *args: build
    {{bin}} report {{args}}

# Check a stored run again from its folder: just check-run runs/cluster-reshard/latest
check-run *args: build
    {{bin}} check-run {{args}}

# Bring up a topology and leave it running (default: the 3x1 cluster)
cluster-up file=topology *args="": build
    {{bin}} up {{file}} {{args}}

# The topology report of what is running (add --json for scripts)
status *args="": build
    {{bin}} status {{args}}

# Check a running cluster like `redis-cli --cluster check`
check *args="": build
    {{bin}} check {{args}}

# Take down one topology (--name NAME) or everything redis-drill started (--all)
down *args="--all": build
    {{bin}} down {{args}}

# Build the local Redis image from this host's redis-server
image: build
    {{bin}} image build

# Regenerate compose/ from topologies/
compose: build
    for f in topologies/*.yaml; do {{bin}} compose "$f" -o "compose/$(basename "$f" .yaml).yml"; done

# Run the whole test suite (unit + integration against real redis-server and Docker)
test:
    cargo test --all-targets --no-fail-fast -- --test-threads 2

# Time `up` to a converged 6-node cluster on each runtime vs redis-cli --cluster create
bench-up: build
    cargo bench --bench up -- --runs 5

# The links' relay at zero delay vs no relay: PING p50/p99 and pipelined PINGs/s to one node (root)
bench-relay:
    flock /tmp/redis-drill-heavy.lock cargo test --test links relay_overhead_at_zero_delay -- --nocapture

# Time resharding vs redis-cli --cluster reshard (2000 slots/36k keys, 200 slots/1M keys)
bench-reshard *args="":
    cargo bench --bench reshard -- {{args}}

# The workload at its maximum rate vs redis-benchmark on one node (48 connections, unpipelined and -P 16)
bench-workload *args="":
    cargo bench --bench workload -- {{args}}

# Each client library's adapter in the open loop (100 ops/s doubling) vs redis-benchmark on one node, 2 connections (--clients C, --rounds R, --libraries a,b)
bench-adapters *args="":
    cargo bench --bench adapters -- {{args}}

# Our linearizability checker vs Porcupine (built with Debian's Go) on Porcupine's test histories: same verdicts, time per history (--porcupine DIR, --runs N, --only TEXT)
bench-lin *args="":
    command -v go >/dev/null || apt-get install -y golang-go
    cargo bench --bench lin -- {{args}}

# Run a drill 5 times on fresh topologies and tabulate (--runtime R, --runs N, --workload 'threads: 0', SCENARIO)
bench-drill *args="": build
    python3 benches/repeat.py {{args}}

# The same drill once per value size (100 B, 1 KB, 10 KB, a uniform range, sizes by weight) beside redis-benchmark at the fixed sizes (--runtime R, --model closed, --sizes 'A;B', SCENARIO)
bench-values *args="": build
    python3 benches/values.py {{args}}

# The failover and reshard drills on the tool's own Docker cluster and on a docker-compose cluster attached (--runs N)
bench-attached *args="": build
    python3 benches/attached.py {{args}}

# What TLS and ACL checks cost clients: cluster-manual-failover on a plain and a TLS + ACL cluster (process runtime), each beside redis-py (--runs N)
bench-security *args="": build
    python3 -c 'import redis' 2>/dev/null || pip install --quiet redis
    python3 benches/security.py {{args}}

# The reshard drill's latency against an independent client (redis-py) on the same nodes at the same moment
crosscheck *args="": build
    python3 -c 'import redis' 2>/dev/null || pip install --quiet redis
    python3 benches/crosscheck.py {{args}}

# Each client library's downtime in client-matrix against the same library driven by an independent client on the same nodes at the same moment (--runtime process|docker, --runs N; root on Docker)
crosscheck-clients *args="": build
    python3 -c 'import redis' 2>/dev/null || pip install --quiet redis
    python3 benches/clients_crosscheck.py {{args}}

# The split-brain drill's lost writes against an independent client (redis-py through the same Sentinels, fresh keys, read back after) on the same nodes at the same moment (Docker, root; --runs N, --scenario FILE, --wait for the WAIT variant, --region minority for Jepsen's shape, --clients SPEC for libraries beside redis-rs)
crosscheck-sentinel *args="": build
    python3 -c 'import redis' 2>/dev/null || pip install --quiet redis
    python3 benches/sentinel_crosscheck.py {{args}}

# The linearizability checker on a drill's own history: 60 s at 10 000 ops/s (scenarios/lin-history-10k.yaml), then the stored run checked again (`check-run`), logging the time the linearizability check took over its ~640 000 ops
bench-lin-history *args="": build
    {{bin}} run scenarios/lin-history-10k.yaml {{args}} > /dev/null
    RUST_LOG=redis_drill::scenarios::check=info {{bin}} check-run runs/lin-history-10k/latest 2>&1 >/dev/null | grep "linearizability checked"

# A run's linearizability verdict against Porcupine's: every key's history cut out again (in Python) and checked by Porcupine through a register model of its own (Go from Debian, Porcupine's source as a git dir: --porcupine DIR or $PORCUPINE_SRC). Give it stored runs: `just crosscheck-lin runs/stale-reads/latest runs/cluster-partition/latest`
crosscheck-lin *args="": build
    command -v go >/dev/null || apt-get install -y golang-go
    python3 benches/lin_crosscheck.py {{args}}

# The downtime of the slots a reshard gave to a target killed mid-move, against an independent client (redis-py) writing only keys of those slots; --scenario scenarios/cluster-failover.yaml --shard s1n1 for a failover (root on Docker)
windows *args="": build
    python3 -c 'import redis' 2>/dev/null || pip install --quiet redis
    python3 benches/windows.py {{args}}

# Every way found to make a stored run say PASS on what it did not measure, tried on a synthetic run (no server, seconds)
verdicts:
    cargo test --test verdicts

# Re-check one small stored run of each drill kind and compare every report file byte for byte (no server, seconds); REDIS_DRILL_BLESS=1 rewrites them
golden:
    cargo test --test golden

# Make the golden stored runs again on the process runtime (root; a minute or four): only when a report is meant to change
golden-remake: build
    python3 tests/golden/make.py

# Formatting and lints
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# The lock drills: single-instance locks with no fault (the control), a holder frozen past its TTL (fencing), the lock's Redis frozen, Redlock with an instance restarted at once then past the TTL, a Redlock minority cut off, a lock's primary failed over without then with WAIT, a grant that vanishes in a failover without then with WAIT
lock-drills *args="": build
    #!/usr/bin/env bash
    set -uo pipefail
    rc=0
    for s in lock-single lock-holder-pause lock-node-pause redlock-restart redlock-restart-delayed redlock-minority-partition lock-failover lock-failover-wait lock-failover-vanished lock-failover-wait-vanished; do
      {{bin}} run scenarios/$s.yaml {{args}} || rc=$?
    done
    exit $rc
