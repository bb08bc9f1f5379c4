#!/usr/bin/env node
// redis-drill's adapter for node-redis, protocol 1 (docs/clients.md).
//
// Reads JSON lines on stdin — a hello, ops ahead of their due times, an end —
// and writes JSON lines on stdout: ready (or error), one result per op, done.
// Each client of the hello is a node-redis client (`createCluster` on a
// cluster, `createClient` otherwise) with its own connections, all on this
// process's one event loop. Each op is started by a timer at its due time,
// whatever the ops before it are doing; its result says when it was sent and
// when it ended, on the run's clock (CLOCK_MONOTONIC — process.hrtime — minus
// the hello's epoch). A timer that fires late shows as sent - due.
//
// Settings pass through to createCluster / createClient as options, by
// node-redis's own names; `ready` echoes the settings that change outcomes as
// the clients run with them, defaults included.

'use strict';

const readline = require('readline');

const PROTOCOL = 1;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function nowNs(epoch) {
  return Number(process.hrtime.bigint() - epoch);
}

// node-redis 4.5's defaults for what changes an outcome (its source:
// cluster/index.ts, client/socket.ts).
const DEFAULTS = {
  maxCommandRedirections: 16,
  useReplicas: false,
  'socket.connectTimeout': 5000,
  'socket.reconnectStrategy': 'retries * 50 ms, at most 500 ms',
  commandTimeout: 'none (node-redis 4 has no command timeout: an op waits for its reply or a disconnect)',
  disableOfflineQueue: false,
};

// A node-redis error as the protocol's outcome and kind.
function classify(e) {
  const msg = String((e && e.message) || e);
  const heads = [
    ['CLUSTERDOWN', 'clusterdown'], ['TRYAGAIN', 'tryagain'], ['MOVED', 'moved'],
    ['ASK', 'ask'], ['READONLY', 'readonly'], ['LOADING', 'loading'],
  ];
  for (const [head, kind] of heads) {
    if (msg.startsWith(head)) return ['fail', kind];
  }
  const name = e && e.constructor ? e.constructor.name : '';
  if (name === 'ErrorReply') return ['fail', 'other'];
  // ClientClosedError, ClientOfflineError (never written): certainly not applied.
  if (name === 'ClientClosedError' || name === 'ClientOfflineError') return ['fail', 'connection'];
  // A socket closed or a timeout after sending: may have been applied.
  return ['indeterminate', null];
}

async function runOp(client, op, key, value) {
  switch (op) {
    case 'set': await client.set(key, value); return null;
    case 'get': return await client.get(key);
    case 'incr': return String(await client.incr(key));
    case 'del': await client.del(key); return null;
    default: { const e = new Error(`node-redis adapter does not run \`${op}\``); e.unsupported = true; throw e; }
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  const it = lines[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return 2;
  let hello, clients, redis;
  try {
    hello = JSON.parse(first.value);
    if (hello.type !== 'hello') throw new Error('the first line is not a hello');
    if (hello.protocol !== PROTOCOL) throw new Error(`protocol ${hello.protocol}, not ${PROTOCOL}`);
    if (hello.library !== 'node-redis') throw new Error(`library ${hello.library} is not node-redis`);
    redis = require('redis');
    const settings = hello.settings || {};
    const urls = hello.nodes.map((n) => ({ url: `redis://${n}` }));
    const make = hello.topology === 'cluster'
      ? () => redis.createCluster(Object.assign({ rootNodes: urls }, settings))
      : () => redis.createClient(Object.assign({ url: urls[0].url }, settings));
    clients = [];
    for (let i = 0; i < hello.clients; i++) {
      const c = make();
      // Errors of the connection itself (a node gone) come as events; the
      // ops they fail report them.
      c.on('error', () => {});
      await c.connect();
      clients.push(c);
    }
  } catch (e) {
    emit({ type: 'error', message: `${(e && e.constructor && e.constructor.name) || 'Error'}: ${e && e.message}` });
    return 3;
  }
  const epoch = BigInt(hello.epoch_monotonic_ns);
  const version = require('redis/package.json').version;
  const effective = Object.assign({}, DEFAULTS, hello.settings || {});
  emit({ type: 'ready', library: 'node-redis', version, settings: effective });

  const deadlineMs = hello.deadline_ms == null ? null : Number(hello.deadline_ms);
  let pending = 0;
  let ended = false;
  let finish;
  const allDone = new Promise((resolve) => { finish = resolve; });
  const settle = () => { pending -= 1; if (ended && pending === 0) finish(); };

  const start = (item) => {
    // Timers count whole milliseconds: never send before the due time.
    if (nowNs(epoch) < item.due_ns) { setImmediate(start, item); return; }
    const sent = nowNs(epoch);
    const res = { type: 'result', id: item.id, sent_ns: sent };
    // One answer per op: the library's, or past the hello's deadline_ms
    // the adapter's own (`indeterminate`: the library never returned).
    let answered = false;
    const answer = (r) => {
      if (answered) return;
      answered = true;
      if (watchdog) clearTimeout(watchdog);
      emit(r);
      settle();
    };
    const watchdog = deadlineMs == null ? null : setTimeout(() => answer({
      type: 'result', id: item.id, sent_ns: sent, end_ns: nowNs(epoch), outcome: 'indeterminate',
      class: 'redis-drill.NoReturn', message: `the library had not returned after ${deadlineMs} ms`,
    }), deadlineMs);
    let p;
    try {
      p = runOp(clients[item.client], item.op, item.key, item.value);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then((v) => {
      res.end_ns = nowNs(epoch);
      res.outcome = 'ok';
      if (v !== null && v !== undefined) res.value = String(v);
    }, (e) => {
      res.end_ns = nowNs(epoch);
      if (e && e.unsupported) {
        Object.assign(res, { outcome: 'fail', kind: 'other', class: 'Unsupported', message: e.message });
      } else {
        const [outcome, kind] = classify(e);
        res.outcome = outcome;
        if (kind) res.kind = kind;
        res.class = (e && e.constructor && e.constructor.name) || 'Error';
        res.message = String((e && e.message) || e).slice(0, 300);
      }
    }).then(() => answer(res));
  };

  for (;;) {
    const next = await it.next();
    if (next.done) break;
    const msg = JSON.parse(next.value);
    if (msg.type === 'end') break;
    if (msg.type !== 'op') continue;
    pending += 1;
    const wait = Math.floor((msg.due_ns - nowNs(epoch)) / 1e6);
    if (wait > 0) setTimeout(start, wait, msg); else start(msg);
  }
  ended = true;
  if (pending > 0) await allDone;
  emit({ type: 'done' });
  // Not a graceful disconnect: a library may hold a request or a
  // reconnect for minutes; every op is answered, so the process ends here.
  process.exit(0);
}

main().then((code) => { process.exitCode = code; }, (e) => {
  process.stderr.write(String((e && e.stack) || e) + '\n');
  process.exitCode = 4;
});
