import { pino, type Logger } from 'pino';
import { textFormatter } from './log-text.ts';

export type { Logger };

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

/**
 * JSON lines, or text lines formatted from them. Nothing that could carry a secret is ever
 * logged: callers pass only safe fields, and `redact` applies before either format.
 *
 * Access-log lines are buffered and written 4 KiB at a time, or every `flushIntervalMs`
 * (default 100 ms), whichever comes first: a write per request cost more CPU than forwarding it.
 * Every other line (events, problems) is written at once, with whatever is buffered before it;
 * when a write is already under way, with the next one (the stream's flush does not queue a
 * second write), so within `flushIntervalMs` at worst.
 * Text lines go through the same buffer; JSON lines pay nothing for the text format's existence.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const buffered = typeof options.destination !== 'object' && options.sync !== true;
  const destination =
    typeof options.destination === 'object' ? options.destination : pino.destination({ dest: options.destination ?? 1, sync: !buffered, minLength: buffered ? 4096 : 0 });
  const flush = () => (destination as pino.DestinationStream & { flush(): void }).flush();
  const logger = pino(
    {
      level: options.level ?? 'info',
      hooks: {
        logMethod(args, method) {
          method.apply(this, args);
          if (buffered && args[args.length - 1] !== ACCESS_LOG_MESSAGE) flush();
        },
        ...(options.format === 'text' ? { streamWrite: textFormatter({ color: options.color ?? false }) } : {}),
      },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // A second line of defence: these fields are never written, whoever passes them.
      redact: { paths: ['authorization', 'cookie', 'token', 'accessToken', 'idToken', 'refreshToken', 'clientSecret', 'password'], censor: '[redacted]' },
    },
    destination as pino.DestinationStream,
  );
  // The stream's own flush: without a callback it adds no listener while a write is under way.
  if (buffered) setInterval(flush, options.flushIntervalMs ?? 100).unref();
  return logger;
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
