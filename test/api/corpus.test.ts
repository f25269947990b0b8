// The corpus (test/api/corpus) against both schemas of each kind: the zod schema through
// parseManifest, and the CRD's openAPIV3Schema through ajv plus the CEL rules restated in
// cel.ts. They must agree on every file, and an invalid file must be refused by both for its
// `# expect:` field and nothing else.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { clusterPolicyCrd } from '../../scripts/cluster-policy-crd.ts';
import { API_VERSION, HEADER_NAME_PATTERN } from '../../src/api/common.ts';
import { parseManifest } from '../../src/api/manifest.ts';
import { ClusterOIDCPolicy } from '../../src/api/clusteroidcpolicy.ts';
import { OIDCPolicy } from '../../src/api/oidcpolicy.ts';
import { Route, UNNORMALISED_PATH_PATTERN } from '../../src/api/route.ts';
import { CEL_PREDICATES } from './cel.ts';
import { CRD_DIR, loadCorpus, type CorpusCase } from './corpus.ts';
import { celRulesOf, loadCrds, validateWithCrd, type SchemaNode } from './crd.ts';
import { diffKindSchemas } from './schema-diff.ts';

const corpus = loadCorpus();
const crds = loadCrds();
const ZOD_SCHEMAS = { Route, OIDCPolicy, ClusterOIDCPolicy } as const;

function crdOf(kind: string) {
  const crd = crds.get(kind);
  if (crd === undefined) throw new Error(`No CRD for kind ${kind}.`);
  return crd;
}

/** Both verdicts on one manifest, in a shape that diffs readably when the two disagree. */
function verdicts(c: CorpusCase) {
  const zod = parseManifest(c.document);
  const crd = validateWithCrd(crdOf(c.kind), c.document);
  return {
    zod,
    crd,
    zodFields: zod.ok ? [] : [...new Set(zod.issues.map((i) => i.field))].sort(),
    crdFields: crd.ok ? [] : [...new Set(crd.issues.map((i) => i.field))].sort(),
  };
}

const cases = (valid: boolean) => corpus.filter((c) => c.valid === valid).map((c) => [c.name, c] as const);

describe('the API corpus', () => {
  it('has at least 45 manifests, valid and invalid ones of each kind', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(45);
    for (const kind of Object.keys(ZOD_SCHEMAS)) {
      expect(corpus.filter((c) => c.kind === kind && c.valid).length).toBeGreaterThanOrEqual(5);
      expect(corpus.filter((c) => c.kind === kind && !c.valid).length).toBeGreaterThanOrEqual(15);
    }
    for (const c of corpus) expect(c.document).toMatchObject({ apiVersion: API_VERSION });
  });

  it.each(cases(true))('%s is accepted by zod and by the CRD, with the same defaults', (_name, c) => {
    const { zod, crd, zodFields, crdFields } = verdicts(c);
    expect({ zod: zodFields, crd: crdFields, zodIssues: zod.ok ? [] : zod.issues, crdIssues: crd.ok ? [] : crd.issues }).toEqual({
      zod: [],
      crd: [],
      zodIssues: [],
      crdIssues: [],
    });
    if (zod.ok && crd.ok) expect(crd.object).toEqual(zod.object);
  });

  it.each(cases(false))('%s is refused by zod and by the CRD for its expected field only', (_name, c) => {
    const { zod, crd, zodFields, crdFields } = verdicts(c);
    expect({ zodOk: zod.ok, crdOk: crd.ok, zod: zodFields, crd: crdFields }).toEqual({ zodOk: false, crdOk: false, zod: [c.expect], crd: [c.expect] });
    // Every message reads as a sentence, on both sides.
    if (!zod.ok) for (const issue of zod.issues) expect(issue.message).toMatch(/^[A-Z].*\.$/s);
  });

  it('uses every spec field of each CRD in some valid manifest', () => {
    const specOf = (kind: string) => (crdOf(kind).jsonSchema.properties as Record<string, SchemaNode>).spec as SchemaNode;
    // ClusterOIDCPolicy's spec is derived from OIDCPolicy's: the fields they share are OIDCPolicy's to cover.
    const shared = new Set(schemaFieldsOf(specOf('OIDCPolicy'), 'spec'));
    for (const crd of crds.values()) {
      const used = new Set(corpus.filter((c) => c.valid && c.kind === crd.kind).flatMap((c) => fieldsOf(c.document)));
      const own = schemaFieldsOf(specOf(crd.kind), 'spec').filter((field) => crd.kind !== 'ClusterOIDCPolicy' || !shared.has(field));
      expect(own.filter((field) => !used.has(field))).toEqual([]);
    }
  });

  it('refuses a manifest for every CEL rule of the CRDs', () => {
    const fired = new Set<string>();
    for (const c of corpus.filter((x) => !x.valid)) {
      const result = validateWithCrd(crdOf(c.kind), c.document);
      if (!result.ok) for (const issue of result.issues) fired.add(`${c.kind}: ${issue.message}`);
    }
    for (const crd of crds.values()) {
      for (const { path, rule } of celRulesOf(crd.jsonSchema)) expect({ path, fired: fired.has(`${crd.kind}: ${rule.message}`) }).toEqual({ path, fired: true });
    }
  });
});

describe('the CRDs', () => {
  it('define Route, OIDCPolicy and ClusterOIDCPolicy in portcullis.dev/v1alpha1', () => {
    expect([...crds.keys()].sort()).toEqual(['ClusterOIDCPolicy', 'OIDCPolicy', 'Route']);
    for (const crd of crds.values()) expect(`${crd.group}/${crd.version}`).toBe(API_VERSION);
  });

  it.each(Object.keys(ZOD_SCHEMAS))('%s has the same fields and constraints as its zod schema', (kind) => {
    expect(diffKindSchemas(zodJsonSchema(ZOD_SCHEMAS[kind as keyof typeof ZOD_SCHEMAS]), crdOf(kind).jsonSchema)).toEqual([]);
  });

  it('derive ClusterOIDCPolicy from OIDCPolicy: crds/clusteroidcpolicies.yaml is what scripts/cluster-policy-crd.ts writes', () => {
    const derived = clusterPolicyCrd(readFileSync(join(CRD_DIR, 'oidcpolicies.yaml'), 'utf8'));
    expect(readFileSync(join(CRD_DIR, 'clusteroidcpolicies.yaml'), 'utf8')).toBe(derived);
  });

  it('restate every CEL rule in cel.ts, and cel.ts restates no rule that is gone', () => {
    const rules = [...crds.values()].flatMap((crd) => celRulesOf(crd.jsonSchema).map(({ rule }) => rule.rule));
    expect(rules.filter((rule) => CEL_PREDICATES[rule] === undefined)).toEqual([]);
    expect(Object.keys(CEL_PREDICATES).filter((rule) => !rules.includes(rule))).toEqual([]);
  });

  it('state in CEL the same patterns as zod', () => {
    const rules = [...crds.values()].flatMap((crd) => celRulesOf(crd.jsonSchema).map(({ rule }) => rule.rule));
    expect(rules.some((rule) => rule.includes(celString(UNNORMALISED_PATH_PATTERN)))).toBe(true);
    expect(rules.some((rule) => rule.includes(celString(HEADER_NAME_PATTERN)))).toBe(true);
  });

  it('give every CEL rule a message that reads as a sentence', () => {
    for (const crd of crds.values()) for (const { rule } of celRulesOf(crd.jsonSchema)) expect(rule.message).toMatch(/^[A-Za-z].*\.$/);
  });
});

/**
 * The JSON Schema of a kind as zod sees it (defaults make fields optional: `io: 'input'`).
 * metadata stays out: its zod schema accepts Date objects from client libraries, which JSON
 * Schema cannot state, and a CRD's metadata is implicit anyway.
 */
function zodJsonSchema(schema: (typeof ZOD_SCHEMAS)[keyof typeof ZOD_SCHEMAS]): SchemaNode {
  const properties: Record<string, SchemaNode> = {};
  for (const [name, field] of Object.entries(schema.shape)) {
    if (name === 'metadata') {
      properties[name] = {};
      continue;
    }
    const { $schema: _, ...json } = z.toJSONSchema(field, { io: 'input', unrepresentable: 'throw' });
    properties[name] = json;
  }
  return { type: 'object', properties };
}

/** The fields a document sets, lists as `[]` and map keys as `*`: `spec.rules[].backends[].url`. */
function fieldsOf(value: unknown, path = '', mapAt: ReadonlySet<string> = MAP_FIELDS): string[] {
  if (Array.isArray(value)) return [path, ...value.flatMap((item) => fieldsOf(item, `${path}[]`, mapAt))];
  if (typeof value !== 'object' || value === null) return [path];
  const entries = Object.entries(value);
  const children = mapAt.has(path) ? entries.map(([, v]) => fieldsOf(v, `${path}.*`, mapAt)) : entries.map(([k, v]) => fieldsOf(v, path === '' ? k : `${path}.${k}`, mapAt));
  return [path, ...children.flat()];
}

/** The fields a schema defines, in the notation of fieldsOf. */
function schemaFieldsOf(schema: SchemaNode, path: string): string[] {
  const out = [path];
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, SchemaNode>)) out.push(...schemaFieldsOf(child, `${path}.${name}`));
  if (typeof schema.items === 'object') out.push(...schemaFieldsOf(schema.items as SchemaNode, `${path}[]`));
  if (typeof schema.additionalProperties === 'object') out.push(...schemaFieldsOf(schema.additionalProperties as SchemaNode, `${path}.*`));
  return out;
}

/** Fields whose keys are data, not field names. */
const MAP_FIELDS: ReadonlySet<string> = new Set([
  'metadata.labels',
  'metadata.annotations',
  'spec.browser.authorizationParams',
  'spec.forward.headers',
  'spec.namespaceSelector.matchLabels',
  'spec.defaultFor.matchLabels',
]);

/** A CEL single-quoted string literal. */
function celString(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}
