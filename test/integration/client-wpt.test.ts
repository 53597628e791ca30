// The WPT-style EventSource suite (test/helpers/client-wpt-cases.ts), run against three targets
// that must all give the expected result for every case:
//   1. Herald's EventSource in Node (src/client),
//   2. Herald's browser bundle (dist/client.browser.js, built in memory) in a Chromium page,
//   3. Chromium's native EventSource in the same page — which proves the suite itself right.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { buildClientBundle } from '../../scripts/build-client-bundle.mjs';
import { EventSource as HeraldEventSource } from '../../src/client/index.js';
import { chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import {
  type CaseUrls,
  cases,
  type Deviation,
  runCase,
  type WptCase,
} from '../helpers/client-wpt-cases.js';
import { startWptServer, type WptServer } from '../helpers/client-wpt-server.js';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>herald EventSource suite</title>
<script type="module">
  import { EventSource as HeraldEventSource } from '/assets/client.browser.js';
  import { cases, runCase } from '/assets/cases.js';
  window.runWptCase = (name, target, urls) =>
    runCase(cases.find((c) => c.name === name), target === 'herald' ? HeraldEventSource : window.EventSource, urls);
  window.wptReady = true;
</script>`;

type Target = 'node' | 'herald' | 'native';

let server: WptServer;

/** Herald's own limitation on `wptCase` for `target`, if any. */
function limitationOf(wptCase: WptCase, target: Target): Deviation | undefined {
  if (target === 'native') return undefined;
  return target === 'node' ? wptCase.heraldLimitation?.node : wptCase.heraldLimitation?.browser;
}

/** Where `target` deviates from the standard on `wptCase`, if it does. */
function deviationOf(wptCase: WptCase, target: Target): Deviation | undefined {
  if (target === 'node') return limitationOf(wptCase, target);
  return (
    limitationOf(wptCase, target) ??
    (target === 'native' ? wptCase.chromium?.native : undefined) ??
    wptCase.chromium?.platform
  );
}

/** The test's title: the case, marked when the target deviates from the standard on it. */
function title(wptCase: WptCase, target: Target): string {
  if (limitationOf(wptCase, target) !== undefined) return `${wptCase.name} [Herald limitation]`;
  if (deviationOf(wptCase, target) !== undefined) {
    return `${wptCase.name} [Chromium deviates from the standard]`;
  }
  return wptCase.name;
}

let runCounter = 0;

/** Runs `wptCase` on `target` and checks the log and the requests against the expectation. */
async function check(
  wptCase: WptCase,
  target: Target,
  execute: (urls: CaseUrls) => Promise<string[]>,
): Promise<void> {
  const run = `${target}-${++runCounter}`;
  try {
    const log = await execute(server.urls(run, wptCase.name));
    const deviation = deviationOf(wptCase, target);
    const why = deviation === undefined ? wptCase.rule : `deviation: ${deviation.why}`;
    assert.deepEqual(log, deviation?.expect ?? wptCase.expect, `${why}: what the client observed`);
    const received = server.requests(run, wptCase.name);
    const preflights = received.filter((line) => line.startsWith('OPTIONS '));
    assert.deepEqual(
      preflights,
      target === 'herald' ? (wptCase.heraldBrowserPreflights ?? []) : [],
      `${wptCase.rule}: CORS preflights`,
    );
    const requests = deviation?.requests ?? wptCase.requests;
    if (requests !== undefined) {
      assert.deepEqual(
        received.filter((line) => !line.startsWith('OPTIONS ')),
        requests,
        `${why}: the requests the server received`,
      );
    }
  } finally {
    server.finish(run, wptCase.name);
  }
}

before(async () => {
  server = await startWptServer();
  const bundle = await buildClientBundle();
  server.asset('/assets/client.browser.js', 'text/javascript', bundle.code);
  const casesBundle = await build({
    entryPoints: [new URL('../helpers/client-wpt-cases.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  server.asset('/assets/cases.js', 'text/javascript', casesBundle.outputFiles[0]!.text);
  server.asset('/page', 'text/html; charset=utf-8', PAGE);
});

after(() => server?.close());

describe('EventSource suite: Herald in Node', () => {
  // Cases that need a page (window.stop()) run only in the two browser targets.
  for (const wptCase of cases.filter((c) => c.browserOnly !== true)) {
    test(title(wptCase, 'node'), () =>
      check(wptCase, 'node', (urls) =>
        runCase(wptCase, HeraldEventSource as unknown as typeof EventSource, urls),
      ),
    );
  }
});

const skip = chromiumSkipReason();

for (const target of ['herald', 'native'] as const) {
  describe(target === 'herald'
    ? 'EventSource suite: Herald bundle in Chromium'
    : "EventSource suite: Chromium's native EventSource", { skip }, () => {
    let browser: Browser;
    let page: Page;
    before(async () => {
      browser = await launchChromium();
      page = await browser.newPage();
      await page.goto(`${server.origin}/page`);
      await page.waitForFunction(() => (globalThis as { wptReady?: boolean }).wptReady === true);
    });
    after(() => browser?.close());

    for (const wptCase of cases) {
      test(title(wptCase, target), () =>
        check(wptCase, target, (urls) =>
          page.evaluate(
            ([name, which, caseUrls]) =>
              (
                globalThis as unknown as {
                  runWptCase(n: string, t: string, u: CaseUrls): Promise<string[]>;
                }
              ).runWptCase(name, which, caseUrls),
            [wptCase.name, target, urls] as const,
          ),
        ),
      );
    }
  });
}
