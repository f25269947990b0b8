// Standalone hot reload: changes are served within a second, without dropping a request; a file
// that fails keeps its last good objects serving and is reported.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

let echo: EchoServer;
let proxy: PortcullisProcess;
let dir: string;

const routes = (paths: string[]) =>
  paths
    .map(
      (path, i) => `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: r${i}}
spec:
  rules: [{matches: [{path: {value: ${path}}}], backends: [{url: "${echo.url}"}]}]
`,
    )
    .join('---\n');

/** Writes like an editor: a new file renamed over the old one. */
function save(name: string, text: string): void {
  const temporary = join(dir, `.${name}.tmp`);
  writeFileSync(temporary, text);
  renameSync(temporary, join(dir, name));
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await sleep(20);
  }
  throw new Error(`not within ${timeoutMs} ms`);
}

beforeAll(async () => {
  echo = await startEchoServer({ record: false });
  dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-'));
  save('routes.yaml', routes(['/a']));
  proxy = await startPortcullis(['standalone', '-f', dir]);
});

afterAll(async () => {
  await proxy?.stop();
  await echo?.close();
});

const status = async (path: string) => (await fetch(`${proxy.url}${path}`)).status;

describe('hot reload', () => {
  it('serves a new route within a second', async () => {
    expect(await status('/b')).toBe(404);
    save('routes.yaml', routes(['/a', '/b']));
    const took = await until(async () => (await status('/b')) === 200, 1000);
    expect(took).toBeLessThan(1000);
    expect(await status('/a')).toBe(200);
  });

  it('keeps the last good objects of a file that no longer parses, and reports it', async () => {
    save('routes.yaml', 'apiVersion: portcullis.dev/v1alpha1\nkind: Route\nmetadata: {name: r0\n  broken: [\n');
    await proxy.waitForLog((line) => String(line.msg).startsWith('manifest problem') && String(line.file).endsWith('routes.yaml'), 2000);
    expect(await status('/a')).toBe(200);
    expect(await status('/b')).toBe(200);
  });

  it('keeps the last good objects of a file that fails validation, naming the field', async () => {
    save('routes.yaml', routes(['/a', 'no-leading-slash']));
    const line = await proxy.waitForLog((l) => String(l.msg).startsWith('manifest problem') && String(l.field).includes('spec.rules[0].matches[0].path'), 2000);
    expect(line).toMatchObject({ kind: 'Route', name: 'r1' });
    expect(await status('/b')).toBe(200);
  });

  it('adds and removes files', async () => {
    save('more.yaml', routes(['/c']).replace('name: r0', 'name: extra'));
    await until(async () => (await status('/c')) === 200, 1000);
    save('routes.yaml', routes(['/a']));
    await until(async () => (await status('/b')) === 404, 1000);
    expect(await status('/c')).toBe(200);
  });

  it('drops no request while the table changes under load', async () => {
    let stop = false;
    const statuses: number[] = [];
    const load = (async () => {
      while (!stop) statuses.push(await status('/a/x'));
    })();
    for (let i = 0; i < 8; i++) {
      save('routes.yaml', routes(i % 2 ? ['/a', '/d'] : ['/a']));
      await sleep(120);
    }
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(50);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });
});

describe('problems are logged when they appear and when they are gone, not at every reload', () => {
  const linesAbout = (file: string, msg: string) => proxy.logs.filter((line) => String(line.file).endsWith(file) && String(line.msg).startsWith(msg));
  const conditionLines = (object: string) => proxy.logs.filter((line) => line.object === object && line.condition === 'ResolvedRefs');
  type Line = (typeof proxy.logs)[number];
  /**
   * Saves, then waits for the effect itself — a log line the change must produce, or a path the
   * change makes serve — and then for a reload's last line logged after the save. (A reload that
   * began before the save can end after it: its 'manifests read' alone proves nothing.)
   */
  async function saveAndReload(name: string, text: string, effect: { line: (line: Line) => boolean } | { serves: string }): Promise<void> {
    const from = proxy.logs.length;
    save(name, text);
    if ('line' in effect) await proxy.waitForLog((line) => proxy.logs.indexOf(line) >= from && effect.line(line), 5_000);
    else await until(async () => (await status(effect.serves)) === 200, 5_000);
    await proxy.waitForLog((line) => line.msg === 'manifests read' && proxy.logs.indexOf(line) >= from, 5_000);
  }
  const problemIn = (file: string, msg: string) => (line: Line) => String(line.file).endsWith(file) && String(line.msg).startsWith(msg);
  const conditionOf = (object: string, status: string) => (line: Line) => line.object === object && line.condition === 'ResolvedRefs' && line.status === status;

  it('a broken file and a Route without its Service are reported once, across other changes', async () => {
    await saveAndReload('problems.yaml', routes(['no-leading-slash']).replaceAll('name: r0', 'name: bad'), { line: problemIn('problems.yaml', 'manifest problem:') });
    await saveAndReload(
      'ghost.yaml',
      `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: ghost}
spec:
  rules: [{matches: [{path: {value: /ghost}}], backends: [{service: {name: ghost, port: 80}}]}]
`,
      { line: conditionOf('Route default/ghost', 'False') },
    );
    expect(linesAbout('problems.yaml', 'manifest problem:')).toHaveLength(1);
    expect(conditionLines('Route default/ghost')).toMatchObject([{ level: 'warn', status: 'False', reason: 'BackendNotFound' }]);

    // Other files change, twice: nothing is said again about what did not change.
    await saveAndReload('more.yaml', routes(['/e']).replace('name: r0', 'name: extra'), { serves: '/e' });
    await saveAndReload('more.yaml', routes(['/f']).replace('name: r0', 'name: extra'), { serves: '/f' });
    expect(linesAbout('problems.yaml', 'manifest problem:')).toHaveLength(1);
    expect(conditionLines('Route default/ghost')).toHaveLength(1);
  });

  it('says so once when they are fixed', async () => {
    await saveAndReload('problems.yaml', routes(['/fixed']).replaceAll('name: r0', 'name: bad'), { line: problemIn('problems.yaml', 'manifest problem resolved:') });
    expect(linesAbout('problems.yaml', 'manifest problem resolved:')).toMatchObject([{ level: 'info', kind: 'Route', name: 'bad' }]);
    await saveAndReload(
      'ghost.yaml',
      `apiVersion: v1
kind: Service
metadata: {name: ghost}
spec: {ports: [{port: 80}]}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: ghost}
spec:
  rules: [{matches: [{path: {value: /ghost}}], backends: [{service: {name: ghost, port: 80}}]}]
`,
      { line: conditionOf('Route default/ghost', 'True') },
    );
    expect(conditionLines('Route default/ghost').map((line) => [line.level, line.status])).toEqual([['warn', 'False'], ['info', 'True']]);
    await saveAndReload('more.yaml', routes(['/g']).replace('name: r0', 'name: extra'), { serves: '/g' });
    expect(linesAbout('problems.yaml', 'manifest problem')).toHaveLength(2);
    expect(conditionLines('Route default/ghost')).toHaveLength(2);
  });
});
