// Nothing half-written is served (docs/reference.md, "Standalone: manifest files"): the real
// `portcullis standalone` process, a Route file written the way tools that do not rename write it
// (in place, in pieces, with pauses longer than the watcher's 50 ms debounce but shorter than the
// 300 ms settle time), and requests without a token probing the protected paths all along. Never
// a 200: the old table answers (404 for a new Route, the old policy's 401) until the file is whole.
import { appendFileSync, mkdtempSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCognitoMint, type CognitoMint } from '../../src/demo/cognito-mint.ts';
import { parseManifestText } from '../../src/sources/manifests.ts';
import { DEFAULT_SETTLE_MS } from '../../src/sources/standalone.ts';
import { startEchoServer, type EchoServer } from '../support/echo-server.ts';
import { policyYAML } from '../support/manifests.ts';
import { startPortcullis, type PortcullisProcess } from '../support/portcullis-process.ts';

/** Longer than the debounce (50 ms), well short of the settle time. */
const PAUSE_MS = 120;

let echo: EchoServer;
let mint: CognitoMint;
let proxy: PortcullisProcess;
let dir: string;

/** A Route whose `policyRef` is written last, as `kubectl get -o yaml` and most generators order a spec. */
const route = (name: string, paths: readonly string[], protectedBy: string | null) => `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: ${name}}
spec:
  rules:
    - matches:
${paths.map((path) => `        - path: {value: ${path}}\n`).join('')}      backends:
        - url: "${echo.url}"
${protectedBy === null ? '' : `  policyRef: {name: ${protectedBy}}\n`}`;

const POLICY_REF = '  policyRef: {name: machines}\n';

beforeAll(async () => {
  [echo, mint] = await Promise.all([startEchoServer({ record: false }), startCognitoMint()]);
  dir = mkdtempSync(join(tmpdir(), 'portcullis-half-written-'));
  writeFileSync(join(dir, 'policy.yaml'), policyYAML('machines', `  issuer: ${mint.issuer}
  provider: Cognito
  clientID: ${mint.clientIds.machine}
  bearer: {}`));
  writeFileSync(join(dir, 'kept.yaml'), route('kept', ['/kept'], 'machines'));
  proxy = await startPortcullis(['standalone', '-f', dir]);
  await proxy.waitForLog((line) => line.policy === 'default/machines' && line.condition === 'Ready' && line.status === 'True');
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([echo?.close(), mint?.close()]);
});

const status = async (path: string) => (await fetch(`${proxy.url}${path}`)).status;

/** Probes each path, without a token, over and over until `done` resolves; the statuses seen, per path. */
async function probeUntil(paths: readonly string[], done: Promise<unknown>): Promise<Map<string, number[]>> {
  const seen = new Map(paths.map((path) => [path, [] as number[]]));
  let over = false;
  void done.finally(() => (over = true));
  do {
    for (const path of paths) seen.get(path)!.push(await status(path));
  } while (!over);
  return seen;
}

/** Resolves once every path answers its expected status (the new file applied). */
async function until(expected: Readonly<Record<string, number>>, timeoutMs = 3_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    const statuses = await Promise.all(Object.keys(expected).map(status));
    if (Object.values(expected).every((want, i) => statuses[i] === want)) return;
    if (Date.now() - started > timeoutMs) throw new Error(`Not within ${timeoutMs} ms: ${JSON.stringify(statuses)} for ${JSON.stringify(expected)}.`);
    await sleep(20);
  }
}

/** The writer's steps, `PAUSE_MS` apart; resolves with the longest gap between two steps, as it happened. */
async function writeInSteps(steps: readonly (() => void)[]): Promise<number> {
  let longest = 0;
  let last = performance.now();
  for (const [i, step] of steps.entries()) {
    if (i > 0) await sleep(PAUSE_MS);
    const now = performance.now();
    if (i > 0) longest = Math.max(longest, now - last);
    step();
    last = performance.now();
  }
  return longest;
}

/** The probe's precondition: the writer's pauses stayed shorter than the settle time (else the half file settled, as designed). */
function expectPausesShorterThanSettle(longest: number): void {
  expect(longest).toBeLessThan(DEFAULT_SETTLE_MS);
}

describe('a Route written in two steps, policyRef last', () => {
  it('a new Route: 404 between the writes, never 200, then 401', async () => {
    const file = join(dir, 'fresh.yaml');
    const writing = writeInSteps([() => writeFileSync(file, route('fresh', ['/fresh'], null)), () => appendFileSync(file, POLICY_REF)]);
    const seen = await probeUntil(['/fresh'], writing.then(() => until({ '/fresh': 401 })));
    expectPausesShorterThanSettle(await writing);
    const statuses = seen.get('/fresh')!;
    expect(statuses.filter((s) => s !== 404 && s !== 401)).toEqual([]);
    expect(statuses[0]).toBe(404);
    expect(statuses.at(-1)).toBe(401);
  });

  it("a protected Route rewritten in place: the old policy's 401 between the writes, never 200", async () => {
    const file = join(dir, 'kept.yaml');
    expect(await status('/kept')).toBe(401);
    const writing = writeInSteps([() => writeFileSync(file, route('kept', ['/kept', '/kept-v2'], null)), () => appendFileSync(file, POLICY_REF)]);
    const seen = await probeUntil(['/kept', '/kept-v2'], writing.then(() => until({ '/kept': 401, '/kept-v2': 401 })));
    expectPausesShorterThanSettle(await writing);
    expect(seen.get('/kept')!.filter((s) => s !== 401)).toEqual([]);
    // The new path is served only once the file is whole: protected from its first answer.
    expect(seen.get('/kept-v2')!.filter((s) => s !== 404 && s !== 401)).toEqual([]);
    expect(seen.get('/kept-v2')!.at(-1)).toBe(401);
  });
});

describe('a file cut mid-way keeps the Routes after the cut', () => {
  const file = () => join(dir, 'three.yaml');
  const whole = () => [route('one', ['/one'], null), route('two', ['/two'], 'machines'), route('three', ['/three'], null)].join('---\n');
  /** Every path as the whole file serves it. */
  const served = { '/one': 200, '/two': 401, '/three': 200 };

  beforeAll(async () => {
    writeFileSync(file(), whole());
    await until(served);
  });

  /** Cuts the file at `at`, then writes the rest back after a pause, probing all along. */
  async function cutAndResume(at: number): Promise<Map<string, number[]>> {
    const text = whole();
    const writing = writeInSteps([() => truncateSync(file(), Buffer.byteLength(text.slice(0, at))), () => appendFileSync(file(), text.slice(at))]);
    // Past the settle time after the last write: the whole file has been applied again by then.
    const seen = await probeUntil(Object.keys(served), writing.then(() => sleep(DEFAULT_SETTLE_MS + 200)));
    expectPausesShorterThanSettle(await writing);
    expect(readFileSync(file(), 'utf8')).toBe(text);
    return seen;
  }

  function expectServedThroughout(seen: Map<string, number[]>): void {
    for (const [path, want] of Object.entries(served)) expect({ path, statuses: seen.get(path)!.filter((s) => s !== want) }).toEqual({ path, statuses: [] });
  }

  it('cut before the second Route\'s policyRef (it parses, and that Route alone would be public)', async () => {
    const text = whole();
    const at = text.indexOf(POLICY_REF);
    // What a reader would get from the cut file: valid manifests, /two public, /three gone.
    const cut = parseManifestText(text.slice(0, at), 'three.yaml');
    expect(cut.problems).toEqual([]);
    expect(cut.objects.map((object) => [object.metadata.name, 'policyRef' in (object.spec as object)])).toEqual([['one', false], ['two', false]]);
    expectServedThroughout(await cutAndResume(at));
  });

  it('cut at a document boundary (it parses, with the Routes after the cut missing)', async () => {
    const text = whole();
    const at = text.indexOf('---\n') + 4;
    expect(parseManifestText(text.slice(0, at), 'three.yaml')).toMatchObject({ problems: [], objects: [{ metadata: { name: 'one' } }] });
    expectServedThroughout(await cutAndResume(at));
  });

  it('a cut that does not parse, left so: the last good objects keep serving, and it is reported', async () => {
    const text = whole();
    const at = text.indexOf('name: two}') + 'name: t'.length;
    const from = proxy.logs.length;
    truncateSync(file(), at);
    const problem = await proxy.waitForLog((line) => proxy.logs.indexOf(line) >= from && String(line.msg).startsWith('manifest problem') && String(line.file).endsWith('three.yaml'), 5_000);
    expect(problem).toMatchObject({ level: 'warn' });
    for (const [path, want] of Object.entries(served)) expect(await status(path)).toBe(want);
    writeFileSync(file(), text);
    await proxy.waitForLog((line) => proxy.logs.indexOf(line) >= from && String(line.msg).startsWith('manifest problem resolved') && String(line.file).endsWith('three.yaml'), 5_000);
  });

  it('renamed away and written anew (a backup copy, then the new file): the Routes never drop', async () => {
    const text = whole();
    const writing = writeInSteps([() => renameSync(file(), `${file()}~`), () => writeFileSync(file(), text)]);
    const seen = await probeUntil(Object.keys(served), writing.then(() => sleep(DEFAULT_SETTLE_MS + 200)));
    expectPausesShorterThanSettle(await writing);
    expectServedThroughout(seen);
  });
});
