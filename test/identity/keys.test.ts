// The assertion keys as users make them (openssl, Helm's genPrivateKey, Node), what is refused
// and how it is said, and the signer's reuse of what it signed: with its clock in the test's hand.
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { AssertionKeyError, applySecretKeys, createAssertionKeySet, parseAssertionKeys } from '../../src/auth/assertion/keys.ts';
import { ASSERTION_LIFETIME_S, createAssertionSigner } from '../../src/auth/assertion/signer.ts';
import type { Caller } from '../../src/model/guard.ts';
import { runCli } from '../support/cli.ts';
import { newKey } from './support.ts';

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });
const pemOf = (type: 'ec' | 'rsa', curve = 'P-256') =>
  (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: curve }) : generateKeyPairSync('rsa', { modulusLength: 2048 })).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;

const caller: Caller = { auth: 'bearer', sub: 'client-1', email: null, groups: [], clientId: 'client-1', scope: 'api/read' };
const request = { caller, audience: 'api.example.com', policy: 'default/p', route: 'default/r' };

describe('parseAssertionKeys', () => {
  it('reads the keys openssl writes (SEC 1 after its EC PARAMETERS block, and PKCS #8), in order, each with its RFC 7638 kid', async () => {
    const sec1 = openssl('ecparam', '-name', 'prime256v1', '-genkey');
    expect(sec1).toContain('-----BEGIN EC PARAMETERS-----');
    const pkcs8 = openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
    const node = await newKey('sec1');
    const keys = parseAssertionKeys(`${node.pem}\n${sec1}${pkcs8}`, 'the test');
    expect(keys).toHaveLength(3);
    expect(keys[0]!.kid).toBe(node.kid);
    for (const key of keys) expect(key.jwk).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: key.kid, alg: 'ES256', use: 'sig' });
  });

  it('keeps a key given twice once', async () => {
    const key = await newKey();
    expect(parseAssertionKeys(key.pem + key.pem, 'the test').map((k) => k.kid)).toEqual([key.kid]);
  });

  it.each([
    ['no PEM at all', () => 'not a key', 'NO_PRIVATE_KEY', 'the test holds no PEM private key'],
    ['a public key', () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }) as string, 'NO_PRIVATE_KEY', 'is a PUBLIC KEY, not a private key'],
    ['an RSA key', () => pemOf('rsa'), 'KEY_NOT_P256', 'is an rsa key; assertions are signed ES256, with an EC P-256 key.'],
    ['a P-384 key', () => pemOf('ec', 'P-384'), 'KEY_NOT_P256', 'is an EC key on secp384r1'],
    ['a damaged key', () => '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', 'KEY_UNREADABLE', 'cannot be read'],
  ])('refuses %s with a code and a message that quotes nothing of it', (_what, make, code, message) => {
    const text = make();
    let error: unknown;
    try {
      parseAssertionKeys(text, 'the test');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AssertionKeyError);
    expect(error).toMatchObject({ code });
    expect((error as Error).message).toContain(message);
    const body = text.split('\n').find((line) => line.length > 20 && !line.startsWith('-----'));
    if (body !== undefined) expect((error as Error).message).not.toContain(body.slice(0, 20));
  });

  it('names which key of several is wrong', async () => {
    const good = await newKey();
    expect(() => parseAssertionKeys(good.pem + pemOf('rsa'), 'Secret a/b')).toThrow('Key 2 of 2 in Secret a/b is an rsa key');
  });
});

describe('applySecretKeys', () => {
  it('applies a new keys.pem, ignores the same keys again, and keeps the keys in force when the Secret goes or goes bad', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const keys = createAssertionKeySet();
    expect(applySecretKeys(keys, undefined, 'ns/s')).toEqual({ kind: 'missing' });
    expect(keys.signing()).toBeNull();
    expect(applySecretKeys(keys, a.pem, 'ns/s')).toEqual({ kind: 'applied', kids: [a.kid] });
    const signing = keys.signing();
    expect(applySecretKeys(keys, a.pem, 'ns/s')).toEqual({ kind: 'unchanged' });
    expect(keys.signing()).toBe(signing);
    expect(applySecretKeys(keys, 'garbage', 'ns/s')).toMatchObject({ kind: 'invalid', error: { code: 'NO_PRIVATE_KEY' } });
    expect(applySecretKeys(keys, undefined, 'ns/s')).toEqual({ kind: 'missing' });
    expect(keys.signing()?.kid).toBe(a.kid);
    expect(applySecretKeys(keys, b.pem + a.pem, 'ns/s')).toEqual({ kind: 'applied', kids: [b.kid, a.kid] });
    expect((JSON.parse(keys.jwks()) as { keys: { kid: string }[] }).keys.map((key) => key.kid)).toEqual([b.kid, a.kid]);
  });
});

describe('the signer', () => {
  it('signs a JWS that jose verifies with the published key, and reuses it while 30 s or more are left', async () => {
    const key = await newKey();
    const keys = createAssertionKeySet(parseAssertionKeys(key.pem, 'the test'));
    let now = 1_700_000_000_000;
    const signer = createAssertionSigner({ issuer: 'portcullis', keys, now: () => now });
    const first = signer.sign(request)!;
    const jwk = (JSON.parse(keys.jwks()) as { keys: Record<string, string>[] }).keys[0]!;
    await compactVerify(first, await importJWK(jwk, 'ES256'));
    expect(decodeJwt(first)).toMatchObject({ iat: now / 1000, exp: now / 1000 + ASSERTION_LIFETIME_S });

    now += 30_000; // 30 s left: still reused
    expect(signer.sign(request)).toBe(first);
    now += 1_000; // 29 s left: signed again
    const second = signer.sign(request)!;
    expect(second).not.toBe(first);
    expect(decodeJwt(second).iat).toBe(now / 1000);
    // Anything that goes into the claims makes another assertion.
    for (const other of [{ ...request, audience: 'b.example.com' }, { ...request, route: 'default/s' }, { ...request, caller: { ...caller, groups: ['g'] } }]) {
      expect(signer.sign(other)).not.toBe(second);
    }
  });

  it('signs with the new first key from the next request on, cached assertions or not; none while no key is loaded', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const keys = createAssertionKeySet();
    const signer = createAssertionSigner({ issuer: 'portcullis', keys, now: Date.now });
    expect(signer.sign(request)).toBeNull();
    keys.replace(parseAssertionKeys(a.pem, 'the test'));
    expect(decodeProtectedHeader(signer.sign(request)!).kid).toBe(a.kid);
    keys.replace(parseAssertionKeys(b.pem + a.pem, 'the test'));
    expect(decodeProtectedHeader(signer.sign(request)!).kid).toBe(b.kid);
  });
});

describe('portcullis standalone --assertion-key', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-keys-'));
    writeFileSync(join(dir, 'empty.yaml'), '');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['a file that does not exist', null, 'no such file.'],
    ['an RSA key', () => pemOf('rsa'), 'The key in --assertion-key'],
    ['no key at all', () => 'hello\n', 'holds no PEM private key'],
  ])('refuses %s before listening, with one line and exit status 2', async (_what, make, message) => {
    const file = join(dir, `key-${Math.random().toString(36).slice(2)}.pem`);
    if (make !== null) writeFileSync(file, make());
    const result = await runCli(['standalone', '-f', dir, '--assertion-key', file, '--listen', '127.0.0.1:0', '--ops-listen', '127.0.0.1:0']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(message)]);
    expect(result.stderr).toMatch(/^portcullis: /);
    expect(result.stderr).toContain(`--assertion-key ${file}`);
  });
});
