// `npm run cluster`: the test control plane for people. Builds or reuses the binaries, starts
// etcd and kube-apiserver, applies crds/, prints how to reach it, and runs until Ctrl-C.
//
//   npm run cluster [-- --keep]      --keep: leave the work directory (logs, etcd data) behind
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster } from './harness.ts';

const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
if (values.help) {
  console.log('Usage: npm run cluster [-- --keep]\n\nStarts etcd and kube-apiserver (built by test/cluster/build.sh), applies crds/, and runs until Ctrl-C.\n  --keep  keep the work directory after stopping');
  process.exit(0);
}

const cluster = await startCluster({ keepWorkDir: values.keep });
let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) {
    console.error(`\n${signal} again: killing.`);
    process.exit(130); // the harness's exit handler kills the servers
  }
  stopping = true;
  console.error(`\n${signal}: stopping kube-apiserver, then etcd…`);
  cluster.stop().then(
    () => {
      console.error(values.keep ? `Stopped. Kept ${cluster.workDir}.` : 'Stopped.');
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

try {
  await cluster.applyCrds();
  await cluster.ensureNamespace('default');
} catch (error) {
  console.error(error);
  await cluster.stop();
  process.exit(1);
}

const version = /^KUBERNETES_VERSION=(.*)$/m.exec(readFileSync(join(cluster.binDir, 'versions.env'), 'utf8'))?.[1] ?? '';
console.log(`Kubernetes ${version} control plane ready in ${(cluster.startupMs / 1000).toFixed(1)} s; crds/ applied.

  kube-apiserver  ${cluster.server}
  etcd            ${cluster.etcdURL}
  kubeconfig      ${cluster.kubeconfig}   (user portcullis-admin, group system:masters)
  audit log       ${cluster.auditLog}
  logs            ${cluster.apiServerLog}, ${cluster.etcdLog}

In another shell:

  export KUBECONFIG=${cluster.kubeconfig}
  export PATH=${cluster.binDir}:$PATH   # kubectl ${version}, the server's own release

No controller-manager runs: namespaces never finish deleting, and Services get no EndpointSlices.
Ctrl-C stops it.`);
