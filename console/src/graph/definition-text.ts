// The editor's text ↔ definition: YAML or JSON (JSON is read by the YAML parser too), and where
// in the text a problem's path (`nodes.2.config.field`) is, so it can be marked on its line.
// The yaml package is loaded on first use, keeping it out of the console's first download.
type YamlModule = typeof import('yaml');
let yamlModule: Promise<YamlModule> | undefined;
export const loadYaml = () => (yamlModule ??= import('yaml'));

export interface ParsedText {
  definition: unknown;
  /** A syntax error, with its 1-based line. */
  syntaxError: { line: number; message: string } | null;
  /**
   * 1-based line of a problem: its path (`nodes.2.inputs.0`), or a path relative to its node
   * (`inputs` of node `store`); null when neither is in the text.
   */
  lineOf: (path: string, node?: string) => number | null;
}

export async function parseDefinitionText(text: string): Promise<ParsedText> {
  const YAML = await loadYaml();
  const lc = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const line = lc.linePos(err.pos[0]).line;
    return { definition: undefined, syntaxError: { line, message: err.message.split('\n')[0] ?? err.message }, lineOf: () => null };
  }
  const nodes = (doc.toJS() as { nodes?: { id?: unknown }[] } | null)?.nodes;
  const lineOf = (path: string, node?: string) => {
    let parts: (string | number)[] = path === '' || path === '-' ? [] : path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    const index = node && Array.isArray(nodes) ? nodes.findIndex((n) => n?.id === node) : -1;
    if (index >= 0 && parts[0] !== 'nodes') parts = ['nodes', index, ...parts];
    // The deepest prefix of the path that exists: a missing key is reported on its parent.
    for (let n = parts.length; n >= 0; n--) {
      const node = doc.getIn(parts.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line;
      if (n > 0) {
        // A key whose value is null has no node: find the pair's key instead.
        const parent = doc.getIn(parts.slice(0, n - 1), true) as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | undefined;
        const pair = parent?.items?.find((it) => it.key?.value === parts[n - 1]);
        if (pair?.key?.range) return lc.linePos(pair.key.range[0]).line;
      }
    }
    return null;
  };
  return { definition: doc.toJS(), syntaxError: null, lineOf };
}

export async function toYamlText(definition: unknown): Promise<string> {
  const YAML = await loadYaml();
  return YAML.stringify(definition, { lineWidth: 0 });
}

export const NEW_GRAPH_TEMPLATE = `# A graph takes the records of its streams through agents (see Agents for every option).
name: my-graph
description: count records and page on errors
streams: []
nodes:
  - id: count
    type: metric
    inputs: [source]
    config: { groupBy: [] }
  - id: errors
    type: alarm
    inputs: [source]
    config:
      rules:
        - name: errors
          pattern: "ERROR"
  - id: store
    type: archive
    inputs: [source]
`;
