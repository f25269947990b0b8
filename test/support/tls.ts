// A throw-away certificate authority and a server certificate it signed, made with the
// openssl CLI into a temporary directory: for HTTPS upstreams and NODE_EXTRA_CA_CERTS tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** The CA certificate, PEM, and the file holding it (for NODE_EXTRA_CA_CERTS). */
  readonly caCert: string;
  readonly caFile: string;
  /** Key and certificate (PEM) for `localhost` and `127.0.0.1`, signed by the CA. */
  readonly serverKey: string;
  readonly serverCert: string;
  /** A key and a certificate (PEM) for these DNS names, signed by the CA. */
  issue(names: readonly string[]): { readonly key: string; readonly cert: string };
  remove(): void;
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-pki-'));
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2',
    '-subj', '/CN=Portcullis Test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-out', file('server.crt'), '-days', '2', '-extfile', file('server.ext'));

  let issued = 0;
  return {
    dir,
    caCert: readFileSync(file('ca.crt'), 'utf8'),
    caFile: file('ca.crt'),
    serverKey: readFileSync(file('server.key'), 'utf8'),
    serverCert: readFileSync(file('server.crt'), 'utf8'),
    issue(names) {
      const base = `issued-${issued++}`;
      openssl('req', ...ec, '-keyout', file(`${base}.key`), '-out', file(`${base}.csr`), '-subj', `/CN=${names[0]}`);
      writeFileSync(file(`${base}.ext`), `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
      openssl('x509', '-req', '-in', file(`${base}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${base}.crt`), '-days', '2', '-extfile', file(`${base}.ext`));
      return { key: readFileSync(file(`${base}.key`), 'utf8'), cert: readFileSync(file(`${base}.crt`), 'utf8') };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
