// Manifests as tests write them: one document each, ending with the separator, so they join.

const document = (kind: string, name: string, spec: string) => `apiVersion: portcullis.dev/v1alpha1
kind: ${kind}
metadata: {name: ${name}}
spec:
${spec}
---
`;

/** An OIDCPolicy in the default namespace; `spec` is indented YAML (two spaces). */
export const policyYAML = (name: string, spec: string) => document('OIDCPolicy', name, spec);

/** A Route in the default namespace; `spec` is indented YAML (two spaces). */
export const routeYAML = (name: string, spec: string) => document('Route', name, spec);

export const secretYAML = (name: string, data: Record<string, string>) => `apiVersion: v1
kind: Secret
metadata: {name: ${name}}
stringData:
${Object.entries(data)
  .map(([key, value]) => `  ${key}: ${JSON.stringify(value)}`)
  .join('\n')}
---
`;
