/**
 * TimeChart: a uPlot line chart over time that follows its container's width. uPlot draws on
 * canvas and is small (~50 KB), so a page of charts updates cheaply every poll.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  colour: string;
  /** Dashed line (a limit such as a total), instead of a filled area. */
  dashed?: boolean;
  fill?: boolean;
}

interface Props {
  /** x: epoch seconds; then one array per series. */
  data: [number[], ...(number | null)[][]];
  series: ChartSeries[];
  height?: number;
  /** The chart's accessible name and summary (it is drawn, so screen readers get this instead). */
  label: string;
  yLabel?: string;
}

export function TimeChart({ data, series, height = 180, label, yLabel }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  // Create once per series layout; data changes go through setData below.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.05)] } },
      axes: [{}, { label: yLabel, size: 60 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          width: 2,
          dash: s.dashed ? [6, 4] : undefined,
          fill: s.fill ? `${s.colour}33` : undefined,
          points: { show: false },
        })),
      ],
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.map((s) => s.label).join('|'), height]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  return <div class="chart" ref={box} role="img" aria-label={label} />;
}
