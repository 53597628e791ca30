// Security review: what URI-template selectors may cost the hub. A template's cost is estimated
// from its text before anything is compiled; one template, one subscription (its token's
// mercure.subscribe included), one publisher token's mercure.publish, one client address (as
// the connection limit counts it, --trusted-proxies included) and the whole hub are bounded, with
// a 400 or a 429 that names the selector, the cost, the limit and its flag. The budget comes back
// when a subscription closes. Mercure's own rules are kept: a malformed template matches exactly,
// a selector equal to a topic matches it.
import assert from 'node:assert/strict';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { selectorCacheStats, selectorCost } from '../../src/hub/index.js';
import type { HeraldServer } from '../../src/server/app.js';
import { waitFor, withTimeout } from '../helpers/async.js';
import {
  http,
  makeToken,
  publish,
  publisherToken,
  publishOk,
  startHub,
  subscribe,
  subscribeUrl,
} from '../helpers/hub-server.js';

/** What a subscribe got: the status, the reason of a refusal; a 200 stream stays open. */
interface Opened {
  status: number;
  body: string;
  retryAfter: string | undefined;
  res: IncomingMessage;
}

/** GETs a subscription from `localAddress` (127.0.0.x: another client) with `headers`. */
async function open(
  base: string,
  topics: readonly string[],
  options: { localAddress?: string; headers?: Record<string, string> } = {},
): Promise<Opened> {
  const res = await withTimeout(
    new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpGet(
        subscribeUrl(base, topics),
        { agent: false, localAddress: options.localAddress, headers: options.headers },
        resolve,
      );
      req.on('error', reject);
    }),
    `a response to ${topics.length} selectors`,
  );
  let body = '';
  if (res.statusCode !== 200) {
    res.setEncoding('utf8');
    for await (const chunk of res) body += chunk;
  }
  const retryAfter = res.headers['retry-after'];
  return { status: res.statusCode ?? 0, body, retryAfter, res };
}

/** The hub's `herald_template_cost_bytes` gauge. */
async function heldBytes(hub: HeraldServer): Promise<number> {
  const text = await (await fetch(`${hub.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('herald_template_cost_bytes '));
  return Number(line?.split(' ')[1]);
}

/** Runs `body` with a hub from `flags`, closing every stream it kept and the hub. */
async function withHub(
  flags: string[],
  body: (hub: HeraldServer, keep: (o: Opened) => Opened) => Promise<void>,
): Promise<void> {
  const hub = await startHub(flags);
  const held: IncomingMessage[] = [];
  try {
    await body(hub, (o) => {
      held.push(o.res);
      return o;
    });
  } finally {
    for (const res of held) res.destroy();
    await hub.close(500);
  }
}

/** `n` templates of distinct languages, each of about the same cost. */
function distinct(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `/${prefix}/${i}/{id}`);
}

describe('template cost limits', () => {
  test('a costly template is refused with a 400 before anything is compiled', async () => {
    await withHub(['--anonymous'], async (hub) => {
      const misses = selectorCacheStats().misses;
      const selector = `{v${Math.random().toString(36).slice(2)}:1600}`;
      const answer = await open(hub.url, ['/ok/{id}', selector]);
      assert.equal(answer.status, 400);
      assert.ok(answer.body.includes(JSON.stringify(selector)), answer.body);
      assert.match(answer.body, /would take about \d+ KiB compiled \(16000 automaton states\)/);
      assert.match(answer.body, /the limit is 128 KiB per template \(--max-template-cost\)/);
      assert.equal(selectorCacheStats().misses, misses, 'nothing was compiled');
      // Over the library's own bound: refused the same way, with its reason.
      const huge = await open(hub.url, ['{v:9999}']);
      assert.equal(huge.status, 400);
      assert.match(huge.body, /too complex to match \(99990 automaton states, at most 16384\)/);
      const vars = Array.from({ length: 33 }, (_, i) => `v${i}`).join(',');
      const many = await open(hub.url, [`/x{?${vars}}`]);
      assert.equal(many.status, 400);
      assert.match(many.body, /33 variables; at most 32/);
    });
  });

  test('real-world templates are accepted and match', async () => {
    await withHub(['--anonymous'], async (hub) => {
      const selectors = [
        'https://example.com/books/{id}',
        'https://example.com/files{/path*}',
        'https://example.com/search{?q,page}',
        'https://example.com/tags/{tag:20}',
      ];
      const stream = await subscribe(hub.url, selectors);
      const token = await publisherToken();
      const topics = [
        'https://example.com/books/1',
        'https://example.com/files/a/b',
        'https://example.com/search?q=x&page=2',
        'https://example.com/tags/short',
        'https://example.com/tags/much-too-long-for-twenty',
      ];
      for (const topic of topics) await publishOk(hub.url, { topic, data: topic }, token);
      await stream.reader.events.until((e) => e.length >= 4, '4 events');
      assert.deepEqual(
        stream.reader.events.items.map((e) => e.data),
        topics.slice(0, 4),
      );
      stream.res.destroy();
    });
  });

  test("Mercure's rules: a malformed template and a selector equal to the topic match exactly", async () => {
    await withHub(['--anonymous'], async (hub) => {
      const stream = await subscribe(hub.url, ['{"room":1}', '/books/{id}']);
      const token = await publisherToken();
      for (const topic of ['{"room":1}', '/books/{id}', '/books/1/x', '/books/2']) {
        await publishOk(hub.url, { topic, data: topic }, token);
      }
      await stream.reader.events.until((e) => e.length >= 3, '3 events');
      assert.deepEqual(
        stream.reader.events.items.map((e) => e.data),
        ['{"room":1}', '/books/{id}', '/books/2'],
      );
      stream.res.destroy();
    });
  });

  test('the templates of one subscription are bounded together (--max-subscription-cost)', async () => {
    const one = selectorCost('/sub/0/{id}').bytes;
    const limit = Math.floor(one * 3.5);
    await withHub(['--anonymous', '--max-subscription-cost', String(limit)], async (hub, keep) => {
      assert.equal(keep(await open(hub.url, distinct('sub', 3))).status, 200);
      const answer = await open(hub.url, distinct('sub', 4));
      assert.equal(answer.status, 400);
      assert.match(
        answer.body,
        /the 4 URI templates of this subscription .* would take about \d+ KiB compiled together; the limit is \d+ KiB \(--max-subscription-cost\)/,
      );
      // Templates of one language cost one compiled template: many names, one automaton.
      const names = Array.from({ length: 40 }, (_, i) => `/sub/x/{name${i}}`);
      assert.equal(keep(await open(hub.url, names)).status, 200);
    });
  });

  test('one client address is bounded, and its budget comes back when a stream closes', async () => {
    const one = selectorCost('/ip/0/{id}').bytes;
    const flags = ['--anonymous', '--max-template-cost-per-ip', String(Math.floor(one * 4.5))];
    await withHub(flags, async (hub, keep) => {
      const first = keep(await open(hub.url, distinct('ip', 3)));
      assert.equal(first.status, 200);
      assert.ok((await heldBytes(hub)) > 0);
      // The same templates again cost nothing more: an address holds each once.
      assert.equal(keep(await open(hub.url, distinct('ip', 3))).status, 200);
      const refused = await open(hub.url, distinct('ip', 5));
      assert.equal(refused.status, 429);
      assert.equal(refused.retryAfter, '5');
      assert.match(
        refused.body,
        /held by subscriptions from 127\.0\.0\.1 would take about \d+ KiB compiled; the limit is \d+ KiB per client address \(--max-template-cost-per-ip\)/,
      );
      // Another address has a budget of its own.
      assert.equal(
        keep(await open(hub.url, distinct('ip', 4), { localAddress: '127.0.0.2' })).status,
        200,
      );
      // A HEAD request holds nothing.
      const heldBefore = await heldBytes(hub);
      const head = await http(subscribeUrl(hub.url, distinct('head', 4)), { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await heldBytes(hub), heldBefore);
      for (const o of [first]) o.res.destroy();
      await waitFor(() => hub.hub.stats().subscribers === 3, 'the hub to see one stream close');
      // Still held by the second stream of 127.0.0.1.
      assert.equal((await open(hub.url, distinct('ip', 5))).status, 429);
    });
  });

  test('the budget is given back when every stream of an address closes', async () => {
    const one = selectorCost('/back/0/{id}').bytes;
    const flags = ['--anonymous', '--max-template-cost-per-ip', String(Math.floor(one * 3.5))];
    await withHub(flags, async (hub, keep) => {
      const first = await open(hub.url, distinct('back', 3));
      assert.equal(first.status, 200);
      assert.equal((await open(hub.url, distinct('other', 3))).status, 429);
      first.res.destroy();
      await waitFor(() => hub.hub.stats().subscribers === 0, 'the hub to see the stream close');
      assert.equal(await heldBytes(hub), 0);
      assert.equal(keep(await open(hub.url, distinct('other', 3))).status, 200);
    });
  });

  test('behind a trusted proxy, each client address has its own budget', async () => {
    const one = selectorCost('/xff/0/{id}').bytes;
    const flags = [
      '--anonymous',
      '--trusted-proxies',
      '127.0.0.1',
      '--max-template-cost-per-ip',
      String(Math.floor(one * 3.5)),
    ];
    await withHub(flags, async (hub, keep) => {
      const xff = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });
      assert.equal(keep(await open(hub.url, distinct('xff', 3), xff('203.0.113.1'))).status, 200);
      assert.equal(keep(await open(hub.url, distinct('xff', 3), xff('203.0.113.2'))).status, 200);
      const refused = await open(hub.url, distinct('more', 3), xff('203.0.113.1'));
      assert.equal(refused.status, 429);
      assert.match(refused.body, /from 203\.0\.113\.1 /);
      // An untrusted peer's header changes nothing: 127.0.0.2 is the client.
      const untrusted = {
        localAddress: '127.0.0.2',
        headers: { 'x-forwarded-for': '203.0.113.9' },
      };
      assert.equal(keep(await open(hub.url, distinct('u', 3), untrusted)).status, 200);
      const again = await open(hub.url, distinct('v', 3), {
        localAddress: '127.0.0.2',
        headers: { 'x-forwarded-for': '203.0.113.10' },
      });
      assert.equal(again.status, 429);
      assert.match(again.body, /from 127\.0\.0\.2 /);
    });
  });

  test('the whole hub is bounded (--max-template-cost-total)', async () => {
    const one = selectorCost('/all/0/{id}').bytes;
    const flags = ['--anonymous', '--max-template-cost-total', String(Math.floor(one * 4.5))];
    await withHub(flags, async (hub, keep) => {
      assert.equal(keep(await open(hub.url, distinct('all', 3))).status, 200);
      const refused = await open(hub.url, distinct('bll', 3), { localAddress: '127.0.0.2' });
      assert.equal(refused.status, 429);
      assert.match(
        refused.body,
        /the hub's URI templates would take about \d+ KiB compiled; the limit is \d+ KiB for all subscriptions \(--max-template-cost-total\)/,
      );
      // What is already held costs nothing more.
      assert.equal(
        keep(await open(hub.url, distinct('all', 3), { localAddress: '127.0.0.2' })).status,
        200,
      );
    });
  });

  test('templates in verified token claims are bounded the same way', async () => {
    await withHub([], async (hub, keep) => {
      const costly = '/claims/{v:1600}';
      const subscriber = await makeToken({ subscribe: [costly] });
      const refused = await open(hub.url, ['/claims/a'], {
        headers: { authorization: `Bearer ${subscriber}` },
      });
      assert.equal(refused.status, 400);
      assert.match(
        refused.body,
        /the token's mercure.subscribe selector "\/claims\/\{v:1600\}" would take about \d+ KiB compiled .*--max-template-cost/,
      );
      const fine = await makeToken({ subscribe: ['/claims/{id}'] });
      const ok = keep(
        await open(hub.url, ['/claims/a'], { headers: { authorization: `Bearer ${fine}` } }),
      );
      assert.equal(ok.status, 200);
      const publisher = await makeToken({ publish: [costly] });
      const res = await publish(hub.url, { topic: '/claims/a', data: 'x' }, publisher);
      assert.equal(res.status, 400);
      assert.match(await res.text(), /the token's mercure.publish selector .*--max-template-cost/);
      const json = await fetch(`${hub.url}/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${publisher}`, 'content-type': 'application/json' },
        body: JSON.stringify({ topic: '/claims/a', data: 'x' }),
      });
      assert.equal(json.status, 400);
      await json.text();
      assert.equal(
        await (await publish(hub.url, { topic: '/claims/a' }, await publisherToken())).status,
        200,
      );
    });
  });

  test('the subscriptions API bounds the templates of the caller’s claim too', async () => {
    await withHub(['--subscriptions'], async (hub) => {
      const costly = await makeToken({
        subscribe: ['/.well-known/mercure/subscriptions{/x:1600}'],
      });
      const refused = await http(`${hub.url}/.well-known/mercure/subscriptions`, {
        headers: { authorization: `Bearer ${costly}` },
      });
      assert.equal(refused.status, 400);
      assert.match(refused.body, /mercure.subscribe selector .*--max-template-cost/);
      const fine = await makeToken({ subscribe: ['/.well-known/mercure/subscriptions{/rest*}'] });
      const ok = await http(`${hub.url}/.well-known/mercure/subscriptions`, {
        headers: { authorization: `Bearer ${fine}` },
      });
      assert.equal(ok.status, 200);
    });
  });

  test('the gauges: template budget held, refusals and selector cache bytes', async () => {
    const one = selectorCost('/gauge/0/{id}').bytes;
    const flags = ['--anonymous', '--max-template-cost-per-ip', String(Math.floor(one * 1.5))];
    await withHub(flags, async (hub) => {
      const metrics = async () => (await fetch(`${hub.url}/metrics`)).text();
      assert.match(await metrics(), /^herald_template_cost_bytes 0$/m);
      const stream = await open(hub.url, distinct('gauge', 1));
      assert.equal(stream.status, 200);
      assert.equal(await heldBytes(hub), one);
      assert.equal((await open(hub.url, distinct('gauge2', 1))).status, 429);
      const text = await metrics();
      assert.match(text, /^herald_template_refusals_total\{scope="ip"\} 1$/m);
      assert.match(text, /^herald_template_refusals_total\{scope="total"\} 0$/m);
      assert.match(text, /^herald_selector_cache_bytes [1-9]\d*$/m);
      stream.res.destroy();
      await waitFor(() => hub.hub.stats().subscribers === 0, 'the stream to close');
      assert.equal(await heldBytes(hub), 0);
    });
  });
});
