// explain's matching half, in process: the normalised target, the rule matched, and the near
// misses when none is (each rule tried on its own with the proxy's matcher).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, exitCode, formatExplanation } from '../../src/cli/explain.ts';
import { routeYAML } from '../support/manifests.ts';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-near-misses-'));
  writeFileSync(
    join(dir, 'routes.yaml'),
    routeYAML('shop', `  hostnames: [shop.example.com]
  rules:
    - matches: [{path: {value: /orders}, method: POST}]
      public: true
      backends: [{url: "http://orders.internal"}]
    - matches: [{path: {value: /beta}, headers: [{name: X-Beta, value: "on"}]}]
      public: true
      backends: [{url: "http://beta.internal"}]
    - matches: [{path: {type: Exact, value: /status}}]
      public: true
      backends: [{url: "http://status.internal"}]`) +
      routeYAML('blog', `  hostnames: [blog.example.com]
  rules:
    - matches: [{path: {value: /posts}}]
      public: true
      backends: [{url: "http://blog.internal"}]`),
  );
});

const run = (url: string, method = 'GET', headers: string[] = []) => explain({ paths: [dir], url, method, headers, providerTimeoutMs: 1_000 });

it('names the rule that matches, after normalising the target', async () => {
  const e = await run('http://SHOP.example.com:8080/orders/../orders/7?x=1', 'POST');
  expect(e.target).toEqual({ host: 'shop.example.com', path: '/orders/7', query: 'x=1' });
  expect(e.match).toEqual({ route: 'default/shop', rule: 'default/shop/rules[0]/matches[0]', public: true });
  expect(e.answer.decision).toBe('forward');
  expect(exitCode(e)).toBe(0);
});

it('says what differs for each near miss: method, headers, host, path', async () => {
  const wrongMethod = await run('http://shop.example.com/orders/7');
  expect(wrongMethod.match).toBeNull();
  expect(wrongMethod.answer).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  expect(wrongMethod.nearMisses).toContainEqual({ rule: 'default/shop/rules[0]/matches[0]', differs: 'method: the rule takes POST' });
  expect(wrongMethod.nearMisses).toContainEqual({ rule: 'default/shop/rules[2]/matches[0]', differs: 'path: the rule takes Exact /status' });
  expect(wrongMethod.nearMisses.map((miss) => miss.rule)).not.toContain('default/blog/rules[0]/matches[0]');

  const noHeader = await run('http://shop.example.com/beta/x');
  expect(noHeader.nearMisses).toContainEqual({ rule: 'default/shop/rules[1]/matches[0]', differs: 'headers: the rule needs x-beta Exact on' });
  expect((await run('http://shop.example.com/beta/x', 'GET', ['X-Beta: on'])).match?.rule).toBe('default/shop/rules[1]/matches[0]');

  const otherHost = await run('http://shop.example.com/posts/1');
  expect(otherHost.nearMisses).toContainEqual({ rule: 'default/blog/rules[0]/matches[0]', differs: 'host: the rule takes blog.example.com' });
  expect(formatExplanation(otherHost)).toMatch(/^ {2}near miss default\/blog\/rules\[0\]\/matches\[0\]: host: the rule takes blog\.example\.com$/m);
  expect(exitCode(otherHost)).toBe(1);
});

it('stops at a target the proxy refuses, with its code', async () => {
  const e = await run('http://shop.example.com/orders/%2e%2e/%2e%2e/etc');
  expect(e.target).toBeNull();
  expect(e.answer).toMatchObject({ decision: 'refuse', status: 400 });
  expect(e.answer.code).toMatch(/^TARGET_/);
});
