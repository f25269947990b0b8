// A type checker for authorization rules. @bufbuild/cel parses and evaluates CEL, but its own
// checker (0.6) knows constants and identifiers only, so a rule's types are checked here: every
// identifier and field must be declared, every call must match an overload of the environment's
// functions (their signatures come from @bufbuild/cel itself), and the result must be a bool.
// `dyn` (a claim's value) matches anything, as in CEL's gradual typing; what it really holds is
// checked when the rule runs, and an error there refuses the request.
//
// It also bounds the cost of a rule: @bufbuild/cel has no cost limit, so a macro (all, exists,
// exists_one, map, filter) may not run inside another one. A rule then costs at most its length
// times the size of the request and claims, both bounded (headers by Node's limit, tokens by
// MAX_TOKEN_LENGTH).
import { type CelEnv, type CelType } from '@bufbuild/cel';
import type { Expr, SourceInfo } from '@bufbuild/cel-spec/cel/expr/syntax_pb.js';

/** A CEL type as the checker sees it: the library's types, plus records with known fields (request, auth). */
export type RuleType =
  | { readonly kind: 'dyn' }
  | { readonly kind: 'scalar'; readonly name: string }
  | { readonly kind: 'list'; readonly element: RuleType }
  | { readonly kind: 'map'; readonly key: RuleType; readonly value: RuleType }
  | { readonly kind: 'object'; readonly name: string }
  | { readonly kind: 'record'; readonly name: string; readonly fields: Readonly<Record<string, RuleType>> };

export const DYN: RuleType = { kind: 'dyn' };
export const BOOL: RuleType = { kind: 'scalar', name: 'bool' };
export const STRING: RuleType = { kind: 'scalar', name: 'string' };
const INT: RuleType = { kind: 'scalar', name: 'int' };
export const listOf = (element: RuleType): RuleType => ({ kind: 'list', element });
export const mapOf = (key: RuleType, value: RuleType): RuleType => ({ kind: 'map', key, value });

/** Deeper expressions are refused: evaluation recurses as deep, on the request's stack. */
export const MAX_DEPTH = 64;

/** A type error, at the offset in the expression of the part it is about. */
export class RuleTypeError extends Error {
  override readonly name = 'RuleTypeError';
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

/** Checks `expr` against the variables; returns its type, or throws a RuleTypeError. */
export function checkRule(env: CelEnv, variables: Readonly<Record<string, RuleType>>, expr: Expr, sourceInfo: SourceInfo | undefined): RuleType {
  const positions = sourceInfo?.positions ?? {};
  const offsetOf = (e: Expr) => positions[e.id.toString()] ?? 0;
  const fail = (e: Expr, message: string): never => {
    throw new RuleTypeError(message, offsetOf(e));
  };

  let depth = 0;
  function check(e: Expr, scope: ReadonlyMap<string, RuleType>, macroDepth: number): RuleType {
    depth++;
    try {
      if (depth > MAX_DEPTH) return fail(e, `The expression nests more than ${MAX_DEPTH} levels deep`);
      return checkKind(e, scope, macroDepth);
    } finally {
      depth--;
    }
  }

  function checkKind(e: Expr, scope: ReadonlyMap<string, RuleType>, macroDepth: number): RuleType {
    const kind = e.exprKind;
    switch (kind.case) {
      case 'constExpr':
        return constantType(kind.value.constantKind.case);
      case 'identExpr': {
        const type = scope.get(kind.value.name) ?? variables[kind.value.name];
        return type ?? fail(e, `Undeclared reference to ${kind.value.name}; the variables are ${Object.keys(variables).join(', ')}`);
      }
      case 'selectExpr': {
        const { operand, field, testOnly } = kind.value;
        if (operand === undefined) return fail(e, 'A field selection without an operand');
        const type = fieldType(e, check(operand, scope, macroDepth), field);
        return testOnly ? BOOL : type;
      }
      case 'callExpr': {
        const { function: name, target, args } = kind.value;
        const targetType = target === undefined ? undefined : check(target, scope, macroDepth);
        const argTypes = args.map((arg) => check(arg, scope, macroDepth));
        return callType(e, name, targetType, argTypes, args);
      }
      case 'listExpr':
        return listOf(join(kind.value.elements.map((element) => check(element, scope, macroDepth))));
      case 'structExpr': {
        if (kind.value.messageName !== '') return fail(e, `Messages cannot be created in a rule (${kind.value.messageName})`);
        const keys: RuleType[] = [];
        const values: RuleType[] = [];
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case !== 'mapKey' || entry.value === undefined) return fail(e, 'A map literal entry without a key or value');
          keys.push(check(entry.keyKind.value, scope, macroDepth));
          values.push(check(entry.value, scope, macroDepth));
        }
        return mapOf(join(keys), join(values));
      }
      case 'comprehensionExpr': {
        const c = kind.value;
        if (macroDepth >= 1) return fail(e, 'A macro (all, exists, exists_one, map, filter) inside another one is not allowed, so that a rule runs in time linear in its input');
        if (c.iterRange === undefined || c.accuInit === undefined || c.loopCondition === undefined || c.loopStep === undefined || c.result === undefined) {
          return fail(e, 'An incomplete macro');
        }
        const range = check(c.iterRange, scope, macroDepth);
        let element: RuleType;
        let second: RuleType = DYN;
        if (range.kind === 'list') [element, second] = [c.iterVar2 === '' ? range.element : INT, range.element];
        else if (range.kind === 'map') [element, second] = [range.key, range.value];
        else if (range.kind === 'record') [element, second] = [STRING, DYN];
        else if (range.kind === 'dyn') element = DYN;
        else return fail(c.iterRange, `A macro cannot iterate over a ${describe(range)}`);
        const inner = new Map(scope);
        inner.set(c.accuVar, check(c.accuInit, scope, macroDepth));
        inner.set(c.iterVar, element);
        if (c.iterVar2 !== '') inner.set(c.iterVar2, second);
        check(c.loopCondition, inner, macroDepth + 1);
        // The accumulator's type may widen in the step (map() starts from []): the result is read with it.
        inner.set(c.accuVar, join([inner.get(c.accuVar)!, check(c.loopStep, inner, macroDepth + 1)]));
        return check(c.result, inner, macroDepth + 1);
      }
      default:
        return fail(e, 'An expression of an unsupported kind');
    }
  }

  function fieldType(e: Expr, type: RuleType, field: string): RuleType {
    switch (type.kind) {
      case 'dyn':
        return DYN;
      case 'map':
        if (!assignable(type.key, STRING)) return fail(e, `A ${describe(type)} has no field ${field}`);
        return type.value;
      case 'record': {
        const fieldOf = type.fields[field];
        return fieldOf ?? fail(e, `${type.name} has no field ${field}; its fields are ${Object.keys(type.fields).join(', ')}`);
      }
      default:
        return fail(e, `A ${describe(type)} has no field ${field}`);
    }
  }

  function callType(e: Expr, name: string, target: RuleType | undefined, args: readonly RuleType[], argExprs: readonly Expr[]): RuleType {
    switch (name) {
      case '_&&_':
      case '_||_':
      case '!_':
      case '@not_strictly_false':
        for (const [i, arg] of args.entries()) if (!assignable(BOOL, arg)) fail(argExprs[i]!, `${operatorName(name)} needs bool operands, not ${describe(arg)}`);
        return BOOL;
      case '_?_:_': {
        if (!assignable(BOOL, args[0]!)) fail(argExprs[0]!, `The condition of ?: must be a bool, not ${describe(args[0]!)}`);
        const [then, otherwise] = [args[1]!, args[2]!];
        if (!assignable(then, otherwise) && !assignable(otherwise, then)) fail(e, `The two branches of ?: have different types (${describe(then)} and ${describe(otherwise)})`);
        return then.kind === 'dyn' ? otherwise : then;
      }
      // Equality takes any two values at run time, and is false across types: a comparison that
      // can never hold (a list with a string) is almost always a mistake, so it is refused here.
      case '_==_':
      case '_!=_': {
        const [left, right] = [args[0]!, args[1]!];
        if (!comparable(left, right)) fail(e, `${operatorName(name)} compares ${describe(left)} with ${describe(right)}, which are never equal`);
        return BOOL;
      }
      case '@in': {
        const [item, container] = [args[0]!, args[1]!];
        const element = container.kind === 'list' ? container.element : container.kind === 'map' ? container.key : container.kind === 'record' ? STRING : container.kind === 'dyn' ? DYN : null;
        if (element === null) return fail(e, `in needs a list or a map on its right, not a ${describe(container)}`);
        if (!comparable(item, element)) fail(e, `in looks for ${describe(item)} among ${describe(element)} values, where it is never found`);
        return BOOL;
      }
      case '_[_]': {
        const [container, index] = [args[0]!, args[1]!];
        if (container.kind === 'dyn') return DYN;
        if (container.kind === 'list' && assignable(INT, index)) return container.element;
        if (container.kind === 'map' && assignable(container.key, index)) return container.value;
        if (container.kind === 'record' && assignable(STRING, index)) return DYN;
        return fail(e, `A ${describe(container)} cannot be indexed with a ${describe(index)}`);
      }
    }
    const group = env.funcs.find(name);
    const matches: RuleType[] = [];
    for (const overload of group ?? []) {
      if ((overload.target === undefined) !== (target === undefined) || overload.arguments.length !== args.length) continue;
      if (target !== undefined && !assignable(fromCel(overload.target!), target)) continue;
      if (overload.arguments.every((param, i) => assignable(fromCel(param), args[i]!))) matches.push(fromCel(overload.result));
    }
    if (matches.length === 0) {
      const applied = `${target === undefined ? '' : `${describe(target)}.`}(${args.map(describe).join(', ')})`;
      return fail(e, group === undefined ? `Unknown function ${operatorName(name)}` : `No overload of ${operatorName(name)} takes ${applied}`);
    }
    return matches.every((m) => sameType(m, matches[0]!)) ? matches[0]! : DYN;
  }

  return check(expr, new Map(), 0);
}

/** The library's type as the checker's. */
function fromCel(type: CelType): RuleType {
  switch (type.kind) {
    case 'scalar':
      return type.scalar === 'dyn' ? DYN : { kind: 'scalar', name: type.scalar };
    case 'list':
      return listOf(fromCel(type.element));
    case 'map':
      return mapOf(fromCel(type.key), fromCel(type.value));
    default:
      return { kind: 'object', name: type.name };
  }
}

function constantType(kind: string | undefined): RuleType {
  switch (kind) {
    case 'boolValue':
      return BOOL;
    case 'stringValue':
      return STRING;
    case 'int64Value':
      return INT;
    case 'uint64Value':
      return { kind: 'scalar', name: 'uint' };
    case 'doubleValue':
      return { kind: 'scalar', name: 'double' };
    case 'bytesValue':
      return { kind: 'scalar', name: 'bytes' };
    case 'nullValue':
      return { kind: 'scalar', name: 'null_type' };
    default:
      return DYN;
  }
}

/** Whether a value of type `value` may stand where `wanted` is expected: dyn on either side always may. */
export function assignable(wanted: RuleType, value: RuleType): boolean {
  if (wanted.kind === 'dyn' || value.kind === 'dyn') return true;
  switch (wanted.kind) {
    case 'scalar':
      return value.kind === 'scalar' && value.name === wanted.name;
    case 'object':
      return value.kind === 'object' && value.name === wanted.name;
    case 'list':
      return value.kind === 'list' && assignable(wanted.element, value.element);
    case 'map':
      // A record is a map of strings at run time.
      if (value.kind === 'record') return assignable(wanted.key, STRING);
      return value.kind === 'map' && assignable(wanted.key, value.key) && assignable(wanted.value, value.value);
    case 'record':
      return value.kind === 'record' && value.name === wanted.name;
  }
}

const NUMBERS = new Set(['int', 'uint', 'double']);

/** Whether values of these types may be equal: dyn on either side, the same type, or two numbers (CEL compares them by value). */
function comparable(a: RuleType, b: RuleType): boolean {
  if (assignable(a, b) || assignable(b, a)) return true;
  return a.kind === 'scalar' && b.kind === 'scalar' && NUMBERS.has(a.name) && NUMBERS.has(b.name);
}

function sameType(a: RuleType, b: RuleType): boolean {
  return describe(a) === describe(b);
}

/** One type for several values: theirs when they all agree, else dyn. */
function join(types: readonly RuleType[]): RuleType {
  const known = types.filter((type) => type.kind !== 'dyn');
  if (known.length === 0 || known.length !== types.length) return DYN;
  return known.every((type) => sameType(type, known[0]!)) ? known[0]! : DYN;
}

export function describe(type: RuleType): string {
  switch (type.kind) {
    case 'dyn':
      return 'dyn';
    case 'scalar':
    case 'object':
      return type.name;
    case 'list':
      return `list(${describe(type.element)})`;
    case 'map':
      return `map(${describe(type.key)}, ${describe(type.value)})`;
    case 'record':
      return type.name;
  }
}

/** `_==_` as the user wrote it: `==`. */
function operatorName(name: string): string {
  const operators: Record<string, string> = { '_&&_': '&&', '_||_': '||', '!_': '!', '-_': '-', '@in': 'in', '@not_strictly_false': 'a macro' };
  if (operators[name] !== undefined) return operators[name]!;
  const binary = /^_(.+)_$/.exec(name);
  return binary === null ? `${name}()` : binary[1]!;
}
