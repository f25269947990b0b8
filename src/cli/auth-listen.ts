// --auth-listen host:port[=convention]: a forward-auth listener and the convention its callers
// describe requests with (--auth-convention when none is given).
import { CHECK_CONVENTIONS, type CheckConvention } from '../proxy/check-conventions.ts';
import { parseListen, type ListenAddress } from './listen.ts';
import { UsageError } from './usage-error.ts';

export interface AuthListen extends ListenAddress {
  readonly convention: CheckConvention;
}

export function parseAuthListen(value: string, fallback: CheckConvention): AuthListen {
  const equals = value.lastIndexOf('=');
  const address = parseListen(equals === -1 ? value : value.slice(0, equals), '--auth-listen');
  const convention = equals === -1 ? fallback : value.slice(equals + 1);
  if (!(CHECK_CONVENTIONS as readonly string[]).includes(convention)) {
    throw new UsageError(`--auth-listen takes host:port or host:port=convention, the convention ${CHECK_CONVENTIONS.join(', ')}, not ${JSON.stringify(value)}.`);
  }
  return { ...address, convention: convention as CheckConvention };
}
