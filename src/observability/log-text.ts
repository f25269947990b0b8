// `--log-format text`: one readable line per record, for a person at a terminal.
//
//   14:03:07.412 INFO  listening proxy=http://127.0.0.1:8080 ops=http://127.0.0.1:8081
//   14:03:09.020 WARN  manifest problem: spec.rules[0].backends: Required. file=demo.yaml line=12
//
// It reformats the JSON line pino has just written, so redaction has already happened and both
// formats carry the same fields. A stack trace, the one multi-line field, follows its line,
// indented.
import { styleText } from 'node:util';

const LEVEL_COLORS: Record<string, Parameters<typeof styleText>[0]> = {
  fatal: ['bold', 'red'],
  error: 'red',
  warn: 'yellow',
  info: 'green',
  debug: 'gray',
  trace: 'gray',
};

/** A function from pino's JSON line (with its newline) to the text line. */
export function textFormatter(options: { readonly color: boolean }): (line: string) => string {
  const paint = (format: Parameters<typeof styleText>[0], text: string) => (options.color ? styleText(format, text, { validateStream: false }) : text);
  return (line) => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return line;
    }
    const { time, level, msg, ...fields } = record;
    const label = typeof level === 'string' ? level : 'info';
    const parts = [clock(time), paint(LEVEL_COLORS[label] ?? 'reset', label.toUpperCase().padEnd(5)), escapeControls(String(msg ?? ''))];
    let stack = '';
    for (const [key, value] of flatten(fields)) {
      if (key.endsWith('.stack') && typeof value === 'string') stack = value;
      else parts.push(`${paint('dim', `${key}=`)}${formatValue(value)}`);
    }
    const trailer = stack === '' ? '' : stack.split('\n').map((frame) => `\n    ${escapeControls(frame.trim())}`).join('');
    return `${parts.join(' ')}${trailer}\n`;
  };
}

/** Local time of day with milliseconds; the date is what a terminal session already knows. */
function clock(time: unknown): string {
  const date = typeof time === 'string' || typeof time === 'number' ? new Date(time) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) return String(time);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

/** `{ err: { code: 'X' } }` → `err.code`; arrays stay whole. */
function* flatten(fields: Record<string, unknown>, prefix = ''): Generator<[string, unknown]> {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) yield* flatten(value as Record<string, unknown>, `${prefix}${key}.`);
    else yield [`${prefix}${key}`, value];
  }
}

/**
 * Bare when it cannot be misread, JSON-quoted otherwise. Values can come from requests and
 * manifests: quoting escapes CR, LF and terminal escape sequences, so no value can forge a
 * line or repaint the terminal.
 */
function formatValue(value: unknown): string {
  if (typeof value === 'string') return value !== '' && /^[^\s"=\\\p{Cc}]+$/u.test(value) ? value : escapeControls(JSON.stringify(value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  // JSON escapes C0 controls, not DEL or the C1 range.
  return escapeControls(JSON.stringify(value) ?? String(value));
}

/** A message keeps its spaces; control characters (CR, LF, ESC, C1) are written as escapes. */
function escapeControls(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
