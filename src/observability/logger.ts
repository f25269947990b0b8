import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go; stdout by default. */
  readonly destination?: NodeJS.WritableStream | number;
  /** How long a line may wait in the buffer before it is written. */
  readonly flushIntervalMs?: number;
}

/**
 * JSON lines. Nothing that could carry a secret is ever logged: callers pass only safe fields.
 *
 * Lines are buffered and written 4 KiB at a time, or every `flushIntervalMs` (default 100 ms),
 * whichever comes first: a write per access-log line cost more CPU than forwarding the request.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const buffered = typeof options.destination !== 'object';
  const destination = buffered ? pino.destination({ dest: options.destination ?? 1, sync: false, minLength: 4096 }) : options.destination;
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // A second line of defence: these fields are never written, whoever passes them.
      redact: { paths: ['authorization', 'cookie', 'token', 'accessToken', 'idToken', 'refreshToken', 'clientSecret', 'password'], censor: '[redacted]' },
    },
    destination as pino.DestinationStream,
  );
  // The stream's own flush: without a callback it adds no listener while a write is under way.
  if (buffered) setInterval(() => (destination as pino.DestinationStream & { flush(): void }).flush(), options.flushIntervalMs ?? 100).unref();
  return logger;
}
