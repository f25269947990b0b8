// The Node.js flags the CLI sets for itself (bin/portcullis.js), and a user's NODE_OPTIONS, which
// wins over them: the real process, started as a user starts it, its command line and environment
// read from /proc.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CLI } from '../support/cli.ts';
import { routeYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';

const DEFAULT_FLAG = '--max-semi-space-size=16';

let dir: string;
let echo: EchoServer;
const running: PortcullisProcess[] = [];

beforeAll(async () => {
  echo = await startEchoServer();
  dir = mkdtempSync(join(tmpdir(), 'portcullis-node-options-'));
  writeFileSync(join(dir, 'route.yaml'), routeYAML('open', `  rules: [{public: true, backends: [{url: "${echo.url}"}]}]`));
});

afterAll(async () => {
  await Promise.all(running.map((process) => process.stop()));
  await echo.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(env: NodeJS.ProcessEnv, command?: readonly string[]): Promise<PortcullisProcess> {
  const portcullis = await startPortcullis(['standalone', '-f', dir], { env, ...(command === undefined ? {} : { command }) });
  running.push(portcullis);
  return portcullis;
}

/** The process that serves: the CLI's own, or the one it started again (its only child running Node.js). */
function servingProcess(pid: number): { pid: number; argv: string[]; env: Map<string, string> } {
  const children = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((name) => {
      try {
        return Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
  const serving = children.length === 0 ? pid : children[0]!;
  expect(children.length).toBeLessThanOrEqual(1);
  const argv = readFileSync(`/proc/${serving}/cmdline`, 'utf8').split('\0').slice(0, -1);
  const env = new Map(
    readFileSync(`/proc/${serving}/environ`, 'utf8')
      .split('\0')
      .filter((entry) => entry.includes('='))
      .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] as [string, string]),
  );
  return { pid: serving, argv, env };
}

/** The Node.js flags of a process: its arguments before the script. */
const nodeFlags = (argv: readonly string[]): string[] => argv.slice(1, argv.indexOf(CLI));

async function forwards(portcullis: PortcullisProcess): Promise<void> {
  const response = await fetch(`${portcullis.url}/anything`);
  await response.arrayBuffer();
  expect(response.status).toBe(200);
}

describe('the Node.js flags of `portcullis`', () => {
  const { NODE_OPTIONS: _ignored, ...withoutNodeOptions } = process.env;

  it(`runs as one process, under its shebang's ${DEFAULT_FLAG}`, async () => {
    const portcullis = await start(withoutNodeOptions);
    const serving = servingProcess(portcullis.child.pid!);
    expect(serving.pid).toBe(portcullis.child.pid);
    expect(nodeFlags(serving.argv)).toEqual([DEFAULT_FLAG]);
    await forwards(portcullis);
  });

  it('lets NODE_OPTIONS win: the flag it sets is not overridden by the default, other flags are left alone', async () => {
    const portcullis = await start({ ...withoutNodeOptions, NODE_OPTIONS: '--max-semi-space-size=2 --max-old-space-size=300' });
    const serving = servingProcess(portcullis.child.pid!);
    expect(serving.pid).not.toBe(portcullis.child.pid); // started again, without the default
    expect(nodeFlags(serving.argv)).toEqual([]);
    expect(serving.env.get('NODE_OPTIONS')).toBe('--max-semi-space-size=2 --max-old-space-size=300');
    await forwards(portcullis);
    // Stopping the CLI's process stops the one it started, and the exit is clean.
    const exited = new Promise<number | null>((resolve) => portcullis.child.once('exit', (code) => resolve(code)));
    await portcullis.stop();
    expect(await exited).toBe(0);
    expect(() => readFileSync(`/proc/${serving.pid}/stat`)).toThrow();
  });

  it('with NODE_OPTIONS setting something else, keeps its default', async () => {
    const portcullis = await start({ ...withoutNodeOptions, NODE_OPTIONS: '--max-old-space-size=300' });
    const serving = servingProcess(portcullis.child.pid!);
    expect(serving.pid).toBe(portcullis.child.pid);
    expect(nodeFlags(serving.argv)).toEqual([DEFAULT_FLAG]);
  });

  it("started by the machine's Node.js (20, older than the pinned 24): hands over to the pinned one with the default, unless NODE_OPTIONS sets it", async () => {
    const systemPATH = (process.env.PATH ?? '').split(delimiter).filter((entry) => !entry.includes('node_modules')).join(delimiter);
    const systemNode = execFileSync('sh', ['-c', 'command -v node'], { env: { PATH: systemPATH } }).toString().trim();
    const env = { ...withoutNodeOptions, PATH: systemPATH };

    const plain = await start(env, [systemNode, CLI]);
    const pinned = servingProcess(plain.child.pid!);
    expect(pinned.pid).not.toBe(plain.child.pid);
    expect(nodeFlags(pinned.argv)).toEqual([DEFAULT_FLAG]);

    const overridden = await start({ ...env, NODE_OPTIONS: '--max-semi-space-size=2' }, [systemNode, CLI]);
    const served = servingProcess(overridden.child.pid!);
    expect(nodeFlags(served.argv)).toEqual([]);
    expect(served.env.get('NODE_OPTIONS')).toBe('--max-semi-space-size=2');
    await forwards(overridden);
  });
});
