/**
 * Canvas drawing of the fleet map, in stacked layers so each change redraws only what changed:
 * - frames (full resolution): site labels and unit backgrounds — on layout change;
 * - GPUs: an image of ONE PIXEL PER GPU, scaled up by the browser with `image-rendering:
 *   pixelated` — on every data update. A full redraw writes 10,240 pixels and puts a ~40k-pixel
 *   image, well under a millisecond, where 10,240 fillRect calls cost 5–15 ms to rasterise in
 *   software;
 * - separators (full resolution): thin lines between GPUs and nodes — on layout change;
 * - highlights (full resolution): hover and keyboard focus outlines — on pointer moves.
 */
import type { MapLayout } from './layout.js';

const UNIT_BG = '#F4F4F4';

/** sizeCanvas matches a canvas's backing store to its CSS size at the device pixel ratio. */
export function sizeCanvas(c: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(width * dpr);
  const h = Math.round(height * dpr);
  if (c.width !== w || c.height !== h) {
    c.width = w;
    c.height = h;
  }
  c.style.width = `${width}px`;
  c.style.height = `${height}px`;
  const ctx = c.getContext('2d')!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

export function drawFrames(ctx: CanvasRenderingContext2D, l: MapLayout): void {
  const c = l.cell;
  ctx.clearRect(0, 0, l.width, l.height);
  ctx.fillStyle = UNIT_BG;
  for (const f of l.frames) ctx.fillRect(f.x * c - 3, f.y * c - 3, f.w * c + 6, f.h * c + 6);
  ctx.fillStyle = '#1A1A1A';
  ctx.font = '600 13px system-ui, sans-serif';
  ctx.textBaseline = 'top';
  for (const t of l.labels) ctx.fillText(t.text, t.x * c, t.y * c + 4);
}

/** drawSeparators draws the gaps between GPUs (1 px) and between nodes (up to 2 px) over the scaled image. */
export function drawSeparators(ctx: CanvasRenderingContext2D, l: MapLayout): void {
  const c = l.cell;
  ctx.clearRect(0, 0, l.width, l.height);
  ctx.fillStyle = UNIT_BG;
  const gpuSep = c >= 5 ? 1 : 0;
  const nodeSep = c >= 8 ? 2 : 1;
  for (let k = 0; k < l.nodes.length; k++) {
    const x = l.nodeX[k] * c;
    const y = l.nodeY[k] * c;
    const w = l.nodeCols[k] * c;
    const h = l.nodeRows[k] * c;
    if (gpuSep) {
      for (let j = 1; j < l.nodeCols[k]; j++) ctx.fillRect(x + j * c, y, gpuSep, h);
      for (let j = 1; j < l.nodeRows[k]; j++) ctx.fillRect(x, y + j * c, w, gpuSep);
    }
    ctx.fillRect(x, y, nodeSep, h);
    ctx.fillRect(x, y, w, nodeSep);
  }
}

/** GpuImage: the GPU layer's pixels, reused between draws of one layout. */
export interface GpuImage {
  image: ImageData;
  pixels: Uint32Array;
}

/** gpuCanvas sizes the GPU layer: one backing pixel per grid square, stretched to the layout's CSS size. */
export function gpuCanvas(c: HTMLCanvasElement, l: MapLayout): { ctx: CanvasRenderingContext2D; img: GpuImage } {
  c.width = l.gridW;
  c.height = l.gridH;
  c.style.width = `${l.width}px`;
  c.style.height = `${l.height}px`;
  const ctx = c.getContext('2d')!;
  const image = ctx.createImageData(l.gridW, l.gridH);
  return { ctx, img: { image, pixels: new Uint32Array(image.data.buffer) } };
}

/** packColour turns '#RRGGBB' into the RGBA word ImageData stores on little-endian machines (all browsers' hosts). */
export function packColour(hex: string): number {
  const v = Number.parseInt(hex.slice(1), 16);
  return ((0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
}

/** drawGpus writes one pixel per shown GPU in its palette colour and puts the image. */
export function drawGpus(
  ctx: CanvasRenderingContext2D,
  l: MapLayout,
  img: GpuImage,
  codes: Uint8Array,
  palette: readonly string[],
): void {
  const colours = new Uint32Array(palette.length);
  for (let i = 0; i < palette.length; i++) colours[i] = packColour(palette[i]);
  const { pixels } = img;
  const { gpuIndex, gpuPixel } = l;
  for (let k = 0; k < gpuIndex.length; k++) pixels[gpuPixel[k]] = colours[codes[gpuIndex[k]]];
  ctx.putImageData(img.image, 0, 0);
}

/** drawHighlights outlines the hovered node (thin) and the focused/selected node (thick, two-tone). */
export function drawHighlights(ctx: CanvasRenderingContext2D, l: MapLayout, hover: number, focus: number): void {
  const c = l.cell;
  ctx.clearRect(0, 0, l.width, l.height);
  const box = (k: number, width: number, colour: string) => {
    if (k < 0 || k >= l.nodes.length) return;
    ctx.lineWidth = width;
    ctx.strokeStyle = colour;
    const pad = width / 2;
    ctx.strokeRect(l.nodeX[k] * c - pad, l.nodeY[k] * c - pad, l.nodeCols[k] * c + 2 * pad, l.nodeRows[k] * c + 2 * pad);
  };
  box(hover, 2, '#1A1A1A');
  if (focus >= 0) {
    box(focus, 5, '#FFFFFF');
    box(focus, 2.5, '#1A1A1A');
  }
}
