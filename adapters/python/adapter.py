#!/usr/bin/env python3
"""redis-drill's adapter for Python client libraries, protocol 1
(docs/clients.md).

Reads JSON lines on stdin — a hello, ops ahead of their due times, an end —
and writes JSON lines on stdout: ready (or error), one result per op, done.
Each client of the hello is a thread with a connection object of its own,
running its ops in due order: it sleeps until an op's due time, sends it, and
writes its result with when it was sent and when it ended, on the run's clock
(CLOCK_MONOTONIC minus the hello's epoch). A client still busy at an op's due
time sends it late: the lag shows as sent - due, never hidden.

Libraries: redis-py (`redis`). Settings pass through to the library's client
constructor, by the library's own names; `ready` echoes the settings that
change outcomes as the client runs with them, defaults included.
"""

import json
import queue
import sys
import threading
import time

PROTOCOL = 1
_out_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


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
                        "read_from_replicas", "require_full_coverage")

    def __init__(self, hello):
        import redis
        from redis.cluster import ClusterNode, RedisCluster
        self.redis = redis
        self.version = redis.__version__
        settings = dict(hello.get("settings") or {})
        nodes = [n.rsplit(":", 1) for n in hello["nodes"]]
        if hello["topology"] == "cluster":
            self.make = lambda: RedisCluster(
                startup_nodes=[ClusterNode(h, int(p)) for h, p in nodes], **settings)
        else:
            h, p = nodes[0]
            self.make = lambda: redis.Redis(host=h, port=int(p), **settings)
        probe = self.make()
        self.effective = self.settings_of(probe, settings)
        probe.close()

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
            # library does not say, so it may have been applied.
            return "indeterminate", None
        return "indeterminate", None


LIBRARIES = {RedisPy.name: RedisPy}


class Unsupported(Exception):
    pass


# ---------------------------------------------------------------------------
# The harness: threads, schedule, lines.


def client_loop(lib, epoch, q, pending):
    client, err = None, None
    try:
        client = lib.make()
    except Exception as e:  # noqa: BLE001 - its ops report it
        err = e
    while True:
        item = q.get()
        if item is None:
            break
        wait = (item["due_ns"] - now_ns(epoch)) / 1e9
        if wait > 0:
            time.sleep(wait)
        sent = now_ns(epoch)
        res = {"type": "result", "id": item["id"], "sent_ns": sent}
        try:
            if client is None:
                raise err
            v = lib.run(client, item["op"], item["key"], item.get("value"))
            res["end_ns"] = now_ns(epoch)
            res["outcome"] = "ok"
            if v is not None:
                res["value"] = v
        except Unsupported as e:
            res["end_ns"] = now_ns(epoch)
            res.update({"outcome": "fail", "kind": "other", "class": "Unsupported",
                        "message": f"{lib.name} adapter does not run `{e}`"})
        except Exception as e:  # noqa: BLE001 - every library error is a result
            res["end_ns"] = now_ns(epoch)
            outcome, kind = lib.classify(e)
            res["outcome"] = outcome
            if kind:
                res["kind"] = kind
            res["class"] = f"{type(e).__module__}.{type(e).__qualname__}"
            res["message"] = str(e)[:300]
        emit(res)
        with pending["lock"]:
            pending["n"] -= 1
    if client is not None:
        try:
            client.close()
        except Exception:  # noqa: BLE001
            pass


def main():
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
    except Exception as e:  # noqa: BLE001 - said on the protocol, then exit
        emit({"type": "error", "message": f"{type(e).__name__}: {e}"})
        return 3
    epoch = int(hello["epoch_monotonic_ns"])
    emit({"type": "ready", "library": lib.name, "version": lib.version,
          "settings": lib.effective})
    queues = [queue.Queue() for _ in range(int(hello["clients"]))]
    pending = {"n": 0, "lock": threading.Lock()}
    threads = [threading.Thread(target=client_loop, args=(lib, epoch, q, pending), daemon=True)
               for q in queues]
    for t in threads:
        t.start()
    for line in sys.stdin:
        msg = json.loads(line)
        if msg.get("type") == "end":
            break
        if msg.get("type") == "op":
            with pending["lock"]:
                pending["n"] += 1
            queues[int(msg["client"])].put(msg)
    for q in queues:
        q.put(None)
    for t in threads:
        t.join()
    emit({"type": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
