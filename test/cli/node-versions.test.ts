// One Node.js story: every command works when started by the machine's own Node.js (20 on these
// machines), through `npx portcullis` and bin/portcullis.js, which hand over to the pinned runtime.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CLI, REPO_ROOT } from '../support/cli.ts';
import { routeYAML } from '../support/manifests.ts';
import { freePort } from '../support/ports.ts';

// `npm run` puts node_modules/.bin first, and with it the pinned `node`: take it out, as in a
// person's shell.
const systemPATH = (process.env.PATH ?? '').split(delimiter).filter((dir) => !dir.includes('node_modules')).join(delimiter);
// A new npm cache, as on a fresh machine: npx installs the project into it (a link), and that is
// when npm checks `engines` (with ">=24", ten EBADENGINE lines on Node 20).
const npmCache = mkdtempSync(join(tmpdir(), 'portcullis-npm-cache-'));
const systemEnv = { ...process.env, PATH: systemPATH, npm_config_update_notifier: 'false', npm_config_cache: npmCache };
const systemNode = execFileSync('sh', ['-c', 'command -v node'], { env: systemEnv }).toString().trim();
const systemNodeVersion = execFileSync(systemNode, ['--version']).toString().trim();
const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

afterAll(() => rmSync(npmCache, { recursive: true, force: true }));

function run(command: string, args: readonly string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env: systemEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe(`started by the system's Node.js (${systemNodeVersion})`, () => {
  it('`npx portcullis --version` prints the version and nothing else: no EBADENGINE warnings', async () => {
    const result = await run('npx', ['portcullis', '--version']);
    expect(result.stderr).not.toContain('EBADENGINE');
    expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  }, 130_000);

  it('`npx portcullis controller` runs on the pinned runtime (its Kubernetes client does not load on Node 20)', async () => {
    const result = await run('npx', ['portcullis', 'controller', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(result).toEqual({ code: 2, stdout: '', stderr: 'portcullis: /nonexistent/kubeconfig: no such file or directory.\n' });
  }, 130_000);

  it('`portcullis echo` serves the httpbin-like upstream and stops on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(systemNode, [CLI, 'echo', '--port', String(port)], { cwd: REPO_ROOT, env: systemEnv, stdio: ['ignore', 'pipe', 'inherit'] });
    const [first] = (await once(child.stdout, 'data')) as [Buffer];
    expect(first.toString()).toBe(`http://127.0.0.1:${port}\n`);
    const response = await fetch(`http://127.0.0.1:${port}/anything/echo?x=1`, { method: 'POST', body: 'hello' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ method: 'POST', path: '/anything/echo', query: 'x=1', body: { length: 5 } });
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });

  it('a Ctrl-C, which reaches every process of the group, stops the server cleanly, once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-ctrl-c-'));
    writeFileSync(join(dir, 'route.yaml'), routeYAML('open', '  rules: [{public: true, backends: [{url: "http://127.0.0.1:9"}]}]'));
    // Its own process group, as a shell gives a foreground job.
    const child = spawn(systemNode, [CLI, 'standalone', '-f', dir, '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0'], {
      cwd: REPO_ROOT,
      env: systemEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    for (let i = 0; i < 400 && !stdout.includes('"msg":"manifests read"'); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const exited = once(child, 'exit');
    process.kill(-child.pid!, 'SIGINT'); // the terminal's way: the group, not one process
    expect(await exited).toEqual([0, null]);
    const messages = stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages.filter((msg) => msg === 'stopping')).toHaveLength(1);
    expect(messages.at(-1)).toBe('stopped');
  });
});
