#!/usr/bin/env python3
"""redis-drill's adapter for Python client libraries, protocol 1
(docs/clients.md).

Reads JSON lines on stdin — a hello, ops ahead of their due times, an end —
and writes JSON lines on stdout: ready (or error), one result per op, done.
Each client of the hello is a client object of the library (its own
connections); a dispatcher hands each op, at its due time, to a pool of
worker threads that run it on its client, so an op never waits for the ones
before it (the clients are thread-safe, as an application server uses them).
Each result says when the op was sent and when it ended, on the run's clock
(CLOCK_MONOTONIC minus the hello's epoch). An op due while every worker is
busy is sent late: the lag shows as sent - due, never hidden.

Libraries: redis-py (`redis`), valkey-py (`valkey`), valkey-glide (`glide`,
asyncio: its clients run on an event loop of their own). Settings pass through to the library's client
constructor, by the library's own names; `ready` echoes the settings that
change outcomes as the client runs with them, defaults included.
"""

import asyncio
import concurrent.futures
import json
import os
import sys
import threading
import time

PROTOCOL = 1
_out_lock = threading.Lock()
# The protocol's own copy of stdout; fd 1 itself is pointed at stderr, so
# that nothing a library prints (GLIDE's core logs to stdout) can break a line.
_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with _out_lock:
        _proto.write(line + "\n")
        _proto.flush()


def now_ns(epoch):
    return time.monotonic_ns() - epoch


# ---------------------------------------------------------------------------
# redis-py


class RedisPy:
    name = "redis-py"
    # The settings that change what a client sees during a fault, with the
    # library's defaults as of 8.1 (read back from the client where it can be).
    OUTCOME_SETTINGS = ("socket_timeout", "socket_connect_timeout", "retry",
                        "cluster_error_retry_attempts", "reinitialize_steps",
                        "read_from_replicas", "require_full_coverage",
                        "sentinel_kwargs", "min_other_sentinels")

    def __init__(self, hello):
        import redis
        from redis.cluster import ClusterNode, RedisCluster
        self.setup(hello, redis, redis.Redis, RedisCluster, ClusterNode)

    def setup(self, hello, module, plain, cluster, node):
        """Clients of `module` (redis-py or its fork valkey-py): `cluster`
        seeded with the hello's nodes, or `plain` on the first."""
        self.redis = module
        self.version = module.__version__
        settings = dict(hello.get("settings") or {})
        nodes = [n.rsplit(":", 1) for n in hello["nodes"]]
        if hello["topology"] == "cluster":
            self.make = lambda: cluster(
                startup_nodes=[node(h, int(p)) for h, p in nodes], **settings)
        elif hello["topology"] == "sentinel":
            self.make = self.sentinel_client(module, hello, settings)
        else:
            h, p = nodes[0]
            self.make = lambda: plain(host=h, port=int(p), **settings)
        probe = self.make()
        self.effective = self.settings_of(probe, settings)
        probe.close()

    def sentinel_client(self, module, hello, settings):
        """A maker of Sentinel clients as an application makes one:
        `Sentinel(sentinels, **settings).master_for(service)` — the
        settings apply to the connections to the primary and, as the
        library does when `sentinel_kwargs` is not given, their socket_*
        ones to the Sentinels too. Each connection records on its thread
        the node it last sent to (the op's `node`)."""
        import importlib
        sentinel = importlib.import_module(module.__name__ + ".sentinel")

        class Tracked(sentinel.SentinelManagedConnection):
            def send_packed_command(self, *args, **kwargs):
                try:
                    return super().send_packed_command(*args, **kwargs)
                finally:
                    SENT_TO.addr = f"{self.host}:{self.port}"

        sentinels = [(h, int(p)) for h, p in (s.rsplit(":", 1) for s in hello["sentinels"])]
        service = hello["service"]
        return lambda: sentinel.Sentinel(sentinels, **settings).master_for(
            service, connection_class=Tracked)

    def settings_of(self, client, asked):
        out = {}
        kwargs = {}
        try:
            nodes = getattr(client, "nodes_manager", None)
            if nodes is not None:
                kwargs = dict(nodes.connection_kwargs)
            else:
                kwargs = dict(client.connection_pool.connection_kwargs)
        except Exception:  # noqa: BLE001 - best effort: what is asked stays
            pass
        # Absent: redis-py's default, None — wait for ever.
        for k in ("socket_timeout", "socket_connect_timeout"):
            out[k] = kwargs.get(k)
        for k in ("cluster_error_retry_attempts", "reinitialize_steps", "read_from_replicas",
                  "require_full_coverage"):
            if hasattr(client, k):
                v = getattr(client, k)
                out[k] = v if isinstance(v, (int, float, bool, str, type(None))) else repr(v)
        manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
        if manager is not None:
            # What the Sentinels are asked with (the library's socket_*
            # settings when `sentinel_kwargs` is not given).
            out["sentinel_kwargs"] = dict(manager.sentinel_kwargs)
            out["min_other_sentinels"] = manager.min_other_sentinels
        retry = getattr(client, "retry", None)
        if retry is not None:
            out["retry"] = {"retries": getattr(retry, "_retries", None),
                            "backoff": type(getattr(retry, "_backoff", None)).__name__}
        for k, v in asked.items():
            out.setdefault(k, v)
        return out

    def run(self, client, op, key, value):
        if op == "set":
            client.set(key, value)
            return None
        if op == "get":
            v = client.get(key)
            return None if v is None else v.decode("utf-8", "replace")
        if op == "incr":
            return str(client.incr(key))
        if op == "del":
            client.delete(key)
            return None
        raise Unsupported(op)

    def classify(self, e):
        """(outcome, kind) of an exception the library raised."""
        ex = self.redis.exceptions
        msg = str(e)
        # Order matters: the cluster errors subclass ResponseError.
        if isinstance(e, ex.TimeoutError):
            return "indeterminate", None
        if isinstance(e, ex.ClusterDownError) or msg.startswith("CLUSTERDOWN"):
            return "fail", "clusterdown"
        if isinstance(e, ex.TryAgainError) or msg.startswith("TRYAGAIN"):
            return "fail", "tryagain"
        if isinstance(e, ex.MovedError) or msg.startswith("MOVED"):
            return "fail", "moved"
        if isinstance(e, ex.AskError) or msg.startswith("ASK"):
            return "fail", "ask"
        if isinstance(e, ex.ReadOnlyError) or msg.startswith("READONLY"):
            return "fail", "readonly"
        if isinstance(e, ex.BusyLoadingError) or msg.startswith("LOADING"):
            return "fail", "loading"
        if isinstance(e, ex.ResponseError):
            return "fail", "other"
        if isinstance(e, ex.ConnectionError):
            # Refused before sending, or dropped after: which one the
            # library does not say, so it may have been applied. (A
            # Sentinel client's MasterNotFoundError and "The previous
            # master is now a slave" too: they end the retries of an op
            # an earlier attempt may have sent.)
            return "indeterminate", None
        return "indeterminate", None


class ValkeyPy(RedisPy):
    """valkey-py: redis-py's fork, the same client API under `valkey`."""
    name = "valkey-py"

    def __init__(self, hello):
        import valkey
        from valkey.cluster import ClusterNode, ValkeyCluster
        self.setup(hello, valkey, valkey.Valkey, ValkeyCluster, ClusterNode)


# ---------------------------------------------------------------------------
# valkey-glide: a Rust core with asyncio bindings. Its clients live on an
# event loop of their own; each op is a coroutine started there at its due
# time.


class Glide:
    name = "valkey-glide"
    asynchronous = True
    # GLIDE's documented defaults (2.6): what `ready` reports when unset.
    DEFAULTS = {"request_timeout": 250, "periodic_checks": "enabled (default interval)",
                "read_from": "primary", "reconnect_strategy": "library default",
                "inflight_requests_limit": 1000}

    def __init__(self, hello):
        import glide
        from importlib.metadata import version
        # Its core's warnings (one per MOVED it follows) go to stderr, at
        # most the errors.
        glide.Logger.set_logger_config(glide.LogLevel.ERROR)
        self.glide = glide
        self.version = version("valkey-glide")
        settings = dict(hello.get("settings") or {})
        kwargs = {}
        for k, v in settings.items():
            if k == "periodic_checks":
                if v in ("disabled", False):
                    kwargs[k] = glide.PeriodicChecksStatus.DISABLED
                elif v in ("default", True):
                    kwargs[k] = glide.PeriodicChecksStatus.ENABLED_DEFAULT_CONFIGS
                elif isinstance(v, dict) and set(v) == {"interval_s"}:
                    kwargs[k] = glide.PeriodicChecksManualInterval(duration_in_sec=int(v["interval_s"]))
                else:
                    raise ValueError(f"periodic_checks: {v!r} is not disabled, default or {{interval_s: N}}")
            elif k == "read_from":
                kwargs[k] = glide.ReadFrom[str(v).upper()]
            elif k == "reconnect_strategy":
                kwargs[k] = glide.BackoffStrategy(**v)
            else:
                kwargs[k] = v
        nodes = [glide.NodeAddress(h, int(p)) for h, p in (n.rsplit(":", 1) for n in hello["nodes"])]
        if hello["topology"] == "cluster":
            self.config = lambda: glide.GlideClusterClientConfiguration(nodes, **kwargs)
            self.cls = glide.GlideClusterClient
        else:
            self.config = lambda: glide.GlideClientConfiguration(nodes[:1], **kwargs)
            self.cls = glide.GlideClient
        self.config()  # a setting it refuses fails here, before `ready`
        self.effective = dict(self.DEFAULTS)
        self.effective.update(settings)

    async def make(self):
        return await self.cls.create(self.config())

    async def run(self, client, op, key, value):
        if op == "set":
            await client.set(key, value)
            return None
        if op == "get":
            v = await client.get(key)
            return None if v is None else v.decode("utf-8", "replace")
        if op == "incr":
            return str(await client.incr(key))
        if op == "del":
            await client.delete([key])
            return None
        raise Unsupported(op)

    def classify(self, e):
        g = self.glide
        msg = str(e)
        if isinstance(e, (g.TimeoutError, g.ConnectionError)):
            return "indeterminate", None
        for head, kind in (("CLUSTERDOWN", "clusterdown"), ("TRYAGAIN", "tryagain"),
                           ("MOVED", "moved"), ("ASK", "ask"), ("READONLY", "readonly"),
                           ("LOADING", "loading")):
            if head in msg:
                return "fail", kind
        if isinstance(e, g.ClosingError):
            return "fail", "connection"
        if isinstance(e, g.RequestError):
            # GLIDE does not say whether a failed request reached a server.
            return "indeterminate", None
        return "indeterminate", None


LIBRARIES = {RedisPy.name: RedisPy, ValkeyPy.name: ValkeyPy, Glide.name: Glide}


class Unsupported(Exception):
    pass


# ---------------------------------------------------------------------------
# The harness: a dispatcher, a pool of workers, lines.


class Ledger:
    """The ops in flight, so that an op the library holds past the hello's
    `deadline_ms` is answered `indeterminate` by the harness (the library
    never returned: it may have been applied) and the library's own late
    answer, if it comes, is dropped: one result per op, whatever the library
    does."""

    def __init__(self, epoch, deadline_ms):
        self.epoch = epoch
        self.deadline_ns = None if deadline_ms is None else int(deadline_ms) * 1_000_000
        self.lock = threading.Lock()
        self.open = {}

    def start(self, op_id, at):
        """An op handed over (at its due time) or sent (at `at`)."""
        with self.lock:
            self.open[op_id] = at

    def sent(self, op_id, at):
        with self.lock:
            if op_id in self.open:
                self.open[op_id] = at

    def left(self):
        with self.lock:
            return len(self.open)

    def answer(self, res):
        """Write the library's answer, unless the op was answered already;
        under the ledger's lock, so that an op out of the ledger is an op
        whose line is written (`done` waits for an empty ledger)."""
        with self.lock:
            if self.open.pop(res["id"], None) is not None:
                emit(res)

    def watch(self):
        """Answer every op held past the deadline; forever, every 100 ms."""
        if self.deadline_ns is None:
            return
        while True:
            time.sleep(0.1)
            now = now_ns(self.epoch)
            with self.lock:
                late = [(i, t) for i, t in self.open.items() if now - t > self.deadline_ns]
                for i, t in late:
                    del self.open[i]
                    emit({"type": "result", "id": i, "sent_ns": t, "end_ns": now,
                          "outcome": "indeterminate", "class": "redis-drill.NoReturn",
                          "message": f"the library had not returned after {self.deadline_ns // 1_000_000} ms"})


LEDGER = None
# The node the op running on this thread was last sent to, where the
# library lets the adapter see it.
SENT_TO = threading.local()


def begin(clients, epoch, item):
    """The op's result line as it is sent, and its client (or why none)."""
    sent = now_ns(epoch)
    LEDGER.sent(item["id"], sent)
    return {"type": "result", "id": item["id"], "sent_ns": sent}, clients[int(item["client"])]


def ended(lib, epoch, res, value=None, error=None):
    """Complete `res` with how the op ended: its value, or the error the
    library raised (as the protocol's outcome, kind, class and message)."""
    res["end_ns"] = now_ns(epoch)
    if error is None:
        res["outcome"] = "ok"
        if value is not None:
            res["value"] = value
    elif isinstance(error, Unsupported):
        res.update({"outcome": "fail", "kind": "other", "class": "Unsupported",
                    "message": f"{lib.name} adapter does not run `{error}`"})
    else:
        outcome, kind = lib.classify(error)
        res["outcome"] = outcome
        if kind:
            res["kind"] = kind
        res["class"] = f"{type(error).__module__}.{type(error).__qualname__}"
        res["message"] = str(error)[:300]
    return res


def run_and_emit(lib, clients, epoch, item):
    """Run one op on its client now, and answer it."""
    res, client = begin(clients, epoch, item)
    SENT_TO.addr = None
    try:
        if isinstance(client, Exception):
            raise client
        v = lib.run(client, item["op"], item["key"], item.get("value"))
    except Exception as e:  # noqa: BLE001 - every library error is a result
        LEDGER.answer(sent_to(ended(lib, epoch, res, error=e)))
        return
    LEDGER.answer(sent_to(ended(lib, epoch, res, value=v)))


def sent_to(res):
    """`res` with the node its op was last sent to, when known."""
    if getattr(SENT_TO, "addr", None):
        res["node"] = SENT_TO.addr
    return res


async def run_op_async(lib, clients, epoch, item):
    """run_and_emit for a library whose calls are coroutines."""
    res, client = begin(clients, epoch, item)
    try:
        if isinstance(client, Exception):
            raise client
        v = await lib.run(client, item["op"], item["key"], item.get("value"))
    except Exception as e:  # noqa: BLE001 - every library error is a result
        LEDGER.answer(ended(lib, epoch, res, error=e))
        return
    LEDGER.answer(ended(lib, epoch, res, value=v))


class AsyncRunner:
    """An event loop on a thread of its own, for an asyncio library."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.pending = set()
        self.lock = threading.Lock()

    def call(self, coro, timeout):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, coro):
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        with self.lock:
            self.pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut):
        with self.lock:
            self.pending.discard(fut)

    def drain(self):
        with self.lock:
            left = list(self.pending)
        concurrent.futures.wait(left)


def main():
    # SIGUSR1 writes every thread's stack to $REDIS_DRILL_ADAPTER_STACKS
    # (a diagnosis aid: where a library holds its threads).
    if os.environ.get("REDIS_DRILL_ADAPTER_STACKS"):
        import faulthandler
        import signal
        stacks = open(f"{os.environ['REDIS_DRILL_ADAPTER_STACKS']}.{os.getpid()}", "w")
        faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=True)
    first = sys.stdin.readline()
    if not first:
        return 2
    try:
        hello = json.loads(first)
        assert hello.get("type") == "hello", "the first line is not a hello"
        assert hello.get("protocol") == PROTOCOL, f"protocol {hello.get('protocol')}, not {PROTOCOL}"
        cls = LIBRARIES.get(hello["library"])
        assert cls is not None, (f"library {hello['library']!r} is not one of this adapter's: "
                                 f"{', '.join(sorted(LIBRARIES))}")
        lib = cls(hello)
        runner = AsyncRunner() if getattr(lib, "asynchronous", False) else None
        # One client object per client of the hello; a client that cannot
        # be made reports it on each of its ops.
        clients = []
        for _ in range(int(hello["clients"])):
            try:
                clients.append(runner.call(lib.make(), 15) if runner else lib.make())
            except Exception as e:  # noqa: BLE001 - its ops report it
                clients.append(e)
    except Exception as e:  # noqa: BLE001 - said on the protocol, then exit
        emit({"type": "error", "message": f"{type(e).__name__}: {e}"})
        return 3
    epoch = int(hello["epoch_monotonic_ns"])
    # The dispatcher must get the interpreter back at an op's due time: a
    # worker holding it for the default 5 ms would make every op late.
    sys.setswitchinterval(0.0005)
    # Ops in flight at once: an op due while every worker is busy waits,
    # and the wait shows as sent - due. Workers start as they are needed.
    workers = max(1, int(hello.get("max_in_flight") or 64))
    global LEDGER
    LEDGER = Ledger(epoch, hello.get("deadline_ms"))
    threading.Thread(target=LEDGER.watch, daemon=True).start()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    emit({"type": "ready", "library": lib.name, "version": lib.version,
          "settings": lib.effective})
    # The dispatcher: ops arrive in due order; each is handed to a worker
    # at its due time, whatever the ops before it are doing.
    for line in sys.stdin:
        msg = json.loads(line)
        kind = msg.get("type")
        if kind == "end":
            break
        if kind == "op":
            wait = (int(msg["due_ns"]) - now_ns(epoch)) / 1e9
            if wait > 0:
                time.sleep(wait)
            LEDGER.start(msg["id"], int(msg["due_ns"]))
            if runner:
                runner.submit(run_op_async(lib, clients, epoch, msg))
            else:
                pool.submit(run_and_emit, lib, clients, epoch, msg)
    # Every op answered, by its library or by the ledger past the deadline;
    # a thread the library still holds is not waited for.
    while LEDGER.left() > 0:
        time.sleep(0.01)
    emit({"type": "done"})
    _proto.flush()
    # Not a normal exit: it would join the worker threads, and a library
    # may hold one for minutes (a connect to an address that vanished).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
