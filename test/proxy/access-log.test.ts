// The access-log line, formatted by hand for speed: every field there, every string escaped, so
// that nothing a client sends can end the line or add a field of its own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger, isoClock } from '../../src/observability/logger.ts';
import { formatAccessLog, redactQuery, type AccessLogEntry } from '../../src/proxy/access-log.ts';

/** Every field set: a field added to AccessLogEntry (or to the guard's DecisionLog) makes this fail to typecheck until it is listed. */
const FULL: Required<AccessLogEntry> = {
  requestId: 'b0c4d6e2-1f3a-4c5b-9d8e-7f6a5b4c3d2e',
  method: 'POST',
  host: 'api.example.com',
  path: '/api/items?code=[redacted]',
  status: 502,
  durationMs: 12.345,
  peer: '192.0.2.7',
  route: 'default/api#0',
  policy: 'default/api',
  decision: 'allow',
  reason: 'TOKEN_VALID',
  cause: 'TOKEN_EXPIRED',
  sub: 'alice',
  clientId: 'client-1',
  upstream: 'http://10.0.0.1:8080',
  attempts: 2,
  bytesIn: 10,
  bytesOut: 2048,
  code: 'UPSTREAM_RESET',
};

const parse = (fields: string): Record<string, unknown> => JSON.parse(`{${fields}}`) as Record<string, unknown>;

describe('formatAccessLog', () => {
  it('writes every field of the entry, with its value', () => {
    expect(parse(formatAccessLog(FULL))).toEqual(FULL);
  });

  it('leaves out the fields that are not set', () => {
    const entry: AccessLogEntry = { requestId: 'r1', method: 'GET', host: undefined, path: '/', status: 404, durationMs: 0.5 };
    expect(parse(formatAccessLog(entry))).toEqual({ requestId: 'r1', method: 'GET', path: '/', status: 404, durationMs: 0.5 });
  });

  it.each([
    ['a quote and a forged field', '/x","status":200,"forged":"yes'],
    ['a backslash before the quote', '/x\\","forged":true,"y":"'],
    ['CR, LF and a forged line', '/x\r\n{"level":"info","msg":"request","forged":true}'],
    ['control characters and escape sequences', '/\u0000\u001b[2J\u007f\u009b31m'],
    ['non-ASCII, and a lone surrogate', '/caf\u00e9/\u{1f600}/\ud800'],
  ])('escapes %s: one line, the value intact, no field added', (_what, hostile) => {
    const entry: AccessLogEntry = { requestId: 'r2', method: hostile, host: hostile, path: hostile, status: 400, durationMs: 1, reason: hostile, code: 'PATH_INVALID' };
    const fields = formatAccessLog(entry);
    expect([...fields].filter((c) => c.charCodeAt(0) < 0x20)).toEqual([]); // C0 controls, CR and LF among them, are escaped
    const line = parse(fields);
    expect(Object.keys(line).sort()).toEqual(['code', 'durationMs', 'host', 'method', 'path', 'reason', 'requestId', 'status']);
    expect(line.path).toBe(hostile);
    expect(line.host).toBe(line.path);
  });

  it('writes a duration as the number it is, to the microsecond', () => {
    const durations = [0, 0.001, 0.01, 0.1, 0.5, 1, 1.5, 12.34, 12.305, 999.999, 1000, 86_400_000.25, -1.5, 1e-7, 2 ** 60];
    for (let i = 0; i < 2000; i++) durations.push(Math.round(Math.random() * 10 ** (i % 7) * 1000) / 1000);
    for (const durationMs of durations) {
      const line = parse(formatAccessLog({ requestId: 'r', method: 'GET', host: 'h', path: '/', status: 200, durationMs }));
      expect(line.durationMs).toBe(durationMs >= 0 ? Math.round(durationMs * 1000) / 1000 : durationMs);
    }
    expect(formatAccessLog({ requestId: 'r', method: 'GET', host: 'h', path: '/', status: 200, durationMs: 12.3 })).toMatch(/"durationMs":12\.3$/);
    expect(formatAccessLog({ requestId: 'r', method: 'GET', host: 'h', path: '/', status: 200, durationMs: 0.05 })).toMatch(/"durationMs":0\.05$/);
  });

  it('writes a number that is not finite as null, never as a bare word that breaks the JSON', () => {
    const line = parse(formatAccessLog({ requestId: 'r3', method: 'GET', host: 'h', path: '/', status: Number.NaN, durationMs: Number.POSITIVE_INFINITY }));
    expect(line).toMatchObject({ status: null, durationMs: null });
  });
});

describe('Logger.access', () => {
  function capture(options: { format?: 'json' | 'text'; level?: string } = {}) {
    const stream = new PassThrough();
    let written = '';
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    return { logger: createLogger({ destination: stream, ...options }), lines: () => written.split('\n').slice(0, -1) };
  }

  it("writes pino's shape: level, an ISO time, the fields, the message", () => {
    const { logger, lines } = capture();
    logger.access('warn', formatAccessLog(FULL));
    logger.info({ other: true }, 'listening');
    const [access, other] = lines().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(access).toEqual({ level: 'warn', time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/), ...FULL, msg: 'request' });
    expect(Math.abs(Date.parse(access!.time as string) - Date.now())).toBeLessThan(5_000);
    expect(Object.keys(other!)).toEqual(['level', 'time', 'other', 'msg']);
  });

  it('buffered (a file descriptor, as stdout is): every line written, in the order logged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-access-log-'));
    const fd = openSync(join(dir, 'log'), 'w');
    try {
      const logger = createLogger({ destination: fd });
      for (let i = 0; i < 500; i++) {
        // Some lines not ASCII, some longer than the batch itself.
        const path = i % 7 === 0 ? `/caf\u00e9/\u{1f600}/${i}` : i % 97 === 0 ? `/${'x'.repeat(70_000)}` : `/p/${i}`;
        logger.access('info', formatAccessLog({ ...FULL, requestId: `r${i}`, path, status: 200 }));
        if (i % 100 === 50) logger.info({ after: `r${i}` }, 'an event');
        if (i % 150 === 149) await new Promise((resolve) => setImmediate(resolve));
      }
      logger.flush();
      // The buffer writes what is left within its flush interval (100 ms) at most, a chunk at a time.
      const read = () => readFileSync(join(dir, 'log'), 'utf8').split('\n').slice(0, -1);
      for (let wait = 0; wait < 50 && read().length < 505; wait++) await new Promise((resolve) => setTimeout(resolve, 100));
      const lines = read().map((line) => JSON.parse(line) as Record<string, unknown>);
      const expected = Array.from({ length: 500 }, (_, i) => [`r${i}`, ...(i % 100 === 50 ? [`after r${i}`] : [])]).flat();
      expect(lines.map((line) => (line.msg === 'request' ? line.requestId : `after ${String(line.after)}`))).toEqual(expected);
      expect(lines.find((line) => line.requestId === 'r7')?.path).toBe('/caf\u00e9/\u{1f600}/7');
      expect(lines.find((line) => line.requestId === 'r97')?.path).toHaveLength(70_001);
    } finally {
      // The descriptor stays open: the logger's flush timer writes to it for as long as the process lives.
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['process.exit() with no flush', 'process.exit(3);', 3],
    ['an uncaught exception', "setImmediate(() => { throw new Error('boom'); });", 1],
  ])('buffered: lines gathered but not yet written still reach stdout at %s', (_how, end, code) => {
    const logger = new URL('../../src/observability/logger.ts', import.meta.url).href;
    const script = `import { createLogger } from ${JSON.stringify(logger)};
      const logger = createLogger();
      for (let i = 0; i < 3; i++) logger.access('info', '"requestId":"r' + i + '"');
      ${end}`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.status).toBe(code);
    expect(child.stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { requestId: string }).requestId)).toEqual(['r0', 'r1', 'r2']);
  });

  it('skips a line below the logger level', () => {
    const { logger, lines } = capture({ level: 'warn' });
    logger.access('info', formatAccessLog(FULL));
    logger.access('warn', formatAccessLog(FULL));
    expect(lines()).toHaveLength(1);
    expect(JSON.parse(lines()[0]!)).toMatchObject({ level: 'warn' });
  });

  it('--log-format text: the access line is a text line like the others, hostile values quoted', () => {
    const { logger, lines } = capture({ format: 'text' });
    logger.access('info', formatAccessLog({ requestId: 'r4', method: 'GET', host: 'h', path: '/x\r\n12:00:00.000 INFO  forged', status: 200, durationMs: 1 }));
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatch(/^\d{2}:\d{2}:\d{2}\.\d{3} INFO {2}request requestId=r4 method=GET host=h path="\/x\\r\\n12:00:00\.000 INFO {2}forged" status=200 durationMs=1$/);
  });
});

describe('isoClock', () => {
  it('writes what toISOString writes, across milliseconds, seconds, days and years', () => {
    const times = [0, 7, 42, 999, 1000, 1001, 59_999, 86_399_999, 86_400_000, Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), Date.now()];
    let now = 0;
    const clock = isoClock(() => now);
    for (const time of [...times, ...times.reverse()]) {
      now = time;
      expect(clock()).toBe(new Date(time).toISOString());
    }
  });
});

describe('redactQuery', () => {
  it('redacts the values of parameters that can carry credentials, keeps the rest as sent', () => {
    expect(redactQuery('a=1&code=xyz&STATE=s&b=%20&access%5Ftoken=t')).toBe('a=1&code=[redacted]&STATE=[redacted]&b=%20&access%5Ftoken=[redacted]');
  });
});
