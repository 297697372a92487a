// Layered layout of a graph's nodes for the DAG view: each node sits one layer right of its
// deepest input (`source` is layer 0), and nodes within a layer are ordered by the mean position
// of their inputs (a few barycentre sweeps), which keeps edges short and mostly uncrossed.

export interface LayoutInput {
  id: string;
  type: string;
  inputs: string[];
}

export interface LayoutNode {
  id: string;
  type: string;
  layer: number;
  x: number;
  y: number;
  isSource: boolean;
}

export interface LayoutEdge {
  from: string;
  to: string;
  /** The output named in the input reference (`errors.drop` → `drop`), or null for the default. */
  port: string | null;
}

export interface Layout {
  nodes: LayoutNode[];
  edges: LayoutEdge[];
  width: number;
  height: number;
}

export const NODE_W = 168;
export const NODE_H = 52;
const COL_GAP = 84;
const ROW_GAP = 26;
const PAD = 24;

export function parseInput(ref: string): { node: string; port: string | null } {
  const dot = ref.indexOf('.');
  return dot < 0 ? { node: ref, port: null } : { node: ref.slice(0, dot), port: ref.slice(dot + 1) };
}

export function layoutDag(input: LayoutInput[]): Layout {
  const byId = new Map(input.map((n) => [n.id, n]));
  const usesSource = input.some((n) => n.inputs.some((i) => parseInput(i).node === 'source')) || input.length === 0;
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  // Depth of a node: cycles and dangling inputs (the editor shows such drafts) count as layer 0.
  const depth = (id: string): number => {
    if (id === 'source' || !byId.has(id)) return 0;
    const known = layer.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const n = byId.get(id) as LayoutInput;
    const d = 1 + Math.max(0, ...n.inputs.map((i) => depth(parseInput(i).node)));
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  for (const n of input) depth(n.id);

  const layers: string[][] = [];
  if (usesSource) layers[0] = ['source'];
  for (const n of input) {
    const l = layer.get(n.id) ?? 1;
    (layers[l] ??= []).push(n.id);
  }
  for (let i = 0; i < layers.length; i++) layers[i] ??= [];

  const edges: LayoutEdge[] = [];
  for (const n of input) {
    for (const ref of n.inputs) {
      const { node, port } = parseInput(ref);
      if (node === 'source' || byId.has(node)) edges.push({ from: node, to: n.id, port });
    }
  }

  // Barycentre ordering, left to right then right to left.
  const pos = new Map<string, number>();
  const place = () => layers.forEach((ids) => ids.forEach((id, i) => pos.set(id, i - (ids.length - 1) / 2)));
  place();
  const preds = (id: string) => edges.filter((e) => e.to === id).map((e) => e.from);
  const succs = (id: string) => edges.filter((e) => e.from === id).map((e) => e.to);
  const mean = (ids: string[], own: number) => (ids.length ? ids.reduce((s, id) => s + (pos.get(id) ?? 0), 0) / ids.length : own);
  for (let sweep = 0; sweep < 4; sweep++) {
    const forward = sweep % 2 === 0;
    const order = forward ? layers.keys() : [...layers.keys()].reverse();
    for (const l of order) {
      const ids = layers[l] as string[];
      const key = new Map(ids.map((id) => [id, mean(forward ? preds(id) : succs(id), pos.get(id) ?? 0)]));
      ids.sort((a, b) => (key.get(a) as number) - (key.get(b) as number));
      ids.forEach((id, i) => pos.set(id, i - (ids.length - 1) / 2));
    }
  }

  const tallest = Math.max(1, ...layers.map((l) => l.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP;
  const width = PAD * 2 + layers.length * NODE_W + Math.max(0, layers.length - 1) * COL_GAP;
  const nodes: LayoutNode[] = [];
  layers.forEach((ids, l) => {
    const colHeight = ids.length * NODE_H + Math.max(0, ids.length - 1) * ROW_GAP;
    const top = (height - colHeight) / 2;
    ids.forEach((id, i) => {
      nodes.push({
        id,
        type: id === 'source' ? 'source' : (byId.get(id)?.type ?? ''),
        layer: l,
        x: PAD + l * (NODE_W + COL_GAP),
        y: top + i * (NODE_H + ROW_GAP),
        isSource: id === 'source',
      });
    });
  });
  return { nodes, edges, width, height };
}
