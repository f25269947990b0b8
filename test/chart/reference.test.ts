// The configuration reference (docs/reference.md) against what it documents: every field of
// both CRDs' schemas and every key of the chart's values.schema.json has a row, no row names a
// field that does not exist, each row shows its field's enumeration and default, and values.yaml
// holds exactly the keys of the schema.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../support/cli.ts';
import { CHART_DIR } from './helm.ts';

interface Schema {
  readonly type?: string;
  readonly properties?: Record<string, Schema>;
  readonly items?: Schema;
  readonly additionalProperties?: boolean | Schema;
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
}

const REFERENCE_FILE = 'docs/reference.md';
const REFERENCE = readFileSync(join(REPO_ROOT, REFERENCE_FILE), 'utf8');

/** The rows of the table under `### <heading>`: first cell's code → the whole row. */
function referenceRows(heading: string): Map<string, string> {
  const start = REFERENCE.indexOf(`\n### ${heading}\n`);
  if (start === -1) throw new Error(`${REFERENCE_FILE} has no "### ${heading}" section.`);
  const end = REFERENCE.slice(start + 1).search(/\n##+ /);
  const section = REFERENCE.slice(start, end === -1 ? undefined : start + 1 + end);
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const match = /^\| `([^`]+)` \|/.exec(line);
    if (match === null) continue;
    if (rows.has(match[1]!)) throw new Error(`${REFERENCE_FILE} documents ${match[1]} twice under "${heading}".`);
    rows.set(match[1]!, line);
  }
  return rows;
}

/** Field paths as the reference writes them: `rules[].matches[].path.type`, lists marked `[]`. */
function crdFields(schema: Schema, prefix = ''): Map<string, Schema> {
  const fields = new Map<string, Schema>();
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const path = `${prefix}${prefix === '' ? '' : '.'}${name}${property.type === 'array' ? '[]' : ''}`;
    fields.set(path, property);
    for (const [inner, field] of crdFields(property.type === 'array' ? (property.items ?? {}) : property, path)) fields.set(inner, field);
  }
  return fields;
}

/** Values keys: nested objects whose keys the schema closes are walked; anything else is a leaf. */
function valueKeys(schema: Schema, prefix: readonly string[] = []): Map<string, { path: string[]; leaf: boolean }> {
  const keys = new Map<string, { path: string[]; leaf: boolean }>();
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (prefix.length === 0 && name === 'global') continue; // a parent chart's, not ours
    const path = [...prefix, name];
    const leaf = !(property.type === 'object' && property.properties !== undefined && property.additionalProperties === false);
    keys.set(path.join('.'), { path, leaf });
    if (!leaf) for (const [inner, key] of valueKeys(property, path)) keys.set(inner, key);
  }
  return keys;
}

function specSchema(file: string): Schema {
  const crd = parse(readFileSync(join(REPO_ROOT, 'crds', file), 'utf8')) as { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: Schema } } } }[] } };
  return crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec;
}

describe.each([
  ['Route fields', 'routes.yaml'],
  ['OIDCPolicy fields', 'oidcpolicies.yaml'],
])('docs/reference.md "%s"', (heading, file) => {
  const fields = crdFields(specSchema(file));
  const rows = referenceRows(heading);

  it(`documents every spec field of crds/${file}, and no other`, () => {
    expect([...fields.keys()].filter((path) => !rows.has(path))).toEqual([]);
    expect([...rows.keys()].filter((path) => !fields.has(path))).toEqual([]);
  });

  it('names every allowed value and the default of each field', () => {
    const wrong: string[] = [];
    for (const [path, field] of fields) {
      const row = rows.get(path) ?? '';
      for (const value of [...(field.enum ?? []), ...(field.items?.enum ?? [])]) if (!row.includes(String(value))) wrong.push(`${path}: ${String(value)}`);
      if (field.default !== undefined && !row.includes(String(field.default))) wrong.push(`${path}: default ${String(field.default)}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('docs/cluster-policies.md', () => {
  const page = readFileSync(join(REPO_ROOT, 'docs', 'cluster-policies.md'), 'utf8');
  const shared = new Set(crdFields(specSchema('oidcpolicies.yaml')).keys());

  it("names every spec field ClusterOIDCPolicy adds to OIDCPolicy's", () => {
    const added = [...crdFields(specSchema('clusteroidcpolicies.yaml')).keys()].filter((path) => !shared.has(path));
    expect(added.length).toBeGreaterThan(5);
    expect(added.filter((path) => !page.includes(`\`${path}\``))).toEqual([]);
  });
});

describe('docs/reference.md "Helm values"', () => {
  const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Schema;
  const values = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const keys = valueKeys(schema);
  const rows = referenceRows('Helm values');
  const valueAt = (path: readonly string[]): unknown => path.reduce<unknown>((object, key) => (object as Record<string, unknown> | undefined)?.[key], values);

  it('documents every key of values.schema.json, and no other', () => {
    expect([...keys.keys()].filter((key) => !rows.has(key))).toEqual([]);
    expect([...rows.keys()].filter((key) => !keys.has(key))).toEqual([]);
  });

  it("shows each key's default as values.yaml has it", () => {
    const wrong: string[] = [];
    for (const [key, { path, leaf }] of keys) {
      if (!leaf) continue;
      const cell = rows.get(key)?.split(' | ')[1]?.trim() ?? '';
      const value = valueAt(path);
      const shown = /^`(.*)`$/.exec(cell);
      if (shown !== null) {
        if (JSON.stringify(parse(shown[1]!)) !== JSON.stringify(value ?? null)) wrong.push(`${key}: reference ${cell}, values.yaml ${JSON.stringify(value)}`);
      } else if (cell !== '(see values.yaml)' || typeof value !== 'object' || value === null || Object.keys(value).length === 0) {
        wrong.push(`${key}: reference ${cell}, values.yaml ${JSON.stringify(value)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has values.yaml holding exactly the keys of the schema', () => {
    const leaves = (object: unknown, prefix: readonly string[]): string[] =>
      Object.entries(object as Record<string, unknown>).flatMap(([name, value]) => {
        const path = [...prefix, name];
        const key = keys.get(path.join('.'));
        return key !== undefined && !key.leaf ? leaves(value, path) : [path.join('.')];
      });
    const inValues = leaves(values, []);
    const inSchema = [...keys].filter(([, key]) => key.leaf).map(([name]) => name);
    expect(inValues.filter((key) => !keys.has(key))).toEqual([]);
    expect(inSchema.filter((key) => !inValues.includes(key))).toEqual([]);
  });
});
