import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  readonly level?: string;
  /** Where lines go; stdout by default, asynchronously (flushed on exit). */
  readonly destination?: NodeJS.WritableStream | number;
}

/** JSON lines. Nothing that could carry a secret is ever logged: callers pass only safe fields. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = typeof options.destination === 'object' ? options.destination : pino.destination({ dest: options.destination ?? 1, sync: false });
  return pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // A second line of defence: these fields are never written, whoever passes them.
      redact: { paths: ['authorization', 'cookie', 'token', 'accessToken', 'idToken', 'refreshToken', 'clientSecret', 'password', '*.authorization', '*.cookie'], censor: '[redacted]' },
    },
    destination as pino.DestinationStream,
  );
}
