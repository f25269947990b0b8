// One Secret, named by a flag rather than by a manifest (the assertion keys): an informer on that
// Secret alone (a `metadata.name` field selector, which RBAC can grant by name), in whatever
// namespace it lives, whichever namespaces the controller watches.
import { Secret } from '../../api/core.ts';
import type { KubeClient } from '../../kubernetes/client.ts';
import { RESOURCES } from '../../kubernetes/resources.ts';
import type { Logger } from '../../observability/logger.ts';
import type { Timers } from '../../time/timers.ts';
import { createInformer, type Informer, type InformerOptions } from './informer.ts';

export interface SecretWatchOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  readonly logger: Logger;
  readonly timers?: Timers;
  /**
   * The Secret as it is now: after the first list (null when it does not exist), then on every
   * change (null once deleted).
   */
  readonly onChange: (secret: Secret | null) => void;
  /** Test seam. */
  readonly createInformer?: (options: InformerOptions) => Informer;
}

export interface SecretWatch {
  start(): void;
  stop(): Promise<void>;
}

export function watchSecret(options: SecretWatchOptions): SecretWatch {
  const { namespace, name, logger } = options;
  const current = (): Secret | null => {
    const object = informer.get(namespace, name);
    if (object === undefined) return null;
    const parsed = Secret.safeParse(object);
    if (!parsed.success) {
      logger.warn({ secret: `${namespace}/${name}` }, 'the Secret is not a valid Secret; ignored');
      return null;
    }
    return parsed.data;
  };
  const informer = (options.createInformer ?? createInformer)({
    client: options.client,
    resource: RESOURCES.Secret,
    namespace,
    fieldSelector: `metadata.name=${name}`,
    logger,
    ...(options.timers ? { timers: options.timers } : {}),
    // Changes before the first list are covered by it.
    onEvent: () => {
      if (informer.synced()) options.onChange(current());
    },
    onSynced: () => options.onChange(current()),
  });
  return { start: () => informer.start(), stop: () => informer.stop() };
}
