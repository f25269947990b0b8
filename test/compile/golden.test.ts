// Golden tests: testdata/<case>.in.yaml → <case>.out.yaml (table and statuses).
// Regenerate with UPDATE_GOLDEN=1. A <case>.requests.yaml runs requests through the real matcher.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { compile } from '../../src/compile/compile.ts';
import { DEFAULT_COMPILE_OPTIONS, type CompileOptions } from '../../src/model/snapshot.ts';
import { parseManifestText, toSnapshot } from '../../src/sources/manifests.ts';
import { describeTable } from './describe.ts';

const dir = join(import.meta.dirname, 'testdata');
const cases = readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).map((f) => f.slice(0, -'.in.yaml'.length)).sort();
const update = process.env.UPDATE_GOLDEN === '1';

interface RequestCase {
  request: { host?: string; path: string; method?: string; headers?: Record<string, string>; query?: string };
  expect: { rule?: string; status?: number; code?: string };
}

function compileCase(name: string) {
  const text = readFileSync(join(dir, `${name}.in.yaml`), 'utf8');
  // A case may set compile options in a leading comment: `# options: {"mode":"controller"}`.
  const optionsLine = /^# options: (.*)$/m.exec(text);
  const options: CompileOptions = { ...DEFAULT_COMPILE_OPTIONS, generatedSessionKey: 'generated-key-for-golden-tests-0123456789', ...(optionsLine ? JSON.parse(optionsLine[1]!) : {}) };
  const { objects, problems } = parseManifestText(text, `${name}.in.yaml`);
  return compile(toSnapshot(objects, problems, options.defaultNamespace), options);
}

test('there are at least 30 golden cases', () => {
  expect(cases.length).toBeGreaterThanOrEqual(30);
});

describe.each(cases)('%s', (name) => {
  const result = compileCase(name);

  it('compiles to the golden output', () => {
    const actual = stringify(describeTable(result), { lineWidth: 0 });
    const goldenFile = join(dir, `${name}.out.yaml`);
    if (update || !existsSync(goldenFile)) writeFileSync(goldenFile, actual);
    expect(actual).toBe(readFileSync(goldenFile, 'utf8'));
  });

  const requestsFile = join(dir, `${name}.requests.yaml`);
  const requests: RequestCase[] = existsSync(requestsFile) ? parse(readFileSync(requestsFile, 'utf8')) : [];
  if (requests.length > 0) {
    it.each(requests.map((r) => [`${r.request.method ?? 'GET'} ${r.request.host ?? ''}${r.request.path}`, r] as const))('routes %s', (_, { request, expect: want }) => {
      const rule = result.table.matcher.match({
        host: request.host ?? 'example.com',
        path: request.path,
        method: request.method ?? 'GET',
        headers: Object.fromEntries(Object.entries(request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
        query: request.query ?? '',
      });
      if (want.rule !== undefined) expect(rule?.id).toBe(want.rule);
      if (want.status === 404) expect(rule).toBeNull();
      if (want.status !== undefined && want.status !== 404) {
        expect(rule?.action).toMatchObject({ kind: 'respond', status: want.status, ...(want.code ? { code: want.code } : {}) });
      }
      if (want.status === undefined) expect(rule?.action.kind).toBe('forward');
    });
  }
});
