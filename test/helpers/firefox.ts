import puppeteer, { type Browser } from 'puppeteer-core';
import { requireBinary } from './binary.js';
import { browsersOffReason } from './chromium.js';

/** Debian's Firefox ESR, driven over WebDriver BiDi. */
export const FIREFOX_PATH = '/usr/bin/firefox-esr';

/**
 * `undefined` when Firefox ESR is installed, else a skip reason (throws under CI=true).
 * `HERALD_TEST_BROWSERS=off` skips it as it skips Chromium (see `chromiumSkipReason`).
 */
export function firefoxSkipReason(): string | undefined {
  return (
    browsersOffReason() ??
    requireBinary(FIREFOX_PATH, 'install it with: apt-get install firefox-esr')
  );
}

/**
 * Launches headless Firefox ESR through puppeteer-core over WebDriver BiDi (puppeteer's own
 * Firefox builds are never downloaded: the Debian package is the browser), with a fresh
 * temporary profile that puppeteer removes on close.
 */
export function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    protocol: 'webDriverBiDi',
  });
}
