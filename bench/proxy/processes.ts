// Starting and stopping the processes a benchmark row needs.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';

export interface Running {
  /** Where wrk sends its requests: `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The process whose tree (it and its descendants) serves the row: its CPU time is the row's. */
  readonly pid?: number;
  /** What runs, for the report (e.g. `nginx/1.22.1`): for the peers, whose version matters. */
  readonly version?: string;
  stop(): Promise<void>;
}

/** Starts a TypeScript script under this Node.js (with these Node.js flags) and waits for the URL it prints on its first line. */
export async function startScript(script: string, args: readonly string[], nodeFlags: readonly string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [...nodeFlags, script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      out += text;
      const newline = out.indexOf('\n');
      if (newline !== -1) resolve(out.slice(0, newline).trim());
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before printing its URL`)));
    child.once('error', reject);
  });
  child.stdout?.resume();
  return { url, pid: child.pid, stop: () => stopChild(child) };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A loopback port that was free a moment ago (for servers that cannot listen on port 0). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once something accepts connections on the port; throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
