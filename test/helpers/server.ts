import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listen } from './net.js';

/** A running node:http server for one test file. */
export interface TestHttpServer {
  server: http.Server;
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Closes the server and all its connections. */
  close(): Promise<void>;
}

/** Starts a node:http server with `handler` on 127.0.0.1 and a free port. */
export async function startHttpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestHttpServer> {
  const server = http.createServer(handler);
  const port = await listen(server);
  return {
    server,
    port,
    origin: `http://127.0.0.1:${port}`,
    close: () => closeServer(server),
  };
}

/**
 * Routes by path for tests: each test registers its own handler under a unique path, so tests in
 * a file share one server without sharing state.
 */
export class Routes {
  readonly #routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();

  /** Registers `handler` for requests whose path (without query) is `path`. */
  set(path: string, handler: (req: IncomingMessage, res: ServerResponse) => void): void {
    this.#routes.set(path, handler);
  }

  /** The request listener to give to the server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = this.#routes.get(path);
    if (handler === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no test route for ${path}`);
      return;
    }
    handler(req, res);
  };
}
