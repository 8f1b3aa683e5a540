// cnnlab serve: draw a digit, watch every layer respond, click (or Tab + arrows + Enter)
// a unit to see its arithmetic. Plain JS modules, no libraries, nothing from the network.
// At most one request is in flight; while one is, the newest request of each kind waits
// and is sent next (the newest stroke wins). Drawing is painted once per animation frame.
"use strict";

import { legend, scaleOf, setLegend } from "./colormap.js";
import { $, cellAt, el, f32, fmt, hideTip, hoverValues, markIn, paintInput, placeMark, showTip } from "./util.js";
import { mapCanvas } from "./mapcanvas.js";
import { showUnit, unitMessage } from "./unit.js";
import { startSide } from "./side.js";
import { greyPng } from "./greypng.js";

const MAX_MAPS = 64; // maps drawn per layer
const FC_COLS = 12; // fully connected layers as grids 12 cells wide (F5: 12×10, F6: 12×7)

const pad = $("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true }); // a CPU canvas: encoding it for each request needs no GPU readback

/** What the page knows; the other modules read it. */
export const state = {
  model: null, // GET /api/model
  result: null, // the last /api/predict answer, decoded
  blob: null, // the PNG it came from
  ink: false, // anything drawn or loaded? (an empty pad shows no prediction)
  selected: null, // {layer, channel, y, x}
  views: new Map(), // layer name -> view (see buildLayers)
  version: 0, // weights version the page shows
};

function status(message) { $("status").textContent = message || ""; }

// ---- drawing --------------------------------------------------------------------------
function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

function stroke(a, b) {
  ctx.strokeStyle = ctx.fillStyle = "#fff";
  ctx.lineWidth = 20;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.arc(b[0], b[1], 10, 0, 2 * Math.PI);
  ctx.fill();
  ctx.beginPath();
  ctx.moveTo(a[0], a[1]);
  ctx.lineTo(b[0], b[1]);
  ctx.stroke();
}

let drawing = false;
let strokeEnd = null;
pad.addEventListener("pointerdown", (e) => {
  drawing = true;
  try {
    pad.setPointerCapture(e.pointerId); // keep the stroke when the finger leaves the pad
  } catch {
    // a synthetic or already-released pointer: drawing works without capture
  }
  strokeEnd = point(e);
  stroke(strokeEnd, strokeEnd);
  state.ink = true;
  $("sample-label").textContent = "";
  askPredict();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  const coalesced = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
  for (const ev of coalesced.length ? coalesced : [e]) {
    const p = point(ev);
    stroke(strokeEnd, p);
    strokeEnd = p;
  }
  askPredict();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = false;
    askPredict();
  });
}

$("clear").addEventListener("click", () => {
  clearPad();
  state.ink = false;
  $("sample-label").textContent = "";
  showEmpty();
});

// ---- upload and test images ----------------------------------------------------------
function showOnPad(bitmap) {
  clearPad();
  const scale = Math.min(pad.width / bitmap.width, pad.height / bitmap.height);
  const w = bitmap.width * scale, h = bitmap.height * scale;
  ctx.imageSmoothingEnabled = bitmap.width >= 100;
  ctx.drawImage(bitmap, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
}

async function asPng(file) {
  if (file.type === "image/png") return file;
  const bitmap = await createImageBitmap(file);
  const c = document.createElement("canvas");
  c.width = bitmap.width;
  c.height = bitmap.height;
  c.getContext("2d").drawImage(bitmap, 0, 0);
  return new Promise((resolve) => c.toBlob(resolve, "image/png"));
}

$("upload-button").addEventListener("click", () => $("upload").click());
$("upload").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  try {
    showOnPad(await createImageBitmap(file));
    state.ink = true;
    $("sample-label").textContent = "";
    askPredict(await asPng(file));
  } catch (err) {
    status(`could not read ${file.name}: ${err.message}`);
  }
});

/** Put test image `index` on the pad and predict it. */
export async function loadSample(index) {
  const r = await fetch(`/api/sample?index=${index}`);
  if (!r.ok) return status((await r.json()).error);
  const blob = await r.blob();
  showOnPad(await createImageBitmap(blob));
  state.ink = true;
  const label = Number(r.headers.get("X-Label"));
  $("sample-label").textContent = `true label: ${state.model ? state.model.classes[label] : label}`;
  askPredict(blob);
}

$("sample").addEventListener("click", () => {
  const n = state.model && state.model.test_count ? state.model.test_count : 10000;
  loadSample(Math.floor(Math.random() * n));
});

// ---- requests: one in flight, newest wins --------------------------------------------
const want = { predict: null, unit: false };
let busy = false;

export function askPredict(blob) {
  want.predict = blob || true;
  pump();
}

export function askUnit() {
  want.unit = true;
  pump();
}

async function pump() {
  if (busy) return;
  busy = true;
  try {
    while (want.predict !== null || want.unit) {
      if (want.predict !== null) {
        const w = want.predict;
        want.predict = null;
        await predict(w === true ? await canvasPng() : w);
        if (state.selected && !drawing) want.unit = true;
      } else {
        want.unit = false;
        if (state.selected) await explain();
      }
    }
  } finally {
    busy = false;
  }
}

async function canvasPng() {
  // one channel: the same grey levels the server would compute, a quarter of the bytes to decode
  const grey = state.model && state.model.native_shape[0] === 1 ? await greyPng(pad) : null;
  return grey || new Promise((resolve) => pad.toBlob(resolve, "image/png"));
}

async function postPng(url, blob) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "image/png" }, body: blob });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

async function predict(blob) {
  try {
    const result = await postPng("/api/predict?activations=1", blob);
    result.input.values = f32(result.input.data);
    for (const layer of result.layers) layer.values = f32(layer.data);
    state.blob = blob;
    state.result = result;
    scheduleRender();
    status("");
  } catch (err) {
    status(err.message);
  }
}

let frame = 0;
function scheduleRender() {
  if (!frame) frame = requestAnimationFrame(render);
}

function render() {
  frame = 0;
  const result = state.result;
  if (!result) return;
  const t0 = performance.now();
  if ([...state.views.keys()].join() !== result.layers.map((l) => l.name).join()) buildLayers(result.layers);
  if (!state.ink) return showEmpty();
  showPrediction(result);
  showLayers(result.layers);
  performance.measure("render", { start: t0 }); // benchmarks/serve_latency.py reads these
}

// ---- prediction and probabilities ------------------------------------------------------
function buildProbabilities() {
  const box = $("probabilities");
  box.innerHTML = "";
  state.model.classes.forEach((name, k) => {
    const row = el("div", "prob", null, { role: "listitem" });
    const shown = name === String(k) ? String(k) : `${k}: ${name}`;
    row.innerHTML = `<span class="name"></span><span class="track" aria-hidden="true"><span class="fill"></span></span><span class="value">–</span>`;
    row.querySelector(".name").textContent = shown;
    box.appendChild(row);
  });
}

function showPrediction(result) {
  const p = $("prediction");
  p.classList.remove("empty");
  p.textContent = result.prediction;
  $("prediction-title").textContent = "prediction";
  const name = state.model.classes[result.prediction];
  $("prediction-label").textContent = name !== String(result.prediction) ? name : "";
  const rows = $("probabilities").children;
  result.probabilities.forEach((v, k) => {
    rows[k].querySelector(".fill").style.transform = `scaleX(${v.toFixed(4)})`;
    rows[k].querySelector(".value").textContent = `${(100 * v).toFixed(1)}%`;
    rows[k].classList.toggle("top", k === result.prediction);
  });
  const inp = result.input;
  paintInput($("seen"), inp.values, inp.shape, state.model.mean, state.model.std);
}

function showEmpty() {
  const p = $("prediction");
  p.textContent = "draw a digit";
  p.classList.add("empty");
  $("prediction-title").textContent = "";
  $("prediction-label").textContent = "";
  for (const row of $("probabilities").children) {
    row.querySelector(".fill").style.transform = "scaleX(0)";
    row.querySelector(".value").textContent = "–";
    row.classList.remove("top");
  }
  const seen = $("seen");
  seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
  for (const view of state.views.values()) view.canvas.clear();
  if (state.selected) unitMessage("Draw a digit (or load a test image) to see this unit's arithmetic.");
}

// ---- the network: one column per layer ---------------------------------------------------
/** A layer's maps: spatial layers as a column of maps, flat ones as a 12-wide grid; one canvas shows them all. */
function buildLayers(layers) {
  const box = $("layers");
  box.querySelectorAll(".layer").forEach((e) => e.remove());
  state.views.clear();
  for (const layer of layers) {
    const col = el("div", "layer", null, { role: "group", "aria-label": `layer ${layer.name}, ${layer.shape.join("×")}` });
    col.dataset.layer = layer.name;
    col.appendChild(el("div", "name", layer.name));
    col.appendChild(el("div", "shape", layer.shape.join("×")));
    const view = { name: layer.name, maps: [], cursor: { map: 0, y: 0, x: 0 } };
    if (layer.shape.length === 3) {
      const [c, h, w] = layer.shape;
      const shown = Math.min(c, MAX_MAPS);
      const cols = Math.ceil(shown / 8);
      const px = cols === 1 ? 44 : cols === 2 ? 34 : 24;
      Object.assign(view, { kind: "maps", h, w, channels: c, count: h * w, stride: h * w });
      const grid = el("div", "maps");
      grid.style.gridTemplateRows = `repeat(${Math.min(shown, 8)}, auto)`;
      for (let k = 0; k < shown; k++) grid.appendChild(makeMap(view, k, h, w, px, px));
      view.canvas = mapCanvas(grid, view.maps.map((m) => m.box), h, w, h * w, scheduleRender);
      col.appendChild(grid);
      if (c > shown) col.appendChild(el("div", "shape", `first ${shown} of ${c}`));
    } else {
      const n = layer.shape[0];
      const few = n <= 16;
      const w = few ? 1 : FC_COLS, h = Math.ceil(n / w);
      const cell = few ? 16 : 9;
      Object.assign(view, { kind: "fc", h, w, channels: n, count: n, stride: 0 });
      const row = el("div", "fc-row");
      const grid = el("div", "maps");
      grid.appendChild(makeMap(view, 0, h, w, w * cell, h * cell));
      view.canvas = mapCanvas(grid, [view.maps[0].box], h, w, n, scheduleRender);
      row.appendChild(grid);
      if (few && state.model) {
        const names = el("div", "class-names", null, { "aria-hidden": "true" });
        for (let k = 0; k < n; k++) names.appendChild(el("span", null, state.model.classes[k] ?? String(k)));
        row.appendChild(names);
      }
      col.appendChild(row);
    }
    view.legend = legend(1);
    col.appendChild(view.legend);
    view.maps[0].box.tabIndex = 0; // one tab stop per layer
    state.views.set(layer.name, view);
    box.appendChild(col);
  }
}

function makeMap(view, k, h, w, cssW, cssH) {
  const box = el("div", "map", null, { role: "button", tabindex: "-1", "aria-describedby": "map-help" });
  box.dataset.layer = view.name;
  box.dataset.channel = k;
  box.style.width = `${cssW + 2}px`;
  box.style.height = `${cssH + 2}px`;
  const map = { box, index: k };
  view.maps.push(map);
  const unitAt = (y, x) => (view.kind === "fc" ? { channel: y * w + x, y: 0, x: 0 } : { channel: k, y, x });
  box.addEventListener("click", (e) => {
    const [y, x] = cellAt(e, box, h, w);
    const u = unitAt(y, x);
    if (u.channel >= view.channels) return;
    view.cursor = { map: k, y, x };
    select({ layer: view.name, ...u });
  });
  box.addEventListener("pointermove", (e) => {
    const [y, x] = cellAt(e, box, h, w);
    const u = unitAt(y, x);
    const v = valueOf(view.name, u);
    if (v == null) return hideTip();
    showTip(e, `${describe(view, u)} = ${fmt(v, 3)}`);
  });
  box.addEventListener("pointerleave", hideTip);
  box.addEventListener("keydown", (e) => onKey(e, view, map));
  box.addEventListener("focus", () => showCursor(view));
  box.addEventListener("blur", () => markIn(box, "cursor").hidden = true);
  labelMap(view, map);
  return box;
}

function describe(view, u) {
  if (view.kind === "fc") {
    const names = view.channels <= 16 && state.model ? state.model.classes : null;
    return `${view.name} unit ${u.channel}${names && names[u.channel] !== String(u.channel) ? ` (${names[u.channel]})` : ""}`;
  }
  return `${view.name} map ${u.channel} (${u.y}, ${u.x})`;
}

function valueOf(name, u) {
  const view = state.views.get(name);
  const layer = state.result && state.ink ? state.result.layers.find((l) => l.name === name) : null;
  if (!layer || u.channel >= view.channels) return null;
  return layer.values[view.kind === "fc" ? u.channel : u.channel * view.stride + u.y * view.w + u.x];
}

function cursorUnit(view) {
  const c = view.cursor;
  return view.kind === "fc" ? { channel: c.y * view.w + c.x, y: 0, x: 0 } : { channel: c.map, y: c.y, x: c.x };
}

function labelMap(view, map) {
  const u = view.cursor.map === map.index ? cursorUnit(view) : { channel: map.index, y: 0, x: 0 };
  const v = valueOf(view.name, u);
  const what = view.kind === "fc"
    ? `layer ${view.name}, ${view.channels} units in a ${view.w}-wide grid; unit ${describe(view, u).split(" unit ")[1]}`
    : `layer ${view.name}, map ${map.index} of ${view.channels}, unit (${u.y}, ${u.x})`;
  map.box.setAttribute("aria-label", v == null ? what : `${what}, value ${fmt(v, 3)}`);
}

function showCursor(view) {
  const c = view.cursor;
  const map = view.maps[view.kind === "fc" ? 0 : c.map];
  placeMark(markIn(map.box, "cursor"), c.y, c.x, c.y + 1, c.x + 1, view.h, view.w);
  labelMap(view, map);
}

/** Keyboard within a layer: arrows move the unit, Page Up/Down the map, Enter selects. */
function onKey(e, view, map) {
  const c = view.cursor;
  if (c.map !== map.index && view.kind === "maps") Object.assign(c, { map: map.index });
  let { y, x } = c;
  let m = c.map;
  switch (e.key) {
    case "ArrowLeft": x--; break;
    case "ArrowRight": x++; break;
    case "ArrowUp": y--; break;
    case "ArrowDown": y++; break;
    case "PageUp": m--; break;
    case "PageDown": m++; break;
    case "Home": m = 0; y = 0; x = 0; break;
    case "End": m = view.maps.length - 1; break;
    case "Enter":
    case " ":
      e.preventDefault();
      select({ layer: view.name, ...cursorUnit(view) });
      return;
    default:
      return;
  }
  e.preventDefault();
  y = Math.max(0, Math.min(view.h - 1, y));
  x = Math.max(0, Math.min(view.w - 1, x));
  if (view.kind === "fc" && y * view.w + x >= view.channels) return; // past the last unit
  m = Math.max(0, Math.min(view.maps.length - 1, m));
  Object.assign(c, { map: m, y, x });
  const target = view.maps[view.kind === "fc" ? 0 : m];
  if (target !== map) {
    map.box.tabIndex = -1;
    markIn(map.box, "cursor").hidden = true;
    target.box.tabIndex = 0;
    target.box.focus();
  }
  showCursor(view);
}

/** One tab stop per layer: the map holding its cursor. */
function rove(view, index) {
  for (const m of view.maps) m.box.tabIndex = m.index === index ? 0 : -1;
}

function showLayers(layers) {
  for (const layer of layers) {
    const view = state.views.get(layer.name);
    const scale = scaleOf(layer.values);
    setLegend(view.legend, scale);
    view.canvas.paint(layer.values, scale);
  }
  if (document.activeElement && document.activeElement.classList.contains("map")) {
    const v = state.views.get(document.activeElement.dataset.layer);
    if (v) labelMap(v, v.maps[v.kind === "fc" ? 0 : v.cursor.map]);
  }
}

// ---- one unit ------------------------------------------------------------------------------
function clearMarks() {
  document.querySelectorAll(".map.chosen, .map.feeds").forEach((m) => m.classList.remove("chosen", "feeds"));
  document.querySelectorAll(".mark.unit, .mark.window, .mark.field").forEach((m) => (m.hidden = true));
  $("wires").innerHTML = "";
}

export function select(unit) {
  state.selected = unit;
  const view = state.views.get(unit.layer);
  const index = view.kind === "fc" ? 0 : unit.channel;
  if (view.kind === "fc") view.cursor = { map: 0, y: Math.floor(unit.channel / view.w), x: unit.channel % view.w };
  else view.cursor = { map: unit.channel, y: unit.y, x: unit.x };
  rove(view, index);
  clearMarks();
  document.querySelectorAll(".mark.cursor").forEach((m) => (m.hidden = true));
  const focused = document.activeElement;
  if (focused && focused.classList.contains("map") && focused.dataset.layer === unit.layer) {
    if (view.maps[index] && focused !== view.maps[index].box) view.maps[index].box.focus();
    showCursor(view);
  }
  const map = view.maps[index];
  if (map) {
    map.box.classList.add("chosen");
    const c = view.cursor;
    placeMark(markIn(map.box, "unit"), c.y, c.x, c.y + 1, c.x + 1, view.h, view.w);
  }
  if (!state.ink) return unitMessage("Draw a digit (or load a test image) to see this unit's arithmetic.");
  askUnit();
}

async function explain() {
  const u = state.selected;
  try {
    const q = `layer=${encodeURIComponent(u.layer)}&channel=${u.channel}&y=${u.y}&x=${u.x}`;
    const info = await postPng(`/api/unit?${q}`, state.blob);
    if (state.selected !== u) return;
    markInputs(info);
    showUnit(info);
  } catch (err) {
    status(err.message);
  }
}

/** Outline what a unit reads: its receptive field on the input, the maps (and windows) that feed it. */
function markInputs(info) {
  const rf = info.receptive_field;
  const seen = $("seen");
  if (rf) placeMark(markIn($("seen-box"), "field"), rf.y0, rf.x0, rf.y1, rf.x1, seen.height, seen.width);
  const prev = state.views.get(info.input_layer);
  if (!prev || prev.kind !== "maps") return;
  let feeds = [], window = null;
  if (info.kind === "conv") {
    feeds = info.feeds;
    const k = info.kernel[0].length, kw = info.kernel[0][0].length;
    const y0 = info.y * info.stride[0] - info.padding[0], x0 = info.x * info.stride[1] - info.padding[1];
    window = [y0, x0, y0 + (k - 1) * info.dilation[0] + 1, x0 + (kw - 1) * info.dilation[1] + 1];
  } else if (info.kind === "pool") {
    feeds = [info.channel];
    const [y0, x0] = info.window_origin;
    window = [y0, x0, y0 + info.window.length, x0 + info.window[0].length];
  }
  const chosen = state.views.get(info.layer).maps[info.channel];
  const svg = $("wires");
  const base = $("layers").getBoundingClientRect();
  for (const k of feeds) {
    const m = prev.maps[k];
    if (!m) continue;
    m.box.classList.add("feeds");
    const [y0, x0, y1, x1] = window;
    const clip = (v, n) => Math.max(0, Math.min(n, v));
    placeMark(markIn(m.box, "window"), clip(y0, prev.h), clip(x0, prev.w), clip(y1, prev.h), clip(x1, prev.w), prev.h, prev.w);
    if (chosen) {
      const a = m.box.getBoundingClientRect(), b = chosen.box.getBoundingClientRect();
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      line.setAttribute("x1", a.right - base.left);
      line.setAttribute("y1", a.top + a.height / 2 - base.top);
      line.setAttribute("x2", b.left - base.left);
      line.setAttribute("y2", b.top + b.height / 2 - base.top);
      svg.appendChild(line);
    }
  }
}

window.addEventListener("resize", () => {
  if (state.selected && state.ink) askUnit();
  for (const view of state.views.values()) view.canvas.refit(); // zoomed or reflowed: the boxes may have moved
  scheduleRender();
});

// ---- start -------------------------------------------------------------------------------
async function start() {
  clearPad();
  try {
    const m = await fetch("/api/model").then((r) => r.json());
    state.model = m;
    $("model-name").textContent = `${m.name} on ${m.dataset}`;
    const [, h, w] = m.input_shape;
    $("seen").width = w;
    $("seen").height = h;
    $("seen").getContext("2d", { willReadFrequently: true }); // a CPU canvas, like canvasOf's
    hoverValues($("seen"), h, w, (y, x) => {
      const inp = state.ink && state.result ? state.result.input : null;
      if (!inp) return null;
      const [c] = inp.shape;
      const v = Array.from({ length: c }, (_, k) => fmt(inp.values[(k * h + y) * w + x], 3));
      return `input (${y}, ${x}) = ${v.join(", ")} (normalized)`;
    });
    const steps = [m.digits ? `${m.native_shape[1]}×${m.native_shape[2]}, centred like MNIST` : `${m.native_shape[1]}×${m.native_shape[2]}`];
    if (m.resize) steps.push(`resized to ${m.resize}×${m.resize}`);
    if (m.input_shape[0] !== m.native_shape[0]) steps.push("grey repeated to RGB");
    steps.push("normalized");
    $("seen-caption").textContent = `what the network sees: ${steps.join(", ")}`;
    buildProbabilities();
    showEmpty();
    startSide(m);
    askPredict(); // an empty pad: lays out the layers, shows no prediction
  } catch (err) {
    status(`could not reach the server: ${err.message}`);
  }
}

start();
