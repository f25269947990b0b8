/**
 * A command line that cannot run as typed: an unknown command or flag, a missing or malformed
 * value. The CLI prints its message on one line and exits with status 2.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}
