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

/** Access-log lines wait until this many bytes are buffered (or the flush interval passes). */
const BUFFER_BYTES = 32 * 1024;


/**
 * JSON lines, or text lines formatted from them. Nothing that could carry a secret is ever
 * logged: callers pass only safe fields, and `redact` applies before either format to pino's
 * lines (access-log lines carry a fixed set of fields, none of them secret).
 *
 * Access-log lines are buffered and written 32 KiB at a time, or every `flushIntervalMs`
 * (default 100 ms), whichever comes first: a write per request cost more CPU than forwarding it,
 * and a write per 4 KiB still a twentieth of it. The lines of one turn of the event loop join the
 * buffer together, as one string: the buffer measures its last chunk on every write it takes.
 * Every other line (events, problems) is written at once, with whatever is buffered before it;
 * when a write is already under way, with the next one (the stream's flush does not queue a
 * second write), so within `flushIntervalMs` at worst.
 * Text lines go through the same buffer; JSON lines pay nothing for the text format's existence.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const buffered = typeof options.destination !== 'object' && options.sync !== true;
  const destination =
    typeof options.destination === 'object' ? options.destination : pino.destination({ dest: options.destination ?? 1, sync: !buffered, minLength: buffered ? BUFFER_BYTES : 0, maxWrite: 2 * BUFFER_BYTES });
  const flush = () => (destination as pino.DestinationStream & { flush(): void }).flush();
  const text = options.format === 'text' ? textFormatter({ color: options.color ?? false }) : null;
  const time = isoClock();
  // This turn's access-log lines, on their way to the buffer (buffered destinations only).
  let turn = '';
  const endTurn = (): void => {
    if (turn === '') return;
    const lines = turn;
    turn = '';
    destination.write(lines);
  };
  const logger = pino(
    {
      level: options.level ?? 'info',
      hooks: {
        logMethod(args, method) {
          endTurn(); // every line in the order it was logged
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
  if (buffered) setInterval(flush, options.flushIntervalMs ?? 100).unref();
  // The line is pino's shape: level, time, the fields, the message; it waits in the buffer.
  const access = (level: 'info' | 'warn', fields: string): void => {
    if (LEVEL_VALUES[level] < logger.levelVal) return;
    const json = `{"level":"${level}","time":"${time()}",${fields},"msg":"${ACCESS_LOG_MESSAGE}"}\n`;
    const line = text === null ? json : text(json);
    if (!buffered) {
      destination.write(line);
      return;
    }
    if (turn === '') setImmediate(endTurn);
    turn += line;
  };
  // pino's flush, after this turn's access-log lines.
  const flushAll = logger.flush.bind(logger);
  return Object.assign(logger, {
    access,
    flush(callback?: (error?: Error) => void) {
      endTurn();
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
