// Where the keys of X-Portcullis-Assertion come from: a PEM file (`--assertion-key`), a Secret
// watched in the cluster (`--assertion-key-secret`), or a key generated at start.
import { readFileSync } from 'node:fs';
import {
  applySecretKeys,
  ASSERTION_SECRET_KEY,
  AssertionKeyError,
  createAssertionKeySet,
  generateAssertionKey,
  parseAssertionKeys,
  type AssertionKeySet,
} from '../auth/assertion/keys.ts';
import { secretValue } from '../api/core.ts';
import type { KubeClient } from '../kubernetes/client.ts';
import type { Logger } from '../observability/logger.ts';
import { watchSecret, type SecretWatch } from '../sources/kubernetes/secret.ts';
import type { Timers } from '../time/timers.ts';
import { UsageError } from './usage-error.ts';

/** The keys of `--assertion-key <file>`, or without it a key generated now (and the log says so). */
export function assertionKeysFromFile(file: string | undefined, logger: Logger): AssertionKeySet {
  if (file === undefined) {
    const key = generateAssertionKey();
    logger.info({ kid: key.kid }, 'no --assertion-key: X-Portcullis-Assertion is signed with a key generated at start (upstreams fetch the JWKS again after a restart)');
    return createAssertionKeySet([key]);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--assertion-key ${file}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? (error as Error).message})`}.`);
  }
  try {
    const keys = parseAssertionKeys(text, `--assertion-key ${file}`);
    logger.info({ file, keys: keys.length, kid: keys[0]!.kid }, 'assertion keys read; the first one signs');
    return createAssertionKeySet(keys);
  } catch (error) {
    if (error instanceof AssertionKeyError) throw new UsageError(error.message);
    throw error;
  }
}

/** A controller without `--assertion-key-secret` or `--assertion-key`: a key of its own, and a warning. */
export function generatedControllerKeys(logger: Logger): AssertionKeySet {
  const key = generateAssertionKey();
  logger.warn(
    { kid: key.kid },
    'no --assertion-key-secret: this replica signs X-Portcullis-Assertion with a key of its own, generated at start; with more than one replica, an upstream can verify only the assertions of the replica whose JWKS it fetched',
  );
  return createAssertionKeySet([key]);
}

export interface AssertionSecretOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  /** Filled from the Secret's keys.pem; stays as it is when the Secret goes or goes bad. */
  readonly keys: AssertionKeySet;
  readonly logger: Logger;
  readonly timers?: Timers;
}

/** Keeps `keys` in line with the Secret, without restart; logs each change of state once. */
export function watchAssertionKeySecret(options: AssertionSecretOptions): SecretWatch {
  const { keys, logger, namespace, name } = options;
  const secret = `${namespace}/${name}`;
  let reported = '';
  const report = (state: string, log: () => void) => {
    if (state === reported) return;
    reported = state;
    log();
  };
  return watchSecret({
    client: options.client,
    namespace,
    name,
    logger,
    ...(options.timers ? { timers: options.timers } : {}),
    onChange(found) {
      const outcome = applySecretKeys(keys, found === null ? undefined : secretValue(found, ASSERTION_SECRET_KEY), secret);
      const loaded = keys.signing() !== null;
      switch (outcome.kind) {
        case 'applied':
          report(`applied ${outcome.kids.join(',')}`, () => logger.info({ secret, keys: outcome.kids.length, kid: outcome.kids[0] }, 'assertion keys read from the Secret; the first one signs'));
          return;
        case 'unchanged':
          reported = '';
          return;
        case 'missing':
          report('missing', () =>
            loaded
              ? logger.warn({ secret, key: ASSERTION_SECRET_KEY }, 'the assertion key Secret is gone or has no key keys.pem; the keys read before keep signing')
              : logger.warn(
                  { secret, key: ASSERTION_SECRET_KEY, create: `kubectl -n ${namespace} create secret generic ${name} --from-literal=${ASSERTION_SECRET_KEY}="$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)"` },
                  'waiting for the assertion key Secret: until it exists with its key keys.pem, this replica is not ready and refuses protected requests',
                ),
          );
          return;
        case 'invalid':
          report(`invalid ${outcome.error.message}`, () =>
            logger.error(
              { secret, code: outcome.error.code, error: outcome.error.message },
              loaded ? 'the assertion key Secret holds a key that cannot sign; the keys read before keep signing' : 'the assertion key Secret holds a key that cannot sign; nothing signs until it is fixed',
            ),
          );
          return;
      }
    },
  });
}
