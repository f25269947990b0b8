// Throw-away certificates for a test control plane, made with the openssl command line:
// a CA, the API server's serving certificate, client certificates (one per identity) and
// the service-account signing key. P-256 keys: a few milliseconds each where RSA takes
// tens, and kube-apiserver accepts them everywhere (ES256 service-account tokens).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface KeyPair {
  readonly certFile: string;
  readonly keyFile: string;
}

/** Certificates live for two days: longer than any test run, short enough to be worthless. */
const DAYS = '2';

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`, { cause: error });
  }
}

function newKey(file: string, dir: string): Promise<void> {
  return openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
}

/** A self-signed CA in `dir`: `ca.crt`, `ca.key`. */
export async function createCa(dir: string, commonName: string): Promise<KeyPair> {
  const pair = { certFile: join(dir, 'ca.crt'), keyFile: join(dir, 'ca.key') };
  await newKey(pair.keyFile, dir);
  await openssl(
    ['req', '-x509', '-new', '-key', pair.keyFile, '-subj', subject(commonName, []), '-days', DAYS, '-out', pair.certFile,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
  return pair;
}

export interface LeafOptions {
  /** File name stem: `<name>.crt`, `<name>.key`. */
  readonly name: string;
  readonly commonName: string;
  /** One O= per entry: Kubernetes reads client-certificate organisations as groups. */
  readonly organizations?: readonly string[];
  readonly usage: 'serverAuth' | 'clientAuth';
  /** `IP:127.0.0.1`, `DNS:localhost`, … (serving certificates). */
  readonly subjectAltNames?: readonly string[];
}

/** A certificate signed by `ca`. Serials are random, so concurrent signings never share a serial file. */
export async function signLeaf(dir: string, ca: KeyPair, options: LeafOptions): Promise<KeyPair> {
  const pair = { certFile: join(dir, `${options.name}.crt`), keyFile: join(dir, `${options.name}.key`) };
  const csr = join(dir, `${options.name}.csr`);
  const extensions = ['basicConstraints=critical,CA:FALSE', `extendedKeyUsage=${options.usage}`];
  if (options.subjectAltNames?.length) extensions.push(`subjectAltName=${options.subjectAltNames.join(',')}`);
  await newKey(pair.keyFile, dir);
  await openssl(['req', '-new', '-key', pair.keyFile, '-subj', subject(options.commonName, options.organizations ?? []), ...extensions.flatMap((e) => ['-addext', e]), '-out', csr], dir);
  await openssl(
    ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${randomBytes(12).toString('hex')}`, '-days', DAYS, '-copy_extensions', 'copyall', '-out', pair.certFile],
    dir,
  );
  return pair;
}

/** The key pair that signs and verifies service-account tokens: `sa.key`, `sa.pub`. */
export async function createServiceAccountKey(dir: string): Promise<{ readonly privateKeyFile: string; readonly publicKeyFile: string }> {
  const privateKeyFile = join(dir, 'sa.key');
  const publicKeyFile = join(dir, 'sa.pub');
  await newKey(privateKeyFile, dir);
  await openssl(['pkey', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile], dir);
  return { privateKeyFile, publicKeyFile };
}

/** An openssl `-subj` value; `/`, `+` and `\` inside a name are escaped. */
function subject(commonName: string, organizations: readonly string[]): string {
  const escape = (value: string) => value.replace(/[\\/+]/g, (c) => `\\${c}`);
  return [...organizations.map((o) => `/O=${escape(o)}`), `/CN=${escape(commonName)}`].join('');
}
