// Charts of the day so far, drawn as SVG in the browser: no library, no server round trip.
// Geometry is pure (shapes as plain objects, tested under node); `draw` turns shapes into
// SVG elements.

import { svg } from "./dom.js";

const PAD = { left: 34, right: 8, top: 10, bottom: 20 };

/** A "nice" axis maximum at or above `value` (1, 2, 5 × 10^n). */
export function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

function frame(width, height) {
  return { x0: PAD.left, y0: height - PAD.bottom, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
}

function axes(f, max, format) {
  const shapes = [{ tag: "line", class: "axis", x1: f.x0, y1: f.y0, x2: f.x0 + f.w, y2: f.y0 }];
  for (const tick of [0, max / 2, max]) {
    const y = f.y0 - (tick / max) * f.h;
    shapes.push({ tag: "line", class: "grid", x1: f.x0, y1: y, x2: f.x0 + f.w, y2: y });
    shapes.push({ tag: "text", class: "tick", x: f.x0 - 4, y: y + 4, "text-anchor": "end", text: format(tick) });
  }
  return shapes;
}

function hourLabels(f, count, slotLabel) {
  const shapes = [];
  const every = Math.max(1, Math.ceil(count / 8));
  for (let i = 0; i < count; i += every) {
    shapes.push({ tag: "text", class: "tick", x: f.x0 + ((i + 0.5) / count) * f.w, y: f.y0 + 14, "text-anchor": "middle", text: slotLabel(i) });
  }
  return shapes;
}

/**
 * Bars of offered and answered contacts per interval.
 * points: [{slot, offered, answered}], slots shown: 0..count-1.
 */
export function volumeShapes(points, { width, height, count, slotLabel }) {
  const f = frame(width, height);
  const max = niceMax(Math.max(0, ...points.map((p) => p.offered)));
  const slot = f.w / Math.max(count, 1);
  const bar = Math.max(1, slot * 0.8);
  const shapes = axes(f, max, (v) => String(Math.round(v)));
  for (const p of points) {
    const x = f.x0 + p.slot * slot + (slot - bar) / 2;
    for (const [key, cls] of [["offered", "bar-offered"], ["answered", "bar-answered"]]) {
      const h = (p[key] / max) * f.h;
      if (h > 0) shapes.push({ tag: "rect", class: cls, x, y: f.y0 - h, width: bar, height: h, title: `${slotLabel(p.slot)} ${p[key]}` });
    }
  }
  return shapes.concat(hourLabels(f, count, slotLabel));
}

/** Service level per interval as a line (gaps where nothing finished), with the target. */
export function serviceLevelShapes(points, { width, height, count, slotLabel, target }) {
  const f = frame(width, height);
  const slot = f.w / Math.max(count, 1);
  const shapes = axes(f, 1, (v) => `${Math.round(v * 100)}%`);
  if (target != null) {
    const y = f.y0 - target * f.h;
    shapes.push({ tag: "line", class: "target", x1: f.x0, y1: y, x2: f.x0 + f.w, y2: y });
  }
  let run = [];
  const flush = () => {
    if (run.length > 1) shapes.push({ tag: "polyline", class: "sl-line", points: run.join(" ") });
    run = [];
  };
  for (const p of points) {
    if (p.serviceLevel == null) {
      flush();
      continue;
    }
    const x = f.x0 + (p.slot + 0.5) * slot;
    const y = f.y0 - p.serviceLevel * f.h;
    run.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    shapes.push({ tag: "circle", class: p.serviceLevel < (target ?? 0) ? "sl-dot low" : "sl-dot", cx: x, cy: y, r: 2.5, title: `${slotLabel(p.slot)} ${Math.round(p.serviceLevel * 100)}%` });
  }
  flush();
  return shapes.concat(hourLabels(f, count, slotLabel));
}

/** SVG element for shapes ({tag, class, text?, title?, ...attributes}). */
export function draw(shapes, { width, height, label }) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" });
  for (const { tag, text, title, ...attrs } of shapes) {
    const el = svg(tag, attrs);
    if (text != null) el.textContent = text;
    if (title != null) el.append(svg("title", {}, title));
    root.append(el);
  }
  return root;
}
