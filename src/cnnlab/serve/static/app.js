// cnnlab serve: draw a digit, watch every layer respond, click a unit to see its arithmetic.
// Plain JS, no libraries. At most one request is in flight; while one is, the newest
// request of each kind waits and is sent next (the newest stroke wins).
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
const MAX_MAPS = 64; // maps drawn per layer

let model = null; // GET /api/model
let lastBlob = null; // the PNG the shown activations came from
let lastInput = null; // 28×28 normalized input, as the network saw it
let selected = null; // {layer, channel, y, x}
let drawing = false;
let strokeEnd = null;
const want = { predict: null, unit: false };
let busy = false;
const views = new Map(); // layer name -> {kind, canvases | cells}

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
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = 20;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.arc(b[0], b[1], 10, 0, 2 * Math.PI);
  ctx.fill();
  ctx.beginPath();
  ctx.moveTo(a[0], a[1]);
  ctx.lineTo(b[0], b[1]);
  ctx.stroke();
}

pad.addEventListener("pointerdown", (e) => {
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  strokeEnd = point(e);
  stroke(strokeEnd, strokeEnd);
  $("sample-label").textContent = "";
  askPredict();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  const p = point(e);
  stroke(strokeEnd, p);
  strokeEnd = p;
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
  $("sample-label").textContent = "";
  askPredict();
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

$("upload").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    showOnPad(bitmap);
    $("sample-label").textContent = "";
    askPredict(await asPng(file));
  } catch (err) {
    status(`could not read ${file.name}: ${err.message}`);
  }
});

$("sample").addEventListener("click", async () => {
  const index = Math.floor(Math.random() * 10000);
  const r = await fetch(`/api/sample?index=${index}`);
  if (!r.ok) return status((await r.json()).error);
  const blob = await r.blob();
  showOnPad(await createImageBitmap(blob));
  const label = Number(r.headers.get("X-Label"));
  $("sample-label").textContent = `true label: ${model ? model.classes[label] : label}`;
  askPredict(blob);
});

// ---- requests: one in flight, newest wins --------------------------------------------
function askPredict(blob) {
  want.predict = blob || true;
  pump();
}

function askUnit() {
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
        if (selected && !drawing) want.unit = true;
      } else {
        want.unit = false;
        if (selected && lastBlob) await explain();
      }
    }
  } finally {
    busy = false;
  }
}

function canvasPng() {
  return new Promise((resolve) => pad.toBlob(resolve, "image/png"));
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
    lastBlob = blob;
    lastInput = result.input;
    showPrediction(result);
    showLayers(result.layers);
    status("");
  } catch (err) {
    status(err.message);
  }
}

// ---- prediction and probabilities ------------------------------------------------------
function buildProbabilities() {
  const box = $("probabilities");
  box.innerHTML = "";
  model.classes.forEach((name, k) => {
    const row = document.createElement("div");
    row.className = "prob";
    row.innerHTML = `<span>${name === String(k) ? k : `${k}: ${name}`}</span><span class="track"><span class="fill"></span></span><span class="value">–</span>`;
    box.appendChild(row);
  });
}

function showPrediction(result) {
  $("prediction").textContent = result.prediction;
  $("prediction-label").textContent = model && model.classes[result.prediction] !== String(result.prediction) ? result.label : "";
  const rows = $("probabilities").children;
  result.probabilities.forEach((p, k) => {
    rows[k].querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    rows[k].querySelector(".value").textContent = `${(100 * p).toFixed(1)}%`;
    rows[k].classList.toggle("top", k === result.prediction);
  });
  paint($("seen"), result.input.flat(), 28, 28, "grey");
}

// ---- activations ------------------------------------------------------------------------
function colour(v, scale, mode) {
  const t = Math.max(-1, Math.min(1, v / scale));
  if (mode === "grey") return [255 * t, 255 * t, 255 * t];
  return t >= 0 ? [255 * t, 255 * t, 255 * t] : [40 * -t, 90 * -t, 255 * -t];
}

function paint(canvas, values, h, w, mode, scale) {
  const c = canvas.getContext("2d");
  const img = c.createImageData(w, h);
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const s = scale || Math.max(Math.abs(lo), Math.abs(hi), 1e-6);
  for (let i = 0; i < h * w; i++) {
    const v = mode === "grey" ? (values[i] - lo) / Math.max(hi - lo, 1e-6) : values[i];
    const [r, g, b] = colour(v, mode === "grey" ? 1 : s, mode);
    img.data.set([r, g, b, 255], 4 * i);
  }
  c.putImageData(img, 0, 0);
}

function buildLayers(layers) {
  const box = $("layers");
  box.innerHTML = "";
  views.clear();
  for (const layer of layers) {
    const col = document.createElement("div");
    col.className = "layer";
    col.innerHTML = `<div class="name">${layer.name}</div><div class="shape">${layer.shape.join("×")}</div>`;
    if (layer.shape.length === 3) {
      const [c, h, w] = layer.shape;
      const grid = document.createElement("div");
      grid.className = "maps";
      const shown = Math.min(c, MAX_MAPS);
      grid.style.gridTemplateColumns = `repeat(${Math.ceil(shown / 8)}, auto)`;
      grid.style.gridAutoFlow = "column";
      grid.style.gridTemplateRows = `repeat(${Math.min(shown, 8)}, auto)`;
      const canvases = [];
      for (let k = 0; k < shown; k++) {
        const cv = document.createElement("canvas");
        cv.width = w;
        cv.height = h;
        cv.title = `${layer.name} map ${k}`;
        cv.dataset.layer = layer.name;
        cv.dataset.channel = k;
        cv.addEventListener("click", (e) => {
          const y = Math.min(h - 1, Math.floor((e.offsetY / cv.clientHeight) * h));
          const x = Math.min(w - 1, Math.floor((e.offsetX / cv.clientWidth) * w));
          select({ layer: layer.name, channel: k, y, x }, cv);
        });
        grid.appendChild(cv);
        canvases.push(cv);
      }
      col.appendChild(grid);
      if (c > shown) col.insertAdjacentHTML("beforeend", `<div class="shape">first ${shown} of ${c}</div>`);
      views.set(layer.name, { kind: "maps", canvases, h, w });
    } else {
      const n = layer.shape[0];
      const list = document.createElement("div");
      list.className = "cells" + (n <= 16 ? " few" : "");
      const cells = [];
      for (let k = 0; k < n; k++) {
        const cell = document.createElement("button");
        cell.className = "cell";
        cell.title = `${layer.name} unit ${k}`;
        cell.dataset.layer = layer.name;
        cell.dataset.channel = k;
        if (n <= 16) cell.textContent = k;
        cell.addEventListener("click", () => select({ layer: layer.name, channel: k, y: 0, x: 0 }, cell));
        list.appendChild(cell);
        cells.push(cell);
      }
      col.appendChild(list);
      views.set(layer.name, { kind: "cells", cells });
    }
    box.appendChild(col);
  }
}

function showLayers(layers) {
  const names = layers.map((l) => l.name).join();
  if ([...views.keys()].join() !== names) buildLayers(layers);
  for (const layer of layers) {
    const view = views.get(layer.name);
    const scale = Math.max(Math.abs(layer.min), Math.abs(layer.max), 1e-6);
    if (view.kind === "maps") {
      const size = view.h * view.w;
      view.canvases.forEach((cv, k) => paint(cv, layer.data.slice(k * size, (k + 1) * size), view.h, view.w, "signed", scale));
    } else {
      view.cells.forEach((cell, k) => {
        const [r, g, b] = colour(layer.data[k], scale, "signed");
        cell.style.background = `rgb(${r | 0},${g | 0},${b | 0})`;
        cell.style.color = layer.data[k] / scale > 0.5 ? "#000" : "#fff";
      });
    }
  }
}

// ---- one unit ------------------------------------------------------------------------------
function select(unit, element) {
  document.querySelectorAll(".selected").forEach((el) => el.classList.remove("selected"));
  element.classList.add("selected");
  selected = unit;
  askUnit();
}

async function explain() {
  const u = selected;
  try {
    const info = await postPng(`/api/unit?layer=${encodeURIComponent(u.layer)}&channel=${u.channel}&y=${u.y}&x=${u.x}`, lastBlob);
    showUnit(info);
  } catch (err) {
    status(err.message);
  }
}

const fmt = (v, d = 3) => Number(v).toFixed(d);

function figure(caption, child) {
  const f = document.createElement("figure");
  f.appendChild(child);
  f.insertAdjacentHTML("beforeend", `<figcaption>${caption}</figcaption>`);
  return f;
}

function kernelCanvas(kernel, px) {
  const k = kernel.length, kw = kernel[0].length;
  const cv = document.createElement("canvas");
  cv.width = kw;
  cv.height = k;
  cv.style.width = `${px}px`;
  cv.style.height = `${(px * k) / kw}px`;
  cv.className = "kernel";
  paint(cv, kernel.flat(), k, kw, "signed");
  return cv;
}

function fieldCanvas(box) {
  const cv = document.createElement("canvas");
  cv.width = cv.height = 112;
  const c = cv.getContext("2d");
  const small = document.createElement("canvas");
  small.width = small.height = 28;
  paint(small, lastInput.flat(), 28, 28, "grey");
  c.imageSmoothingEnabled = false;
  c.drawImage(small, 0, 0, 112, 112);
  if (box) {
    c.strokeStyle = "#e0302a";
    c.lineWidth = 2;
    c.strokeRect(box.x0 * 4 + 1, box.y0 * 4 + 1, (box.x1 - box.x0) * 4 - 2, (box.y1 - box.y0) * 4 - 2);
  }
  return cv;
}

function arithmeticTable(patch, kernel) {
  const t = document.createElement("table");
  t.className = "arith";
  patch.forEach((row, i) => {
    const tr = t.insertRow();
    row.forEach((p, j) => { tr.insertCell().textContent = `${fmt(p, 2)}×${fmt(kernel[i][j], 2)}`; });
  });
  return t;
}

function showUnit(info) {
  $("unit").hidden = false;
  const where = info.kind === "linear" || info.receptive_field === null && info.kind !== "conv" && info.kind !== "pool"
    ? `unit ${info.channel}` : `map ${info.channel}, unit (${info.y}, ${info.x})`;
  $("unit-title").textContent = `${info.layer} (${info.type}) ${where}`;
  const body = $("unit-body");
  body.innerHTML = "";
  const row = document.createElement("div");
  row.className = "unit-row";
  body.appendChild(row);
  if (info.kind === "conv") {
    info.kernel.slice(0, 16).forEach((k, i) =>
      row.appendChild(figure(info.kernel.length > 1 ? `filter, input map ${i}` : "filter weights", kernelCanvas(k, 60))));
  }
  if (info.receptive_field) {
    const b = info.receptive_field;
    row.appendChild(figure(`receptive field ${b.size.join("×")} px`, fieldCanvas(b)));
  }
  const lines = [];
  if (info.kind === "conv") {
    if (info.patch.length === 1) row.appendChild(figure("input patch × weights: flip-and-filter, with the flip built into the learned weights", arithmeticTable(info.patch[0], info.kernel[0])));
    else info.per_channel.forEach((s, i) => lines.push(`Σ patch(map ${i}) × kernel(map ${i}) = ${fmt(s, 4)}`));
    const total = info.per_channel.reduce((a, b) => a + b, 0);
    lines.push(`Σ patch × kernel = ${fmt(total, 4)}`);
    lines.push(`+ bias ${fmt(info.bias, 4)} = ${fmt(info.sum, 4)}   (the layer's output: ${fmt(info.output, 4)})`);
  } else if (info.kind === "pool") {
    lines.push(`${info.op} of the window [${info.window.map((r) => r.map((v) => fmt(v, 2)).join(" ")).join(" | ")}] = ${fmt(info.output, 4)}`);
  } else if (info.kind === "linear") {
    const strip = kernelCanvas([info.weights], Math.min(360, info.weights.length * 3));
    strip.style.height = "14px";
    row.appendChild(figure(`its ${info.inputs} weights (bright +, blue −)`, strip));
    lines.push(`Σ over ${info.inputs} inputs of input × weight = ${fmt(info.sum, 4)}; largest terms:`);
    info.top_terms.forEach((t) => lines.push(`   input[${t.index}] ${fmt(t.input, 3)} × ${fmt(t.weight, 3)} = ${fmt(t.input * t.weight, 4)}`));
    lines.push(`+ bias ${fmt(info.bias, 4)} = ${fmt(info.sum + info.bias, 4)}   (the layer's output: ${fmt(info.output, 4)})`);
  } else {
    lines.push(`output ${fmt(info.output, 4)}`);
  }
  if (Math.abs(info.activation - info.output) > 1e-6) lines.push(`after the activation function: ${fmt(info.activation, 4)}`);
  else if (info.kind === "conv" || info.kind === "linear") lines.push(`passed on unchanged: ${fmt(info.activation, 4)}${info.output < 0 ? "" : " (ReLU keeps positive values)"}`);
  const f = document.createElement("div");
  f.className = "formula";
  f.textContent = lines.join("\n");
  body.appendChild(f);
  for (const im of info.images) {
    const img = document.createElement("img");
    img.src = im.url;
    img.alt = im.title;
    body.appendChild(figure(im.title, img));
  }
}

// ---- side panels -----------------------------------------------------------------------
function showSize(size) {
  const rows = size.layers.map((r) => `<tr><td>${r.name}</td><td>${r.units.toLocaleString()}</td><td>${r.weights.toLocaleString()}</td><td>${r.connections.toLocaleString()}</td></tr>`);
  const t = size.totals;
  $("size").innerHTML = `<table><thead><tr><th>layer</th><th>units</th><th>weights</th><th>connections</th></tr></thead>
    <tbody>${rows.join("")}<tr><th>total</th><th>${t.units.toLocaleString()}</th><th>${t.weights.toLocaleString()}</th><th>${t.connections.toLocaleString()}</th></tr></tbody></table>`;
}

function showCurves(epochs) {
  const cv = $("curves");
  const c = cv.getContext("2d");
  c.clearRect(0, 0, cv.width, cv.height);
  c.font = "11px system-ui";
  if (!epochs.length) { c.fillText("no metrics recorded", 10, 20); return; }
  const panels = [
    { title: "loss", keys: [["train_loss", "#3b6fd8"], ["test_loss", "#d2352b"]], y0: 0 },
    { title: "test accuracy %", keys: [["test_accuracy", "#2f9e44"]], y0: cv.height / 2, scale: 100 },
  ];
  const left = 38, right = cv.width - 8, h = cv.height / 2 - 22;
  for (const p of panels) {
    const vals = p.keys.flatMap(([k]) => epochs.map((e) => (e[k] ?? NaN) * (p.scale || 1))).filter(Number.isFinite);
    const lo = Math.min(...vals), hi = Math.max(...vals);
    const top = p.y0 + 16;
    const X = (i) => (epochs.length === 1 ? (left + right) / 2 : left + ((right - left) * i) / (epochs.length - 1));
    const Y = (v) => top + h - ((v - lo) / Math.max(hi - lo, 1e-9)) * h;
    c.fillStyle = "#1d2330";
    c.fillText(p.title, left, p.y0 + 11);
    c.fillStyle = "#6b7385";
    c.fillText(fmt(hi, 2), 2, top + 8);
    c.fillText(fmt(lo, 2), 2, top + h);
    c.strokeStyle = "#d9dde6";
    c.strokeRect(left, top, right - left, h);
    for (const [k, colourName] of p.keys) {
      c.strokeStyle = colourName;
      c.beginPath();
      epochs.forEach((e, i) => (i ? c.lineTo(X(i), Y(e[k] * (p.scale || 1))) : c.moveTo(X(i), Y(e[k] * (p.scale || 1)))));
      c.stroke();
      c.fillStyle = colourName;
      epochs.forEach((e, i) => c.fillRect(X(i) - 2, Y(e[k] * (p.scale || 1)) - 2, 4, 4));
    }
  }
}

async function start() {
  clearPad();
  try {
    const [m, curves] = await Promise.all([fetch("/api/model").then((r) => r.json()), fetch("/api/curves").then((r) => r.json())]);
    model = m;
    $("model-name").textContent = `${m.name} on ${m.dataset}`;
    if (m.test_accuracy != null) $("model-accuracy").textContent = `test accuracy ${(100 * m.test_accuracy).toFixed(2)}%`;
    buildProbabilities();
    showSize(m.size);
    showCurves(curves.epochs);
    askPredict();
  } catch (err) {
    status(`could not reach the server: ${err.message}`);
  }
}

start();
