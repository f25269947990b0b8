// The host walk that rule matching and certificate selection share (docs/architecture.md,
// "Matching"): the exact name, then wildcards from the longest suffix, then "any host". A
// candidate that declines (its rules do not match the request) hands on to the next one.

export interface HostIndex<T> {
  readonly exact: ReadonlyMap<string, T>;
  /** By suffix with its leading dot: `*.example.com` is found under `.example.com`. */
  readonly wildcard: ReadonlyMap<string, T>;
  /** For a host that nothing more specific takes; null when nothing claims every host. */
  readonly any: T | null;
}

/**
 * The first answer `accept` gives for `host`'s candidates, most specific first; null when every
 * candidate declines. `host` is lower case, without port or trailing dot. `context` is handed to
 * `accept` as is, so that a lookup per request allocates no closure.
 */
export function findByHost<T, C, R>(index: HostIndex<T>, host: string, accept: (candidate: T, context: C) => R | null, context: C): R | null {
  const exact = index.exact.get(host);
  if (exact !== undefined) {
    const found = accept(exact, context);
    if (found !== null) return found;
  }
  if (index.wildcard.size > 0) {
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const candidate = index.wildcard.get(host.slice(dot));
      if (candidate === undefined) continue;
      const found = accept(candidate, context);
      if (found !== null) return found;
    }
  }
  return index.any === null ? null : accept(index.any, context);
}

/** Splits names as Routes write them (`app.example.com`, `*.example.com`, and `*` for any host) into an index. */
export function indexHostnames<T>(entries: Iterable<readonly [string, T]>): HostIndex<T> {
  const exact = new Map<string, T>();
  const wildcard = new Map<string, T>();
  let any: T | null = null;
  for (const [name, value] of entries) {
    if (name === '*') any = value;
    else if (name.startsWith('*.')) wildcard.set(name.slice(1), value);
    else exact.set(name, value);
  }
  return { exact, wildcard, any };
}
