// kubectl's error output, as the corpus replay reads it (no cluster needed).
import { apiServerFields } from './kubectl-errors.ts';

describe('apiServerFields', () => {
  it('reads the one field of a one-line refusal', () => {
    expect(apiServerFields('The Route "x" is invalid: spec.rules[0]: Invalid value: A rule cannot set both public and policyRef.\n')).toEqual(['spec.rules[0]']);
  });

  it('reads every field of a list, and drops the note that CEL rules were skipped', () => {
    const stderr = `The Route "x" is invalid: \n* spec.rules[0].public: Invalid value: "string": spec.rules[0].public in body must be of type boolean: "string"\n* spec.hostnames: Too many: 17: must have at most 16 items\n* <nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation\n`;
    expect(apiServerFields(stderr)).toEqual(['spec.rules[0].public', 'spec.hostnames']);
  });

  it('reads unknown fields from strict decoding errors', () => {
    const stderr = 'Error from server (BadRequest): error when creating "STDIN": Route in version "v1alpha1" cannot be handled as a Route: strict decoding error: unknown field "spec.backends", unknown field "spec.rules[0].timeout"\n';
    expect(apiServerFields(stderr)).toEqual(['spec.backends', 'spec.rules[0].timeout']);
  });

  it('names no field for other failures', () => {
    expect(apiServerFields('The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n')).toEqual([]);
  });
});
