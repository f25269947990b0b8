// Walks the JSON Schema that zod generates for a kind next to the JSON Schema converted from its
// CRD, and lists every difference: a field on one side only, or a different type, enum, bound,
// pattern, default or required list. zod's refinements have no JSON Schema; the CRD states them
// as CEL rules, which the corpus checks instead.
import { isObject, type SchemaNode } from './crd.ts';

/** Constraints compared one to one. */
const COMPARED = ['type', 'enum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum', 'minProperties', 'maxProperties', 'default', 'format'] as const;
/** Everything zod may emit that the walk understands; anything else is reported, not ignored. */
const UNDERSTOOD = new Set<string>([...COMPARED, 'pattern', 'required', 'properties', 'additionalProperties', 'items', 'propertyNames']);

/**
 * Differences between a zod-generated schema and a CRD-derived one, as sentences naming the
 * field. At the root only spec and status are compared: metadata is implicit in a CRD, and
 * apiVersion and kind are the API server's business.
 */
export function diffKindSchemas(zodSchema: SchemaNode, crdSchema: SchemaNode): string[] {
  const out: string[] = [];
  const zodProps = (zodSchema.properties ?? {}) as Record<string, SchemaNode>;
  const crdProps = (crdSchema.properties ?? {}) as Record<string, SchemaNode>;
  compareKeys(Object.keys(zodProps), Object.keys(crdProps), '(root)', out);
  for (const name of ['spec', 'status']) {
    const z = zodProps[name];
    const c = crdProps[name];
    if (z !== undefined && c !== undefined) diffSchemas(z, c, name, out);
  }
  return out;
}

export function diffSchemas(zod: SchemaNode, crd: SchemaNode, path: string, out: string[]): void {
  for (const key of Object.keys(zod)) if (!UNDERSTOOD.has(key)) out.push(`${path}: zod emits ${key}, which this walk does not compare.`);

  for (const key of COMPARED) {
    const z = normalise(key, zod[key]);
    const c = normalise(key, crd[key]);
    if (JSON.stringify(z) !== JSON.stringify(c)) out.push(`${path}: ${key} is ${JSON.stringify(z)} in zod but ${JSON.stringify(c)} in the CRD.`);
  }
  // zod's ISO date-time check comes with its own long pattern; the CRD says format: date-time.
  if (zod.format !== 'date-time') {
    const z = normalisePattern(zod.pattern);
    const c = normalisePattern(crd.pattern);
    if (z !== c) out.push(`${path}: pattern is ${JSON.stringify(z)} in zod but ${JSON.stringify(c)} in the CRD.`);
  }
  const zRequired = [...((zod.required ?? []) as string[])].sort();
  const cRequired = [...((crd.required ?? []) as string[])].sort();
  if (JSON.stringify(zRequired) !== JSON.stringify(cRequired)) {
    out.push(`${path}: required is ${JSON.stringify(zRequired)} in zod but ${JSON.stringify(cRequired)} in the CRD.`);
  }

  if (isObject(zod.properties) || isObject(crd.properties)) {
    const zProps = (zod.properties ?? {}) as Record<string, SchemaNode>;
    const cProps = (crd.properties ?? {}) as Record<string, SchemaNode>;
    compareKeys(Object.keys(zProps), Object.keys(cProps), path, out);
    for (const [name, z] of Object.entries(zProps)) {
      const c = cProps[name];
      if (c !== undefined) diffSchemas(z, c, `${path}.${name}`, out);
    }
    if (zod.additionalProperties !== false) out.push(`${path}: zod lets unknown fields through; the API server refuses them (use z.strictObject).`);
  } else if (isObject(zod.additionalProperties) || isObject(crd.additionalProperties)) {
    if (!isObject(zod.additionalProperties) || !isObject(crd.additionalProperties)) out.push(`${path}: a map on one side only.`);
    else diffSchemas(zod.additionalProperties, crd.additionalProperties, `${path}.*`, out);
    // OpenAPI cannot constrain map keys; the CRD must do it with a CEL rule (the corpus checks which).
    if (isObject(zod.propertyNames) && Object.keys(zod.propertyNames).some((k) => k !== 'type') && !Array.isArray(crd.celRules)) {
      out.push(`${path}: zod constrains the keys, the CRD has no CEL rule to do the same.`);
    }
  }

  if (isObject(zod.items) || isObject(crd.items)) {
    if (!isObject(zod.items) || !isObject(crd.items)) out.push(`${path}: a list on one side only.`);
    else diffSchemas(zod.items, crd.items, `${path}[]`, out);
  }
}

function compareKeys(zod: string[], crd: string[], path: string, out: string[]): void {
  for (const name of zod) if (!crd.includes(name)) out.push(`${path}.${name}: in zod, missing from the CRD.`);
  for (const name of crd) if (!zod.includes(name)) out.push(`${path}.${name}: in the CRD, missing from zod.`);
}

function normalise(key: string, value: unknown): unknown {
  // zod states the safe-integer range of every int; the CRD leaves an unbounded side unstated.
  if ((key === 'minimum' || key === 'maximum') && typeof value === 'number' && Math.abs(value) === Number.MAX_SAFE_INTEGER) return undefined;
  // The CRD's integer formats bound the wire type, not the value; zod has no counterpart.
  if (key === 'format' && (value === 'int32' || value === 'int64')) return undefined;
  return value;
}

/** RegExp#source escapes "/" as "\/"; both spellings mean the same pattern. */
function normalisePattern(pattern: unknown): unknown {
  return typeof pattern === 'string' ? pattern.replaceAll('\\/', '/') : pattern;
}
