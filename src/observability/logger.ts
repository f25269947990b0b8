import { pino, type Logger as PinoLogger } from 'pino';
import { textFormatter } from './log-text.ts';

/**
 * pino's logger, and one method of ours: `access`, the access log's fast path. It writes a line
 * whose fields were formatted by their owner (src/proxy/access-log.ts), straight into the same
 * destination, with the same level, time and message fields as pino's lines: pino's generic
 * serialisation (field walk, redaction, hooks) cost a tenth of a proxied request's CPU.
 */
export interface Logger extends PinoLogger {
  /**
   * One access-log line: `fields` is the line's JSON members without braces (`"a":1,"b":"x"`),
   * every string escaped. Skipped when `level` is below the logger's.
   */
  access(level: 'info' | 'warn', fields: string): void;
}

export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go; stdout by default. */
  readonly destination?: NodeJS.WritableStream | number;
  /** How long a line may wait in the buffer before it is written. */
  readonly flushIntervalMs?: number;
  /** JSON lines (default), or one readable text line per record (log-text.ts). */
  readonly format?: 'json' | 'text';
  /** Colours the level in text lines; for a terminal that has them. */
  readonly color?: boolean;
  /**
   * Writes each line before the call returns, access-log lines too, so that they keep their
   * place among other output on the terminal (the demo's banner). Off by default: it costs CPU.
   */
  readonly sync?: boolean;
}

/** The message of access-log lines, the only ones that wait in the buffer. */
export const ACCESS_LOG_MESSAGE = 'request';

const LEVEL_VALUES = { info: 30, warn: 40 } as const;

/** Access-log lines gather, as bytes, up to this many. */
const BATCH_BYTES = 64 * 1024;

/**
 * JSON lines, or text lines formatted from them. Nothing that could carry a secret is ever
 * logged: callers pass only safe fields, and `redact` applies before either format to pino's
 * lines (access-log lines carry a fixed set of fields, none of them secret).
 *
 * Access-log lines are gathered and written 64 KiB at a time, or every `flushIntervalMs`
 * (default 100 ms), whichever comes first: a write per request cost more CPU than forwarding it.
 * They gather here, as bytes in one buffer, not in the stream's: the stream measures its last
 * chunk on every write it takes (a microsecond or two a request when lines went one by one), and
 * lines kept as strings until then outlive young-generation collections, which copy them. Every
 * other line (events, problems) is written at once, with whatever gathered
 * before it; when a write is already under way, with the next one (the stream's flush does not
 * queue a second write), so within `flushIntervalMs` at worst. At exit, whatever the cause, the
 * gathered lines are written before the process ends.
 * Text lines go through the same path; JSON lines pay nothing for the text format's existence.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const buffered = typeof options.destination !== 'object' && options.sync !== true;
  const destination =
    typeof options.destination === 'object' ? options.destination : pino.destination({ dest: options.destination ?? 1, sync: !buffered, minLength: buffered ? 4096 : 0 });
  const flush = () => (destination as pino.DestinationStream & { flush(): void }).flush();
  const text = options.format === 'text' ? textFormatter({ color: options.color ?? false }) : null;
  const time = isoClock();
  // Access-log lines not yet handed to the stream, UTF-8 (buffered destinations only).
  let gathered: Buffer | null = null; // made with the first line
  let used = 0;
  let exitHooked = false;
  const handOver = (): void => {
    if (used === 0 || gathered === null) return;
    const lines = gathered.toString('utf8', 0, used);
    used = 0;
    destination.write(lines);
  };
  const logger = pino(
    {
      level: options.level ?? 'info',
      hooks: {
        logMethod(args, method) {
          handOver(); // every line in the order it was logged
          method.apply(this, args);
          if (buffered) flush();
        },
        ...(text === null ? {} : { streamWrite: text }),
      },
      base: undefined,
      timestamp: () => `,"time":"${time()}"`,
      formatters: { level: (label) => ({ level: label }) },
      // A second line of defence: these fields are never written, whoever passes them.
      redact: { paths: ['authorization', 'cookie', 'token', 'accessToken', 'idToken', 'refreshToken', 'clientSecret', 'password'], censor: '[redacted]' },
    },
    destination as pino.DestinationStream,
  );
  // The stream's own flush: without a callback it adds no listener while a write is under way.
  if (buffered) {
    setInterval(() => {
      handOver();
      flush();
    }, options.flushIntervalMs ?? 100).unref();
  }
  // The line is pino's shape: level, time, the fields, the message.
  const access = (level: 'info' | 'warn', fields: string): void => {
    if (LEVEL_VALUES[level] < logger.levelVal) return;
    const json = `{"level":"${level}","time":"${time()}",${fields},"msg":"${ACCESS_LOG_MESSAGE}"}\n`;
    const line = text === null ? json : text(json);
    if (!buffered) {
      destination.write(line);
      return;
    }
    gathered ??= Buffer.allocUnsafe(BATCH_BYTES);
    // A UTF-16 unit takes at most 3 bytes of UTF-8.
    if (used + 3 * line.length > BATCH_BYTES) handOver();
    if (3 * line.length > BATCH_BYTES) destination.write(line);
    else used += gathered.write(line, used);
    if (!exitHooked) {
      // Before pino's own exit hook (which writes the stream's buffer out, synchronously): the
      // gathered lines join the buffer first. Added once lines are gathered, so loggers that
      // never write one (tests, the CLI's short commands) add no listener.
      exitHooked = true;
      process.prependOnceListener('exit', () => {
        try {
          handOver();
          (destination as pino.DestinationStream & { flushSync(): void }).flushSync();
        } catch {
          // The stream is closed already: nothing more can be written.
        }
      });
    }
  };
  // pino's flush, after the gathered access-log lines.
  const flushAll = logger.flush.bind(logger);
  return Object.assign(logger, {
    access,
    flush(callback?: (error?: Error) => void) {
      handOver();
      flushAll(callback);
    },
  });
}

/**
 * The time as ISO 8601 in UTC with milliseconds, as `Date.prototype.toISOString()` writes it;
 * the date and the time of day are formatted once a second, not once a line.
 */
export function isoClock(now: () => number = Date.now): () => string {
  let second = Number.NaN;
  let prefix = '';
  return () => {
    const ms = now();
    const remainder = ms % 1000;
    if (ms - remainder !== second) {
      second = ms - remainder;
      prefix = new Date(second).toISOString().slice(0, 20); // `2026-11-30T11:22:33.`
    }
    return `${prefix}${remainder < 10 ? '00' : remainder < 100 ? '0' : ''}${remainder}Z`;
  };
}

/**
 * What of an unexpected error goes into a log line: its name, code, message and stack, not its
 * other properties (a client library's error can carry a response body, and so a token).
 */
export function errorFields(error: unknown): { name: string; message: string; code?: string; stack?: string } {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as NodeJS.ErrnoException).code;
  return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}), ...(error.stack ? { stack: error.stack } : {}) };
}
