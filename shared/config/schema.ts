// A small strict schema language for config: every node validates a value, collects
// problems with their key path, and returns the value with defaults filled in. Each node also
// describes itself as JSON Schema (draft 2020-12), for editors (strata config schema).

import { durationPattern, parseDuration, parseSize, sizePattern } from './units.js';

export interface Problem {
  path: string;
  message: string;
}

/** A JSON Schema object (draft 2020-12). */
export type JsonSchema = Record<string, unknown>;

export interface Node<T> {
  /** Human description of the accepted values, used in messages. */
  readonly expects: string;
  /** The values this node accepts, as JSON Schema (before defaults and unit parsing). */
  readonly json: JsonSchema;
  /** Default when the key is absent; undefined means the key is required (unless optional). */
  readonly fallback?: () => T;
  readonly optional?: boolean;
  check(value: unknown, path: string, problems: Problem[]): T;
}

export type Infer<N> = N extends Node<infer T> ? T : never;

function node<T>(
  expects: string,
  json: JsonSchema,
  check: (value: unknown, path: string, problems: Problem[]) => T,
): Node<T> {
  return { expects, json, check };
}

function fail<T>(problems: Problem[], path: string, message: string): T {
  problems.push({ path: path || '(root)', message });
  return undefined as T;
}

/** The same node with a default used when the key is absent. */
export function withDefault<T>(n: Node<T>, fallback: T): Node<T> {
  return { ...n, json: { ...n.json, default: fallback }, fallback: () => structuredClone(fallback) };
}

/** The same node, allowed to be absent (value undefined). */
export function optional<T>(n: Node<T>): Node<T | undefined> {
  return { ...n, optional: true };
}

/**
 * A non-empty string, optionally matching `pattern` and passing `valid` (which returns
 * undefined when the value is fine, or what is wrong with it).
 */
export const str = (
  opts: { pattern?: RegExp; hint?: string; valid?: (v: string) => string | undefined } = {},
): Node<string> =>
  node(
    opts.hint ?? 'a string',
    {
      type: 'string',
      minLength: 1,
      ...(opts.pattern && { pattern: opts.pattern.source }),
      ...(opts.hint && { description: opts.hint }),
    },
    (v, path, problems) => {
      if (typeof v !== 'string' || v.length === 0)
        return fail(problems, path, `expected a non-empty string, got ${JSON.stringify(v)}`);
      if (opts.pattern && !opts.pattern.test(v))
        return fail(problems, path, `"${v}" is not valid: expected ${opts.hint ?? opts.pattern.source}`);
      const wrong = opts.valid?.(v);
      if (wrong !== undefined) return fail(problems, path, `"${v}" is not valid: ${wrong}`);
      return v;
    },
  );

export const bool = (): Node<boolean> =>
  node('true or false', { type: 'boolean' }, (v, path, problems) =>
    typeof v === 'boolean' ? v : fail(problems, path, `expected true or false, got ${JSON.stringify(v)}`),
  );

export const int = (min: number, max: number): Node<number> =>
  node(
    `an integer from ${min} to ${max}`,
    { type: 'integer', minimum: min, maximum: max },
    (v, path, problems) =>
      typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
        ? v
        : fail(problems, path, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`),
  );

export const num = (min: number, max: number): Node<number> =>
  node(
    `a number from ${min} to ${max}`,
    { type: 'number', minimum: min, maximum: max },
    (v, path, problems) =>
      typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max
        ? v
        : fail(problems, path, `expected a number from ${min} to ${max}, got ${JSON.stringify(v)}`),
  );

export const oneOf = <T extends string>(...values: T[]): Node<T> =>
  node(values.join(' | '), { enum: values }, (v, path, problems) =>
    values.includes(v as T)
      ? (v as T)
      : fail(problems, path, `expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`),
  );

/** An integer from `min` to `max`, or the word `auto` (whose meaning the caller decides). */
export const intOrAuto = (min: number, max: number): Node<number | 'auto'> =>
  node(
    `auto or an integer from ${min} to ${max}`,
    { anyOf: [{ const: 'auto' }, { type: 'integer', minimum: min, maximum: max }] },
    (v, path, problems) =>
      v === 'auto' || (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)
        ? v
        : fail(problems, path, `expected auto or an integer from ${min} to ${max}, got ${JSON.stringify(v)}`),
  );

/** A size in bytes: a number or a string such as "256MiB", "10 MB", "512KiB". */
export const size = (min = 0): Node<number> =>
  node(
    'a size such as 256MiB',
    withUnits(sizePattern, 'bytes, or a size such as 256MiB'),
    (v, path, problems) => {
      const bytes = parseSize(v);
      if (bytes === undefined)
        return fail(problems, path, `expected a size such as 64KiB or 256MiB, got ${JSON.stringify(v)}`);
      if (bytes < min) return fail(problems, path, `must be at least ${min} bytes`);
      return bytes;
    },
  );

/** A duration in milliseconds: a number (ms) or a string such as "30s", "250ms", "5m". */
export const duration = (min = 0): Node<number> =>
  node(
    'a duration such as 30s',
    withUnits(durationPattern, 'milliseconds, or a duration such as 30s'),
    (v, path, problems) => {
      const ms = parseDuration(v);
      if (ms === undefined)
        return fail(problems, path, `expected a duration such as 250ms, 30s or 5m, got ${JSON.stringify(v)}`);
      if (ms < min) return fail(problems, path, `must be at least ${min}ms`);
      return ms;
    },
  );

/** A list of items; `what` names the items in messages (default: the item's description). */
export const list = <T>(item: Node<T>, opts: { min?: number; what?: string } = {}): Node<T[]> =>
  node(
    `a list of ${opts.what ?? item.expects}`,
    { type: 'array', items: item.json, ...(opts.min !== undefined && { minItems: opts.min }) },
    (v, path, problems) => {
      if (!Array.isArray(v)) return fail(problems, path, `expected a list of ${opts.what ?? item.expects}`);
      if (opts.min !== undefined && v.length < opts.min)
        return fail(problems, path, `expected at least ${opts.min} item${opts.min === 1 ? '' : 's'}`);
      return v.map((x, i) => item.check(x, `${path}[${i}]`, problems));
    },
  );

/**
 * A value that is a string (checked by `text`) or a mapping (checked by `mapping`), such as an
 * origin given as a URL or as `{ url, tls }`. The value keeps the form it was written in.
 */
export function stringOr<A, B>(text: Node<A>, mapping: Node<B>): Node<A | B> {
  return node(
    `${text.expects}, or ${mapping.expects}`,
    { anyOf: [text.json, mapping.json] },
    (v, path, problems) =>
      typeof v === 'string' ? text.check(v, path, problems) : mapping.check(v, path, problems),
  );
}

/**
 * A mapping of names the operator chooses (checked by `key`) to values (checked by `value`),
 * such as geo regions by name; `min` is the fewest entries. Keys keep their spelling.
 */
export const mapOf = <T>(
  key: Node<string>,
  value: Node<T>,
  opts: { min?: number } = {},
): Node<Record<string, T>> =>
  node(
    `a mapping of ${key.expects} to ${value.expects}`,
    {
      type: 'object',
      propertyNames: key.json,
      additionalProperties: value.json,
      ...(opts.min !== undefined && { minProperties: opts.min }),
    },
    (v, path, problems) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        return fail(problems, path, `expected a mapping of ${key.expects} to ${value.expects}`);
      const entries = Object.entries(v as Record<string, unknown>);
      if (opts.min !== undefined && entries.length < opts.min)
        return fail(problems, path, `expected at least ${opts.min} entr${opts.min === 1 ? 'y' : 'ies'}`);
      // fromEntries defines own keys: a key such as "__proto__" stays a key.
      return Object.fromEntries(
        entries.map(([k, x]) => {
          key.check(k, join(path, k), problems);
          return [k, value.check(x, join(path, k), problems)];
        }),
      );
    },
  );

type Shape = Record<string, Node<unknown>>;
type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

/** A mapping with exactly these keys: unknown keys are errors, absent keys take their default. */
export const obj = <S extends Shape>(shape: S): Node<ObjectOf<S>> => {
  const json = {
    // An empty YAML key (`cache:`) is null, and means the defaults.
    type: ['object', 'null'],
    properties: Object.fromEntries(Object.entries(shape).map(([key, child]) => [key, child.json])),
    required: Object.entries(shape)
      .filter(([, child]) => !child.fallback && !child.optional && !isObjectNode(child))
      .map(([key]) => key),
    additionalProperties: false,
  };
  const n = node<ObjectOf<S>>('a mapping', json, (v, path, problems) => {
    if (v === undefined || v === null) v = {};
    if (typeof v !== 'object' || Array.isArray(v))
      return fail(problems, path, 'expected a mapping of keys to values');
    const input = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(input)) {
      // Own keys only: "constructor" or "toString" are unknown keys, not Object.prototype's.
      if (!Object.hasOwn(shape, key)) {
        const known = Object.keys(shape).join(', ');
        fail(problems, join(path, key), `unknown key (known keys here: ${known})`);
      }
    }
    for (const [key, child] of Object.entries(shape)) {
      const childPath = join(path, key);
      if (input[key] === undefined || input[key] === null) {
        if (child.fallback) out[key] = child.fallback();
        else if (child.optional) out[key] = undefined;
        else if (isObjectNode(child)) out[key] = child.check({}, childPath, problems);
        else fail(problems, childPath, `is required (${child.expects})`);
        continue;
      }
      out[key] = child.check(input[key], childPath, problems);
    }
    return out as ObjectOf<S>;
  });
  objectNodes.add(n);
  return n;
};

/** A number, or a string of a number and a unit (units.ts). */
function withUnits(pattern: string, description: string): JsonSchema {
  return {
    anyOf: [
      { type: 'number', minimum: 0 },
      { type: 'string', pattern },
    ],
    description,
  };
}

const objectNodes = new WeakSet<object>();
const isObjectNode = (n: Node<unknown>): boolean => objectNodes.has(n);

/**
 * A node whose result is checked further by a function that may report problems. The function
 * runs even when the node itself found problems, so that every problem is reported at once;
 * it then sees a partial value (invalid parts are undefined) and must not trust its type.
 */
export function refine<T>(n: Node<T>, fn: (value: T, path: string, problems: Problem[]) => T): Node<T> {
  const refined: Node<T> = {
    ...n,
    check(v, path, problems) {
      const value = n.check(v, path, problems);
      return value === undefined ? value : fn(value, path, problems);
    },
  };
  if (objectNodes.has(n)) objectNodes.add(refined);
  return refined;
}

/** The path of `key` inside the mapping at `path` ("" is the root). */
export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** Deep-freezes a validated config so no part of the program can change it at run time. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
