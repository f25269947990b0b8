// Every user-supplied pattern runs in RE2: linear time, so one route's pattern cannot stall
// the event loop for every other route.
import RE2 from 're2';
import type { Pattern } from '../model/table.ts';

export type PatternResult = { ok: true; pattern: Pattern } | { ok: false; message: string };

/** Compiles `source` so that it must match the whole input. */
export function compileFullMatch(source: string): PatternResult {
  let re2: RE2;
  try {
    // The user's pattern on its own first: RE2's reason is then about what they wrote, and a
    // pattern that parses only inside the wrapper (`/a)|(?:.*`) cannot slip out of the anchors.
    new RE2(source, 'u');
    re2 = new RE2(`^(?:${source})$`, 'u');
  } catch (error) {
    return { ok: false, message: `Invalid regular expression ${JSON.stringify(source)}: ${re2Reason((error as Error).message, source)}.` };
  }
  // A call into RE2 costs about a microsecond (the input is copied to UTF-8); most inputs are
  // ruled out by the pattern's literal start, which costs a string comparison.
  const prefix = literalPrefix(source);
  if (prefix === '') return { ok: true, pattern: re2 };
  return { ok: true, pattern: { test: (input: string) => input.startsWith(prefix) && re2.test(input) } };
}

/** RE2's reason (`missing ): /(a`): the fragment after the colon is dropped when it is the whole pattern again. */
function re2Reason(message: string, source: string): string {
  const separator = message.indexOf(': ');
  if (separator === -1) return message;
  const reason = message.slice(0, separator);
  // node-re2 hands RE2 the pattern with "/" escaped as "\/".
  const fragment = message.slice(separator + 2).replaceAll('\\/', '/');
  return fragment === source || fragment === '' ? reason : `${reason} at ${JSON.stringify(fragment)}`;
}

/** The characters every match must start with: `/items/[0-9]+` → `/items/`. Empty when unsure. */
export function literalPrefix(source: string): string {
  if (source.includes('|')) return ''; // an alternation may start anywhere
  const end = source.search(/[\\.+*?()[\]{}^$]/);
  const literal = end === -1 ? source : source.slice(0, end);
  // A quantifier after the run makes its last character optional: `/ab?c` → `/a`.
  return end !== -1 && '?*{'.includes(source[end]!) ? literal.slice(0, -1) : literal;
}
