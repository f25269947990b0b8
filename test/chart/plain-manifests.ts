// deploy/controller.yaml: the chart's Deployment, Services and PodDisruptionBudget rendered with
// its default values for a plain `kubectl apply` beside deploy/rbac/ (which holds the same
// ServiceAccount and rules as the chart), without the assertion key Secret (its header says how
// to make one). test/chart/render.test.ts fails when the file and the
// chart drift apart; regenerate it with UPDATE_DEPLOY=1 npm run test:unit -- test/chart/render.
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cli.ts';
import { CHART_DIR, type Helm } from './helm.ts';

export const PLAIN_MANIFEST = join(REPO_ROOT, 'deploy', 'controller.yaml');

const HEADER = `# Portcullis without Helm: the controller Deployment, the proxy Service, the metrics Service and
# the PodDisruptionBudget, rendered from charts/portcullis with its default values (release
# "portcullis", namespace portcullis-system). Install with the CRDs and deploy/rbac/:
#
#   kubectl apply -f crds/ -f deploy/rbac/ -f deploy/controller.yaml
#
# and create, once, the Secret of the key that signs X-Portcullis-Assertion (until it exists the
# controller is not ready; keep it: upstreams verify with its key):
#
#   kubectl -n portcullis-system create secret generic portcullis-assertion-keys \\
#     --from-literal=keys.pem="$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)"
#
# Set the image to the one you built and pushed (see the Dockerfile). Generated: edit the chart,
# then run UPDATE_DEPLOY=1 npm run test:unit -- test/chart/render.
`;

export async function renderPlainManifest(helm: Helm): Promise<string> {
  const rendered = await helm.must([
    'template', 'portcullis', CHART_DIR,
    '--namespace', 'portcullis-system',
    // deploy/rbac/ has the ServiceAccount and the roles.
    '--set', 'rbac.create=false,serviceAccount.create=false,serviceAccount.name=portcullis',
    // A key rendered here would be the same for everyone who applies the file: each makes their own.
    '--set', 'controller.assertion.keySecret.create=false',
  ]);
  // Nothing manages these objects but kubectl: no Helm labels.
  const text = rendered
    .split('\n')
    .filter((line) => !/^\s+(helm\.sh\/chart|app\.kubernetes\.io\/managed-by):/.test(line))
    .map((line) => line.replace(/^# Source: portcullis\//, '# From charts/portcullis/'))
    .join('\n');
  return HEADER + text.replace(/^---\n/, '');
}
