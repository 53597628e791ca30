// Many streams opening and closing: every close is reported exactly once and nothing stays
// behind — no listeners on responses or reused sockets, no timers.
import assert from 'node:assert/strict';
import { Agent, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { type CloseReason, createEventStream, type EventStream } from '../../src/index.js';
import { deferred, withTimeout } from '../helpers/async.js';
import { Routes, startHttpServer, type TestHttpServer } from '../helpers/server.js';
import { openStream } from '../helpers/sse.js';

const routes = new Routes();
let server: TestHttpServer;
before(async () => {
  server = await startHttpServer(routes.handle);
});
after(() => server.close());

const CYCLES = 1000;

const activeTimeouts = (): number =>
  process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;

/** `event:count` for every event an emitter has listeners for, sorted: a comparable snapshot. */
function listenerSignature(emitter: ServerResponse | Socket): string {
  return emitter
    .eventNames()
    .map((name) => `${String(name)}:${emitter.listenerCount(name)}`)
    .sort()
    .join(',');
}

test(`${CYCLES} open/close cycles (server closes, client aborts, alternately) leak nothing`, async () => {
  const timeoutsBefore = activeTimeouts();
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const reasons: CloseReason[][] = Array.from({ length: CYCLES }, () => []);
  const streams: EventStream[] = [];
  const responses: Array<{ res: ServerResponse; before: string; closed: Promise<void> }> = [];
  const socketSignatures = new Map<Socket, string>();
  const socketMismatches: string[] = [];
  let closeCount = 0;
  const allClosed = deferred<void>();

  routes.set('/cycle', (req, res) => {
    const n = Number(new URL(req.url ?? '', 'http://x').searchParams.get('n'));
    // The test's own listener goes on first, so the snapshot includes it.
    const resClosed = new Promise<void>((resolve) => res.on('close', () => resolve()));
    responses.push({ res, before: listenerSignature(res), closed: resClosed });
    // A kept-alive socket must look the same at every request it serves.
    const signature = listenerSignature(req.socket);
    const known = socketSignatures.get(req.socket);
    if (known === undefined) socketSignatures.set(req.socket, signature);
    else if (known !== signature) socketMismatches.push(`request ${n}: ${known} -> ${signature}`);

    const stream = createEventStream(req, res, {
      heartbeatMs: 30_000,
      onClose: (reason) => {
        reasons[n]?.push(reason);
        if (++closeCount === CYCLES) allClosed.resolve();
      },
    });
    streams.push(stream);
    stream.send({ id: String(n), data: `cycle ${n}` });
    if (n % 2 === 0) stream.close();
  });

  for (let n = 0; n < CYCLES; n++) {
    const { req, reader } = await openStream(`${server.origin}/cycle?n=${n}`, {}, agent);
    if (n % 2 === 0) {
      await reader.end(`the server to end stream ${n}`);
    } else {
      await reader.events.count(1, `the event of stream ${n}`);
      req.destroy();
    }
  }
  await withTimeout(allClosed.promise, `all ${CYCLES} onClose calls`, 30_000);
  await withTimeout(Promise.all(responses.map((r) => r.closed)), 'every response to close', 30_000);
  agent.destroy();
  server.server.closeIdleConnections();
  await new Promise(setImmediate);

  assert.equal(streams.length, CYCLES);
  for (let n = 0; n < CYCLES; n++) {
    assert.deepEqual(reasons[n], [n % 2 === 0 ? 'server' : 'client'], `onClose of stream ${n}`);
    assert.equal(streams[n]?.closed, true);
    assert.equal(streams[n]?.signal.aborted, true);
  }
  for (const [i, { res, before }] of responses.entries()) {
    assert.equal(listenerSignature(res), before, `listeners left on response ${i}`);
  }
  assert.ok(socketSignatures.size < CYCLES, 'server-closed streams let sockets be reused');
  assert.deepEqual(socketMismatches, []);
  assert.equal(activeTimeouts(), timeoutsBefore, 'timers left behind');
});
