// `portcullis demo` writes manifests that hold a client secret and a session key: readable by the
// user alone while it runs, and gone once it stops — on Ctrl-C (SIGINT to the whole process
// group, as a terminal sends it: the bin's launcher and the demo both get it) and on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { CLI, REPO_ROOT } from '../support/cli.ts';
import { freePorts } from '../support/ports.ts';

interface RunningDemo {
  readonly child: ChildProcess;
  readonly manifests: string;
}

async function startDemo(): Promise<RunningDemo> {
  const [proxy, ops, provider, upstream] = (await freePorts(4)) as [number, number, number, number];
  const child = spawn(CLI, ['demo', '--port', String(proxy), '--ops-port', String(ops), '--provider-port', String(provider), '--upstream-port', String(upstream), '--log-level', 'warn'], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
    // A process group of its own, so that the test can send SIGINT to all of it as a terminal does.
    detached: true,
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 20_000;
  while (!stderr.includes('Ctrl-C stops everything.')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`The demo did not start: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, manifests: /^\s+manifests\s+(\S+)/m.exec(stderr)![1]! };
}

async function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

let running: RunningDemo | null = null;
afterEach(async () => {
  // A failed test must not leave a demo running.
  if (running !== null && running.child.exitCode === null && running.child.signalCode === null) {
    process.kill(-running.child.pid!, 'SIGKILL');
    await stopped(running.child);
  }
  running = null;
});

test('the manifests are for the user alone: the folder 0700, the file 0600', async () => {
  running = await startDemo();
  const { manifests } = running;
  expect(readFileSync(manifests, 'utf8')).toMatch(/client-secret: "\S+"/);
  expect(statSync(manifests).mode & 0o777).toBe(0o600);
  expect(statSync(dirname(manifests)).mode & 0o777).toBe(0o700);
  expect(dirname(manifests)).toMatch(/portcullis-demo-/);
  running.child.kill('SIGTERM');
  await stopped(running.child);
}, 40_000);

test.each([
  ['Ctrl-C (SIGINT to the process group)', (child: ChildProcess) => process.kill(-child.pid!, 'SIGINT')],
  ['SIGTERM', (child: ChildProcess) => child.kill('SIGTERM')],
])('%s removes the manifests and their folder', async (_, stop) => {
  running = await startDemo();
  const { child, manifests } = running;
  expect(existsSync(manifests)).toBe(true);
  stop(child);
  await stopped(child);
  expect(existsSync(manifests)).toBe(false);
  expect(existsSync(dirname(manifests))).toBe(false);
}, 40_000);
