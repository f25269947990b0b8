// The keys of X-Portcullis-Assertion: EC P-256 private keys in PEM, one or more. The first one
// signs; every one is published (JWKS), so that a key can be added before it signs and kept
// after it stops, and upstreams holding a cached key set never meet an unknown kid.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

/** A public key as the JWKS lists it. */
export interface PublicJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly alg: 'ES256';
  readonly use: 'sig';
}

export interface AssertionKey {
  /** The RFC 7638 thumbprint of the public key: the same on every replica that holds the key. */
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly jwk: PublicJwk;
}

export type AssertionKeyErrorCode = 'NO_PRIVATE_KEY' | 'KEY_UNREADABLE' | 'KEY_NOT_P256';

/** Why a PEM text cannot give assertion keys; the message never quotes the text. */
export class AssertionKeyError extends Error {
  override readonly name = 'AssertionKeyError';
  readonly code: AssertionKeyErrorCode;

  constructor(code: AssertionKeyErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
/** SEC 1 (`openssl ecparam -genkey`, Helm's genPrivateKey "ecdsa") and PKCS #8 (`openssl genpkey`). */
const PRIVATE_KEY_BLOCKS = new Set(['EC PRIVATE KEY', 'PRIVATE KEY']);
/** What `openssl ecparam -genkey` writes before the key: skipped. */
const IGNORED_BLOCKS = new Set(['EC PARAMETERS']);

/**
 * Every private key of a PEM text, in order (the first signs). `source` names the text in
 * messages (`--assertion-key /etc/keys.pem`, `Secret portcullis-system/keys`).
 */
export function parseAssertionKeys(pem: string, source: string): AssertionKey[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)].filter((block) => !IGNORED_BLOCKS.has(block[1]!));
  if (blocks.length === 0) throw new AssertionKeyError('NO_PRIVATE_KEY', `${source} holds no PEM private key (expected "-----BEGIN EC PRIVATE KEY-----" or "-----BEGIN PRIVATE KEY-----").`);
  const keys: AssertionKey[] = [];
  for (const [i, block] of blocks.entries()) {
    const which = blocks.length === 1 ? 'The key' : `Key ${i + 1} of ${blocks.length}`;
    if (!PRIVATE_KEY_BLOCKS.has(block[1]!)) {
      throw new AssertionKeyError('NO_PRIVATE_KEY', `${which} in ${source} is a ${block[1]}, not a private key: assertions are signed, so the private key is needed.`);
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(block[0]);
    } catch (error) {
      // OpenSSL's "error:1E08010C:DECODER routines::unsupported": the words after the last "::".
      const reason = (error as Error).message.split('::').at(-1)!.trim();
      throw new AssertionKeyError('KEY_UNREADABLE', `${which} in ${source} cannot be read: ${reason}.`, { cause: error });
    }
    const key = assertionKey(privateKey, `${which} in ${source}`);
    if (!keys.some((known) => known.kid === key.kid)) keys.push(key);
  }
  return keys;
}

/** A new P-256 key, for a process without configured keys. */
export function generateAssertionKey(): AssertionKey {
  return assertionKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'The generated key');
}

/** An EC P-256 private key with its kid and public JWK. */
export function assertionKey(privateKey: KeyObject, what = 'The key'): AssertionKey {
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    const curve = privateKey.asymmetricKeyDetails?.namedCurve;
    throw new AssertionKeyError('KEY_NOT_P256', `${what} is ${privateKey.asymmetricKeyType === 'ec' ? `an EC key on ${curve}` : `an ${privateKey.asymmetricKeyType} key`}; assertions are signed ES256, with an EC P-256 key.`);
  }
  const { x, y } = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string; y: string };
  // RFC 7638: the required members, in lexicographic order, without spaces.
  const kid = createHash('sha256').update(`{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`).digest('base64url');
  return { kid, privateKey, jwk: { kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' } };
}

/** The keys in force: replaced whole when their source changes (a Secret), read on every request. */
export interface AssertionKeySet {
  /** The key that signs (the first); null while none is loaded. */
  signing(): AssertionKey | null;
  /** Every key, the signing one first. */
  all(): readonly AssertionKey[];
  /** The JWKS document of every key, as served: `{"keys":[…]}`. */
  jwks(): string;
  replace(keys: readonly AssertionKey[]): void;
}

export function createAssertionKeySet(initial: readonly AssertionKey[] = []): AssertionKeySet {
  let keys: readonly AssertionKey[] = [];
  let jwks = '';
  const replace = (next: readonly AssertionKey[]) => {
    keys = [...next];
    jwks = `${JSON.stringify({ keys: keys.map((key) => key.jwk) })}\n`;
  };
  replace(initial);
  return { signing: () => keys[0] ?? null, all: () => keys, jwks: () => jwks, replace };
}

/** The key of the Secret (`--assertion-key-secret`) that holds the PEM keys, one or more. */
export const ASSERTION_SECRET_KEY = 'keys.pem';

/** What applying a Secret's keys did, for the log: the keys in force change only on `applied`. */
export type SecretKeysOutcome =
  | { readonly kind: 'applied'; readonly kids: readonly string[] }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'missing' }
  | { readonly kind: 'invalid'; readonly error: AssertionKeyError };

/**
 * Puts the keys of a Secret's `keys.pem` in force. A Secret that is missing, lacks the key, or
 * holds a key that cannot be read changes nothing: the keys in force keep signing.
 */
export function applySecretKeys(keys: AssertionKeySet, pem: string | undefined, secret: string): SecretKeysOutcome {
  if (pem === undefined) return { kind: 'missing' };
  let parsed: AssertionKey[];
  try {
    parsed = parseAssertionKeys(pem, `Secret ${secret} (key ${ASSERTION_SECRET_KEY})`);
  } catch (error) {
    if (error instanceof AssertionKeyError) return { kind: 'invalid', error };
    throw error;
  }
  const kids = parsed.map((key) => key.kid);
  if (JSON.stringify(kids) === JSON.stringify(keys.all().map((key) => key.kid))) return { kind: 'unchanged' };
  keys.replace(parsed);
  return { kind: 'applied', kids };
}
