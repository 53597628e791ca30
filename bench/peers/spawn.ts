/** Starts a server as a child process and waits until it says which port it listens on. */
import { type ChildProcess, spawn } from 'node:child_process';

/** A started child server. */
export interface ChildServer {
  readonly child: ChildProcess;
  readonly port: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `command args` and reads its stdout (and stderr) until `portPattern` matches; its first
 * group is the port. Fails with the output so far if the child exits or `timeoutMs` passes.
 */
export function startChild(
  command: string,
  args: readonly string[],
  portPattern: RegExp,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ChildServer> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise<ChildServer>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${command} did not start within ${options.timeoutMs ?? 20000} ms:\n${output}`),
      );
    }, options.timeoutMs ?? 20000);
    const onData = (chunk: Buffer): void => {
      if (output.length < 20000) output += chunk.toString('utf8');
      const match = portPattern.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      // Keep draining its output so a chatty server never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.on('data', (c: Buffer) => process.stderr.write(`[${command}] ${c}`));
      child.off('exit', onExit);
      resolve({ child, port: Number(match[1]), stop: (graceMs) => stopChild(child, graceMs) });
    };
    const onExit = (code: number | null): void => {
      clearTimeout(timer);
      reject(
        new Error(`${command} ${args.join(' ')} exited with ${code} before listening:\n${output}`),
      );
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child exited. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
