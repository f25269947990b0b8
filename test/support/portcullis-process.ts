// Starts the real `portcullis` CLI as its own process on loopback ports, as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { CLI, REPO_ROOT } from './cli.ts';

export interface PortcullisProcess {
  readonly url: string;
  /** The HTTPS listener's URL, when `--listen-tls` was given. */
  readonly tlsURL: string | null;
  /** The cleartext HTTP/2 listener's URL, when `--listen-h2c` was given. */
  readonly h2cURL: string | null;
  readonly opsURL: string;
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the first log line that satisfies `predicate` (now or later). */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resident memory of the process, in bytes (from /proc). */
  rss(): number;
  /** SIGTERM (SIGKILL after 5 s); resolves once it has exited and every line it wrote is in `logs`. */
  stop(): Promise<void>;
}

export async function startPortcullis(args: readonly string[], options: { env?: NodeJS.ProcessEnv; command?: readonly string[] } = {}): Promise<PortcullisProcess> {
  // The CLI runs through its own shebang, with the Node.js flags it sets for itself; or as
  // `command` says (e.g. `[node, CLI]`).
  const [file, ...prefix] = options.command ?? [CLI];
  const child = spawn(file!, [...prefix, ...args, ...(args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0']), ...(args.includes('--ops-listen') ? [] : ['--ops-listen', '127.0.0.1:0'])], {
    cwd: REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { predicate: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    let newline: number;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text);
      } catch {
        line = { msg: text, raw: true };
      }
      logs.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.predicate(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = logs.find(predicate);
      if (found) return resolve(found);
      const timer = setTimeout(() => reject(new Error(`No matching log line within ${timeoutMs} ms. stderr: ${stderr}\nlogs: ${JSON.stringify(logs.slice(-10))}`)), timeoutMs);
      const onExit = () => reject(new Error(`portcullis exited with ${child.exitCode}. stderr: ${stderr}`));
      child.once('exit', onExit);
      waiters.push({
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(line);
        },
      });
    });

  const listening = await waitForLog((line) => line.msg === 'listening');
  return {
    url: String(listening.proxy),
    tlsURL: typeof listening.proxyTLS === 'string' ? listening.proxyTLS : null,
    h2cURL: typeof listening.proxyH2C === 'string' ? listening.proxyH2C : null,
    opsURL: String(listening.ops),
    child,
    logs,
    waitForLog,
    rss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async stop() {
      if (child.stdout!.closed) return;
      const exited = once(child, 'close');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
