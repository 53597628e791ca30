// useSubscription under server-side rendering: the initial state is rendered and nothing is
// opened (effects do not run on the server).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import type { FetchLike } from '../../src/client/index.js';
import { useSubscription } from '../../src/react/index.js';

test('server rendering shows the initial state and opens nothing', async () => {
  const fetched: string[] = [];
  const fetch: FetchLike = (url) => {
    fetched.push(url);
    return Promise.reject(new Error('no fetch on the server'));
  };
  function Feed({ url }: { url: string | null }) {
    const { status, data, events, lastEventId, error } = useSubscription(url, {
      fetch,
      lastEventId: 'saved',
    });
    return createElement(
      'p',
      null,
      `${status}|${data ?? '-'}|${events.length}|${lastEventId}|${error ?? '-'}`,
    );
  }
  assert.equal(
    renderToString(createElement(Feed, { url: 'https://example.com/events' })),
    '<p>connecting|-|0|saved|-</p>',
  );
  assert.equal(renderToString(createElement(Feed, { url: null })), '<p>closed|-|0|saved|-</p>');
  // A connection would start its first attempt in a microtask: let them all run.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(fetched, []);
});
