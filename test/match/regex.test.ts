import { compileFullMatch } from '../../src/match/regex.ts';

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
