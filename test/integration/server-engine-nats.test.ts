// `herald serve --engine nats://…`: two hub servers over one real nats-server (JetStream) share
// history and live events; readiness and publishing follow NATS going away and coming back.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { HeraldServer } from '../../src/server/app.js';
import {
  assertErrorResponse,
  eventually,
  idsOf,
  publish,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
} from '../helpers/hub-server.js';
import { natsSkip, startNats, type TestNats } from '../helpers/nats-server.js';

describe('herald serve --engine nats://', { skip: natsSkip }, () => {
  let nats: TestNats;
  let a: HeraldServer;
  let b: HeraldServer;

  before(async () => {
    nats = await startNats();
    const engine = `${nats.url}?stream=hub`;
    const flags = ['--anonymous', '--engine', engine, '--history-size', '50'];
    // One after the other, so that B is the node that set the stream's limits last.
    a = await startHub([...flags, '--history-ttl', '1h']);
    await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 200, 'A ready');
    b = await startHub(flags);
    await eventually(async () => (await fetch(`${b.url}/readyz`)).status === 200, 'B ready');
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await nats?.stop();
  });

  test('the history options become the limits of the stream named in the URL', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const info = await (await jetstreamManager(nc)).streams.info('hub');
      assert.deepEqual(info.config.subjects, ['hub.>']);
      assert.equal(info.config.max_msgs, 50);
      assert.equal(info.config.max_bytes, 16 * 1024 * 1024, '--history-bytes default');
      // The node started last wins: B has no --history-ttl.
      assert.equal(info.config.max_age, 0);
    } finally {
      await nc.close();
    }
  });

  test('an update published on one node reaches subscribers of the other, and replays there', async () => {
    const token = await publisherToken();
    const live = await subscribe(b.url, ['/books/{id}']);
    const first = await publishOk(a.url, { topic: '/books/1', data: 'one' }, token);
    await live.reader.events.until((e) => idsOf(e).includes(first), 'the live event on B');
    const second = await publishOk(b.url, { topic: '/books/2', data: 'two' }, token);
    await live.reader.events.until((e) => idsOf(e).includes(second), 'B’s own event');
    live.req.destroy();

    // Resume on node A after the first id: exactly the second event comes back.
    const resumed = await subscribe(a.url, ['/books/{id}'], {
      headers: { 'last-event-id': first },
    });
    await resumed.reader.events.until((e) => idsOf(e).includes(second), 'the replay on A');
    assert.deepEqual(idsOf(resumed.reader.events.items), [second]);
    resumed.req.destroy();

    // A custom id is refused on the other node while it is in history.
    const custom = await publishOk(
      a.url,
      { topic: '/books/3', data: 'three', id: 'book-3' },
      token,
    );
    assert.equal(custom, 'book-3');
    await assertErrorResponse(
      await publish(b.url, { topic: '/books/3', data: 'again', id: 'book-3' }, token),
      409,
      /still in history/,
    );
  });

  test('readiness and publishing follow NATS: 503 with a reason while it is down', async () => {
    const token = await publisherToken();
    assert.equal((await fetch(`${a.url}/readyz`)).status, 200);
    await nats.kill();
    await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 503, 'A not ready');
    await assertErrorResponse(
      await publish(a.url, { topic: '/down', data: 'x' }, token),
      503,
      /nats is unavailable.*retry once it is reachable/,
    );
    // A node that cannot promise gap-free delivery refuses new subscribers, with a reason.
    await assertErrorResponse(
      await fetch(`${a.url}/.well-known/mercure?topic=/down`),
      503,
      /the hub is not ready \(nats .*\); retry in a moment/,
    );
    await nats.start();
    await eventually(async () => (await fetch(`${a.url}/readyz`)).status === 200, 'A ready again');
    await eventually(async () => (await fetch(`${b.url}/readyz`)).status === 200, 'B ready again');
    const live = await subscribe(b.url, ['/after']);
    const id = await publishOk(a.url, { topic: '/after', data: 'back' }, token);
    await live.reader.events.until((e) => idsOf(e).includes(id), 'delivery after the restart');
    live.req.destroy();
  });
});
