// Raw HTTP/1.1 for the fuzzers: requests sent exactly as built (any header, any body bytes) over
// keep-alive connections, and responses kept whole.
import { Agent, type IncomingHttpHeaders, request } from 'node:http';

/** A complete response. */
export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A small keep-alive pool, so thousands of fuzz runs do not each open a connection. */
export const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** Sends one request; resolves with the whole response (or rejects on a network error). */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
