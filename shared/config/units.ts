// Parsing of human-friendly sizes ("256MiB", "1.5GB", 4096) and durations ("30s", "250ms", "2m").

const sizeUnits: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The strings parseSize and parseDuration accept, as JSON Schema patterns (any case of the units). */
export const sizePattern = `^\\s*\\d+(\\.\\d+)?\\s*(${unitAlternatives(sizeUnits)})?\\s*$`;
export const durationPattern = `^\\s*\\d+(\\.\\d+)?\\s*(${unitAlternatives(durationUnits)})?\\s*$`;

function unitAlternatives(units: Record<string, number>): string {
  return Object.keys(units)
    .map((u) => [...u].map((c) => `[${c.toLowerCase()}${c.toUpperCase()}]`).join(''))
    .join('|');
}

/** Returns bytes, or undefined when the value is not a size. Bare numbers are bytes. */
export function parseSize(value: unknown): number | undefined {
  return parseUnit(value, sizeUnits, 'b');
}

/** Returns milliseconds, or undefined when the value is not a duration. Bare numbers are ms. */
export function parseDuration(value: unknown): number | undefined {
  return parseUnit(value, durationUnits, 'ms');
}

function parseUnit(value: unknown, units: Record<string, number>, bare: string): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  if (!m) return undefined;
  const factor = units[(m[2] || bare).toLowerCase()];
  if (factor === undefined) return undefined;
  return Math.round(Number(m[1]) * factor);
}
