// The CRDs and the API corpus against a real kube-apiserver: crds/ applies and becomes
// Established, `kubectl explain` shows the schema, and every corpus manifest gets the same
// verdict from zod, from the JSON-schema check of test/api and from the API server
// (`kubectl apply --dry-run=server`, which runs the OpenAPI schema and the CEL rules).
import { readFileSync } from 'node:fs';
import { parseManifest } from '../../src/api/manifest.ts';
import { loadCorpus, type CorpusCase } from '../api/corpus.ts';
import { loadCrds, validateWithCrd, type SchemaNode } from '../api/crd.ts';
import { CLUSTER_START_TIMEOUT_MS, startCluster, type Cluster, type KubectlResult } from './harness.ts';
import { mapConcurrently, retry } from './async.ts';
import { apiServerFields } from './kubectl-errors.ts';

const NAMESPACE = 'corpus';
const corpus = loadCorpus();
const crds = loadCrds();

let cluster: Cluster;
/** kubectl's answer to each corpus file, by name. */
const replies = new Map<string, KubectlResult>();

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.applyCrds();
  await cluster.ensureNamespace(NAMESPACE);
  // Four at a time: about 140 ms of kubectl start-up each, 90 files.
  await mapConcurrently(corpus, 4, async (c) => {
    replies.set(c.name, await cluster.kubectl(['apply', '--dry-run=server', '-n', NAMESPACE, '-o', 'json', '-f', '-'], { input: readFileSync(c.path, 'utf8') }));
  });
}, CLUSTER_START_TIMEOUT_MS);

afterAll(() => cluster?.stop());

describe('crds/ on a real API server', () => {
  it('applies, and every CRD is Established', async () => {
    for (const crd of crds.values()) {
      const result = await cluster.kubectl(['get', 'crd', `${crd.plural}.${crd.group}`, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}']);
      expect({ crd: crd.plural, established: result.stdout }).toEqual({ crd: crd.plural, established: 'True' });
    }
  });

  it.each([...crds.values()].map((crd) => [crd.plural, crd] as const))('kubectl explain %s.spec shows every field with its description', async (plural, crd) => {
    // The OpenAPI document can trail the Established condition by a moment.
    const explained = await retry(async () => {
      const result = await cluster.kubectl(['explain', `${plural}.spec`]);
      if (result.code !== 0) throw new Error(`kubectl explain ${plural}.spec: ${result.stderr.trim()}`);
      return result.stdout;
    });
    const spec = (crd.schema.properties as Record<string, SchemaNode>).spec as SchemaNode;
    expect(explained).toMatch(new RegExp(`^KIND:\\s+${crd.kind}$`, 'm'));
    expect(squeeze(explained)).toContain(squeeze(String(spec.description)));
    for (const [field, schema] of Object.entries(spec.properties as Record<string, SchemaNode>)) {
      expect({ field, listed: new RegExp(`^ {2}${field}\\s+<`, 'm').test(explained) }).toEqual({ field, listed: true });
      expect({ field, description: squeeze(explained).includes(squeeze(String(schema.description))) }).toEqual({ field, description: true });
    }
  });
});

describe('the API corpus on a real API server', () => {
  it('is the whole corpus, valid and invalid manifests', () => {
    expect(replies.size).toBe(corpus.length);
    expect(corpus.some((c) => c.valid)).toBe(true);
    expect(corpus.some((c) => !c.valid)).toBe(true);
  });

  it.each(corpus.map((c) => [c.name, c] as const))('%s: zod, the JSON schema and the API server agree', (name, c) => {
    const reply = replies.get(name) as KubectlResult;
    const expected = c.valid ? 'accepted' : `refused: ${c.expect}`;
    expect({ file: name, ...verdicts(c, reply) }).toEqual({ file: name, zod: expected, jsonSchema: expected, apiServer: expected });
  });

  it.each(corpus.filter((c) => c.valid).map((c) => [c.name, c] as const))('%s: the API server applies the same defaults as zod', (name, c) => {
    const reply = replies.get(name) as KubectlResult;
    const zod = parseManifest(c.document);
    if (!zod.ok || reply.code !== 0) throw new Error(`${name} was refused; see the agreement test.`);
    const stored = JSON.parse(reply.stdout) as { spec: unknown };
    expect(stored.spec).toEqual((zod.object as { spec: unknown }).spec);
  });
});

/** Each checker's verdict, `accepted` or `refused: <fields>`, so a disagreement reads at a glance. */
function verdicts(c: CorpusCase, reply: KubectlResult): { zod: string; jsonSchema: string; apiServer: string } {
  const crd = crds.get(c.kind);
  if (crd === undefined) throw new Error(`${c.name}: no CRD for kind ${c.kind}.`);
  const zod = parseManifest(c.document);
  const jsonSchema = validateWithCrd(crd, c.document);
  const refused = (fields: readonly string[]) => `refused: ${[...new Set(fields)].sort().join(', ')}`;
  let apiServer = 'accepted';
  if (reply.code !== 0) {
    const fields = apiServerFields(reply.stderr);
    apiServer = fields.length > 0 ? refused(fields) : `refused for no field: ${reply.stderr.trim().split('\n')[0]}`;
  }
  return {
    zod: zod.ok ? 'accepted' : refused(zod.issues.map((i) => i.field)),
    jsonSchema: jsonSchema.ok ? 'accepted' : refused(jsonSchema.issues.map((i) => i.field)),
    apiServer,
  };
}

/** Whitespace collapsed: kubectl explain wraps and indents descriptions. */
function squeeze(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
