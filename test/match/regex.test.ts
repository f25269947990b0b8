import { compileFullMatch, literalPrefix } from '../../src/match/regex.ts';

describe('compileFullMatch', () => {
  it('matches the whole input only', () => {
    const result = compileFullMatch('/users/[0-9]+');
    if (!result.ok) throw new Error(result.message);
    expect(result.pattern.test('/users/42')).toBe(true);
    expect(result.pattern.test('/users/42/x')).toBe(false);
    expect(result.pattern.test('/v1/users/42')).toBe(false);
  });

  it('keeps an alternation inside the anchors', () => {
    const result = compileFullMatch('/a|/b');
    if (!result.ok) throw new Error(result.message);
    expect(result.pattern.test('/a')).toBe(true);
    expect(result.pattern.test('/a/x')).toBe(false);
    expect(result.pattern.test('/x/b')).toBe(false);
  });

  it('refuses what RE2 cannot run in linear time, with the reason', () => {
    for (const source of ['(a)\\1', '(?<=x)y', '(?=x)']) {
      const result = compileFullMatch(source);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toMatch(/^Invalid regular expression/);
    }
  });

  it('answers a catastrophic-backtracking pattern in milliseconds, not years', () => {
    // A backtracking engine takes 2^n steps here; RE2 is linear in the input.
    const result = compileFullMatch('(a+)+b');
    if (!result.ok) throw new Error(result.message);
    const input = 'a'.repeat(100_000) + 'c';
    const started = process.hrtime.bigint();
    expect(result.pattern.test(input)).toBe(false);
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    expect(elapsedMs).toBeLessThan(250);
  });
});

describe('literalPrefix', () => {
  it.each([
    ['/items/[0-9]+', '/items/'],
    ['/ab?c', '/a'],
    ['/ab*', '/a'],
    ['/ab{2}', '/a'],
    ['/a|/b', ''],
    ['(?i)/admin', ''],
    ['/v[0-9]/.*', '/v'],
    ['/exact', '/exact'],
    ['/a\\.b', '/a'],
    ['.*', ''],
  ])('%s starts with %j', (source, prefix) => {
    expect(literalPrefix(source)).toBe(prefix);
  });

  it('does not change what a pattern matches', () => {
    const inputs = ['/items/1', '/items/', '/itemsx/1', '/ac', '/abc', '/abbc', '/a', '/b', '/ADMIN', '/admin'];
    for (const source of ['/items/[0-9]+', '/ab?c', '/ab*c', '/a|/b', '(?i)/admin']) {
      const result = compileFullMatch(source);
      if (!result.ok) throw new Error(result.message);
      for (const input of inputs) expect([source, input, result.pattern.test(input)]).toEqual([source, input, new RegExp(`^(?:${source.replace('(?i)', '')})$`, source.startsWith('(?i)') ? 'i' : '').test(input)]);
    }
  });
});
