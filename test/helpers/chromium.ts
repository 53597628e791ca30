import { type Browser, chromium } from 'playwright-core';
import { requireBinary } from './binary.js';

/** Debian's Chromium, the browser the integration tests drive. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** `undefined` when Chromium is installed, else a skip reason (throws under CI=true). */
export function chromiumSkipReason(): string | undefined {
  return requireBinary(CHROMIUM_PATH, 'install it with: apt-get install chromium');
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
