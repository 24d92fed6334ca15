/**
 * Fleet map layout on a grid where one grid square is one GPU: sites stacked top to bottom; in each
 * site its scalable units flow left to right and wrap; in each unit its nodes sit 8 to a row; each
 * node is a 2-row block of GPU squares. The GPU layer is then an image of one pixel per GPU that
 * the browser scales up (see draw.ts), so a full redraw touches 10,240 pixels, not millions.
 * The scale (CSS pixels per grid square) is the largest that fits the available height.
 */
import type { FleetGpus } from '../api/types.js';
import { gpuOffsets } from './snapshot.js';

const NODES_PER_ROW = 8;
/** Grid squares between scalable units. */
const UNIT_GAP = 2;
const LABEL_PX = 24;
const MAX_CELL = 16;
const MIN_CELL = 2;

export interface MapLayout {
  /** CSS pixels per grid square. */
  cell: number;
  gridW: number;
  gridH: number;
  /** CSS size: grid × cell. */
  width: number;
  height: number;
  /** Shown nodes, in draw order, and their boxes in grid squares. */
  nodes: Int32Array;
  nodeX: Int32Array;
  nodeY: Int32Array;
  nodeCols: Uint8Array;
  nodeRows: Uint8Array;
  /** Shown GPUs: global GPU index and pixel index (y * gridW + x) in the GPU image. */
  gpuIndex: Int32Array;
  gpuPixel: Int32Array;
  /** For each grid square, the position in `nodes` of the node covering it, or -1 (hit testing). */
  owner: Int32Array;
  labels: { text: string; x: number; y: number }[];
  /** Unit boxes in grid squares. */
  frames: { x: number; y: number; w: number; h: number }[];
}

export interface LayoutFilter {
  site: string | null;
  gpuType: string | null;
}

interface UnitGroup {
  nodes: number[];
}

interface SiteGroup {
  site: number;
  units: UnitGroup[];
  gpus: number;
  types: Set<number>;
}

function group(s: FleetGpus, f: LayoutFilter): SiteGroup[] {
  const siteF = f.site === null ? -1 : s.sites.indexOf(f.site);
  const typeF = f.gpuType === null ? -1 : s.gpuTypes.indexOf(f.gpuType);
  const sites = new Map<number, SiteGroup>();
  const units = new Map<number, UnitGroup>();
  for (let i = 0; i < s.nodes.id.length; i++) {
    const site = s.nodes.site[i];
    if (siteF >= 0 && site !== siteF) continue;
    if (typeF >= 0 && s.nodes.gpuType[i] !== typeF) continue;
    let sg = sites.get(site);
    if (!sg) {
      sg = { site, units: [], gpus: 0, types: new Set() };
      sites.set(site, sg);
    }
    const unit = s.nodes.unit[i];
    let ug = units.get(unit);
    if (!ug) {
      ug = { nodes: [] };
      units.set(unit, ug);
      sg.units.push(ug);
    }
    ug.nodes.push(i);
    sg.gpus += s.nodes.gpus[i];
    sg.types.add(s.nodes.gpuType[i]);
  }
  return [...sites.values()].sort((a, b) => a.site - b.site);
}

const gpuRows = (gpus: number) => (gpus > 1 ? 2 : 1);
const gpuCols = (gpus: number) => Math.ceil(gpus / gpuRows(gpus));

interface Placed {
  gridW: number;
  gridH: number;
}

/** place lays the sites out `gridW` squares wide; with `out` it records every position. */
function place(s: FleetGpus, sites: SiteGroup[], gridW: number, cell: number, out: MapLayout | null): Placed {
  const labelRows = Math.ceil(LABEL_PX / cell);
  const offsets = gpuOffsets(s);
  let y = 0;
  let usedW = 0;
  let k = 0;
  let g = 0;
  for (const sg of sites) {
    if (out) {
      const types = [...sg.types].map((t) => s.gpuTypes[t]).join(', ');
      out.labels.push({ text: `${s.sites[sg.site]} · ${sg.gpus.toLocaleString('en')} GPUs · ${types}`, x: 0, y });
    }
    y += labelRows;
    let nodeW = 1;
    let nodeH = 1;
    for (const u of sg.units) {
      for (const i of u.nodes) {
        nodeW = Math.max(nodeW, gpuCols(s.nodes.gpus[i]));
        nodeH = Math.max(nodeH, gpuRows(s.nodes.gpus[i]));
      }
    }
    const unitW = NODES_PER_ROW * nodeW;
    const perRow = Math.max(1, Math.floor((gridW + UNIT_GAP) / (unitW + UNIT_GAP)));
    // Rows of racks are justified: the squares a row leaves over go into the gaps between its racks, so
    // the map is as wide as its column (no strip left empty at the right, whatever the viewport).
    const spare = sg.units.length >= perRow && perRow > 1 ? gridW - (perRow * unitW + (perRow - 1) * UNIT_GAP) : 0;
    const gapBefore = (c: number) => c * UNIT_GAP + Math.floor((spare * c) / Math.max(1, perRow - 1));
    for (let r = 0; r * perRow < sg.units.length; r++) {
      let rowH = 0;
      sg.units.slice(r * perRow, (r + 1) * perRow).forEach((u, c) => {
        const ux = c * unitW + gapBefore(c);
        const unitH = Math.ceil(u.nodes.length / NODES_PER_ROW) * nodeH;
        rowH = Math.max(rowH, unitH);
        usedW = Math.max(usedW, ux + unitW);
        if (!out) return;
        out.frames.push({ x: ux, y, w: unitW, h: unitH });
        u.nodes.forEach((i, p) => {
          const nx = ux + (p % NODES_PER_ROW) * nodeW;
          const ny = y + Math.floor(p / NODES_PER_ROW) * nodeH;
          const gpus = s.nodes.gpus[i];
          const cols = gpuCols(gpus);
          const rows = gpuRows(gpus);
          out.nodes[k] = i;
          out.nodeX[k] = nx;
          out.nodeY[k] = ny;
          out.nodeCols[k] = cols;
          out.nodeRows[k] = rows;
          for (let yy = 0; yy < rows; yy++) for (let xx = 0; xx < cols; xx++) out.owner[(ny + yy) * out.gridW + nx + xx] = k;
          for (let q = 0; q < gpus; q++) {
            out.gpuIndex[g] = offsets[i] + q;
            out.gpuPixel[g] = (ny + Math.floor(q / cols)) * out.gridW + nx + (q % cols);
            g++;
          }
          k++;
        });
      });
      y += rowH + UNIT_GAP;
    }
  }
  return { gridW: Math.max(1, usedW), gridH: Math.max(1, y - UNIT_GAP) };
}

/** layoutMap fits the filtered fleet into `width` × `maxHeight` CSS pixels (taller if it must). */
export function layoutMap(s: FleetGpus, filter: LayoutFilter, width: number, maxHeight: number): MapLayout {
  const sites = group(s, filter);
  let cell = MIN_CELL;
  let size: Placed = { gridW: 1, gridH: 1 };
  for (let c = MAX_CELL; c >= MIN_CELL; c--) {
    size = place(s, sites, Math.floor(width / c), c, null);
    cell = c;
    if (size.gridH * c <= maxHeight) break;
  }
  let nodeCount = 0;
  let gpuCount = 0;
  for (const sg of sites) {
    gpuCount += sg.gpus;
    for (const u of sg.units) nodeCount += u.nodes.length;
  }
  const out: MapLayout = {
    cell,
    gridW: size.gridW,
    gridH: size.gridH,
    width: size.gridW * cell,
    height: size.gridH * cell,
    nodes: new Int32Array(nodeCount),
    nodeX: new Int32Array(nodeCount),
    nodeY: new Int32Array(nodeCount),
    nodeCols: new Uint8Array(nodeCount),
    nodeRows: new Uint8Array(nodeCount),
    gpuIndex: new Int32Array(gpuCount),
    gpuPixel: new Int32Array(gpuCount),
    owner: new Int32Array(size.gridW * size.gridH).fill(-1),
    labels: [],
    frames: [],
  };
  place(s, sites, Math.floor(width / cell), cell, out);
  return out;
}

/** hitTest returns the position (in layout.nodes) of the node under a CSS-pixel point, or -1. */
export function hitTest(l: MapLayout, x: number, y: number): number {
  const gx = Math.floor(x / l.cell);
  const gy = Math.floor(y / l.cell);
  if (gx < 0 || gy < 0 || gx >= l.gridW || gy >= l.gridH) return -1;
  return l.owner[gy * l.gridW + gx];
}

/** neighbour finds the node next to `k` in a direction, for keyboard navigation; -1 at an edge. */
export function neighbour(l: MapLayout, k: number, dx: number, dy: number): number {
  const cx = l.nodeX[k] + l.nodeCols[k] / 2;
  const cy = l.nodeY[k] + l.nodeRows[k] / 2;
  let best = -1;
  let bestD = Number.POSITIVE_INFINITY;
  for (let j = 0; j < l.nodes.length; j++) {
    if (j === k) continue;
    const ox = l.nodeX[j] + l.nodeCols[j] / 2 - cx;
    const oy = l.nodeY[j] + l.nodeRows[j] / 2 - cy;
    // Only nodes in the asked direction; prefer the straight line (off-axis distance weighs 4x).
    const along = dx !== 0 ? ox * dx : oy * dy;
    if (along <= 0) continue;
    const d = along + 4 * Math.abs(dx !== 0 ? oy : ox);
    if (d < bestD) {
      bestD = d;
      best = j;
    }
  }
  return best;
}
