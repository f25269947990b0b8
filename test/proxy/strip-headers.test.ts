// The headers every request loses besides the table's identity headers: the well-known proxies'
// (src/proxy/headers.ts, WELL_KNOWN_IDENTITY_HEADERS) and --strip-request-header's.
import { strippedHeaders, stripIdentityHeaders, WELL_KNOWN_IDENTITY_HEADERS } from '../../src/proxy/headers.ts';

/** The names a client may send, in the spellings it may try, that an upstream behind ALB, oauth2-proxy, Pomerium or a REMOTE_USER setup believes. */
const OTHER_PROXIES = [
  'X-Amzn-Oidc-Data', 'x-amzn-oidc-identity', 'X_AMZN_OIDC_ACCESSTOKEN', 'x-amzn-oidc-anything-new',
  'X-Forwarded-User', 'x-forwarded-email', 'X-Forwarded-Groups', 'x_forwarded_preferred_username', 'X-Forwarded-Access-Token',
  'X-Auth-Request-User', 'x-auth-request-email', 'X-Auth-Request-Groups', 'x-auth-request-preferred-username', 'X-Auth-Request-Access-Token',
  'Remote-User', 'REMOTE_USER', 'X-Remote-User', 'x_remote_group',
  'X-Pomerium-Jwt-Assertion', 'x-pomerium-claim-email',
  'X-Portcullis-Subject', 'x_portcullis_groups',
];

/** Near misses: other headers that merely look alike. */
const KEPT = ['x-amzn-trace-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-users', 'x-forwarded-username', 'remote-users', 'x-remote-addr', 'x-pomerium', 'x-portcullis', 'x-auth-request', 'authorization', 'cookie'];

function headersNamed(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, 'forged']));
}

describe('stripIdentityHeaders', () => {
  it("removes every other proxy's identity header, in every spelling, and nothing that merely looks alike", () => {
    const headers = headersNamed([...OTHER_PROXIES, ...KEPT]);
    stripIdentityHeaders(headers, new Set(), strippedHeaders());
    expect(Object.keys(headers)).toEqual(KEPT);
  });

  it("removes the table's identity headers beside them", () => {
    const headers = headersNamed(['X-User-Email', 'x_user_email', 'x-user-emails', 'X-Forwarded-User']);
    stripIdentityHeaders(headers, new Set(['x-user-email']), strippedHeaders());
    expect(Object.keys(headers)).toEqual(['x-user-emails']);
  });

  it('adds the names and prefixes it is given (--strip-request-header), compared as identity headers are', () => {
    const stripped = strippedHeaders(['X-Corp-User', 'x_corp_auth_*']);
    expect(stripped.names.has('x-corp-user')).toBe(true);
    expect(stripped.prefixes).toContain('x-corp-auth-');
    const headers = headersNamed(['x-corp-user', 'X_CORP_USER', 'x-corp-auth-token', 'X-Corp-Auth-Groups', 'x-corp-other', 'x-corp-auth']);
    stripIdentityHeaders(headers, new Set(), stripped);
    expect(Object.keys(headers)).toEqual(['x-corp-other', 'x-corp-auth']);
  });

  it('lists every header the issue names, as names or prefixes', () => {
    const { names, prefixes } = strippedHeaders();
    for (const name of ['x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username', 'x-forwarded-access-token', 'remote-user', 'x-remote-user', 'x-remote-group']) {
      expect(names).toContain(name);
    }
    expect(prefixes).toEqual(['x-portcullis-', 'x-amzn-oidc-', 'x-auth-request-', 'x-pomerium-']);
    expect(WELL_KNOWN_IDENTITY_HEADERS.length).toBe(names.size + prefixes.length);
  });

  it.each(['*', '', 'x-a*b', 'x y', 'x:y', 'é'])('refuses %j as a name or prefix', (entry) => {
    expect(() => strippedHeaders([entry])).toThrow(TypeError);
  });
});
