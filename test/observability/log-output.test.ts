// The log output of a process: lines reach its stdout whole and in order, through a pipe that
// fills up, and a reader that goes away does not stop the process.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';

const OUTPUT = new URL('../../src/observability/log-output.ts', import.meta.url).href;

/** Runs `body` in a Node.js process with `output`, a log output on its stdout. */
function script(body: string): string[] {
  return ['--input-type=module', '-e', `import { createLogOutput } from ${JSON.stringify(OUTPUT)};\nconst output = createLogOutput(1);\n${body}`];
}

describe('log output', () => {
  it('writes every line once, in the order given, gathered or not, through a pipe slower than the writer', () => {
    // 20 MB: the pipe (64 KiB) fills again and again, and writes are partial.
    const child = spawnSync(
      process.execPath,
      script(`
        for (let i = 0; i < 40000; i++) {
          const line = JSON.stringify({ i, pad: 'x'.repeat(i % 1000) }) + '\\n';
          if (i % 1000 === 999) output.write(line); else output.gather(line);
        }
        output.flush((error) => { if (error) throw error; });`),
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    expect(child.status).toBe(0);
    const lines = child.stdout.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((line) => (JSON.parse(line) as { i: number }).i)).toEqual(Array.from({ length: 40000 }, (_, i) => i));
  });

  it('calls flush back only once everything before it is written', () => {
    const child = spawnSync(
      process.execPath,
      script(`
        for (let i = 0; i < 1000; i++) output.gather('x'.repeat(1000) + '\\n');
        output.flush(() => process.stderr.write('flushed'));`),
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    expect(child.stderr).toBe('flushed');
    expect(child.stdout.length).toBe(1000 * 1001);
  });

  it('keeps the process running when its reader goes away (EPIPE), and stops writing', async () => {
    const child = spawn(
      process.execPath,
      script(`
        let n = 0;
        const timer = setInterval(() => { for (let i = 0; i < 100; i++) output.gather('line ' + n++ + '\\n'); output.flush(); }, 5);
        setTimeout(() => { clearInterval(timer); process.stderr.write('still here'); }, 500);`),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await once(child.stdout, 'data');
    child.stdout.destroy(); // the reader goes away
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(stderr).toBe('still here');
    expect(code).toBe(0);
  });
});
