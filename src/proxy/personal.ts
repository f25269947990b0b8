// The proxy's pages for people, answered on every host before matching (docs/pages.md): who am
// I and the sign-in start go to the browser flow with the browser policies that serve the host;
// the signed-out page needs no policy at all.
import { findByHost, indexHostnames, type HostIndex } from '../match/hosts.ts';
import { WELL_KNOWN_PAGES, type NoticeAnswer } from '../model/answer.ts';
import type { AuthPolicy } from '../model/policy.ts';
import type { RouteTable } from '../model/table.ts';

export type HostPolicies = (table: RouteTable, host: string, returnTo: string | null) => readonly AuthPolicy[];

/**
 * The browser policies of the Routes that serve a host (the most specific host entry that has
 * any, as matching walks hosts), the one protecting `returnTo` first. Indexed once per table.
 */
export function createHostPolicies(): HostPolicies {
  const indexes = new WeakMap<RouteTable, HostIndex<readonly AuthPolicy[]>>();

  function indexOf(table: RouteTable): HostIndex<readonly AuthPolicy[]> {
    let index = indexes.get(table);
    if (index === undefined) {
      const byName = new Map<string, AuthPolicy[]>();
      for (const rule of table.rules) {
        const policy = rule.action.kind === 'forward' ? rule.action.policy : null;
        if (policy === null || policy.browser === null) continue;
        for (const name of rule.hostnames.length === 0 ? ['*'] : rule.hostnames) {
          const list = byName.get(name) ?? [];
          if (!list.includes(policy)) list.push(policy);
          byName.set(name, list);
        }
      }
      index = indexHostnames(byName);
      indexes.set(table, index);
    }
    return index;
  }

  return (table, host, returnTo) => {
    const policies = findByHost(indexOf(table), host, (candidate) => (candidate.length > 0 ? candidate : null), null) ?? [];
    if (returnTo === null || policies.length < 2) return policies;
    const rule = table.matcher.match({ host, path: returnTo, method: 'GET', headers: {}, query: '' });
    const protecting = rule?.action.kind === 'forward' ? rule.action.policy : null;
    return protecting !== null && policies.includes(protecting) ? [protecting, ...policies.filter((policy) => policy !== protecting)] : policies;
  };
}

/** The path part of a sign-in start's `rd`, to pick the policy with; the browser flow checks it before use. */
export function returnPath(query: string): string | null {
  const rd = new URLSearchParams(query).get('rd');
  if (rd === null || !rd.startsWith('/')) return null;
  const end = rd.search(/[?#]/);
  return end === -1 ? rd : rd.slice(0, end);
}

export const SIGNED_OUT: NoticeAnswer = {
  kind: 'notice',
  status: 200,
  eyebrow: 'Session ended',
  title: 'You are signed out',
  message: 'Your session on this site has ended. To use it again, sign in.',
  links: [{ href: `${WELL_KNOWN_PAGES.signIn}?rd=%2F`, label: 'Sign in again' }],
};
