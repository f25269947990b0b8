// The API corpus: one manifest per file, valid ones under corpus/valid, invalid ones under
// corpus/invalid, each invalid one naming its wrong field on its first line:
//
//   # expect: spec.rules[0].backends[0].url
//
// Replayed against the zod schemas and the CRD schemas here (corpus.test.ts), and against a
// real API server elsewhere (`kubectl apply --dry-run=server -f <file>`), which must agree.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const CORPUS_DIR = fileURLToPath(new URL('./corpus/', import.meta.url));
export const CRD_DIR = fileURLToPath(new URL('../../crds/', import.meta.url));

export interface CorpusCase {
  /** `valid/route-minimal.yaml`, relative to CORPUS_DIR. */
  readonly name: string;
  /** Absolute path, for tools such as kubectl. */
  readonly path: string;
  readonly valid: boolean;
  /** The field an invalid manifest gets wrong, as `spec.rules[0].url`; null for valid ones. */
  readonly expect: string | null;
  readonly kind: string;
  /** The decoded manifest; every call of loadCorpus() returns fresh objects. */
  readonly document: unknown;
}

const EXPECT_LINE = /^# expect: (\S+)\s*$/;

/** Every corpus file, valid ones first, each group sorted by file name. */
export function loadCorpus(dir: string = CORPUS_DIR): CorpusCase[] {
  const cases: CorpusCase[] = [];
  for (const group of ['valid', 'invalid'] as const) {
    const files = readdirSync(join(dir, group))
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    for (const file of files) cases.push(readCase(dir, group, file));
  }
  return cases;
}

function readCase(dir: string, group: 'valid' | 'invalid', file: string): CorpusCase {
  const name = `${group}/${file}`;
  const path = join(dir, group, file);
  const text = readFileSync(path, 'utf8');
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents) || documents.length !== 1) throw new Error(`${name}: expected exactly one YAML document.`);
  const [doc] = documents;
  if (doc === undefined || doc.errors.length > 0) throw new Error(`${name}: ${doc?.errors[0]?.message ?? 'empty file'}`);
  const document: unknown = doc.toJS();
  const kind = typeof document === 'object' && document !== null && 'kind' in document ? String(document.kind) : '';

  const firstLine = text.split('\n', 1)[0] ?? '';
  const expect = EXPECT_LINE.exec(firstLine)?.[1] ?? null;
  if (group === 'invalid' && expect === null) throw new Error(`${name}: the first line must be "# expect: <field path>".`);
  if (group === 'valid' && /^# expect:/m.test(text)) throw new Error(`${name}: a valid manifest expects no error.`);
  return { name, path, valid: group === 'valid', expect, kind, document };
}
