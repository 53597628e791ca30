// `herald serve` and the bounds of issue 14, items 1 and 11: a subscriber that stops reading in
// the middle of a replay is closed after --stall-timeout, logged with reason "stalled" and
// counted in herald_stream_closes_total; an update whose encoding no subscriber queue could hold
// is answered 413 with the reason (a JSON array is refused whole, nothing of it published).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { startServer } from '../../src/server/app.js';
import { loadConfig } from '../../src/server/config.js';
import { createLogger } from '../../src/server/logger.js';
import { waitFor } from '../helpers/async.js';
import {
  assertErrorResponse,
  HUB,
  publish,
  publisherToken,
  SECRET,
  startHub,
} from '../helpers/hub-server.js';

async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.slice(name.length + 1));
}

test('a subscriber that stops reading mid-replay is closed after --stall-timeout: logged and counted', async () => {
  let written = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written += chunk.toString();
      done();
    },
  });
  const { config } = loadConfig({
    argv: ['--addr', '127.0.0.1:0', '--jwt-key', SECRET, '--anonymous', '--stall-timeout', '400ms'],
    env: {},
  });
  assert.equal(config.stallTimeoutMs, 400);
  const hub = await startServer(config, { logger: createLogger('info', sink) });
  const token = await publisherToken();
  let socket: Socket | undefined;
  try {
    // 12 MB of history: more than the socket buffers between the hub and a client that stopped.
    for (let i = 0; i < 12; i++) {
      const res = await publish(hub.url, { topic: '/s', data: 'z'.repeat(1_000_000) }, token);
      assert.equal(res.status, 200, await res.text());
    }
    const stalled = 'herald_stream_closes_total{reason="stalled"}';
    assert.equal(await metric(hub.url, stalled), 0);
    socket = connect(Number(new URL(hub.url).port), '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.pause();
    socket.write(
      `GET ${HUB}?topic=/s&lastEventID=earliest HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
    );
    await waitFor(() => written.includes('"reason":"stalled"'), 'the stalled log line', 30_000);
    const line = JSON.parse(written.split('\n').find((l) => l.includes('"reason":"stalled"'))!) as {
      msg: string;
      ip: string;
      stallTimeoutMs: number;
    };
    assert.match(line.msg, /--stall-timeout/);
    assert.equal(line.ip, '127.0.0.1');
    assert.equal(line.stallTimeoutMs, 400);
    assert.equal(await metric(hub.url, stalled), 1);
    assert.equal(await metric(hub.url, 'herald_connections'), 0, 'its slot came back');
  } finally {
    socket?.destroy();
    await hub.close(500);
  }
});

test('an update larger encoded than --queue-bytes: 413 with the reason; a JSON array is refused whole', async () => {
  const hub = await startHub(['--queue-bytes', '64KiB']);
  const token = await publisherToken();
  try {
    // 20 000 line breaks: 60 kB as a form body, 140 kB encoded.
    const body = await assertErrorResponse(
      await publish(hub.url, { topic: '/n', data: '\n'.repeat(20_000) }, token),
      413,
      /--queue-bytes 65536/,
    );
    assert.match(body, /line break/);
    const array = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify([
        { topic: '/n', data: 'fits' },
        { topic: '/n', data: '\r'.repeat(20_000) },
      ]),
    });
    await assertErrorResponse(array, 413, /update #1: .*--queue-bytes/);
    assert.equal(hub.hub.stats().history.events, 0, 'nothing of the array was published');
    // As many plain bytes fit.
    const ok = await publish(hub.url, { topic: '/n', data: 'x'.repeat(20_000) }, token);
    assert.equal(ok.status, 200);
  } finally {
    await hub.close(500);
  }
});
