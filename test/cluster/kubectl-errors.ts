// The fields that kubectl's error output names, as test/api names them
// (`spec.rules[0].backends[1].url`), so the API server's verdict compares with zod's.
//
//   The Route "x" is invalid: spec.rules: Required value                 one field
//   The Route "x" is invalid:                                            several, one a line
//   * spec.rules[0].public: Invalid value: "string": … must be of type boolean
//   * <nil>: Invalid value: null: some validation rules were not checked …
//   Error from server (BadRequest): … strict decoding error: unknown field "spec.audience"

/** The fields named by kubectl's stderr; empty when it names none. */
export function apiServerFields(stderr: string): string[] {
  const fields = new Set<string>();
  for (const match of stderr.matchAll(/unknown field "([^"]+)"/g)) fields.add(match[1] as string);
  const invalid = /is invalid: ([\s\S]*)$/.exec(stderr)?.[1];
  if (invalid !== undefined) {
    const causes = invalid.startsWith('\n')
      ? invalid
          .split('\n')
          .filter((line) => line.startsWith('* '))
          .map((line) => line.slice(2))
      : [invalid];
    for (const cause of causes) {
      const field = cause.slice(0, cause.indexOf(': '));
      // `<nil>` only says that CEL rules were skipped because the schema already failed.
      if (field !== '' && field !== '<nil>') fields.add(field);
    }
  }
  return [...fields];
}
