// Parses a command's flags from the definition in commands.ts: node:util's parseArgs splits the
// arguments into tokens; every check and every message is ours, so that a mistake gets one clear
// line ("did you mean …?") rather than a stack trace.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { DURATION_PATTERN, durationToMs } from '../api/common.ts';
import { closest } from '../api/suggest.ts';
import { COMMANDS, defaultFor, FLAGS, flagsOf, type CommandName, type CommandSpec, type Flag, type FlagSpec } from './commands.ts';
import { parseListen, type ListenAddress } from './listen.ts';
import { UsageError } from './usage-error.ts';

type Scalar<F> = F extends { kind: 'boolean' }
  ? boolean
  : F extends { kind: 'duration' | 'count' | 'port' }
    ? number
    : F extends { kind: 'address' }
      ? ListenAddress
      : F extends { kind: 'choice'; choices: readonly (infer V)[] }
        ? V
        : string;

type Value<F> = F extends { multiple: true } ? Scalar<F>[] : F extends { default: unknown } | { required: true } ? Scalar<F> : Scalar<F> | undefined;

/** A command's flags as the program receives them: durations in ms, addresses split, by flag name. */
export type FlagValues<C extends CommandName> = { readonly [F in Flag as C extends F['commands'][number] ? F['name'] : never]: Value<F> };

export type ParsedCommand<C extends CommandName> = { readonly help: true } | { readonly help: false; readonly values: FlagValues<C>; readonly operand?: string };

export function parseCommand<C extends CommandName>(command: C, args: readonly string[]): ParsedCommand<C> {
  const specs = flagsOf(command);
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const { tokens } = parseArgs({
    args: [...args],
    options: Object.fromEntries(specs.map((spec) => [spec.name, { type: spec.kind === 'boolean' ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}) } as const])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  // --help wins over every other mistake on the line: whoever asks for help gets it.
  if (tokens.some((token) => token.kind === 'option' && token.name === 'help')) return { help: true };

  const given = new Map<string, string[] | boolean>();
  const operandName = (COMMANDS as readonly CommandSpec[]).find((c) => c.name === command)?.operand;
  let operand: string | undefined;
  for (const token of tokens) {
    if (token.kind === 'positional' && operandName !== undefined && operand === undefined) {
      operand = token.value;
      continue;
    }
    if (token.kind === 'positional') throw new UsageError(`Unexpected argument ${JSON.stringify(token.value)}: \`portcullis ${command}\` takes ${operandName === undefined ? 'flags only' : `one <${operandName}>`} (see \`portcullis ${command} --help\`).`);
    if (token.kind !== 'option') continue;
    const negated = token.name.startsWith('no-') && byName.get(token.name.slice(3))?.kind === 'boolean';
    const spec = byName.get(negated ? token.name.slice(3) : token.name);
    if (spec === undefined) throw unknownFlag(command, token.rawName);
    if (spec.kind === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value${spec.default === true && !negated ? `; --no-${spec.name} turns it off` : ''}.`);
      given.set(spec.name, !negated);
      continue;
    }
    // As parseArgs' strict mode: `--listen --ops-listen :9` is a forgotten value, not the value
    // "--ops-listen". A negative number is a value (and gets its own message).
    if (token.value === undefined || (!token.inlineValue && /^-[^0-9]/.test(token.value))) {
      throw new UsageError(`${token.rawName} needs a value: ${token.rawName} <${placeholder(spec)}>.`);
    }
    // A flag given twice: the last one counts (as with Go's flags), so that the chart's
    // `extraArgs` can override the flags it sets itself.
    const values = given.get(spec.name);
    given.set(spec.name, spec.multiple && Array.isArray(values) ? [...values, token.value] : [token.value]);
  }

  const values: Record<string, unknown> = {};
  for (const spec of specs) {
    if (spec.name === 'help') continue;
    const raw = given.get(spec.name) ?? defaultFor(spec, command);
    if (raw === undefined || (spec.required && Array.isArray(raw) && raw.length === 0)) {
      if (spec.required) throw new UsageError(`\`portcullis ${command}\` needs --${spec.name} <${placeholder(spec)}>${spec.multiple ? ' (one or more)' : ''}.`);
      continue;
    }
    if (typeof raw === 'boolean') values[spec.name] = raw;
    else if (typeof raw === 'string') values[spec.name] = parseValue(spec, raw);
    else if (spec.multiple) values[spec.name] = raw.map((value: string) => parseValue(spec, value));
    else values[spec.name] = parseValue(spec, raw[0]!);
  }
  if (operandName !== undefined && operand === undefined) throw new UsageError(`\`portcullis ${command}\` needs a <${operandName}>.`);
  return { help: false, values: values as FlagValues<C>, ...(operand === undefined ? {} : { operand }) };
}

/** One value of a flag, checked and converted according to its kind. */
export function parseValue(spec: FlagSpec, value: string): unknown {
  const flag = `--${spec.name}`;
  const not = `not ${JSON.stringify(value)}`;
  switch (spec.kind) {
    case 'address':
      return parseListen(value, flag);
    case 'duration':
      if (!new RegExp(DURATION_PATTERN).test(value)) throw new UsageError(`${flag} takes a duration such as 500ms, 30s or 1h30m, ${not}.`);
      if (durationToMs(value) < (spec.min ?? 0)) throw new UsageError(`${flag} takes a duration longer than zero, such as 60s, ${not}.`);
      return durationToMs(value);
    case 'count':
      if (!/^[0-9]{1,15}$/.test(value)) throw new UsageError(`${flag} takes a whole number, ${not}.`);
      if (Number(value) < (spec.min ?? 0)) throw new UsageError(`${flag} takes a whole number of at least ${spec.min}, ${not}.`);
      return Number(value);
    case 'port':
      if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new UsageError(`${flag} takes a port number (1–65535), ${not}.`);
      return Number(value);
    case 'peer': {
      const [address, bits, extra] = value.split('/');
      const family = isIP(address ?? '');
      const maxBits = family === 6 ? 128 : 32;
      if (family === 0 || extra !== undefined || (bits !== undefined && !(/^[0-9]{1,3}$/.test(bits) && Number(bits) <= maxBits))) {
        throw new UsageError(`${flag} takes an IP address or CIDR range such as 10.0.0.0/8, ${not}.`);
      }
      return value;
    }
    case 'choice':
      if (!spec.choices!.includes(value)) throw new UsageError(`${flag} takes ${orList(spec.choices!)}, ${not}.`);
      return value;
    case 'string':
      if (spec.pattern && !spec.pattern.regex.test(value)) throw new UsageError(`${flag} takes ${spec.pattern.expected}, ${not}.`);
      return value;
    case 'boolean':
      throw new TypeError(`--${spec.name} is a boolean flag: it has no value to parse.`);
  }
}

/** The name of a flag's value in usage lines: `--listen <host:port>`. */
export function placeholder(spec: FlagSpec): string {
  if (spec.placeholder) return spec.placeholder;
  switch (spec.kind) {
    case 'address':
      return 'host:port';
    case 'duration':
      return 'duration';
    case 'count':
      return 'n';
    case 'port':
      return 'port';
    case 'peer':
      return 'ip|cidr';
    case 'choice':
      return spec.choices!.join('|');
    default:
      return 'value';
  }
}

export function unknownCommand(typed: string): UsageError {
  const suggestion = meant(typed, [...COMMANDS.map((command) => command.name), 'help', 'version']);
  return new UsageError(`Unknown command ${JSON.stringify(typed)}. ${suggestion ? `Did you mean \`portcullis ${suggestion}\`?` : 'See `portcullis --help`.'}`);
}

function unknownFlag(command: CommandName, rawName: string): UsageError {
  const typed = rawName.replace(/^--?/, '');
  const elsewhere = FLAGS.filter((flag) => flag.name === typed).flatMap((flag) => flag.commands);
  if (elsewhere.length > 0) {
    return new UsageError(`${rawName} is a flag of ${orList(elsewhere.map((name) => `\`portcullis ${name}\``))}, not of \`portcullis ${command}\`.`);
  }
  const names = flagsOf(command).flatMap((spec) => (spec.kind === 'boolean' && spec.default === true ? [spec.name, `no-${spec.name}`] : [spec.name]));
  const suggestion = rawName.startsWith('--') ? meant(typed, names) : null;
  return new UsageError(`Unknown flag ${rawName} for \`portcullis ${command}\`. ${suggestion ? `Did you mean \`--${suggestion}\`?` : `See \`portcullis ${command} --help\`.`}`);
}

/** What was meant: the only candidate that starts with what was typed, else the nearest by edit distance. */
export function meant(typed: string, candidates: readonly string[]): string | null {
  const prefixed = candidates.filter((candidate) => typed.length >= 2 && candidate.startsWith(typed));
  return prefixed.length === 1 ? prefixed[0]! : closest(typed, candidates);
}

function orList(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`;
}
