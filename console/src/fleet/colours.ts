/**
 * Colour coding of every GPU for one snapshot: by state (free, allocated, draining, down) or by
 * the organisation holding it. Writes one palette index per GPU into a reused Uint8Array and
 * counts per index for the legend.
 */
import type { FleetGpus } from '../api/types.js';
import { GPU_STATE_COLOURS, ORG_COLOURS, OTHER_ORG_COLOUR, UNKNOWN_ORG_COLOUR } from '../lib/palette.js';

export type ColourMode = 'state' | 'tenant';

export interface LegendEntry {
  label: string;
  colour: string;
  count: number;
}

export interface Coloured {
  palette: string[];
  labels: string[];
  /** Palette index per GPU (global GPU index). */
  codes: Uint8Array;
  counts: Uint32Array;
}

const STATE_ORDER = ['free', 'allocated', 'draining', 'down', 'partly used'] as const;
const PARTLY_USED = 4;
const DRAINING = 1;
const DOWN = 2;

// Organisations keep their colour for the whole session: first seen, first served.
const orgSlot = new Map<string, number>();
function slotOf(org: string): number {
  let slot = orgSlot.get(org);
  if (slot === undefined) {
    slot = orgSlot.size < ORG_COLOURS.length ? orgSlot.size : -1;
    orgSlot.set(org, slot);
  }
  return slot;
}

export function colourGpus(s: FleetGpus, mode: ColourMode, offsets: Int32Array, reuse?: Uint8Array): Coloured {
  const total = offsets[offsets.length - 1];
  const codes = reuse && reuse.length === total ? reuse : new Uint8Array(total);
  const nodeCount = s.nodes.id.length;
  const gpuJob = s.gpuJob;
  const shareMilli = s.gpuShareMilli;
  if (mode === 'state') {
    const palette = STATE_ORDER.map((k) => GPU_STATE_COLOURS[k]);
    const counts = new Uint32Array(palette.length);
    for (let i = 0; i < nodeCount; i++) {
      const st = s.nodes.state[i];
      const fixed = st === DOWN ? 3 : st === DRAINING ? 2 : -1;
      for (let g = offsets[i]; g < offsets[i + 1]; g++) {
        const milli = shareMilli?.[g] ?? 0;
        // A GPU its fractional jobs hold only in part is its own state: more shares of that org fit.
        const c = fixed >= 0 ? fixed : milli > 0 && milli < 1000 ? PARTLY_USED : gpuJob[g] >= 0 ? 1 : 0;
        codes[g] = c;
        counts[c]++;
      }
    }
    return { palette, labels: [...STATE_ORDER], codes, counts };
  }
  // Tenant mode: 0 free, 1 down, 2 not known yet, 3 other organisations, 4.. one per organisation.
  const jobCode = new Uint8Array(s.jobs.id.length);
  const palette = ['#D9D9D9', GPU_STATE_COLOURS.down, UNKNOWN_ORG_COLOUR, OTHER_ORG_COLOUR];
  const labels = ['free', 'down', 'starting', 'other organisations'];
  const orgCode = s.orgs.map((org) => {
    const slot = slotOf(org);
    if (slot < 0) return 3;
    palette.push(ORG_COLOURS[slot]);
    labels.push(org);
    return palette.length - 1;
  });
  for (let j = 0; j < jobCode.length; j++) {
    const o = s.jobs.org[j];
    jobCode[j] = o >= 0 ? orgCode[o] : 2;
  }
  const counts = new Uint32Array(palette.length);
  for (let i = 0; i < nodeCount; i++) {
    const down = s.nodes.state[i] === DOWN;
    for (let g = offsets[i]; g < offsets[i + 1]; g++) {
      const j = gpuJob[g];
      const c = down ? 1 : j >= 0 ? jobCode[j] : 0;
      codes[g] = c;
      counts[c]++;
    }
  }
  return { palette, labels, codes, counts };
}

export function legendOf(c: Coloured): LegendEntry[] {
  return c.labels
    .map((label, k) => ({ label, colour: c.palette[k], count: c.counts[k] }))
    .filter((e, k) => e.count > 0 || k < 2 || c.labels.length === STATE_ORDER.length);
}
