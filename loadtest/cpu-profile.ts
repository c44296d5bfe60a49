// Summarizes a V8 .cpuprofile (node --cpu-prof): the functions with the most self time and the
// most inclusive time, so a profile of the loaded edge can be read in a terminal.

import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
}

export interface ProfileRow {
  name: string;
  /** Share (0..1) of the busy (not idle) samples. */
  share: number;
}

export interface ProfileSummary {
  samples: number;
  /** Share (0..1) of samples in which the process was idle (waiting for I/O). */
  idle: number;
  self: ProfileRow[];
  inclusive: ProfileRow[];
  /** Self time by where the code lives: a package, node's internals, a Strata file, native. */
  bySource: ProfileRow[];
}

/** Where a frame's code lives: "pino", "node:_http_server", "shared/http/pipeline.js", "(native)". */
function sourceOf(node: ProfileNode, root: string): string {
  const url = node.callFrame.url.replace(/^file:\/\//, '').replace(root, '');
  if (!url) return node.callFrame.functionName.startsWith('(') ? node.callFrame.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  return url.replace(/^dist\//, '');
}

function label(node: ProfileNode, root: string): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  const file = url.replace(/^file:\/\//, '').replace(root, '');
  return `${name} ${file}:${lineNumber + 1}`;
}

/** Reads a profile and ranks functions; `root` is stripped from file paths. */
export function summarizeProfile(file: string, root: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const pathKeys = new Map<number, string[]>();
  const keysOf = (id: number): string[] => {
    let keys = pathKeys.get(id);
    if (keys) return keys;
    const p = parent.get(id);
    const own = label(byId.get(id)!, root);
    const above = p === undefined ? [] : keysOf(p);
    keys = above.includes(own) ? above : [...above, own];
    pathKeys.set(id, keys);
    return keys;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const bySource = new Map<string, number>();
  for (const id of profile.samples) {
    const node = byId.get(id)!;
    const own = label(node, root);
    self.set(own, (self.get(own) ?? 0) + 1);
    const source = sourceOf(node, root);
    bySource.set(source, (bySource.get(source) ?? 0) + 1);
    for (const k of keysOf(id)) inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
  }
  // Shares are of busy time: the edge idles while the reference is loaded, which says nothing.
  const idle = self.get('(idle)') ?? 0;
  const busy = profile.samples.length - idle || 1;
  const rank = (m: Map<string, number>): ProfileRow[] =>
    [...m]
      .filter(([name]) => name !== '(root)' && name !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, n]) => ({ name, share: n / busy }));
  const idleShare = idle / (profile.samples.length || 1);
  return {
    samples: profile.samples.length,
    idle: idleShare,
    self: rank(self),
    inclusive: rank(inclusive),
    bySource: rank(bySource),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const rows = (list: ProfileRow[]) =>
    list.map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.name}`).join('\n');
  return (
    `${s.samples} samples, ${(s.idle * 100).toFixed(0)}% idle; shares below are of the busy samples\n` +
    `self time by source:\n${rows(s.bySource.slice(0, 12))}\n` +
    `self time:\n${rows(s.self)}\ninclusive time:\n${rows(s.inclusive)}\n`
  );
}
