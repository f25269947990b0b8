// A user pool's signing keys, as Cognito has them: one RSA key signs ID tokens, another access
// tokens, and the JWKS lists both. Rotation adds a key and makes it the active one; the keys it
// replaced stay published (tokens they signed keep verifying) unless retired.

import { generateSigningKey, type CognitoJwk, type SigningKey } from './cognito-shapes.ts';

export type TokenUse = 'access' | 'id';

export interface KeyRotation {
  /** Which tokens the new key signs from now on; default both. */
  readonly tokens?: TokenUse | 'both';
  /** Drop the replaced key(s) from the JWKS, so tokens they signed stop verifying; default false. */
  readonly retire?: boolean;
}

export interface KeyRing {
  /** The key that signs this kind of token now. */
  active(use: TokenUse): SigningKey;
  /** Every published key, the ID token key first. */
  published(): readonly SigningKey[];
  find(kid: string): SigningKey | undefined;
  jwks(): { keys: CognitoJwk[] };
  /** Adds a new key, makes it the active one, and answers it. */
  rotate(rotation?: KeyRotation): Promise<SigningKey>;
}

export async function createKeyRing(): Promise<KeyRing> {
  const [idKey, accessKey] = await Promise.all([generateSigningKey(), generateSigningKey()]);
  let active: Readonly<Record<TokenUse, SigningKey>> = { id: idKey, access: accessKey };
  let keys: SigningKey[] = [idKey, accessKey];

  const published = (): SigningKey[] => [active.id, ...keys.filter((key) => key !== active.id)];
  return {
    active: (use) => active[use],
    published,
    find: (kid) => keys.find((key) => key.kid === kid),
    jwks: () => ({ keys: published().map((key) => key.publicJwk) }),
    async rotate({ tokens = 'both', retire = false } = {}) {
      const key = await generateSigningKey();
      const previous = active;
      active = { id: tokens === 'access' ? previous.id : key, access: tokens === 'id' ? previous.access : key };
      keys.push(key);
      if (retire) {
        const replaced = [previous.id, previous.access].filter((old) => old !== active.id && old !== active.access);
        keys = keys.filter((old) => !replaced.includes(old));
      }
      return key;
    },
  };
}
