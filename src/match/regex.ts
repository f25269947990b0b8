// Every user-supplied pattern runs in RE2: linear time, so one route's pattern cannot stall
// the event loop for every other route.
import RE2 from 're2';
import type { Pattern } from '../model/table.ts';

export type PatternResult = { ok: true; pattern: Pattern } | { ok: false; message: string };

/** Compiles `source` so that it must match the whole input. */
export function compileFullMatch(source: string): PatternResult {
  try {
    return { ok: true, pattern: new RE2(`^(?:${source})$`, 'u') };
  } catch (error) {
    return { ok: false, message: `Invalid regular expression ${JSON.stringify(source)}: ${(error as Error).message}.` };
  }
}
