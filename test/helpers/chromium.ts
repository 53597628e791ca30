import { type Browser, chromium } from 'playwright-core';
import { requireBinary } from './binary.js';

/** Debian's Chromium, the browser the integration tests drive. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * `undefined` when Chromium is installed, else a skip reason (throws under CI=true).
 *
 * `HERALD_TEST_BROWSERS=off` (what `node test/run.mjs --no-browser` sets) skips every browser
 * test on purpose, CI included: the Node versions that run the suite without browsers. Every test
 * that drives a browser takes its skip reason from here.
 */
export function chromiumSkipReason(): string | undefined {
  return (
    browsersOffReason() ?? requireBinary(CHROMIUM_PATH, 'install it with: apt-get install chromium')
  );
}

/**
 * The skip reason of every browser test (Chromium's, Firefox's) when `HERALD_TEST_BROWSERS=off`,
 * else `undefined`.
 */
export function browsersOffReason(): string | undefined {
  return process.env.HERALD_TEST_BROWSERS === 'off'
    ? 'browser tests are off (HERALD_TEST_BROWSERS=off, set by test/run.mjs --no-browser)'
    : undefined;
}

/**
 * Launches headless Chromium through playwright-core with flags that keep it quiet and
 * deterministic: no GPU, no sandbox (containers), no QUIC (so HTTP/2 is what it uses over TLS),
 * no background traffic.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
