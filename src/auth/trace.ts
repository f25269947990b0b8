// A bearer token's verification as the steps of src/auth/verify.ts, in its order, for a
// decision trace (portcullis explain): every step before the one that failed passed, and the
// ones after it were not reached.
import type { DecisionTrace } from '../model/trace.ts';
import type { AuthError, AuthErrorCode } from './errors.ts';

/** verifyBearerToken's steps, in order, and the codes each one refuses with. */
export const VERIFICATION_STEPS: readonly (readonly [step: string, codes: readonly AuthErrorCode[]])[] = [
  ['shape', ['TOKEN_TOO_LARGE', 'TOKEN_MALFORMED']],
  ['algorithm', ['TOKEN_ALG_NOT_ALLOWED']],
  ['issuer', ['TOKEN_ISSUER_MISMATCH']],
  ['key', ['TOKEN_KID_UNKNOWN', 'TOKEN_KEY_UNUSABLE']],
  ['signature', ['TOKEN_SIGNATURE_INVALID']],
  ['expiry', ['TOKEN_EXPIRED', 'TOKEN_NOT_YET_VALID', 'TOKEN_ISSUED_IN_FUTURE']],
  ['token use', ['TOKEN_USE_MISMATCH']],
  ['client', ['TOKEN_CLIENT_NOT_ALLOWED', 'TOKEN_AUDIENCE_MISMATCH']],
];

/**
 * Records each verification step: passed up to `error`'s (null: all passed). `unchecked` names
 * steps that were not made (the signature, when the provider's keys could not be fetched).
 */
export function traceVerification(trace: DecisionTrace, error: AuthError | null, unchecked: ReadonlySet<string> = new Set()): void {
  const failed = error === null ? -1 : VERIFICATION_STEPS.findIndex(([, codes]) => codes.includes(error.code));
  if (error !== null && failed === -1) {
    trace.record({ check: 'token', result: 'fail', detail: `${error.code}: ${error.message}` });
    return;
  }
  for (const [i, [step]] of VERIFICATION_STEPS.entries()) {
    if (unchecked.has(step) && i !== failed) trace.record({ check: step, result: 'not-checked', detail: "The provider's keys could not be fetched." });
    else if (failed === -1 || i < failed) trace.record({ check: step, result: 'pass', detail: 'Verified.' });
    else if (i === failed) trace.record({ check: step, result: 'fail', detail: `${error!.code}: ${error!.message}` });
    else break;
  }
}
