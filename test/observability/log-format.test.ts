// The two log formats, from the logger the processes use: text is one readable line per record,
// neither format lets a secret or a forged line through.
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/observability/logger.ts';

function capture(format: 'json' | 'text', color = false) {
  const stream = new PassThrough();
  let written = '';
  stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
  const logger = createLogger({ destination: stream, format, color });
  return { logger, lines: () => written.split('\n').slice(0, -1) };
}

const RECORD = /^\d{2}:\d{2}:\d{2}\.\d{3} (FATAL|ERROR|WARN |INFO |DEBUG|TRACE) \S/;

describe('--log-format text', () => {
  it('writes time, level, message, then key=value fields, one line per record', () => {
    const { logger, lines } = capture('text');
    logger.info({ proxy: 'http://127.0.0.1:8080', rules: 2, ready: true, none: null }, 'listening');
    logger.warn({ object: 'Route default/api', first: ['a b', 'c'] }, 'manifest problem: spec.rules[0]: Required.');
    expect(lines()).toHaveLength(2);
    for (const line of lines()) expect(line).toMatch(RECORD);
    expect(lines()[0]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} INFO {2}listening proxy=http:\/\/127\.0\.0\.1:8080 rules=2 ready=true none=null$/);
    expect(lines()[1]).toMatch(/ WARN {2}manifest problem: spec\.rules\[0\]: Required\. object="Route default\/api" first=\["a b","c"\]$/);
  });

  it("flattens nested fields, and puts an error's stack trace under its line", () => {
    const { logger, lines } = capture('text');
    const error = new Error('boom');
    logger.error({ err: { name: error.name, message: error.message, code: 'E_BOOM', stack: error.stack } }, 'reading manifests failed');
    const [first, ...stack] = lines();
    expect(first).toMatch(/ ERROR reading manifests failed err\./);
    for (const field of ['err.name=Error', 'err.message=boom', 'err.code=E_BOOM']) expect(first!.split(' ')).toContain(field);
    expect(stack[0]).toBe('    Error: boom');
    expect(stack.length).toBeGreaterThan(1);
    for (const frame of stack.slice(1)) expect(frame).toMatch(/^ {4}at /);
  });

  it('never lets a value or a message start a line of its own, or send escape sequences to the terminal', () => {
    const { logger, lines } = capture('text');
    logger.info({ path: '/x\r\n12:00:00.000 INFO  forged admin=true', agent: '\u001b[2J\u009b31m' }, 'request\nforged');
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toContain('request\\nforged');
    expect(lines()[0]).toContain('path="/x\\r\\n12:00:00.000 INFO  forged admin=true"');
    expect(lines()[0]).toContain('agent="\\u001b[2J\\u009b31m"');
    expect(lines()[0]).not.toMatch(/\p{Cc}/u);
  });

  it.each(['json', 'text'] as const)('%s: redacts secret fields whoever passes them', (format) => {
    const { logger, lines } = capture(format);
    logger.info({ token: 'eyJ-secret-token', clientSecret: 'client-secret-value', authorization: 'Bearer eyJ-secret', cookie: 'portcullis_session=abc' }, 'careless');
    const text = lines().join('\n');
    for (const secret of ['eyJ-secret-token', 'client-secret-value', 'Bearer eyJ-secret', 'portcullis_session=abc']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
  });

  it('colours the level only when asked', () => {
    const plain = capture('text');
    plain.logger.warn('careful');
    expect(plain.lines()[0]).not.toContain('\u001b[');
    const colored = capture('text', true);
    colored.logger.warn('careful');
    expect(colored.lines()[0]).toContain('\u001b[33mWARN \u001b[39m');
  });
});

describe('--log-format json', () => {
  it('writes one JSON object per line, as before', () => {
    const { logger, lines } = capture('json');
    logger.info({ proxy: 'http://127.0.0.1:8080' }, 'listening');
    expect(JSON.parse(lines()[0]!)).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/), proxy: 'http://127.0.0.1:8080', msg: 'listening' });
  });
});
