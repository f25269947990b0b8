// The CRDs' CEL rules (x-kubernetes-validations), restated in JavaScript and keyed by their
// exact text. A rule added to a CRD without a restatement here fails the corpus test, and so
// does a restatement whose rule no longer exists.

type Self = Record<string, unknown>;
export type CelPredicate = (self: Self) => boolean;

const has = (self: Self, field: string): boolean => self[field] !== undefined;
const str = (value: unknown): string => (typeof value === 'string' ? value : '');
/** CEL's size() of a string counts code points. */
const size = (value: string): number => [...value].length;

export const CEL_PREDICATES: Readonly<Record<string, CelPredicate>> = {
  // Route: rules[]
  '!(has(self.public) && self.public && has(self.policyRef))': (self) => !(has(self, 'public') && self.public === true && has(self, 'policyRef')),

  // Route: spec
  "!has(self.mode) || self.mode != 'AuthOnly' || self.rules.all(r, !has(r.backends) || (has(r.mode) && r.mode == 'Proxy'))": (self) =>
    !has(self, 'mode') || self.mode !== 'AuthOnly' || ((self.rules as Self[] | undefined) ?? []).every((r) => !has(r, 'backends') || r.mode === 'Proxy'),
  // Route: rules[]
  "!(has(self.mode) && self.mode == 'AuthOnly' && has(self.backends))": (self) => !(has(self, 'mode') && self.mode === 'AuthOnly' && has(self, 'backends')),

  // Route: rules[].matches[].path
  "self.type == 'RegularExpression' || self.value.startsWith('/')": (self) => self.type === 'RegularExpression' || str(self.value).startsWith('/'),
  [String.raw`self.type == 'RegularExpression' || !self.value.matches('//|/\\.\\.?(/|$)|%2[fF]|#|\\?')`]: (self) =>
    self.type === 'RegularExpression' || !/\/\/|\/\.\.?(\/|$)|%2[fF]|#|\?/.test(str(self.value)),

  // Route: rules[].backends[]
  'has(self.url) != has(self.service)': (self) => has(self, 'url') !== has(self, 'service'),

  // OIDCPolicy: spec
  "!has(self.unauthenticated) || self.unauthenticated != 'Redirect' || (has(self.browser) && (!has(self.browser.enabled) || self.browser.enabled))": (self) => {
    if (!has(self, 'unauthenticated') || self.unauthenticated !== 'Redirect') return true;
    const browser = self.browser as Self | undefined;
    return browser !== undefined && (!has(browser, 'enabled') || browser.enabled === true);
  },

  // OIDCPolicy: spec.browser.session
  "!has(self.store) || self.store != 'Redis' || has(self.redis)": (self) => !has(self, 'store') || self.store !== 'Redis' || has(self, 'redis'),

  // OIDCPolicy: spec.browser.authorizationParams
  'self.all(k, size(k) >= 1 && size(k) <= 128)': (self) => Object.keys(self).every((k) => size(k) >= 1 && size(k) <= 128),

  // OIDCPolicy: spec.forward.headers
  "self.all(k, size(k) <= 256 && k.matches('^[A-Za-z0-9!#$%&\\'*+\\\\-.^_`|~]+$'))": (self) =>
    Object.keys(self).every((k) => size(k) <= 256 && /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(k)),

  // ClusterOIDCPolicy: spec.namespaceSelector and spec.defaultFor, matchExpressions[]
  "(self.operator == 'In' || self.operator == 'NotIn') == (has(self.values) && size(self.values) > 0)": (self) =>
    (self.operator === 'In' || self.operator === 'NotIn') === (Array.isArray(self.values) && self.values.length > 0),
};
