/**
 * custom: runs a user's JavaScript module on every record, in a sandbox with no file, network or
 * process access, a CPU-time limit per batch and a memory limit (pipeline/sandbox/). The module is
 * tried on sample records before the graph is activated; at run time a record the module mishandles
 * goes to the `error` port flagged `custom_error` with the reason in `fields._custom_error`.
 * See docs/custom-agents.md for the module interface.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { errorMessage, LogfsError } from '../../../core/errors.js';
import type { Logger } from '../../../core/logger.js';
import { defineAgent, type AgentContext, type AgentRuntime, type Outputs } from '../../agent.js';
import { FLAGS, fromLogRecord, type PipelineRecord } from '../../record.js';
import { SandboxHost, type SandboxEntry, type SandboxStats } from '../../sandbox/index.js';
import { CustomConfigSchema, MAX_SOURCE_BYTES, type CustomConfig } from './config.js';
import { fromSandboxOutput, sandboxRecordJson } from './sandbox-record.js';

export { CustomConfigSchema, DEFAULT_SAMPLES, type CustomConfig } from './config.js';

const PORTS = ['out', 'error'];

/** A misbehaviour warning at most this often per agent; the count covers the ones in between. */
const WARN_INTERVAL_MS = 10_000;

export interface CustomAgentStats extends SandboxStats {
  recordsIn: number;
  recordsOut: number;
  /** Records sent to the error port because the module misbehaved on them. */
  misbehaved: number;
}

/** Called for a record the module mishandled; `consequence` marks records that were only collateral. */
type OnProblem = (record: PipelineRecord, reason: string, consequence: boolean) => void;

export class CustomAgentRuntime implements AgentRuntime {
  private readonly counts = { recordsIn: 0, recordsOut: 0, misbehaved: 0 };
  private lastWarn = 0;
  private unwarned = 0;

  constructor(
    private readonly host: SandboxHost,
    private readonly log: Logger,
    private readonly label: string,
  ) {}

  get stats(): CustomAgentStats {
    return { ...this.host.stats, ...this.counts };
  }

  async process(batch: PipelineRecord[], out: Outputs): Promise<void> {
    if (batch.length === 0) return;
    let problems = 0;
    let firstReason = '';
    await this.execute(batch, out, (record, reason) => {
      if (problems++ === 0) firstReason = reason;
      if (!record.flags.includes(FLAGS.customError)) record.flags.push(FLAGS.customError);
      record.fields._custom_error = reason;
      out.emit('error', record);
    });
    this.counts.recordsIn += batch.length;
    this.counts.misbehaved += problems;
    if (problems > 0) this.warn(problems, firstReason);
  }

  async close(): Promise<void> {
    await this.host.close();
  }

  /**
   * Tries the module on the sample records; returns what went wrong ("sample 2 (...): threw ..."),
   * empty when it handled them all. Records it sends to its error port on purpose are fine.
   */
  async trial(samples: PipelineRecord[]): Promise<string[]> {
    const problems: string[] = [];
    const discard: Outputs = { emit: () => {} };
    await this.execute(samples, discard, (record, reason, consequence) => {
      if (consequence || problems.length >= 3) return;
      const text = record.data.toString('utf8');
      const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
      problems.push(`sample ${record.seq} (${JSON.stringify(shown)}): ${reason}`);
    });
    return problems;
  }

  private async execute(batch: PipelineRecord[], out: Outputs, onProblem: OnProblem): Promise<void> {
    const texts: string[] = [];
    const sent: PipelineRecord[] = [];
    for (const record of batch) {
      try {
        texts.push(sandboxRecordJson(record));
        sent.push(record);
      } catch (err) {
        onProblem(record, `could not be passed to the module: ${errorMessage(err)}`, false);
      }
    }
    if (sent.length === 0) return;
    const outcome = await this.host.runBatch(`[${texts.join(',')}]`, sent.length);
    const entries = outcome.ok ? outcome.entries : outcome.done;
    for (let i = 0; i < sent.length; i++) {
      const record = sent[i] as PipelineRecord;
      const entry = entries[i];
      if (entry !== undefined) {
        this.apply(record, entry, out, onProblem);
      } else if (outcome.ok) {
        onProblem(record, 'the sandbox returned no result for this record', false);
      } else if (outcome.culprit && i > entries.length) {
        const running = sent[entries.length] as PipelineRecord;
        onProblem(record, `not run: the batch ${outcome.reason} while record ${running.id} was processed`, true);
      } else {
        onProblem(record, outcome.reason, false);
      }
    }
  }

  /** Emits what the module made of `record`, or nothing of it when any output is invalid. */
  private apply(record: PipelineRecord, entry: SandboxEntry, out: Outputs, onProblem: OnProblem): void {
    if ('e' in entry) return onProblem(record, entry.e, false);
    const outputs = entry.o;
    if (outputs.length === 1) {
      const [port, raw] = outputs[0] as [string, unknown];
      const r = fromSandboxOutput(record, raw, record.id);
      if (typeof r === 'string') return onProblem(record, r, false);
      out.emit(port, r);
      this.counts.recordsOut++;
      return;
    }
    const built: PipelineRecord[] = [];
    for (let n = 0; n < outputs.length; n++) {
      const r = fromSandboxOutput(record, (outputs[n] as [string, unknown])[1], n === 0 ? record.id : `${record.id}#${n}`);
      if (typeof r === 'string') return onProblem(record, r, false);
      built.push(r);
    }
    for (let n = 0; n < built.length; n++) out.emit((outputs[n] as [string, unknown])[0], built[n] as PipelineRecord);
    this.counts.recordsOut += built.length;
  }

  private warn(problems: number, reason: string): void {
    this.unwarned += problems;
    const now = Date.now();
    if (now - this.lastWarn < WARN_INTERVAL_MS) return;
    this.log.warn({ records: this.unwarned, reason }, `${this.label} misbehaved; the records went to its error port`);
    this.lastWarn = now;
    this.unwarned = 0;
  }
}

async function readSource(c: CustomConfig, label: string): Promise<{ source: string; filename: string }> {
  if (c.code !== undefined) return { source: c.code, filename: 'custom-agent.js' };
  const file = path.resolve(c.module as string);
  let source: string;
  try {
    const stat = await fs.stat(file);
    if (stat.size > MAX_SOURCE_BYTES) throw new Error(`it has ${stat.size} bytes, more than the ${MAX_SOURCE_BYTES} a module may have`);
    source = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new LogfsError('LOGFS_E_CONFIG', `${label}: cannot read its module ${file}: ${errorMessage(err)}. Check "module" (relative paths start at the pipeline worker's working directory).`, {
      cause: err,
    });
  }
  return { source, filename: path.basename(file) };
}

function sampleRecords(lines: readonly string[]): PipelineRecord[] {
  const ts = Date.now();
  return lines.map((line, i) =>
    fromLogRecord({ v: 1, provider: 'sample', stream: 'sample', class: null, instance: 'sample', host: 'sample', seq: i + 1, ts, source: 'fuse', data: Buffer.from(line) }),
  );
}

async function create(c: CustomConfig, ctx: AgentContext): Promise<CustomAgentRuntime> {
  const label = `custom agent "${ctx.nodeId}"`;
  const log = ctx.log.child({ component: 'custom-agent' });
  const { source, filename } = await readSource(c, label);
  const host = new SandboxHost({ label, source, filename, options: c.options, ports: PORTS, ...c.limits }, log);
  await host.start();
  const runtime = new CustomAgentRuntime(host, log, label);
  try {
    const problems = await runtime.trial(sampleRecords(c.samples));
    if (problems.length > 0) {
      throw new LogfsError(
        'LOGFS_E_SANDBOX',
        `${label} was not activated: it failed on the sample records: ${problems.join('; ')}. ` +
          'Fix the module, or set "samples" to lines like the ones the stream carries, and apply the graph again.',
        { context: { graph: ctx.graph, node: ctx.nodeId } },
      );
    }
    // The trial must leave no trace in the module's state (counters, caches, dedupe sets).
    await host.restart();
  } catch (err) {
    await host.close();
    throw err;
  }
  return runtime;
}

export const custom = defineAgent<CustomConfig>({
  type: 'custom',
  description: 'Runs a user JavaScript module on each record in a sandbox with CPU-time and memory limits',
  configSchema: CustomConfigSchema,
  ports: () => PORTS,
  sink: false,
  create,
});
