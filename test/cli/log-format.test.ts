// --log-format, through the real process: text lines read as text, JSON for a pipe by default,
// text for a terminal by default and in the demo (whose banner goes to stderr, apart).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, REPO_ROOT } from '../support/cli.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { routeYAML } from '../support/manifests.ts';
import { freePorts } from '../support/ports.ts';

const TEXT_RECORD = /^\d{2}:\d{2}:\d{2}\.\d{3} (FATAL|ERROR|WARN |INFO |DEBUG|TRACE) \S/;
const STACK_FRAME = /^ {4}\S/;

let echo: EchoServer;
let dir: string;

beforeAll(async () => {
  echo = await startEchoServer();
  dir = mkdtempSync(join(tmpdir(), 'portcullis-log-format-'));
  writeFileSync(join(dir, 'route.yaml'), routeYAML('open', `  rules: [{public: true, backends: [{url: "${echo.url}"}]}]`));
});

afterAll(async () => {
  await echo.close();
});

interface Running {
  readonly child: ChildProcess;
  /** stdout so far, split into lines (carriage returns from a terminal removed). */
  lines(): string[];
  stderr(): string;
  until(predicate: (line: string) => boolean): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a command and collects its output. `viaTerminal` runs it under script(1), on a
 * pseudo-terminal; `mergeStderr` sends stderr into stdout, as a terminal shows both.
 */
function start(args: readonly string[], options: { viaTerminal?: boolean; mergeStderr?: boolean } = {}): Running {
  const quoted = [CLI, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const child = options.viaTerminal
    ? spawn('script', ['-qec', quoted, '/dev/null'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    : options.mergeStderr
      ? spawn('sh', ['-c', `exec ${quoted} 2>&1`], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn(CLI, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString().replaceAll('\r', '')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = () => stdout.split('\n').slice(0, -1);
  return {
    child,
    lines,
    stderr: () => stderr,
    async until(predicate) {
      for (let waited = 0; waited < 20_000; waited += 50) {
        const found = lines().find(predicate);
        if (found !== undefined) return found;
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`No such line. stdout:\n${stdout}\nstderr:\n${stderr}`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      process.kill(-child.pid!, 'SIGTERM'); // the whole group: script(1) and the CLI under it
      await exited;
    },
  };
}

describe('--log-format text', () => {
  it('writes one readable line per record: time, level, message, key=value fields; the access log too', async () => {
    const proxy = start(['standalone', '-f', dir, '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0', '--log-format', 'text']);
    try {
      const listening = await proxy.until((line) => / listening /.test(line));
      expect(listening).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} INFO {2}listening proxy=http:\/\/127\.0\.0\.1:(\d+) ops=http:\/\/127\.0\.0\.1:\d+$/);
      const url = /proxy=(\S+)/.exec(listening)![1]!;
      expect((await fetch(`${url}/hello?code=secret-code`)).status).toBe(200);
      const request = await proxy.until((line) => / request /.test(line));
      expect(request).toMatch(/ INFO {2}request .*\bstatus=200\b/);
      expect(request).not.toContain('secret-code');
    } finally {
      await proxy.stop();
    }
    for (const line of proxy.lines()) expect(line).toMatch(new RegExp(`${TEXT_RECORD.source}|${STACK_FRAME.source}`));
    expect(proxy.lines().some((line) => line.includes('{"'))).toBe(false);
  });

  it('is the default on a terminal; JSON is the default for a pipe', async () => {
    const args = ['standalone', '-f', dir, '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0'];
    const terminal = start(args, { viaTerminal: true });
    const piped = start(args);
    try {
      expect(await terminal.until((line) => /listening/.test(line))).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} .*INFO .*listening .*proxy=/);
      expect(JSON.parse(await piped.until((line) => /listening/.test(line)))).toMatchObject({ level: 'info', msg: 'listening' });
    } finally {
      await Promise.all([terminal.stop(), piped.stop()]);
    }
  });
});

describe('portcullis demo', () => {
  it('logs text by default, and its banner comes after the start-up lines, not among them', async () => {
    const [port, ops, provider, upstream] = (await freePorts(4)).map(String) as [string, string, string, string];
    const demo = start(['demo', '--port', port, '--ops-port', ops, '--provider-port', provider, '--upstream-port', upstream], { mergeStderr: true });
    try {
      await demo.until((line) => line === 'Ctrl-C stops everything.');
    } finally {
      await demo.stop();
    }
    const lines = demo.lines();
    const banner = lines.indexOf('Portcullis demo — the Amazon Cognito walkthrough on one machine');
    const end = lines.indexOf('Ctrl-C stops everything.');
    expect(banner).toBeGreaterThan(0);
    expect(lines.slice(banner, end + 1).some((line) => TEXT_RECORD.test(line))).toBe(false);
    for (const message of ['listening', 'table applied', 'manifests read']) {
      expect(lines.slice(0, banner).some((line) => TEXT_RECORD.test(line) && line.includes(` ${message} `))).toBe(true);
    }
    const logLines = [...lines.slice(0, banner), ...lines.slice(end + 1)].filter((line) => line !== '');
    for (const line of logLines) expect(line).toMatch(new RegExp(`${TEXT_RECORD.source}|${STACK_FRAME.source}`));
  }, 60_000);
});
