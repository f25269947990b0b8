import { pino, type Logger as PinoLogger } from 'pino';
import { createLogOutput } from './log-output.ts';
import { textFormatter } from './log-text.ts';

/**
 * pino's logger, and one method of ours: `access`, the access log's fast path. It writes a line
 * whose fields were formatted by their owner (src/proxy/access-log.ts), straight into the same
 * destination, with the same level, time and message fields as pino's lines: pino's generic
 * serialisation (field walk, redaction, hooks) cost a tenth of a proxied request's CPU.
 * `flush(callback)` calls back once every line so far is written.
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

/**
 * JSON lines, or text lines formatted from them. Nothing that could carry a secret is ever
 * logged: callers pass only safe fields, and `redact` applies before either format to pino's
 * lines (access-log lines carry a fixed set of fields, none of them secret).
 *
 * To a file descriptor (stdout by default), access-log lines are gathered and written 64 KiB at a
 * time, or every `flushIntervalMs` (default 100 ms), whichever comes first: a write per request
 * cost more CPU than forwarding it. Every other line (events, problems) is written at once, with
 * whatever gathered before it. At exit, whatever the cause, what is left is written before the
 * process ends (log-output.ts). Text lines take the same path; JSON lines pay nothing for the
 * text format's existence.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const buffered = typeof options.destination !== 'object' && options.sync !== true;
  const output = buffered ? createLogOutput(typeof options.destination === 'number' ? options.destination : 1) : null;
  const destination: pino.DestinationStream =
    typeof options.destination === 'object'
      ? (options.destination as pino.DestinationStream)
      : output !== null
        ? {
            write(line) {
              output.write(line);
              hookExit();
            },
          }
        : pino.destination({ dest: options.destination ?? 1, sync: true });
  const text = options.format === 'text' ? textFormatter({ color: options.color ?? false }) : null;
  const time = isoClock();
  // The first line written makes sure the process writes what is left when it exits; loggers that
  // never write (silent ones in tests) add no listener.
  let exitHooked = false;
  function hookExit(): void {
    if (exitHooked || output === null) return;
    exitHooked = true;
    process.prependOnceListener('exit', () => output.flushSync());
  }
  const logger = pino(
    {
      level: options.level ?? 'info',
      hooks: text === null ? {} : { streamWrite: text },
      base: undefined,
      timestamp: () => `,"time":"${time()}"`,
      formatters: { level: (label) => ({ level: label }) },
      // A second line of defence: these fields are never written, whoever passes them.
      redact: { paths: ['authorization', 'cookie', 'token', 'accessToken', 'idToken', 'refreshToken', 'clientSecret', 'password'], censor: '[redacted]' },
    },
    destination,
  );
  if (output !== null) setInterval(() => output.flush(), options.flushIntervalMs ?? 100).unref();
  // The line is pino's shape: level, time, the fields, the message.
  const access = (level: 'info' | 'warn', fields: string): void => {
    if (LEVEL_VALUES[level] < logger.levelVal) return;
    const json = `{"level":"${level}","time":"${time()}",${fields},"msg":"${ACCESS_LOG_MESSAGE}"}\n`;
    const line = text === null ? json : text(json);
    if (output === null) {
      destination.write(line);
      return;
    }
    output.gather(line);
    hookExit();
  };
  return Object.assign(logger, {
    access,
    /** Writes what gathered; `callback` runs once every line so far is written. */
    flush(callback?: (error?: Error) => void) {
      if (output !== null) output.flush(callback);
      else callback?.();
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
