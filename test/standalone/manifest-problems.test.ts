// What `portcullis standalone` logs about a manifest it refuses: the offending key's own line
// and column, and the field that was meant. The real process, as a user runs it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPortcullis } from '../support/portcullis-process.ts';

it('logs a typo at its own line and column, with "did you mean"', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-problems-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(
    file,
    `apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: good}
spec: {rules: [{backends: [{url: "http://127.0.0.1:1"}]}]}
---
apiVersion: portcullis.dev/v1alpha1
kind: Route
metadata: {name: typo}
spec:
  rules:
    - matches: [{path: {value: /api}}]
      backend: [{url: "http://127.0.0.1:1"}]
`,
  );
  const proxy = await startPortcullis(['standalone', '-f', dir]);
  try {
    const problem = await proxy.waitForLog((l) => String(l.msg).startsWith('manifest problem'));
    expect(problem).toMatchObject({
      level: 'warn',
      file,
      line: 12,
      column: 7,
      kind: 'Route',
      name: 'typo',
      field: 'spec.rules[0].backend',
      msg: 'manifest problem: Unknown field (did you mean "backends"?).',
    });
    // The status line says the same, for the object as a whole.
    const condition = await proxy.waitForLog((l) => l.object === 'Route default/typo' && l.condition === 'Accepted');
    expect(condition.msg).toBe('spec.rules[0].backend: Unknown field (did you mean "backends"?).');
  } finally {
    await proxy.stop();
  }
});
