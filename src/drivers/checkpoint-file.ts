/**
 * The checkpoint file a real driver gives each job (`GIGAFAB_CHECKPOINT_FILE`): the job appends one
 * line per checkpoint, `step=1200 label=s3://ckpt/run-7/step-1200` (both optional, in any order; a
 * bare number is a step). The driver reads the lines it has not read yet and reports each as a
 * checkpoint observation. Only complete lines count, so a line written in two pieces is read once.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from './common.js';
import type { CheckpointObservation } from './driver.js';

/** Same limits as the API's checkpoint body. */
const MAX_LABEL = 200;
/** A longer line is not a checkpoint; reading stops growing at this many bytes per poll. */
const MAX_READ = 64 * 1024;

export interface CheckpointLine {
  step?: number;
  label?: string;
}

/** parseCheckpointLine reads `step=N label=TEXT`; null for a line that is no checkpoint. */
export function parseCheckpointLine(line: string): CheckpointLine | null {
  const text = line.trim();
  if (!text) return null;
  if (/^\d+$/.test(text)) return { step: Number(text) };
  const out: CheckpointLine = {};
  // Tokens are space-separated key=value pairs, so a label has no spaces (as in a path or URI).
  for (const token of text.split(/\s+/)) {
    const eq = token.indexOf('=');
    if (eq <= 0) return null;
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (key === 'step') {
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) return null;
      out.step = Number(value);
    } else if (key === 'label') {
      if (!value || value.length > MAX_LABEL) return null;
      out.label = value;
    } else {
      return null;
    }
  }
  return out.step !== undefined || out.label !== undefined ? out : null;
}

/**
 * readCheckpointLines reads the complete lines after byte `offset`; returns them parsed (invalid
 * lines are skipped) and the offset to read from next time.
 */
export function readCheckpointLines(path: string, offset: number): { checkpoints: CheckpointLine[]; nextOffset: number } {
  // open, then fstat: on NFS (the Slurm driver's shared jobDir) open revalidates the cached
  // attributes (close-to-open consistency), where a stat of the path may report a stale size.
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return { checkpoints: [], nextOffset: offset };
  }
  let got = 0;
  let buf: Buffer;
  try {
    const size = fstatSync(fd).size;
    if (size < offset) offset = 0; // truncated by the job: start over
    if (size === offset) return { checkpoints: [], nextOffset: offset };
    const len = Math.min(size - offset, MAX_READ);
    buf = Buffer.alloc(len);
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, offset + got);
      if (n === 0) break;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  const lastNewline = buf.subarray(0, got).lastIndexOf(0x0a);
  if (lastNewline < 0) {
    // No complete line: wait for more, unless the line is already too long to be one.
    return { checkpoints: [], nextOffset: got >= MAX_READ ? offset + got : offset };
  }
  const lines = buf.subarray(0, lastNewline).toString('utf8').split('\n');
  const checkpoints = lines.map(parseCheckpointLine).filter((c): c is CheckpointLine => c !== null);
  return { checkpoints, nextOffset: offset + lastNewline + 1 };
}

/**
 * followCheckpoints reads the job directory's `checkpoints` file from `offset`, reports each new
 * line through `emit`, persists the next offset in `checkpoint.offset` (so a reattach after a
 * restart does not report them again) and returns it. Shared by the local and Slurm drivers.
 */
export function followCheckpoints(
  dir: string,
  jobId: string,
  offset: number,
  at: number,
  emit: (o: CheckpointObservation) => void,
): number {
  const { checkpoints, nextOffset } = readCheckpointLines(join(dir, 'checkpoints'), offset);
  if (nextOffset === offset) return offset;
  for (const c of checkpoints) emit({ type: 'checkpoint', jobId, at, ...c });
  try {
    writeJsonAtomic(join(dir, 'checkpoint.offset'), { offset: nextOffset });
  } catch {
    // the directory was removed under us; a reattach would report these lines again
  }
  return nextOffset;
}
