// Logout: every session cookie chunk and the server-side session cleared, the refresh token
// revoked where the provider can, then the provider's own logout: Cognito's /logout (client_id,
// logout_uri) on the domain of its authorization endpoint, else end_session_endpoint with
// id_token_hint and post_logout_redirect_uri, else postLogoutRedirectURL.
import * as oidc from 'openid-client';
import type { AnswerDecision, GuardContext, GuardRequest } from '../../model/guard.ts';
import type { AuthPolicy } from '../../model/policy.ts';
import type { Provider } from '../provider.ts';
import { jwtPayload, type Session } from './codec.ts';
import { clearChunked, parseCookies, sessionCookieAttributes } from './cookies.ts';
import { log, type FlowKit } from './kit.ts';
import { redirect } from './responses.ts';

export type Logout = (request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext) => Promise<AnswerDecision>;

export function createLogout(kit: FlowKit): Logout {
  const { logger, clients, store, keysOf } = kit;

  async function logout(request: GuardRequest, policies: readonly AuthPolicy[], providerOf: (policy: AuthPolicy) => Provider | null, context: GuardContext): Promise<AnswerDecision> {
    const jar = parseCookies(request.headers.cookie);
    const cookies: string[] = [];
    let chosen: { policy: AuthPolicy; session: Session | null } = { policy: policies[0]!, session: null };
    for (const policy of policies) {
      const keys = keysOf(policy);
      let stored = null;
      try {
        stored = await store.load(policy, keys, jar);
      } catch {
        // Redis down: the cookies still go; the server-side copy expires on its own.
      }
      if (stored !== null && chosen.session === null) chosen = { policy, session: stored.session };
      try {
        cookies.push(...(await store.destroy(policy, keys, jar, stored?.id ?? null, context.scheme)));
      } catch {
        cookies.push(...clearChunked(jar, policy.browser!.session.cookieName, sessionCookieAttributes(policy.browser!.session, context.scheme, null)));
      }
    }
    const { policy, session } = chosen;
    const provider = providerOf(policy);
    const config = provider === null ? null : clients.get(policy, provider);
    const metadata = provider?.metadata() ?? null;

    // Revoke the refresh token (and, at Cognito, the access tokens issued from it).
    if (config !== null && metadata?.revocation_endpoint !== undefined && session?.refreshToken) {
      try {
        await oidc.tokenRevocation(config, session.refreshToken, { token_type_hint: 'refresh_token' });
        logger.info({ policy: policy.key, requestId: context.requestId }, 'refresh token revoked');
      } catch (error) {
        logger.warn({ policy: policy.key, requestId: context.requestId, err: { message: (error as Error).message } }, 'refresh token revocation failed');
      }
    }

    const origin = `${context.scheme}://${context.host}`;
    const configured = policy.browser!.postLogoutRedirectURL;
    const after = configured === null ? `${origin}/` : configured.startsWith('/') ? `${origin}${configured}` : configured;
    let location = after;
    if (policy.provider === 'Cognito' && typeof metadata?.authorization_endpoint === 'string') {
      // Cognito's logout is not RP-initiated logout: /logout on the user pool domain, with
      // client_id and a registered logout_uri.
      const url = new URL('/logout', new URL(metadata.authorization_endpoint).origin);
      url.search = new URLSearchParams({ client_id: policy.clientID, logout_uri: after }).toString();
      location = url.href;
    } else if (config !== null && typeof metadata?.end_session_endpoint === 'string') {
      const params: Record<string, string> = { client_id: policy.clientID, post_logout_redirect_uri: after };
      if (session !== null) params.id_token_hint = session.idToken;
      location = oidc.buildEndSessionUrl(config, params).href;
    }
    return redirect(location, cookies, log(policy, 'handled', 'SIGNED_OUT', session === null ? undefined : (jwtPayload(session.idToken)?.sub as string | undefined)));
  }

  return logout;
}
