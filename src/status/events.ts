// Kubernetes Events (events.k8s.io/v1) about Routes and OIDCPolicies, so that
// `kubectl describe` and `kubectl get events` tell what happened and when. Best effort: an
// Event that cannot be written is logged, never retried.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import { describeFailure, type KubeClient } from '../kubernetes/client.ts';
import type { KubeObject } from '../kubernetes/resources.ts';
import { SYSTEM_TIMERS, type Timers } from '../time/timers.ts';
import { microTime } from './conditions.ts';

export const REPORTING_CONTROLLER = 'portcullis.dev/controller';

export interface EventRecorder {
  record(regarding: KubeObject, type: 'Normal' | 'Warning', reason: string, note: string): void;
  /** Resolves when every Event recorded so far has been sent (or has failed). */
  flush(): Promise<void>;
}

export function createEventRecorder(options: { client: KubeClient; instance: string; logger: Logger; timers?: Timers }): EventRecorder {
  const timers = options.timers ?? SYSTEM_TIMERS;
  const inFlight = new Set<Promise<void>>();
  return {
    record(regarding, type, reason, note) {
      // A cluster-scoped object's Events live in `default`, and name no namespace of it.
      const namespace = regarding.metadata.namespace ?? 'default';
      const event = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        // Named as client-go's recorder names them: the object, then a unique suffix.
        metadata: { name: `${regarding.metadata.name}.${timers.now().toString(16)}${randomBytes(3).toString('hex')}`, namespace },
        eventTime: microTime(timers.now()),
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: options.instance.slice(0, 128),
        action: 'Reconcile',
        reason: reason.slice(0, 128),
        // The API server refuses a note over 1 kB.
        note: note.length > 1024 ? `${note.slice(0, 1021)}...` : note,
        type,
        regarding: {
          apiVersion: regarding.apiVersion,
          kind: regarding.kind,
          ...(regarding.metadata.namespace === undefined ? {} : { namespace }),
          name: regarding.metadata.name,
          uid: regarding.metadata.uid,
          resourceVersion: regarding.metadata.resourceVersion,
        },
      };
      const sent = options.client
        .request('POST', `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`, { body: event })
        .then(
          (response) => {
            if (response.status >= 300) options.logger.warn({ object: `${regarding.kind} ${namespace}/${regarding.metadata.name}`, reason, answer: describeFailure(response) }, 'could not record an Event');
          },
          (error: Error) => options.logger.warn({ object: `${regarding.kind} ${namespace}/${regarding.metadata.name}`, reason, err: error.message }, 'could not record an Event'),
        )
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
    },
    async flush() {
      await Promise.all([...inFlight]);
    },
  };
}
