// The side panel: training curves, the first layer's filters, the test images the run gets
// wrong, the size table; and the run's state ("training, epoch k of n"), polled so that
// curves, filters and activations follow a run still training as each checkpoint lands.
"use strict";

import { legend, paint, scaleOf } from "./colormap.js";
import { askPredict, askUnit, loadSample, state } from "./app.js";
import { $, el, f32, fmt, pictureOf, u8 } from "./util.js";

const POLL_MS = 2000; // how often the page asks whether new weights landed

export function startSide(model) {
  showSize(model.size);
  refreshCurves();
  refreshFilters();
  refreshMistakes();
  poll();
  let resized = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => lastCurves && drawCurves(lastCurves), 100);
  });
}

// ---- run state -------------------------------------------------------------------------------
async function poll() {
  try {
    const s = await fetch("/api/status").then((r) => r.json());
    showState(s);
    if (s.version !== state.version) {
      state.version = s.version;
      refreshCurves();
      refreshFilters();
      refreshMistakes();
      if (state.ink) askPredict(state.blob);
      if (state.selected) askUnit();
    } else if (s.status === "training") {
      refreshCurves(); // metrics.jsonl grows before the checkpoint lands
    }
  } catch {
    // the server is restarting: try again at the next poll
  }
  setTimeout(poll, POLL_MS);
}

function showState(s) {
  const box = $("run-state");
  box.classList.toggle("training", s.status === "training");
  const acc = state.model.test_accuracy;
  if (s.status === "training") {
    box.textContent = `training, epoch ${s.epoch} of ${s.epochs}${s.weights ? "" : " (no checkpoint yet: weights are still random)"}`;
  } else if (s.status === "finished") {
    box.textContent = `trained ${s.epochs_done} epoch${s.epochs_done === 1 ? "" : "s"}${acc != null ? `, test accuracy ${(100 * acc).toFixed(2)}%` : ""}`;
  } else {
    box.textContent = `${s.status} after ${s.epochs_done} of ${s.epochs} epochs`;
  }
}

// ---- curves ----------------------------------------------------------------------------------
let lastCurves = null;

async function refreshCurves() {
  const c = await fetch("/api/curves").then((r) => r.json());
  lastCurves = c;
  drawCurves(c);
  const ls = c.label_smoothing || 0;
  const K = state.model.classes.length;
  const note = $("curves-note");
  if (ls > 0) {
    const hi = 1 - ls + ls / K, lo = ls / K;
    const floor = -(hi * Math.log(hi)) - (K - 1) * lo * Math.log(lo);
    note.textContent = `Label smoothing is on (ε = ${ls}): training targets are ${fmt(hi, 2)} for the true class and ${fmt(lo, 3)} for each other, so the train loss cannot go below ${fmt(floor, 2)} and a well-trained prediction tops out near ${Math.round(100 * hi)}%; the test loss is plain cross-entropy, so it sits lower.`;
  } else {
    note.textContent = "Train loss is the mean over each epoch's batches (with augmentation); test loss is measured after the epoch.";
  }
}

function niceTicks(lo, hi, n = 4) {
  const span = Math.max(hi - lo, 1e-9);
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) || step0;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return { ticks, step };
}

function drawCurves(c) {
  const cv = $("curves");
  const dpr = window.devicePixelRatio || 1;
  const W = Math.max(200, cv.clientWidth), H = 250;
  cv.width = W * dpr;
  cv.height = H * dpr;
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, W, H);
  g.font = "11px system-ui, sans-serif";
  const epochs = c.epochs;
  const n = Math.max(c.epochs_planned || 0, epochs.length, 1);
  if (!epochs.length) {
    g.fillStyle = "#5d6577";
    g.fillText("no epoch finished yet", 40, 40);
    cv.setAttribute("aria-label", "training curves: no epoch finished yet");
    return;
  }
  const charts = [
    { title: "loss", keys: [["train_loss", "train", "#2b5fc4"], ["test_loss", "test", "#c62f25"]], top: 4, scale: 1 },
    { title: "test accuracy %", keys: [["test_accuracy", "test", "#2f9e44"]], top: H / 2 + 4, scale: 100 },
  ];
  const left = 40, right = W - 8, h = H / 2 - 48;
  const X = (e) => (n === 1 ? (left + right) / 2 : left + ((right - left) * (e - 1)) / (n - 1));
  for (const ch of charts) {
    const vals = ch.keys.flatMap(([k]) => epochs.map((e) => (e[k] ?? NaN) * ch.scale)).filter(Number.isFinite);
    let lo = Math.min(...vals), hi = Math.max(...vals);
    if (hi - lo < 1e-6) { lo -= 0.5 * (Math.abs(lo) || 1) * 0.1; hi += 0.5 * (Math.abs(hi) || 1) * 0.1; }
    const { ticks } = niceTicks(lo, hi);
    lo = Math.min(lo, ticks[0]);
    hi = Math.max(hi, ticks[ticks.length - 1]);
    const y0 = ch.top + 14;
    const Y = (v) => y0 + h - ((v - lo) / Math.max(hi - lo, 1e-9)) * h;
    g.fillStyle = "#1d2330";
    g.fillText(ch.title, left, ch.top + 9);
    // legend, right-aligned on the title line
    let lx = right;
    for (const [, name, colour] of [...ch.keys].reverse()) {
      const w = g.measureText(name).width;
      lx -= w;
      g.fillStyle = "#1d2330";
      g.fillText(name, lx, ch.top + 9);
      lx -= 16;
      g.fillStyle = colour;
      g.fillRect(lx, ch.top + 4, 12, 3);
      lx -= 10;
    }
    // axes: y ticks and grid, x ticks at epochs
    g.strokeStyle = "#e3e6ec";
    g.fillStyle = "#5d6577";
    g.textAlign = "right";
    for (const t of ticks) {
      const y = Y(t);
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
      g.fillText(ch.scale === 100 ? t.toFixed(t % 1 ? 1 : 0) : t.toFixed(2), left - 4, y + 3);
    }
    g.textAlign = "center";
    const every = Math.ceil(n / 10);
    for (let e = 1; e <= n; e += every) g.fillText(String(e), X(e), y0 + h + 12);
    g.textAlign = "left";
    g.strokeStyle = "#9aa2b1";
    g.beginPath(); g.moveTo(left, y0); g.lineTo(left, y0 + h); g.lineTo(right, y0 + h); g.stroke();
    if (ch.top > 100) { g.textAlign = "center"; g.fillText("epoch", (left + right) / 2, y0 + h + 24); g.textAlign = "left"; }
    for (const [k, , colour] of ch.keys) {
      g.strokeStyle = g.fillStyle = colour;
      g.lineWidth = 1.5;
      g.beginPath();
      epochs.forEach((e, i) => (i ? g.lineTo(X(e.epoch), Y(e[k] * ch.scale)) : g.moveTo(X(e.epoch), Y(e[k] * ch.scale))));
      g.stroke();
      g.lineWidth = 1;
      epochs.forEach((e) => g.fillRect(X(e.epoch) - 2, Y(e[k] * ch.scale) - 2, 4, 4));
    }
  }
  const last = epochs[epochs.length - 1];
  cv.setAttribute("aria-label", `training curves over ${epochs.length} of ${n} epochs; last epoch: train loss ${fmt(last.train_loss, 3)}, test loss ${fmt(last.test_loss, 3)}, test accuracy ${(100 * last.test_accuracy).toFixed(2)}%`);
}

// ---- first-layer filters -------------------------------------------------------------------------
async function refreshFilters() {
  const f = await fetch("/api/filters").then((r) => r.json());
  const box = $("filters");
  box.replaceChildren();
  if (!f.layer) {
    $("filters-title").textContent = "First-layer filters: none (no convolution)";
    return;
  }
  const [o, i, kh, kw] = f.shape;
  const w = f32(f.data);
  const scale = scaleOf(w);
  const shown = Math.min(o, 32);
  for (let k = 0; k < shown; k++) {
    for (let c = 0; c < Math.min(i, 3); c++) {
      const name = `${f.layer} filter ${k}${i > 1 ? `, input channel ${c}` : ""}`;
      const pic = pictureOf(kw, kh, null, null, name, (cv) => paint(cv, w, (k * i + c) * kh * kw, kh, kw, scale));
      pic.title = name;
      box.appendChild(pic);
    }
  }
  box.appendChild(legend(scale));
  box.dataset.version = String(f.version);
  $("filters-title").textContent = `${f.layer} filters (${o}${o > shown ? `, first ${shown}` : ""}, ${kh}×${kw}${i > 1 ? `, ${Math.min(i, 3)} input channels each` : ""})`;
  box.setAttribute("aria-label", `${f.layer}'s ${o} filters as colour images, blue negative, red positive, scale ±${fmt(scale, 2)}`);
}

// ---- the test images it gets wrong ----------------------------------------------------------------
async function refreshMistakes() {
  const box = $("mistakes");
  if (!state.model.test_images) {
    $("mistakes-note").textContent = "the run's test set is not available here";
    return;
  }
  const m = await fetch("/api/mistakes?limit=48").then((r) => r.json());
  box.replaceChildren();
  $("mistakes-note").textContent = `${m.count.toLocaleString()} of ${m.total.toLocaleString()} wrong (${(100 * m.count / Math.max(m.total, 1)).toFixed(2)}%); the ${m.images.length} most confident mistakes, true → predicted. Click one to look inside.`;
  const [c, h, w] = m.shape;
  const names = state.model.classes;
  for (const item of m.images) {
    const pixels = u8(item.pixels);
    const pic = pictureOf(w, h, null, null, "", (cv) => {
      const g = cv.getContext("2d");
      const img = g.createImageData(w, h);
      for (let p = 0; p < h * w; p++) {
        for (let k = 0; k < 3; k++) img.data[4 * p + k] = pixels[(c === 1 ? 0 : k) * h * w + p];
        img.data[4 * p + 3] = 255;
      }
      g.putImageData(img, 0, 0);
    });
    const visible = `${short(names[item.label])}→${short(names[item.prediction])}`;
    const b = el("button", null, null, {
      type: "button",
      "aria-label": `${visible}: test image ${item.index}, a ${names[item.label]} taken for ${names[item.prediction]} (${(100 * item.confidence).toFixed(0)}%)`,
    });
    b.dataset.index = String(item.index);
    b.append(pic, el("span", null, visible));
    b.addEventListener("click", () => loadSample(item.index));
    const li = el("div", null, null, { role: "listitem" });
    li.appendChild(b);
    box.appendChild(li);
  }
}

const short = (name) => (name.length > 5 ? `${name.slice(0, 4)}.` : name);

// ---- size -----------------------------------------------------------------------------------------
function showSize(size) {
  const rows = size.layers.map((r) => `<tr><td>${r.name}</td><td>${r.units.toLocaleString()}</td><td>${r.weights.toLocaleString()}</td><td>${r.connections.toLocaleString()}</td></tr>`);
  const t = size.totals;
  $("size").innerHTML = `<table><thead><tr><th>layer</th><th>units</th><th>weights</th><th>connections</th></tr></thead>
    <tbody>${rows.join("")}<tr><th>total</th><th>${t.units.toLocaleString()}</th><th>${t.weights.toLocaleString()}</th><th>${t.connections.toLocaleString()}</th></tr></tbody></table>`;
}
