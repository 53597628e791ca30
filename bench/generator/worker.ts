/**
 * A load-generator worker process (forked by `pool.ts`): opens SSE connections to the server
 * under test, scans their streams with {@link EventScanner}, and answers the orchestrator's
 * requests (see `messages.ts`). One process holds at most a few thousand connections (the
 * open-file limit is per process), from the loopback source addresses it is given.
 */
import type { Socket } from 'node:net';
import { nowMicros } from './clock.js';
import { encodeHistogram, microsHistogram } from './histogram.js';
import { openStream } from './http-stream.js';
import type { ConnectResult, ConnectSpec, Counts, Reply, Request } from './messages.js';
import { EventScanner } from './scanner.js';

/** Open or opening connections; a socket in `closing` was ended by this worker. */
const connections = new Set<Socket>();
const closing = new WeakSet<Socket>();
let counts: Counts = emptyCounts();
let latency = microsHistogram();
let connect = microsHistogram();

function emptyCounts(): Counts {
  return {
    open: 0,
    primed: 0,
    events: 0,
    bytes: 0,
    lastEventMicros: 0,
    failed: 0,
    dropped: 0,
    firstError: undefined,
  };
}

const recordLatency = (micros: number): void => {
  latency.recordValue(micros > 0 ? micros : 0);
};

function fail(message: string): void {
  counts.failed++;
  counts.firstError ??= message;
}

/**
 * Opens one connection. Resolves once it is ready (headers received, or in storm mode its
 * `completeAt`-th event arrived), or failed.
 */
function openOne(spec: ConnectSpec, index: number): Promise<boolean> {
  return new Promise((resolve) => {
    const started = nowMicros();
    const sampled = spec.sampleEvery > 0 && index % spec.sampleEvery === 0;
    const scanner = new EventScanner(sampled ? recordLatency : undefined);
    const completeAt = spec.completeAt;
    let settled = false;
    let open = false;
    let primed = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const socket = openStream(
      {
        port: spec.port,
        path: spec.path,
        headers: spec.headers,
        localAddress: spec.localAddresses[index % spec.localAddresses.length],
      },
      {
        onResponse(status) {
          if (status !== 200) {
            fail(`GET ${spec.path}: status ${status}`);
            socket.destroy();
            settle(false);
            return;
          }
          open = true;
          counts.open++;
          if (completeAt === 0) settle(true);
        },
        onBody(chunk) {
          const now = nowMicros();
          const events = scanner.feed(chunk, now);
          counts.bytes += chunk.length;
          if (events === 0) return;
          if (!primed) {
            primed = true;
            counts.primed++;
          }
          counts.events += events;
          counts.lastEventMicros = now;
          if (!settled && scanner.events >= completeAt) {
            connect.recordValue(Math.max(0, now - started));
            settle(true);
          }
        },
        onClose(error) {
          connections.delete(socket);
          const ours = closing.has(socket);
          if (open) {
            open = false;
            counts.open--;
            if (primed) counts.primed--;
            if (!ours) {
              counts.dropped++;
              counts.firstError ??= `GET ${spec.path}: the server ended the stream`;
            }
          } else if (!ours && !settled) {
            fail(`GET ${spec.path}: ${error?.message ?? 'closed before the response'}`);
          }
          settle(false);
        },
      },
    );
    const timer = setTimeout(() => {
      if (settled) return;
      fail(`GET ${spec.path}: not ready after ${spec.timeoutMs} ms`);
      settle(false);
    }, spec.timeoutMs);
    connections.add(socket);
  });
}

async function connectAll(spec: ConnectSpec): Promise<ConnectResult> {
  const startMicros = nowMicros();
  let next = 0;
  let opened = 0;
  const lane = async (): Promise<void> => {
    while (next < spec.count) {
      const index = next++;
      if (await openOne(spec, index)) opened++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.count) }, lane));
  return { opened, startMicros, endMicros: nowMicros() };
}

async function closeAll(): Promise<void> {
  for (const socket of connections) {
    closing.add(socket);
    // Reset rather than close: a normal close would leave this side's socket in TIME_WAIT for a
    // minute, and with an explicit source address (bind before connect) the kernel then has to
    // search past thousands of busy ports for every later connection — the generator, not the
    // server, became the bottleneck of the scenarios that follow a big one.
    if (!socket.destroyed && !socket.connecting) socket.resetAndDestroy();
    else socket.destroy();
  }
  // Wait for the sockets' close events, which keep the counts right (at most 5 s).
  for (let i = 0; i < 250 && connections.size > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  connections.clear();
  counts.open = 0;
  counts.primed = 0;
}

function reply(message: Reply): void {
  process.send?.(message);
}

process.on('message', (message: Request) => {
  const { seq } = message;
  const answer = async (): Promise<void> => {
    switch (message.type) {
      case 'connect': {
        const result = await connectAll(message.spec);
        reply({ type: 'connected', seq, result, counts });
        return;
      }
      case 'counts':
        reply({ type: 'counts', seq, counts });
        return;
      case 'reset':
        counts = { ...emptyCounts(), open: counts.open, primed: counts.primed };
        latency = microsHistogram();
        connect = microsHistogram();
        reply({ type: 'done', seq });
        return;
      case 'collect':
        reply({
          type: 'collected',
          seq,
          collected: { latency: encodeHistogram(latency), connect: encodeHistogram(connect) },
        });
        return;
      case 'close':
        await closeAll();
        reply({ type: 'done', seq });
        return;
      case 'exit':
        await closeAll();
        reply({ type: 'done', seq });
        process.disconnect();
        return;
    }
  };
  answer().catch((error: unknown) => {
    reply({ type: 'error', seq, message: (error as Error).stack ?? String(error) });
  });
});

// The orchestrator is gone (crashed or killed): do not linger with thousands of sockets.
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
