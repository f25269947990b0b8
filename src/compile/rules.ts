// spec.authorization.rules → AuthorizationRule: each CEL expression parsed, type-checked against
// the variables a rule sees, and planned once, when the table is built. A request then only
// evaluates the plans (src/auth/rules.ts).
import { celEnv, CelScalar, isCelError, mapType, parse, plan, type CelEnv } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import RE2 from 're2';
import type { OIDCPolicySpec } from '../api/oidcpolicy.ts';
import type { AuthorizationRule, RuleVariables } from '../model/policy.ts';
import { BOOL, checkRule, describe, DYN, listOf, mapOf, RuleTypeError, STRING, type RuleType } from './cel-check.ts';

type RuleSpec = NonNullable<NonNullable<OIDCPolicySpec['authorization']>['rules']>[number];

/** What a rule may name, and the type of each (docs/rules.md lists them). */
export const RULE_VARIABLES: Readonly<Record<keyof RuleVariables, RuleType>> = {
  claims: mapOf(STRING, DYN),
  request: {
    kind: 'record',
    name: 'request',
    fields: { method: STRING, host: STRING, path: STRING, query: mapOf(STRING, STRING), headers: mapOf(STRING, STRING) },
  },
  auth: {
    kind: 'record',
    name: 'auth',
    fields: { kind: STRING, scopes: listOf(STRING), groups: listOf(STRING), emailVerified: BOOL },
  },
};

/** Distinct patterns of matches() kept compiled per policy; more are compiled on each call. */
const MAX_CACHED_PATTERNS = 64;

/**
 * The rules of one policy, or the first rule's error (naming the rule and the column). The
 * environment is the policy's own: its matches() runs in RE2 (linear time, as every pattern of
 * ours), with a small cache of compiled patterns.
 */
export function compileRules(rules: readonly RuleSpec[], invalid: (field: string, message: string) => void): AuthorizationRule[] {
  if (rules.length === 0) return [];
  const env = ruleEnv();
  const compiled: AuthorizationRule[] = [];
  for (const [i, rule] of rules.entries()) {
    const field = `spec.authorization.rules[${i}].cel`;
    const result = compileRule(env, rule);
    if (typeof result === 'string') invalid(field, `Rule ${JSON.stringify(rule.name)}: ${result}.`);
    else compiled.push(result);
  }
  return compiled;
}

function ruleEnv(): CelEnv {
  const patterns = new Map<string, RE2>();
  const re2 = {
    compile(pattern: string) {
      let compiled = patterns.get(pattern);
      if (compiled === undefined) {
        compiled = new RE2(pattern, 'u');
        if (patterns.size < MAX_CACHED_PATTERNS) patterns.set(pattern, compiled);
      }
      return compiled;
    },
  };
  return celEnv({
    variables: { claims: mapType(CelScalar.STRING, CelScalar.DYN), request: mapType(CelScalar.STRING, CelScalar.DYN), auth: mapType(CelScalar.STRING, CelScalar.DYN) },
    funcs: strings,
    re2,
  });
}

/** The compiled rule, or why it does not compile ("syntax error at column 7: …"). */
function compileRule(env: CelEnv, rule: RuleSpec): AuthorizationRule | string {
  let parsed;
  try {
    parsed = parse(rule.cel);
  } catch (error) {
    const location = (error as { location?: { start?: { line: number; column: number } } }).location?.start;
    const raw = (error as { rawMessage?: string }).rawMessage ?? (error as Error).message;
    return `syntax error${location === undefined ? '' : ` at ${place(rule.cel, location.line, location.column)}`}: ${raw}`;
  }
  let type: RuleType;
  try {
    type = checkRule(env, RULE_VARIABLES, parsed.expr, parsed.sourceInfo);
  } catch (error) {
    if (!(error instanceof RuleTypeError)) throw error;
    const { line, column } = lineAndColumn(rule.cel, error.offset);
    return `type error at ${place(rule.cel, line, column)}: ${error.message}`;
  }
  if (type.kind !== 'dyn' && !(type.kind === 'scalar' && type.name === 'bool')) return `the expression is of type ${describe(type)}; a rule must be a bool`;

  const program = plan(env, parsed);
  return {
    name: rule.name,
    cel: rule.cel,
    message: rule.message ?? null,
    evaluate(variables: RuleVariables) {
      let value;
      try {
        value = program(variables as unknown as Parameters<typeof program>[0]);
      } catch (error) {
        // The library returns errors rather than throwing; anything thrown still refuses.
        return { error: (error as Error).message };
      }
      if (value === true || value === false) return value;
      if (isCelError(value)) return { error: value.message };
      return { error: 'The expression did not evaluate to a bool.' };
    },
  };
}

function place(source: string, line: number, column: number): string {
  return source.includes('\n') ? `line ${line}, column ${column}` : `column ${column}`;
}

function lineAndColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}
