/**
 * The writer programs (bench/writers/*.c): compiled with `cc -O2` into the run's temp dir, run as
 * separate processes, each printing one JSON object about its run.
 */
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

const execFileP = promisify(execFile);

export type WriteMode = 'line' | 'stdio' | 'chunk';

export interface Writers {
  lineWriter: string;
  pacedWriter: string;
}

/** Compiles bench/writers/<name>.c into outDir; returns the program's path. */
export async function compileBenchProgram(root: string, outDir: string, name: string): Promise<string> {
  const out = path.join(outDir, name);
  await execFileP('cc', ['-O2', '-Wall', '-Wextra', '-o', out, path.join(root, 'bench/writers', `${name}.c`)]);
  return out;
}

export async function compileWriters(root: string, outDir: string): Promise<Writers> {
  return { lineWriter: await compileBenchProgram(root, outDir, 'line-writer'), pacedWriter: await compileBenchProgram(root, outDir, 'paced-writer') };
}

const LineWriterResultSchema = z.strictObject({
  startNs: z.number(),
  loopEndNs: z.number(),
  closeEndNs: z.number(),
  blksize: z.number(),
  stdioBuf: z.number(),
  calls: z.number(),
  cpuS: z.number(),
});
export type LineWriterResult = z.infer<typeof LineWriterResultSchema>;

const PacedWriterResultSchema = z.strictObject({
  lines: z.number(),
  startNs: z.number(),
  loopEndNs: z.number(),
  closeEndNs: z.number(),
  lateLines: z.number(),
  writeP50Ns: z.number(),
  writeP99Ns: z.number(),
  writeMaxNs: z.number(),
});
export type PacedWriterResult = z.infer<typeof PacedWriterResultSchema>;

/** Runs a program and parses the JSON object it prints (ns times exceed 2^53: they keep ~0.25 µs precision). */
function runJson<T>(program: string, args: string[], schema: z.ZodType<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.once('error', reject);
    // 'close', not 'exit': only then has all of stdout been read.
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`${path.basename(program)} ${args.join(' ')} exited with ${code}: ${err.trim()}`));
      try {
        resolve(schema.parse(JSON.parse(out)));
      } catch (e) {
        reject(new Error(`${path.basename(program)} printed ${JSON.stringify(out)}: ${String(e)}`));
      }
    });
  });
}

export function runLineWriter(
  writers: Writers,
  mode: WriteMode,
  file: string,
  lines: number,
  lineBytes: number,
  startAtMs: number,
): Promise<LineWriterResult> {
  const startAtNs = BigInt(Math.round(startAtMs)) * 1_000_000n;
  return runJson(writers.lineWriter, [mode, file, String(lines), String(lineBytes), String(startAtNs)], LineWriterResultSchema);
}

export function runPacedWriter(writers: Writers, file: string, rate: number, seconds: number, lineBytes: number): Promise<PacedWriterResult> {
  return runJson(writers.pacedWriter, [file, String(rate), String(seconds), String(lineBytes)], PacedWriterResultSchema);
}
