// Claims → upstream headers. Values are sanitised: no CR/LF or other control characters,
// anything outside Latin-1 percent-encoded, list claims joined with "," after escaping commas.
import type { AuthPolicy } from '../model/policy.ts';
import { listClaim } from './authorize.ts';
import type { Claims } from './verify.ts';

export function identityHeaders(claims: Claims, policy: AuthPolicy): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [header, claim] of policy.forward.headers) {
    // An email is an identity only once the provider has verified it.
    if (claim === 'email' && !(claims.email_verified === true || claims.email_verified === 'true')) continue;
    const values = listClaim(claims[claim]);
    if (values.length === 0) continue;
    headers[header] = values.map((value) => sanitize(value).replaceAll(',', '%2C')).join(',');
  }
  return headers;
}

export function sanitize(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (code < 0x20 || code === 0x7f) out += encodeURIComponent(char);
    else if (code === 0x25) out += '%25';
    else if (code > 0xff) out += encodeURIComponent(char);
    else out += char;
  }
  return out;
}
