// Charts: uPlot for the time series (entity windows, lag trend), and small canvases drawn
// here for the sparklines and the baseline bars. Colours come from the theme's CSS variables,
// so a change of `prefers-color-scheme` redraws everything in the new palette.

import uPlot from 'uplot';
import { cssVar } from './dom.js';
import * as fmt from './format.js';

export function theme() {
  return {
    text: cssVar('--text') || '#1c2430',
    muted: cssVar('--muted') || '#667085',
    grid: cssVar('--grid') || '#e8ebf0',
    accent: cssVar('--accent') || '#2563eb',
    accentFill: cssVar('--accent-fill') || 'rgba(37,99,235,0.18)',
    band: cssVar('--band') || 'rgba(100,116,139,0.16)',
    fired: cssVar('--fired') || '#d92d20',
    warn: cssVar('--warn') || '#b54708',
    panel: cssVar('--panel') || '#ffffff',
    font: cssVar('--font-ui') || 'system-ui, sans-serif',
  };
}

const themeListeners = new Set();
/** Calls fn when the colour scheme changes. */
export function onThemeChange(fn) {
  themeListeners.add(fn);
}
const mq = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null;
if (mq) mq.addEventListener('change', () => themeListeners.forEach((fn) => fn()));

/** Whole-number tick steps (1, 2, 5, 10, 20, 50, …) for counts: no "0.5" to round to "1". */
const COUNT_INCRS = [];
for (let p = 1; p <= 1e12; p *= 10) COUNT_INCRS.push(p, 2 * p, 5 * p);

function sizeCanvas(canvas, width, height) {
  const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const w = Math.max(1, Math.round(width * dpr));
  const hh = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== hh) canvas.height = hh;
  canvas.style.width = width + 'px';
  canvas.style.height = height + 'px';
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

/** Draws a sparkline of `values` (non-negative counts) into a canvas of the given CSS size. */
export function drawSparkline(canvas, values, { width = 104, height = 26, alerted = false } = {}) {
  const t = theme();
  const ctx = sizeCanvas(canvas, width, height);
  const n = values.length;
  if (!n) return;
  const max = Math.max(1, ...values);
  const pad = 2;
  const x = (i) => (n === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (n - 1));
  const y = (v) => height - pad - (Math.max(0, v) / max) * (height - 2 * pad);
  const color = alerted ? t.fired : t.accent;
  ctx.beginPath();
  ctx.moveTo(x(0), height - pad);
  for (let i = 0; i < n; i++) ctx.lineTo(x(i), y(values[i]));
  ctx.lineTo(x(n - 1), height - pad);
  ctx.closePath();
  ctx.fillStyle = alerted ? withAlpha(t.fired, 0.16) : t.accentFill;
  ctx.fill();
  ctx.beginPath();
  for (let i = 0; i < n; i++) (i ? ctx.lineTo : ctx.moveTo).call(ctx, x(i), y(values[i]));
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.25;
  ctx.lineJoin = 'round';
  ctx.stroke();
  // The latest point.
  ctx.beginPath();
  ctx.arc(x(n - 1), y(values[n - 1]), 2, 0, Math.PI * 2);
  ctx.fillStyle = color;
  ctx.fill();
}

/** Hex "#rrggbb" → rgba with alpha; other colour syntaxes are returned as they are. */
function withAlpha(color, alpha) {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const v = parseInt(m[1], 16);
  return `rgba(${(v >> 16) & 255},${(v >> 8) & 255},${v & 255},${alpha})`;
}

/**
 * The evidence chart: the K baseline windows as bars, the alert's window as the last bar,
 * the baseline mean (solid) and the alert threshold (dashed).
 */
export function drawBaselineBars(canvas, { baseline, alertMentions, mean, threshold, width, height = 132 }) {
  const t = theme();
  const ctx = sizeCanvas(canvas, width, height);
  const values = baseline.map((w) => w.mentions || 0);
  const all = values.concat(alertMentions == null ? [] : [alertMentions]);
  const max = Math.max(1, ...all, mean || 0, threshold || 0) * 1.12;
  const left = 40;
  const right = 8;
  const top = 8;
  const bottom = 20;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const y = (v) => top + plotH - (v / max) * plotH;
  ctx.font = '11px ' + t.font;
  ctx.textBaseline = 'middle';
  // Axis: whole numbers (0, 5, 10 …; at most three gridlines), each at its own height.
  ctx.strokeStyle = t.grid;
  ctx.fillStyle = t.muted;
  ctx.lineWidth = 1;
  const highest = max / 1.12;
  const step = COUNT_INCRS.find((s) => s >= highest / 2.5) || highest;
  for (let v = 0; v <= highest + 1e-9; v += step) {
    const yy = Math.round(y(v)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(width - right, yy);
    ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(fmt.int(v), left - 6, yy);
  }
  const n = all.length;
  const slot = plotW / Math.max(1, n);
  const barW = Math.max(2, Math.min(28, slot * 0.7));
  for (let i = 0; i < n; i++) {
    const isAlert = alertMentions != null && i === n - 1;
    const v = all[i];
    const x = left + i * slot + (slot - barW) / 2;
    ctx.fillStyle = isAlert ? t.fired : withAlpha(t.muted, 0.45);
    const yy = y(v);
    ctx.fillRect(x, yy, barW, top + plotH - yy);
  }
  const hline = (v, color, dash, label, side) => {
    if (v == null || !Number.isFinite(v)) return;
    const yy = Math.round(y(v)) + 0.5;
    ctx.save();
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(left, yy);
    ctx.lineTo(width - right, yy);
    ctx.stroke();
    ctx.restore();
    // A label on a panel-coloured chip, so that bars do not hide it.
    const w = ctx.measureText(label).width + 6;
    const lx = side === 'right' ? width - right - w - 2 : left + 2;
    ctx.fillStyle = t.panel;
    ctx.globalAlpha = 0.85;
    ctx.fillRect(lx, yy - 15, w, 13);
    ctx.globalAlpha = 1;
    ctx.fillStyle = color;
    ctx.textAlign = 'left';
    ctx.fillText(label, lx + 3, yy - 8);
  };
  hline(mean, t.accent, [], 'mean ' + fmt.num1(mean), 'left');
  hline(threshold, t.fired, [5, 4], 'threshold ' + fmt.num1(threshold), 'right');
  ctx.fillStyle = t.muted;
  ctx.textAlign = 'left';
  ctx.fillText(baseline.length + ' baseline windows', left, height - 8);
  if (alertMentions != null) {
    ctx.textAlign = 'right';
    ctx.fillStyle = t.fired;
    ctx.fillText('alert window', width - right, height - 8);
  }
}

const utcDate = (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC');

const pad2 = (n) => String(n).padStart(2, '0');
/**
 * Time ticks in UTC, 24-hour: "14:05", and the date ("01-28") at midnight; "14:05:15" when
 * the ticks are less than a minute apart (a short trend), so that no two read the same.
 */
function timeTicks(u, splits) {
  const seconds = splits.some((ts) => new Date(ts * 1e3).getUTCSeconds() !== 0);
  return splits.map((ts) => {
    const d = new Date(ts * 1e3);
    const hm = pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes());
    if (seconds) return hm + ':' + pad2(d.getUTCSeconds());
    return hm === '00:00' ? pad2(d.getUTCMonth() + 1) + '-' + pad2(d.getUTCDate()) : hm;
  });
}

/** Time tick steps (s) for the 10-minute lag trend: with 2 min, so 10 minutes get 5 ticks. */
const TREND_TIME_INCRS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400];
/** Room per time tick: "14:05:15" (a trend of a few minutes) needs more than "14:05". */
const trendTimeSpace = (u, axisIdx, min, max) => (max - min < 400 ? 60 : 40);

/** Round tick steps for durations in seconds: 0.1 s … 30 s, 1 min … 30 min, 1 h … 12 h, days. */
const DURATION_INCRS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600];
for (let p = 1; p <= 1e9; p *= 10) DURATION_INCRS.push(86400 * p, 86400 * 2 * p, 86400 * 5 * p);

/** A count scale: from 0, at least up to 1 (an all-zero series shows the ticks 0 and 1). */
const countRange = (headroom) => (u, min, max) => [0, max > 0 ? Math.max(1, max * headroom) : 1];

/** A duration tick: "0 s", "5 s", "1 min", "578 d" (whole seconds without the ".0"). */
function durationTick(v) {
  return Number.isInteger(v) && Math.abs(v) < 10 ? fmt.int(v) + '\u00a0s' : fmt.duration(v);
}

/** An axis size that fits its widest label (never under `min` px), so none is cut off. */
function fitSize(min) {
  return (u, values, axisIdx, cycleNum) => {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size; // converge
    if (!values || !values.length) return min;
    u.ctx.save();
    u.ctx.font = axis.font[0]; // scaled by the pixel ratio
    const widest = Math.max(...values.map((v) => u.ctx.measureText(String(v)).width)) / (uPlot.pxRatio || 1);
    u.ctx.restore();
    return Math.max(min, Math.ceil(widest + axis.ticks.size + axis.gap + 4));
  };
}

function axis(t, extra) {
  return {
    stroke: t.muted,
    font: '11px ' + t.font,
    labelFont: '11px ' + t.font,
    grid: { stroke: t.grid, width: 1 },
    ticks: { stroke: t.grid, width: 1, size: 4 },
    ...extra,
  };
}

/**
 * A uPlot chart that follows its container's width and the colour scheme. `makeOpts(theme)`
 * returns the uPlot options without width/height; data is kept so a rebuild shows it again.
 */
export class LiveChart {
  constructor(container, makeOpts, height) {
    this.container = container;
    this.makeOpts = makeOpts;
    this.height = height;
    this.data = null;
    this.plot = null;
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(container);
    onThemeChange(() => this.rebuild());
  }

  width() {
    return Math.max(120, Math.floor(this.container.clientWidth));
  }

  rebuild() {
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
    }
    if (this.data) this.set(this.data);
  }

  set(data) {
    this.data = data;
    if (!this.plot) {
      const opts = { ...this.makeOpts(theme()), width: this.width(), height: this.height };
      const latest = (u) => {
        const n = u.data[0].length;
        if (u.cursor.idx == null && n) u.setLegend({ idx: n - 1 }, false);
      };
      opts.hooks = { ready: [latest], setData: [latest], setCursor: [latest] };
      this.plot = new uPlot(opts, data, this.container);
    } else {
      this.plot.setData(data);
    }
  }

  resize() {
    if (this.plot) {
      const w = this.width();
      if (w !== this.plot.width) this.plot.setSize({ width: w, height: this.height });
    }
  }
}

/** Options of the entity chart: mentions per window, baseline band, threshold, alert marks. */
export function entityChartOptions(t) {
  return {
    tzDate: utcDate,
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: true },
    scales: {
      x: { time: true },
      y: { range: countRange(1.08) },
    },
    axes: [
      axis(t, { values: timeTicks, size: 30 }),
      axis(t, { size: fitSize(44), incrs: COUNT_INCRS, values: (u, vals) => vals.map((v) => fmt.int(v)) }),
    ],
    series: [
      { value: (u, ts) => (ts == null ? fmt.DASH : fmt.utcShort(new Date(ts * 1e3).toISOString()).slice(0, 11) + ' UTC') },
      {
        label: 'Mentions',
        stroke: t.accent,
        fill: t.accentFill,
        width: 1,
        paths: uPlot.paths.bars({ size: [0.78, 28] }),
        points: { show: false },
        value: (u, v) => fmt.int(v),
      },
      { label: 'Baseline', stroke: t.text, width: 1.25, dash: [3, 3], points: { show: false }, value: (u, v) => fmt.num1(v) },
      { label: 'mean + std', stroke: 'transparent', width: 0, points: { show: false }, value: (u, v) => fmt.num1(v) },
      { label: 'mean − std', stroke: 'transparent', width: 0, points: { show: false }, value: (u, v) => fmt.num1(v) },
      { label: 'Threshold', stroke: t.fired, width: 1.25, dash: [6, 4], points: { show: false }, value: (u, v) => fmt.num1(v) },
      {
        label: 'Alert',
        stroke: t.fired,
        fill: t.fired,
        width: 0,
        paths: () => null,
        points: { show: true, size: 9, width: 2, stroke: t.panel, fill: t.fired },
        value: (u, v) => (v == null ? fmt.DASH : 'yes'),
      },
    ],
    bands: [{ series: [3, 4], fill: t.band }],
  };
}

/** Options of the lag trend: records waiting (left axis) and watermark lag (right axis). */
export function lagChartOptions(t) {
  return {
    tzDate: utcDate,
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    legend: { live: true },
    scales: {
      x: { time: true },
      rec: { range: countRange(1.1) },
      s: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] },
    },
    axes: [
      axis(t, { values: timeTicks, size: 30, space: trendTimeSpace, incrs: TREND_TIME_INCRS }),
      axis(t, { scale: 'rec', size: fitSize(48), space: 18, incrs: COUNT_INCRS, values: (u, vals) => vals.map((v) => fmt.int(v)) }),
      axis(t, { scale: 's', side: 1, size: fitSize(56), space: 18, incrs: DURATION_INCRS, grid: { show: false }, values: (u, vals) => vals.map(durationTick) }),
    ],
    series: [
      { value: (u, ts) => (ts == null ? fmt.DASH : fmt.utcShort(new Date(ts * 1e3).toISOString()).slice(6) + ' UTC') },
      { label: 'Records waiting', scale: 'rec', stroke: t.accent, fill: t.accentFill, width: 1.5, points: { show: false }, value: (u, v) => fmt.int(v) },
      { label: 'Watermark lag', scale: 's', stroke: t.warn, width: 1.5, points: { show: false }, value: (u, v) => fmt.duration(v) },
    ],
  };
}
