/** Header names compare case-insensitively, and `_` as `-` (some servers read one as the other). */
export function identityHeaderKey(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}
