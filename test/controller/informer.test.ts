// One informer against a scripted API server (plain HTTP, so the script sees every request):
// paged lists, watch events into the cache, 410 Gone → a fresh list, errors → restart with
// back-off, and a continue token that expires between pages.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../../src/observability/logger.ts';
import { createKubeClient } from '../../src/kubernetes/client.ts';
import { createInformer, type Informer, type InformerEvent } from '../../src/sources/kubernetes/informer.ts';
import { RESOURCES, type KubeObject } from '../../src/kubernetes/resources.ts';
import { waitFor } from './support.ts';

const logger = createLogger({ level: 'silent' });

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

let server: Server;
let handler: Handler;
let requests: string[];
let informer: Informer | null = null;

beforeEach(async () => {
  requests = [];
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://api');
    requests.push(`${url.searchParams.get('watch') ? 'watch' : 'list'} ${url.search}`);
    handler(req, res, url);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(async () => {
  await informer?.stop();
  informer = null;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function start(onEvent: (event: InformerEvent, object: KubeObject) => void = () => {}, synced: boolean[] = []): Informer {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'fake', token: 't' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  informer = createInformer({ client: createKubeClient(config), resource: RESOURCES.Secret, namespace: null, logger, pageSize: 2, backoff: { baseMs: 20, maxMs: 40 }, onEvent, onSynced: (relist) => synced.push(relist) });
  informer.start();
  return informer;
}

const secret = (name: string, rv: string): KubeObject => ({ metadata: { name, namespace: 'ns', resourceVersion: rv, managedFields: [{}], annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"data":"secret"}', keep: 'me' } }, data: { k: 'dg==' } });
const list = (res: ServerResponse, items: KubeObject[], rv: string, next?: string) => res.end(JSON.stringify({ kind: 'SecretList', metadata: { resourceVersion: rv, ...(next ? { continue: next } : {}) }, items }));

test('lists in pages, then applies watch events to its cache; objects are trimmed', async () => {
  let watch: ServerResponse | null = null;
  handler = (_req, res, url) => {
    if (url.searchParams.get('watch')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      watch = res;
      return;
    }
    if (url.searchParams.get('continue') === 'page2') list(res, [secret('c', '3')], '10');
    else list(res, [secret('a', '1'), secret('b', '2')], '10', 'page2');
  };
  const events: string[] = [];
  const synced: boolean[] = [];
  const cache = start((event, object) => events.push(`${event} ${object.metadata.name}`), synced);
  await waitFor('the watch', () => watch !== null);
  expect(synced).toEqual([false]);
  expect(requests.slice(0, 3)).toEqual(['list ?limit=2', 'list ?limit=2&continue=page2', 'watch ?watch=true&resourceVersion=10&allowWatchBookmarks=true']);
  expect(cache.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'b', 'c']);
  const a = cache.get('ns', 'a')!;
  expect(a).toMatchObject({ apiVersion: 'v1', kind: 'Secret', metadata: { annotations: { keep: 'me' } } });
  expect(a.metadata.managedFields).toBeUndefined();

  watch!.write(`${JSON.stringify({ type: 'MODIFIED', object: secret('a', '11') })}\n`);
  watch!.write(`${JSON.stringify({ type: 'DELETED', object: secret('b', '12') })}\n`);
  watch!.write(`${JSON.stringify({ type: 'ADDED', object: secret('d', '13') })}\n`);
  await waitFor('the events', () => events.length === 6);
  expect(events).toEqual(['add a', 'add b', 'add c', 'update a', 'delete b', 'add d']);
  expect(cache.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'c', 'd']);
});

test('410 Gone on a watch: it relists, and what vanished meanwhile is deleted', async () => {
  let lists = 0;
  let watches = 0;
  handler = (_req, res, url) => {
    if (url.searchParams.get('watch')) {
      watches++;
      if (watches === 1) {
        // An ERROR event, as the API server sends for a compacted resourceVersion, then the end.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
      } else if (watches === 2) {
        res.writeHead(410, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Gone' }));
      } else {
        res.writeHead(200);
        res.flushHeaders();
      }
      return;
    }
    lists++;
    if (lists === 1) list(res, [secret('a', '1'), secret('b', '2')], '10');
    else if (lists === 2) list(res, [secret('a', '1'), secret('c', '20')], '21');
    else list(res, [secret('c', '20')], '30');
  };
  const events: string[] = [];
  const synced: boolean[] = [];
  start((event, object) => events.push(`${event} ${object.metadata.name}`), synced);
  await waitFor('three lists', () => synced.length === 3, 10_000);
  // The watch after the third list starts just after its sync is reported.
  await waitFor('three watches', () => requests.filter((r) => r.startsWith('watch')).length === 3, 10_000);
  expect(synced).toEqual([false, true, true]);
  expect(events).toEqual(['add a', 'add b', 'delete b', 'add c', 'delete a']);
  expect(requests.filter((r) => r.startsWith('watch'))).toEqual([
    'watch ?watch=true&resourceVersion=10&allowWatchBookmarks=true',
    'watch ?watch=true&resourceVersion=21&allowWatchBookmarks=true',
    'watch ?watch=true&resourceVersion=30&allowWatchBookmarks=true',
  ]);
});

test('a failing list is retried with back-off until it succeeds; a watch error resumes from the last resourceVersion', async () => {
  let lists = 0;
  let watches = 0;
  handler = (_req, res, url) => {
    if (url.searchParams.get('watch')) {
      watches++;
      if (watches === 1) {
        res.writeHead(500);
        res.end('{}');
      } else {
        res.writeHead(200);
        res.flushHeaders();
      }
      return;
    }
    lists++;
    if (lists < 3) {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 503, message: 'etcd is down' }));
    } else list(res, [secret('a', '1')], '10');
  };
  const synced: boolean[] = [];
  const cache = start(() => {}, synced);
  await waitFor('a watch that stays', () => watches === 2, 10_000);
  expect(cache.synced()).toBe(true);
  expect(synced).toEqual([false]);
  expect(lists).toBe(3);
  // After the watch's 500, a restart resumes from resourceVersion 10 instead of listing again.
  expect(requests.slice(-2)).toEqual(['watch ?watch=true&resourceVersion=10&allowWatchBookmarks=true', 'watch ?watch=true&resourceVersion=10&allowWatchBookmarks=true']);
});

test('a continue token that expires between pages restarts the list', async () => {
  let first = true;
  handler = (_req, res, url) => {
    if (url.searchParams.get('watch')) {
      res.writeHead(200);
      res.flushHeaders();
      return;
    }
    if (url.searchParams.get('continue') === 'stale' && first) {
      first = false;
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'The provided continue parameter is too old' }));
    } else if (url.searchParams.get('continue')) list(res, [secret('c', '3')], '10');
    else list(res, [secret('a', '1'), secret('b', '2')], first ? '10' : '11', 'stale');
  };
  const cache = start();
  await waitFor('synced', () => cache.synced());
  expect(requests.filter((r) => r.startsWith('list'))).toEqual(['list ?limit=2', 'list ?limit=2&continue=stale', 'list ?limit=2', 'list ?limit=2&continue=stale']);
  expect(cache.list()).toHaveLength(3);
});
