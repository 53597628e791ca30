import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireBinary } from './binary.js';

const run = promisify(execFile);

/** The openssl CLI, used to mint throwaway certificates. */
export const OPENSSL_PATH = '/usr/bin/openssl';

/** `undefined` when openssl is installed, else a skip reason (throws under CI=true). */
export function opensslSkipReason(): string | undefined {
  return requireBinary(OPENSSL_PATH, 'install it with: apt-get install openssl');
}

/** A self-signed certificate and its key, PEM-encoded, in a temporary directory. */
export interface SelfSignedCert {
  key: string;
  cert: string;
  /** The temporary directory holding `key.pem` and `cert.pem`. */
  dir: string;
  /** Removes the directory. */
  cleanup(): Promise<void>;
}

/**
 * Creates a one-day self-signed P-256 certificate for `localhost` and `127.0.0.1` (as subject
 * alternative names, which browsers check) with `openssl req -x509`.
 */
export async function createSelfSignedCert(): Promise<SelfSignedCert> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-cert-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  try {
    await run(OPENSSL_PATH, [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    const [key, cert] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    return { key, cert, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
