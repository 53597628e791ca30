import assert from 'node:assert/strict';
import { test } from 'node:test';
import { discoveryLinkHeader } from '../../src/index.js';

test('discoveryLinkHeader advertises the hub, and the resource as rel=self when given', () => {
  assert.equal(
    discoveryLinkHeader('https://hub.example.com/.well-known/mercure'),
    '<https://hub.example.com/.well-known/mercure>; rel="mercure"',
  );
  assert.equal(
    discoveryLinkHeader(
      'https://hub.example.com/.well-known/mercure',
      'https://example.com/books/1',
    ),
    '<https://hub.example.com/.well-known/mercure>; rel="mercure", <https://example.com/books/1>; rel="self"',
  );
});

test('discoveryLinkHeader refuses a URL that would break out of the Link syntax', () => {
  assert.throws(() => discoveryLinkHeader('https://hub.example.com/>; rel="x"'), TypeError);
  assert.throws(() => discoveryLinkHeader('https://hub/', 'https://e.com/a b'), TypeError);
});
