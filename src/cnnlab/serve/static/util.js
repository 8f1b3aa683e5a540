// Small helpers shared by the page's modules.
"use strict";

export const $ = (id) => document.getElementById(id);

export const fmt = (v, d = 3) => Number(v).toFixed(d);

/** base64 little-endian float32 (the server's `packed`) -> Float32Array. */
export function f32(b64) {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/** base64 bytes -> Uint8Array. */
export function u8(b64) {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/** document.createElement with a class, text and attributes. */
export function el(tag, cls, text, attrs) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// Every <canvas> in the page is a compositor layer of its own. Headless Chromium composites in
// software and, at every frame it commits, copies each canvas into a shared-memory buffer; while
// those buffers are still being added (the first stroke on a fresh page), each canvas costs
// 0.5-1.2 ms of main-thread CPU in one commit. With a canvas per map, filter and test image
// (112 of them) that commit was a 50-135 ms task (issue 17). So pictures that do not change are
// <img>s (pictureOf), a layer's maps share one canvas (app.js), and canvases are kept for what
// is redrawn: the pad, the input as the network sees it, the unit panel's animation.
export function canvasOf(w, h, cssW, cssH, label) {
  const c = el("canvas", null, null, label ? { role: "img", "aria-label": label } : null);
  c.width = w;
  c.height = h;
  c.getContext("2d", { willReadFrequently: true }); // a CPU canvas: reading it back needs no GPU readback
  if (cssW) c.style.width = `${cssW}px`;
  if (cssH || cssW) c.style.height = `${cssH || (cssW * h) / w}px`;
  return c;
}

const scratch = document.createElement("canvas"); // never in the page: pictures are drawn here and encoded

/**
 * A w × h picture that does not change, as an <img> (a PNG data URL) shown at cssW × cssH px (or
 * sized by CSS); draw(canvas) paints it on a w × h canvas that is never in the page.
 * pictureOf(5, 5, 40, 40, "weights", (c) => paint(c, w, 0, 5, 5, scale))
 */
export function pictureOf(w, h, cssW, cssH, label, draw) {
  scratch.width = w; // also clears it
  scratch.height = h;
  draw(scratch);
  const img = el("img", "picture", null, { src: scratch.toDataURL(), width: String(w), height: String(h) });
  img.alt = label || "";
  img.draggable = false; // a drag across the panel must not pick the picture up
  if (cssW) img.style.width = `${cssW}px`;
  if (cssH || cssW) img.style.height = `${cssH || (cssW * h) / w}px`;
  return img;
}

export function figure(caption, ...children) {
  const f = el("figure");
  for (const c of children) f.appendChild(c);
  f.appendChild(el("figcaption", null, caption));
  return f;
}

/** Place a `.mark` box over cells [y0, y1) × [x0, x1) of an h × w map inside its box. */
export function placeMark(mark, y0, x0, y1, x1, h, w) {
  mark.hidden = false;
  mark.style.left = `${(100 * x0) / w}%`;
  mark.style.top = `${(100 * y0) / h}%`;
  mark.style.width = `${(100 * (x1 - x0)) / w}%`;
  mark.style.height = `${(100 * (y1 - y0)) / h}%`;
}

/** A mark element inside `box` (created on first use). */
export function markIn(box, kind) {
  let m = box.querySelector(`:scope > .mark.${kind}`);
  if (!m) {
    m = el("div", `mark ${kind}`);
    m.hidden = true;
    box.appendChild(m);
  }
  return m;
}

// ---- one tooltip for hover values ----------------------------------------------------
const tip = () => $("tip");

export function showTip(e, text) {
  const t = tip();
  t.textContent = text;
  t.hidden = false;
  const x = Math.min(e.clientX + 12, window.innerWidth - t.offsetWidth - 4);
  const y = Math.max(4, e.clientY - 28);
  t.style.left = `${Math.max(4, x)}px`;
  t.style.top = `${y}px`;
}

export function hideTip() {
  tip().hidden = true;
}

/** The (row, col) cell of an h × w grid shown in element `box` (inside its border) under a pointer event. */
export function cellAt(e, box, h, w) {
  const r = box.getBoundingClientRect();
  const width = box.clientWidth || r.width, height = box.clientHeight || r.height;
  const y = Math.min(h - 1, Math.max(0, Math.floor(((e.clientY - r.top - box.clientTop) / height) * h)));
  const x = Math.min(w - 1, Math.max(0, Math.floor(((e.clientX - r.left - box.clientLeft) / width) * w)));
  return [y, x];
}

/** Show hover values on a canvas: text(y, x) gives the line to show, or null. */
export function hoverValues(canvas, h, w, text) {
  canvas.addEventListener("pointermove", (e) => {
    const [y, x] = cellAt(e, canvas, h, w);
    const t = text(y, x);
    if (t == null) hideTip();
    else showTip(e, t);
  });
  canvas.addEventListener("pointerleave", hideTip);
}

/** Grey picture of a (C, H, W) model input (denormalized), onto a w × h canvas. */
export function paintInput(canvas, data, shape, mean, std) {
  const [c, h, w] = shape;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const n = h * w;
  if (c === 1) {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < n; i++) { lo = Math.min(lo, data[i]); hi = Math.max(hi, data[i]); }
    const span = Math.max(hi - lo, 1e-6);
    for (let i = 0; i < n; i++) {
      const g = (255 * (data[i] - lo)) / span;
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
      img.data[4 * i + 3] = 255;
    }
  } else {
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 3; k++) {
        const m = mean[k % mean.length], s = std[k % std.length];
        img.data[4 * i + k] = 255 * Math.max(0, Math.min(1, data[k * n + i] * s + m));
      }
      img.data[4 * i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}
