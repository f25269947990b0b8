// The CRDs of crds/*.yaml as a validator that behaves like the API server on create, closely
// enough for the corpus: unknown fields refused (strict field validation), defaults applied,
// the OpenAPI schema checked, then the CEL rules (restated in cel.ts) run on the defaulted
// object. The k8s schema is converted to plain JSON Schema for ajv; x-kubernetes-* keys are
// dropped, except the CEL rules, which ride along as the annotation `celRules`.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { CEL_PREDICATES } from './cel.ts';
import { CRD_DIR } from './corpus.ts';

export type SchemaNode = Record<string, unknown>;

export interface CelRule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath?: string;
  readonly reason?: string;
}

export interface LoadedCrd {
  readonly file: string;
  readonly kind: string;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  /** The version's openAPIV3Schema, as written. */
  readonly schema: SchemaNode;
  /** The same, as JSON Schema (see toJsonSchema). */
  readonly jsonSchema: SchemaNode;
}

export interface CrdIssue {
  /** As the API server names fields: `spec.rules[0].backends[1].url`, `spec.forward.headers.X-User`. */
  readonly field: string;
  readonly message: string;
}

export type CrdResult = { ok: true; object: unknown } | { ok: false; issues: CrdIssue[] };

/** The CRDs in `dir`, by kind; each must define one served storage version. */
export function loadCrds(dir: string = CRD_DIR): Map<string, LoadedCrd> {
  const crds = new Map<string, LoadedCrd>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
    const crd = parse(readFileSync(join(dir, file), 'utf8')) as SchemaNode;
    const spec = crd.spec as SchemaNode;
    const names = spec.names as SchemaNode;
    const versions = spec.versions as SchemaNode[];
    if (versions.length !== 1) throw new Error(`${file}: expected one version, found ${versions.length}.`);
    const [version] = versions as [SchemaNode];
    const schema = (version.schema as SchemaNode).openAPIV3Schema as SchemaNode;
    crds.set(String(names.kind), {
      file,
      kind: String(names.kind),
      group: String(spec.group),
      version: String(version.name),
      plural: String(names.plural),
      schema,
      jsonSchema: toJsonSchema(schema, []),
    });
  }
  return crds;
}

/** What the API server checks of metadata on create, for the parts the corpus exercises. */
const METADATA_SCHEMA: SchemaNode = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' },
    namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
  },
};

/** Keys copied as they are; anything not listed here or handled below is refused, so no construct is silently ignored. */
const COPIED = new Set(['type', 'required', 'enum', 'pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum', 'minProperties', 'maxProperties', 'default']);
const DROPPED = new Set(['description', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys']);

/**
 * Converts a structural schema to JSON Schema: objects with `properties` get
 * `additionalProperties: false` (strict field validation), integer formats are dropped (the
 * bounds say more), CEL rules become the annotation `celRules`.
 */
export function toJsonSchema(node: SchemaNode, path: readonly string[]): SchemaNode {
  if (path.length === 1 && path[0] === 'metadata') return METADATA_SCHEMA;
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (COPIED.has(key)) out[key] = value;
    else if (DROPPED.has(key)) continue;
    else if (key === 'format') {
      if (value === 'date-time') out.format = value;
      else if (value !== 'int32' && value !== 'int64') throw new Error(`${where(path)}: format ${String(value)} is not emulated.`);
    } else if (key === 'properties') {
      const properties: SchemaNode = {};
      for (const [name, child] of Object.entries(value as SchemaNode)) properties[name] = toJsonSchema(child as SchemaNode, [...path, name]);
      out.properties = properties;
      out.additionalProperties = false;
    } else if (key === 'items') out.items = toJsonSchema(value as SchemaNode, [...path, '[]']);
    else if (key === 'additionalProperties') out.additionalProperties = toJsonSchema(value as SchemaNode, [...path, '{}']);
    else if (key === 'x-kubernetes-validations') out.celRules = value;
    else throw new Error(`${where(path)}: ${key} is not emulated; teach toJsonSchema about it.`);
  }
  return out;
}

const where = (path: readonly string[]) => (path.length === 0 ? '(root)' : path.join('.'));

const validators = new WeakMap<LoadedCrd, ValidateFunction>();

function validatorFor(crd: LoadedCrd): ValidateFunction {
  let validate = validators.get(crd);
  if (validate === undefined) {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
    ajv.addKeyword({ keyword: 'celRules' });
    ajv.addFormat('date-time', (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(s) && !Number.isNaN(Date.parse(s)));
    validate = ajv.compile(crd.jsonSchema);
    validators.set(crd, validate);
  }
  return validate;
}

/**
 * Validates a manifest as the API server would create it. Like the API server, the CEL rules
 * run only once the object passes the OpenAPI schema. The object returned has its defaults.
 */
export function validateWithCrd(crd: LoadedCrd, document: unknown): CrdResult {
  const object = structuredClone(document);
  const validate = validatorFor(crd);
  if (!validate(object)) return { ok: false, issues: (validate.errors ?? []).map((e) => ajvIssue(e, object)) };
  const issues: CrdIssue[] = [];
  checkCelRules(crd.jsonSchema, object, '', issues);
  return issues.length === 0 ? { ok: true, object } : { ok: false, issues };
}

function ajvIssue(error: ErrorObject, document: unknown): CrdIssue {
  let field = pointerToField(error.instancePath, document);
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'required') field = join2(field, String(params.missingProperty));
  if (error.keyword === 'additionalProperties') field = join2(field, String(params.additionalProperty));
  return { field, message: error.message ?? error.keyword };
}

/** `/spec/rules/0/url` → `spec.rules[0].url`, using the document to tell list indexes from map keys. */
function pointerToField(pointer: string, document: unknown): string {
  let field = '';
  let value = document;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(value)) {
      field += `[${segment}]`;
      value = value[Number(segment)];
    } else {
      field = join2(field, segment);
      value = isObject(value) ? value[segment] : undefined;
    }
  }
  return field;
}

const join2 = (field: string, name: string) => (field === '' ? name : `${field}.${name}`);

function checkCelRules(schema: SchemaNode, value: unknown, field: string, issues: CrdIssue[]): void {
  if (value === undefined || value === null) return;
  for (const rule of (schema.celRules ?? []) as CelRule[]) {
    const predicate = CEL_PREDICATES[rule.rule];
    if (predicate === undefined) throw new Error(`${field}: no JavaScript restatement of the CEL rule ${JSON.stringify(rule.rule)} in test/api/cel.ts.`);
    if (!isObject(value)) throw new Error(`${field}: CEL rules are emulated on objects only.`);
    if (!predicate(value)) issues.push({ field: field + (rule.fieldPath ?? ''), message: rule.message });
  }
  if (Array.isArray(value) && isObject(schema.items)) {
    value.forEach((item, i) => checkCelRules(schema.items as SchemaNode, item, `${field}[${i}]`, issues));
  } else if (isObject(value)) {
    const properties = (schema.properties ?? {}) as Record<string, SchemaNode>;
    for (const [key, child] of Object.entries(value)) {
      const childSchema = properties[key] ?? (isObject(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (childSchema !== undefined) checkCelRules(childSchema, child, join2(field, key), issues);
    }
  }
}

/** Every CEL rule of a schema, with the path of the node that carries it. */
export function celRulesOf(schema: SchemaNode, path = ''): { path: string; rule: CelRule }[] {
  const found = ((schema.celRules ?? []) as CelRule[]).map((rule) => ({ path: path || '(root)', rule }));
  for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, SchemaNode>)) found.push(...celRulesOf(child, join2(path, name)));
  if (isObject(schema.items)) found.push(...celRulesOf(schema.items, `${path}[]`));
  if (isObject(schema.additionalProperties)) found.push(...celRulesOf(schema.additionalProperties, `${path}.*`));
  return found;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
