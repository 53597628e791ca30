// Fan-out baseline: N subscribers on one topic over real loopback sockets, in the same process
// as the hub; events are published in-process in bursts, and each burst must reach every
// subscriber before the next (closed loop: nothing is dropped, so delivered/s is honest).
// Usage: npm run bench -- [--subscribers 1000] [--seconds 5] [--burst 20] [--size 100]
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createHub } from '../src/index.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    burst: { type: 'string', default: '20' },
    size: { type: 'string', default: '100' },
  },
});
const subscribers = Number(values.subscribers);
const seconds = Number(values.seconds);
const burst = Number(values.burst);
const size = Number(values.size);

const hub = createHub({ history: { maxEvents: 1000 }, heartbeatMs: 0 });
const server = createServer((req, res) => hub.subscribe(req, res, { topics: ['/bench'] }));
server.maxConnections = subscribers + 10;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

/** Counts `\n\n` event terminators in a byte stream, across chunk boundaries. */
class Counter {
  events = 0;
  #lastWasLf = false;
  feed(chunk: Buffer): void {
    let prev = this.#lastWasLf;
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
      if ((i === 0 && prev) || (i > 0 && chunk[i - 1] === 10)) this.events++;
      prev = false;
    }
    this.#lastWasLf = chunk[chunk.length - 1] === 10;
  }
}

const counters: Counter[] = [];
await Promise.all(
  Array.from(
    { length: subscribers },
    () =>
      new Promise<void>((resolve, reject) => {
        const counter = new Counter();
        counters.push(counter);
        const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.on('data', (chunk: Buffer) => counter.feed(chunk));
          resolve();
        });
        req.on('error', reject);
        req.end();
      }),
  ),
);
while (hub.stats().subscribers < subscribers) await new Promise((r) => setTimeout(r, 10));

const data = 'x'.repeat(Math.max(0, size - 30));
const waitAll = async (target: number): Promise<void> => {
  for (;;) {
    let done = true;
    for (const c of counters) if (c.events < target) done = false;
    if (done) return;
    await new Promise((r) => setImmediate(r));
  }
};

const cpu0 = process.cpuUsage();
const t0 = performance.now();
let published = 0;
while (performance.now() - t0 < seconds * 1000) {
  for (let i = 0; i < burst; i++) hub.publish({ topics: '/bench', data });
  published += burst;
  await waitAll(published);
}
const elapsed = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const delivered = counters.reduce((sum, c) => sum + c.events, 0);
const lost = published * subscribers - delivered;

console.log(
  JSON.stringify(
    {
      scenario: 'fanout-one-topic',
      subscribers,
      eventBytes: size,
      burst,
      seconds: Number(elapsed.toFixed(2)),
      published,
      delivered,
      lost,
      deliveredPerSecond: Math.round(delivered / elapsed),
      publishedPerSecond: Math.round(published / elapsed),
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100),
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
    },
    null,
    2,
  ),
);
await hub.close();
server.closeAllConnections();
server.close();
