// Parsing of Cache-Control style directive lists (RFC 9111 §5.2), also used for the targeted
// fields CDN-Cache-Control (RFC 9213, a Structured Fields dictionary) and Surrogate-Control.

export type Directives = Map<string, string | true>;

/** A list member: anything up to a comma that is not inside a quoted string. */
const memberPattern = /(?:[^,"]|"(?:[^"\\]|\\.)*")+/g;
const directivePattern =
  /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:=(?:"((?:[^"\\]|\\.)*)"|([!#$%&'*+.^_`|~0-9A-Za-z-]*)))?$/;

/**
 * Parses "a, b=1, c=\"x, y\"" into lowercase names and values (quotes removed).
 * RFC 9111 §4.2.1: when a directive appears more than once, the first occurrence is used.
 */
export function parseDirectives(value: string | string[] | undefined): Directives {
  const out: Directives = new Map();
  if (value === undefined) return out;
  const text = Array.isArray(value) ? value.join(',') : value;
  for (const member of text.match(memberPattern) ?? []) {
    // RFC 9111 §5.2: directive = token [ "=" ( token / quoted-string ) ], no space around "=".
    // A member that does not parse is ignored, not the rest of the field.
    const m = directivePattern.exec(member.trim());
    if (!m) continue;
    const name = m[1].toLowerCase();
    if (out.has(name)) continue;
    const v = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
    out.set(name, v === undefined || v === '' ? true : v);
  }
  return out;
}

/** Largest delta-seconds a cache must handle; RFC 9111 §1.2.2 says treat overflow as 2^31. */
export const maxDeltaSeconds = 2 ** 31;

/**
 * RFC 9111 §1.2.2 delta-seconds: one or more digits. Returns undefined for an absent or
 * invalid value (the caller decides what invalid means for that directive).
 */
export function deltaSeconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), maxDeltaSeconds);
}

/** Cache directives whose argument is delta-seconds (RFC 9111 §5.2.2, RFC 5861). */
const integerDirectives: ReadonlySet<string> = new Set([
  'max-age',
  's-maxage',
  'stale-while-revalidate',
  'stale-if-error',
]);

/**
 * RFC 9213 §2.1: a targeted field is a Structured Fields dictionary; a cache that fails to
 * parse it MUST ignore the whole field. Keys are lowercase tokens; values here are integers
 * or tokens (bare keys are true). Returns undefined when the field is absent or invalid.
 */
export function parseTargetedField(value: string | string[] | undefined): Directives | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  const out: Directives = new Map();
  for (const raw of text.split(',')) {
    const member = raw.trim();
    if (member === '') return undefined;
    // Parameters (";a=b") are allowed by the syntax and ignored here.
    const [item] = member.split(';');
    const m = /^([a-z*][a-z0-9_\-.*]*)(?:=(.*))?$/.exec(item.trim());
    if (!m) return undefined;
    const v = m[2];
    // RFC 9213 §2.1: directives whose value is delta-seconds are mapped to Integer; another type
    // (max-age="10") is a value the field cannot have, and the whole field is ignored.
    if (integerDirectives.has(m[1]) && (v === undefined || !/^-?\d{1,15}$/.test(v))) return undefined;
    if (v === undefined) out.set(m[1], true);
    else if (/^-?\d{1,15}$/.test(v) || /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(v)) out.set(m[1], v);
    else if (/^"([^"\\]|\\.)*"$/.test(v)) out.set(m[1], v.slice(1, -1));
    else if (v === '?1') out.set(m[1], true);
    else if (v === '?0') out.delete(m[1]);
    else return undefined;
  }
  return out;
}
