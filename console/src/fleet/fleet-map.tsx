/**
 * FleetMap: every GPU of the fleet on one canvas. Pointer: hover shows a node's summary, click
 * selects it. Keyboard: the map is one tab stop; arrows move between nodes, Enter selects,
 * Escape clears; the focused node is announced through a live region.
 *
 * Each full redraw (colouring all GPUs + painting them) is timed with performance.now() and
 * published on the GPU canvas as data-last-draw-ms / data-gpu-count / data-draws. Dispatching
 * `fleetmap:redraw` on that canvas forces a full redraw (detail.rotate: every GPU changes colour;
 * detail.flush: wait for the pixels by reading one back), which bench/console.ts uses.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FleetGpus } from '../api/types.js';
import { fmtInt } from '../lib/format.js';
import { type Coloured, type ColourMode, colourGpus, type LegendEntry, legendOf } from './colours.js';
import { drawFrames, drawGpus, drawHighlights, drawSeparators, type GpuImage, gpuCanvas, sizeCanvas } from './draw.js';
import { hitTest, type LayoutFilter, layoutMap, type MapLayout, neighbour } from './layout.js';
import { nodeDetails } from './snapshot.js';

interface Props {
  snap: FleetGpus;
  offsets: Int32Array;
  mode: ColourMode;
  filter: LayoutFilter;
  selected: number;
  onSelect: (node: number) => void;
  onLegend: (legend: LegendEntry[]) => void;
}

export interface RedrawDetail {
  rotate?: boolean;
  flush?: boolean;
}

function useBoxSize(ref: { current: HTMLElement | null }) {
  const [size, setSize] = useState({ width: 0, maxHeight: 400 });
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => {
      const top = el.getBoundingClientRect().top + window.scrollY;
      setSize({ width: Math.floor(el.clientWidth), maxHeight: Math.max(320, window.innerHeight - top - 24) });
    };
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    window.addEventListener('resize', measure);
    return () => {
      ro.disconnect();
      window.removeEventListener('resize', measure);
    };
  }, [ref]);
  return size;
}

export function FleetMap({ snap, offsets, mode, filter, selected, onSelect, onLegend }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const frames = useRef<HTMLCanvasElement>(null);
  const gpus = useRef<HTMLCanvasElement>(null);
  const seps = useRef<HTMLCanvasElement>(null);
  const top = useRef<HTMLCanvasElement>(null);
  const { width, maxHeight } = useBoxSize(box);
  const [hover, setHover] = useState(-1);
  const [focus, setFocus] = useState(-1);
  const [pointer, setPointer] = useState({ x: 0, y: 0 });

  // The fleet's shape is fixed while a server runs: relayout only when the filter or size changes.
  const shapeKey = `${snap.nodes.id.length}|${snap.units.length}`;
  const layout = useMemo<MapLayout | null>(
    () => (width > 0 ? layoutMap(snap, filter, width, maxHeight) : null),
    [shapeKey, filter.site, filter.gpuType, width, maxHeight],
  );

  // Latest inputs for the benchmark's redraw event, which arrives outside Preact's render cycle.
  const latest = useRef({ snap, mode, layout, offsets });
  latest.current = { snap, mode, layout, offsets };
  const codes = useRef<Uint8Array | undefined>(undefined);
  const image = useRef<{ layout: MapLayout; ctx: CanvasRenderingContext2D; img: GpuImage } | null>(null);

  const redraw = (detail: RedrawDetail = {}): Coloured | null => {
    const { snap: s, mode: m, layout: l, offsets: o } = latest.current;
    const canvas = gpus.current;
    if (!l || !canvas) return null;
    // A new layout gets a new GPU image; between layouts only the pixels change.
    if (image.current?.layout !== l) image.current = { layout: l, ...gpuCanvas(canvas, l) };
    const { ctx, img } = image.current;
    const t0 = performance.now();
    const coloured = colourGpus(s, m, o, codes.current);
    codes.current = coloured.codes;
    if (detail.rotate) {
      const c = coloured.codes;
      const k = coloured.palette.length;
      const shift = (Number(canvas.dataset.draws ?? 0) % (k - 1)) + 1;
      for (let i = 0; i < c.length; i++) c[i] = (c[i] + shift) % k;
    }
    drawGpus(ctx, l, img, coloured.codes, coloured.palette);
    if (detail.flush) ctx.getImageData(0, 0, 1, 1);
    const ms = performance.now() - t0;
    canvas.dataset.lastDrawMs = ms.toFixed(3);
    canvas.dataset.gpuCount = String(l.gpuIndex.length);
    canvas.dataset.draws = String(Number(canvas.dataset.draws ?? 0) + 1);
    // For bench/console.ts: time from navigation to the first complete map.
    if (canvas.dataset.draws === '1') performance.mark('fleetmap:first-draw');
    return coloured;
  };

  useEffect(() => {
    const c = frames.current;
    if (!layout || !c) return;
    drawFrames(sizeCanvas(c, layout.width, layout.height), layout);
    drawSeparators(sizeCanvas(seps.current!, layout.width, layout.height), layout);
    sizeCanvas(top.current!, layout.width, layout.height);
    setHover(-1);
    setFocus(-1);
  }, [layout]);

  useEffect(() => {
    const coloured = redraw();
    if (coloured) onLegend(legendOf(coloured));
  }, [snap, mode, layout]);

  useEffect(() => {
    const canvas = gpus.current;
    if (!canvas) return;
    const onRedraw = (e: Event) => redraw((e as CustomEvent<RedrawDetail>).detail ?? {});
    canvas.addEventListener('fleetmap:redraw', onRedraw);
    return () => canvas.removeEventListener('fleetmap:redraw', onRedraw);
  }, []);

  const selectedPos = useMemo(() => {
    if (!layout || selected < 0) return -1;
    return layout.nodes.indexOf(selected);
  }, [layout, selected]);

  useEffect(() => {
    const c = top.current;
    if (!layout || !c) return;
    const ctx = c.getContext('2d')!;
    drawHighlights(ctx, layout, hover, focus >= 0 ? focus : selectedPos);
  }, [layout, hover, focus, selectedPos]);

  const pos = (e: PointerEvent | MouseEvent) => {
    const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (!layout || layout.nodes.length === 0) return;
    const from = focus >= 0 ? focus : selectedPos >= 0 ? selectedPos : -1;
    const dirs: Record<string, [number, number]> = {
      ArrowLeft: [-1, 0],
      ArrowRight: [1, 0],
      ArrowUp: [0, -1],
      ArrowDown: [0, 1],
    };
    let next = from;
    if (e.key in dirs) {
      const [dx, dy] = dirs[e.key];
      next = from < 0 ? 0 : neighbour(layout, from, dx, dy);
      if (next < 0) next = from;
    } else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = layout.nodes.length - 1;
    else if ((e.key === 'Enter' || e.key === ' ') && from >= 0) {
      onSelect(layout.nodes[from]);
    } else if (e.key === 'Escape') {
      onSelect(-1);
      setFocus(-1);
    } else return;
    e.preventDefault();
    if (next !== from) setFocus(next);
  };

  const focusNode = layout && focus >= 0 ? nodeDetails(snap, offsets, layout.nodes[focus]) : null;
  const hoverNode = layout && hover >= 0 ? nodeDetails(snap, offsets, layout.nodes[hover]) : null;
  const gpuCount = layout ? layout.gpuIndex.length : 0;

  return (
    <div class="fleet-map" ref={box}>
      <div
        class="map-stack"
        style={{ height: layout ? `${layout.height}px` : undefined }}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: an ARIA application region with its own arrow-key navigation; one tab stop for all nodes
        tabIndex={0}
        role="application"
        aria-roledescription="fleet map"
        aria-label={`Fleet map: ${fmtInt(gpuCount)} GPUs on ${fmtInt(layout?.nodes.length ?? 0)} nodes. Arrow keys move between nodes, Enter shows a node's details, Escape clears.`}
        onKeyDown={onKeyDown}
        onBlur={() => setFocus(-1)}
        onPointerMove={(e) => {
          if (!layout) return;
          const p = pos(e);
          setPointer(p);
          setHover(hitTest(layout, p.x, p.y));
        }}
        onPointerLeave={() => setHover(-1)}
        onClick={(e) => {
          if (!layout) return;
          const p = pos(e);
          const k = hitTest(layout, p.x, p.y);
          onSelect(k >= 0 ? layout.nodes[k] : -1);
        }}
      >
        <canvas ref={frames} />
        <canvas ref={gpus} class="gpu-layer" data-testid="fleet-map" />
        <canvas ref={seps} />
        <canvas ref={top} />
        {hoverNode && (
          <div
            class="map-tooltip"
            aria-hidden="true"
            style={{
              left: `${Math.min(pointer.x + 14, (layout?.width ?? 0) - 260)}px`,
              top: `${pointer.y + 14}px`,
            }}
          >
            <strong>{hoverNode.id}</strong>
            <div>
              {hoverNode.nodeType} · {hoverNode.gpuType} · {hoverNode.state}
            </div>
            <div>
              {hoverNode.allocated} of {hoverNode.gpus} GPUs allocated
            </div>
            {hoverNode.jobs.slice(0, 4).map((j) => (
              <div key={j.id}>
                job {j.id} · {j.org ?? 'starting'} · {j.gpus.length} GPU{j.gpus.length === 1 ? '' : 's'}
              </div>
            ))}
            {hoverNode.jobs.length > 4 && <div>and {hoverNode.jobs.length - 4} more jobs</div>}
          </div>
        )}
      </div>
      <p class="sr-only" aria-live="polite">
        {focusNode
          ? `${focusNode.id}, ${focusNode.gpuType}, ${focusNode.state}, ${focusNode.allocated} of ${focusNode.gpus} GPUs allocated, ${focusNode.jobs.length} jobs.`
          : ''}
      </p>
    </div>
  );
}
