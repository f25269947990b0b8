// Kubeconfig files with everything embedded (CA, client certificate or token), so each file
// stands alone: kubectl, @kubernetes/client-node and a controller under test read the same one.
import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

export type Credentials = { readonly certFile: string; readonly keyFile: string } | { readonly token: string };

export interface KubeconfigOptions {
  readonly server: string;
  readonly caFile: string;
  /** The user entry's name, and the context's. */
  readonly user: string;
  readonly credentials: Credentials;
  /** The context's default namespace. */
  readonly namespace?: string;
}

export const CLUSTER_NAME = 'portcullis-test';

export function writeKubeconfig(file: string, options: KubeconfigOptions): void {
  const base64 = (path: string) => readFileSync(path).toString('base64');
  const user =
    'token' in options.credentials
      ? { token: options.credentials.token }
      : { 'client-certificate-data': base64(options.credentials.certFile), 'client-key-data': base64(options.credentials.keyFile) };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: CLUSTER_NAME, cluster: { server: options.server, 'certificate-authority-data': base64(options.caFile) } }],
    users: [{ name: options.user, user }],
    contexts: [{ name: options.user, context: { cluster: CLUSTER_NAME, user: options.user, ...(options.namespace === undefined ? {} : { namespace: options.namespace }) } }],
    'current-context': options.user,
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
}
