// The unit panel: what one clicked unit reads, its weights, and the arithmetic of its value.
// conv: the flip-and-filter step animated (the kernel sliding over each input map it reads,
// the running sum building the output map), playable and steppable; pool: its window with
// the max marked; fully connected: its top inputs by name and its weights in the layout of
// its input; batch norm: its input standardized by the running statistics, then scaled and
// shifted; the output layer: logits -> exp -> normalize -> probabilities.
"use strict";

import { legend, paint, scaleOf } from "./colormap.js";
import { state } from "./app.js";
import { $, canvasOf, el, f32, figure, fmt, hoverValues, markIn, paintInput, pictureOf, placeMark } from "./util.js";

let player = null; // the running animation, stopped when the panel changes

export function unitMessage(text) {
  stopPlayer();
  $("unit-body").replaceChildren(el("p", "hint", text));
}

function stopPlayer() {
  if (player) clearInterval(player.timer);
  player = null;
}

export function showUnit(info) {
  stopPlayer();
  const where = info.kind === "conv" || info.kind === "pool" || info.receptive_field
    ? `map ${info.channel}, unit (${info.y}, ${info.x})`
    : `unit ${info.channel}${info.last && state.model.classes[info.channel] !== String(info.channel) ? ` (${state.model.classes[info.channel]})` : ""}`;
  $("unit-title").textContent = `${info.layer} (${info.type}) ${where}`;
  const body = $("unit-body");
  body.replaceChildren();
  if (info.kind === "conv") convView(info, body);
  else if (info.kind === "pool") poolView(info, body);
  else if (info.kind === "linear") {
    if (info.last) softmaxView(info, body); // the output: the softmax first, then the sum behind one logit
    linearView(info, body);
  } else if (info.kind === "batchnorm") batchNormView(info, body);
  else body.appendChild(formula([`output ${fmt(info.output, 4)}`]));
  if (info.last && info.kind !== "linear") softmaxView(info, body);
  vizImages(info, body);
}

function formula(lines) {
  const f = el("div", "formula");
  f.textContent = lines.join("\n");
  return f;
}

function activationLine(info) {
  if (info.last) return `= ${fmt(info.output, 4)}: a logit (class score); the softmax below turns the 10 logits into probabilities`;
  if (Math.abs(info.activation - info.output) > 1e-6) return `after the activation function: ${fmt(info.activation, 4)} (the next layer reads this)`;
  return `passed on as it is: ${fmt(info.activation, 4)}${info.kind === "pool" ? "" : info.output > 0 ? " (ReLU-like: positive values pass unchanged)" : ""}`;
}

function receptiveField(info, size = 112) {
  const rf = info.receptive_field;
  if (!rf || !state.result) return null;
  const [c, h, w] = state.result.input.shape;
  const px = Math.min(size, 4 * w);
  const box = el("div", "mapbox");
  const cv = pictureOf(w, h, px, (px * h) / w, "the input with this unit's receptive field outlined", (canvas) =>
    paintInput(canvas, state.result.input.values, [c, h, w], state.model.mean, state.model.std));
  box.appendChild(cv);
  placeMark(markIn(box, "field"), rf.y0, rf.x0, rf.y1, rf.x1, h, w);
  return figure(`receptive field: ${rf.size.join("×")} px of the input`, box);
}

// ---- convolution: flip and filter, animated ---------------------------------------------------
function convView(info, body) {
  const [cin, H, W] = info.input_maps.shape;
  const maps = f32(info.input_maps.data); // (cin, H, W)
  const [oh, ow] = info.output_map.shape;
  const served = f32(info.output_map.data); // (oh, ow), the layer's own output
  const kh = info.kernel[0].length, kw = info.kernel[0][0].length;
  const kernel = f32(info.kernel_data); // (cin, kh, kw), full precision
  const [sy, sx] = info.stride, [py, px] = info.padding, [dy, dx] = info.dilation;
  const local = info.feeds.map((k) => k - info.input_maps.first);

  // out(y, x) = bias + Σ_c Σ_ij in_c(y·s + i·d − p, x·s + j·d − p) · k_c(i, j), zero outside
  const term = (c, y, x) => {
    let s = 0;
    for (let i = 0; i < kh; i++) {
      const yy = y * sy + i * dy - py;
      if (yy < 0 || yy >= H) continue;
      for (let j = 0; j < kw; j++) {
        const xx = x * sx + j * dx - px;
        if (xx >= 0 && xx < W) s += maps[(c * H + yy) * W + xx] * kernel[(c * kh + i) * kw + j];
      }
    }
    return s;
  };
  const out = new Float32Array(oh * ow);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    let s = info.bias;
    for (const c of local) s += term(c, y, x);
    out[y * ow + x] = s;
  }
  let diff = 0;
  for (let i = 0; i < out.length; i++) diff = Math.max(diff, Math.abs(out[i] - served[i]));

  const intro = el("p", "note");
  intro.textContent = `It reads ${local.length} of ${cin} input map${cin > 1 ? "s" : ""} (${info.input_layer}${
    local.length < cin ? `: ${info.feeds.join(", ")}` : ""}), outlined in blue above, through a ${kh}×${kw} window each.`;
  body.appendChild(intro);

  // the animation: each input map with the sliding window, its kernel, and the output map
  body.appendChild(el("h3", null, "Flip and filter: the kernel slides, the sum builds the output map"));
  const anim = el("div", "unit-row anim");
  const inputIsImage = info.input_layer === "input";
  const mapScale = scaleOf(maps);
  const kScale = scaleOf(kernel);
  const mapPx = Math.max(48, Math.min(4 * W, local.length > 4 ? 64 : 112));
  const windows = [];
  for (const c of local.slice(0, 16)) {
    const box = el("div", "mapbox");
    const cv = pictureOf(W, H, mapPx, (mapPx * H) / W, `${info.input_layer} map ${info.input_maps.first + c}`, (canvas) => {
      if (inputIsImage) paintInput(canvas, maps.subarray(c * H * W, (c + 1) * H * W), [1, H, W], [state.model.mean[c % state.model.mean.length]], [state.model.std[c % state.model.std.length]]);
      else paint(canvas, maps, c * H * W, H, W, mapScale);
    });
    hoverValues(cv, H, W, (y, x) => `${info.input_layer} map ${info.input_maps.first + c} (${y}, ${x}) = ${fmt(maps[(c * H + y) * W + x], 3)}`);
    box.appendChild(cv);
    windows.push(markIn(box, "window"));
    const k = pictureOf(kw, kh, 40, (40 * kh) / kw, `weights on map ${info.input_maps.first + c}`, (canvas) =>
      paint(canvas, kernel, c * kh * kw, kh, kw, kScale));
    k.classList.add("kernel");
    hoverValues(k, kh, kw, (i, j) => `weight (${i}, ${j}) = ${fmt(kernel[(c * kh + i) * kw + j], 4)}`);
    const fig = figure(`${inputIsImage ? "input" : `map ${info.input_maps.first + c}`} ⊛ weights`, box, k);
    fig.className = "in-map";
    anim.appendChild(fig);
  }
  if (local.length > 16) anim.appendChild(el("p", "note", `… and ${local.length - 16} more maps`));
  anim.appendChild(el("span", "op", "→"));
  const outBox = el("div", "mapbox"); // a canvas: the animation redraws it
  const outPx = Math.max(56, Math.min(local.length > 4 ? 84 : 112, 4 * ow));
  const outCv = canvasOf(ow, oh, outPx, (outPx * oh) / ow, `${info.layer} map ${info.channel} being built`);
  outBox.appendChild(outCv);
  const cursor = markIn(outBox, "unit");
  const outScale = scaleOf(out);
  anim.appendChild(figure(`${info.layer} map ${info.channel} (${info.batchnorm ? "the conv's sums, before batch norm" : "before the activation"})`, outBox, legend(outScale)));
  const rf = receptiveField(info, local.length > 4 ? 84 : 112);
  if (rf) anim.appendChild(rf);
  body.appendChild(anim);

  const controls = el("div", "controls", null, { role: "group", "aria-label": "animation controls" });
  const button = (text, label, fn) => {
    const b = el("button", null, text, { type: "button", "aria-label": label });
    b.addEventListener("click", fn);
    controls.appendChild(b);
    return b;
  };
  const n = oh * ow;
  const slider = el("input", null, null, { type: "range", min: "0", max: String(n - 1), "aria-label": "kernel position (step)" });
  const readout = el("output", null, null, { "aria-live": "off" });
  const text = el("div", "steptext");
  const p = { step: info.y * ow + info.x, timer: null };
  // what the next layer reads at each position (after ReLU, tanh, …), from the page's own pass
  const shown = state.result ? state.result.layers.find((l) => l.name === info.layer) : null;
  const after = shown && !info.last && shown.values.length >= (info.channel + 1) * n ? shown.values : null;

  function show(step) {
    p.step = Math.max(0, Math.min(n - 1, step));
    const y = Math.floor(p.step / ow), x = p.step % ow;
    const partial = new Float32Array(n);
    partial.set(out.subarray(0, p.step + 1));
    paint(outCv, partial, 0, oh, ow, outScale, p.step + 1);
    placeMark(cursor, y, x, y + 1, x + 1, oh, ow);
    const y0 = y * sy - py, x0 = x * sx - px;
    const clip = (v, m) => Math.max(0, Math.min(m, v));
    for (const m of windows) placeMark(m, clip(y0, H), clip(x0, W), clip(y0 + (kh - 1) * dy + 1, H), clip(x0 + (kw - 1) * dx + 1, W), H, W);
    slider.value = String(p.step);
    readout.textContent = `step ${p.step + 1} of ${n}: (${y}, ${x})`;
    const parts = local.map((c) => term(c, y, x));
    const lines = [
      `${info.layer} map ${info.channel} at (${y}, ${x}):`,
      local.length === 1
        ? `  Σ window × weights = ${fmt(parts[0], 4)}`
        : `  Σ over ${local.length} maps of Σ window × weights = ${parts.map((v) => fmt(v, 3)).join(" + ")}`,
      `  + bias ${fmt(info.bias, 4)} = ${fmt(out[p.step], 4)}${after ? `   → ${info.batchnorm ? `batch norm, ${info.activation_type}` : "activation function"} → ${fmt(after[info.channel * n + p.step], 4)}` : ""}`,
    ];
    text.textContent = lines.join("\n");
  }
  const play = () => {
    if (p.timer) {
      clearInterval(p.timer);
      p.timer = null;
      playBtn.textContent = "▶ play";
      return;
    }
    if (p.step >= n - 1) show(0);
    const per = Math.max(1, Math.round(n / 150)); // the whole map in ~6 s
    p.timer = setInterval(() => {
      if (p.step >= n - 1) return play();
      show(p.step + per);
    }, 40);
    playBtn.textContent = "⏸ pause";
  };
  button("«", "first position", () => show(0));
  button("◀", "step back", () => show(p.step - 1));
  const playBtn = button("▶ play", "play or pause the animation", play);
  button("▶", "step forward", () => show(p.step + 1));
  button("»", "last position (the whole map)", () => show(n - 1));
  controls.appendChild(slider);
  controls.appendChild(readout);
  slider.addEventListener("input", () => show(Number(slider.value)));
  body.appendChild(controls);
  body.appendChild(text);
  player = p;
  show(p.step);
  body.dataset.maxDiff = String(diff);

  const flip = el("p", "note");
  flip.textContent = `PyTorch's conv2d slides the weights without flipping them (cross-correlation), so the learned weights are already the lecture's flipped kernel: the convolution kernel w is these weights turned 180°. The map built here in the browser matches the ${info.batchnorm ? "conv's" : "layer's"} own output to ${diff.toExponential(1)}.`;
  body.appendChild(flip);

  body.appendChild(el("h3", null, `The arithmetic at the chosen unit (${info.y}, ${info.x})`));
  const lines = [];
  if (info.patch.length === 1) body.appendChild(wrap(arithmeticTable(info.patch[0], info.kernel[0])));
  else info.per_channel.forEach((s, i) => {
    if (local.includes(i)) lines.push(`Σ window(map ${info.input_maps.first + i}) × weights = ${fmt(s, 4)}`);
  });
  const total = info.per_channel.reduce((a, b) => a + b, 0);
  lines.push(`Σ window × weights = ${fmt(total, 4)}`);
  const bn = info.batchnorm;
  lines.push(`+ bias ${fmt(info.bias, 4)} = ${fmt(info.sum, 4)}   (${bn ? "the conv's sum, before batch norm" : `the layer's output: ${fmt(info.output, 4)}`})`);
  if (bn) {
    lines.push(...batchNormLines(bn, "the conv's sum"));
    const changed = Math.abs(info.activation - info.output) > 1e-6; // something between the block and the next layer
    lines.push(`${info.activation_type}(${fmt(bn.sum, 4)}) = ${fmt(info.output, 4)}   (the block's output${changed ? "" : "; the next layer reads this"})`);
    if (changed) lines.push(activationLine(info));
  } else lines.push(activationLine(info));
  body.appendChild(formula(lines));
}

function wrap(child) {
  const d = el("div", "scroll-x");
  d.appendChild(child);
  return d;
}

function arithmeticTable(patch, kernel) {
  const t = el("table", "arith", null, { "aria-label": "input window times weights, cell by cell" });
  patch.forEach((row, i) => {
    const tr = t.insertRow();
    row.forEach((v, j) => { tr.insertCell().textContent = `${fmt(v, 2)}×${fmt(kernel[i][j], 2)}`; });
  });
  return t;
}

// ---- pooling: the window on the input map, the max marked --------------------------------------
function poolView(info, body) {
  const [H, W] = info.input_map.shape;
  const map = f32(info.input_map.data);
  const row = el("div", "unit-row");
  const box = el("div", "mapbox");
  const px = Math.min(140, 5 * W);
  const cv = pictureOf(W, H, px, (px * H) / W, `${info.input_layer} map ${info.channel}`, (canvas) => paint(canvas, map, 0, H, W, scaleOf(map)));
  hoverValues(cv, H, W, (y, x) => `${info.input_layer} map ${info.channel} (${y}, ${x}) = ${fmt(map[y * W + x], 3)}`);
  box.appendChild(cv);
  const [y0, x0] = info.window_origin;
  const kh = info.window.length, kw = info.window[0].length;
  placeMark(markIn(box, "window"), y0, x0, y0 + kh, x0 + kw, H, W);
  if (info.op === "max") {
    const [by, bx] = info.argmax;
    placeMark(markIn(box, "unit"), y0 + by, x0 + bx, y0 + by + 1, x0 + bx + 1, H, W);
  }
  row.appendChild(figure(`${info.input_layer} map ${info.channel}: the ${kh}×${kw} window (blue)${info.op === "max" ? ", its max (red)" : ""}`, box));
  const t = el("table", "arith", null, { "aria-label": "the pooling window" });
  info.window.forEach((r, i) => {
    const tr = t.insertRow();
    r.forEach((v, j) => {
      const td = tr.insertCell();
      td.textContent = fmt(v, 3);
      if (info.op === "max" && i === info.argmax[0] && j === info.argmax[1]) td.classList.add("best");
    });
  });
  row.appendChild(figure(`the window's values${info.op === "max" ? "; the largest wins" : ""}`, t));
  const rf = receptiveField(info);
  if (rf) row.appendChild(rf);
  body.appendChild(row);
  const values = info.window.flat().map((v) => fmt(v, 3)).join(", ");
  body.appendChild(formula([`${info.op}(${values}) = ${fmt(info.output, 4)}`, "no weights: pooling only picks (max) or averages (mean)", activationLine(info)]));
}

// ---- fully connected: top inputs by name, weights in the layout of the input --------------------
function layoutGrid(values, layout, caption, name) {
  const scale = scaleOf(values);
  if (layout.length === 3) {
    const [c, h, w] = layout;
    const grid = el("div", "weights-grid");
    for (let k = 0; k < c; k++) {
      const cv = pictureOf(w, h, 30, 30, `${name} map ${k}`, (canvas) => paint(canvas, values, k * h * w, h, w, scale));
      hoverValues(cv, h, w, (y, x) => `${name} map ${k} (${y}, ${x}): ${fmt(values[k * h * w + y * w + x], 4)}`);
      grid.appendChild(figure(`${k}`, cv));
    }
    return figure(caption, grid, legend(scale));
  }
  const n = values.length, cols = n <= 16 ? 1 : 12, rows = Math.ceil(n / cols);
  const cell = n <= 16 ? 14 : 9;
  const cv = pictureOf(cols, rows, cols * cell, rows * cell, caption, (canvas) => paint(canvas, values, 0, rows, cols, scale, n));
  hoverValues(cv, rows, cols, (y, x) => (y * cols + x < n ? `${name} unit ${y * cols + x}: ${fmt(values[y * cols + x], 4)}` : null));
  return figure(caption, cv, legend(scale));
}

function linearView(info, body) {
  const w = Float32Array.from(info.weights);
  const prev = state.result ? state.result.layers.find((l) => l.name === info.input_layer) : null;
  const row = el("div", "unit-row");
  row.appendChild(layoutGrid(w, info.weights_layout, `its ${info.inputs} weights, laid out like ${info.input_layer}`, info.input_layer));
  if (prev && prev.values.length === w.length) {
    const contrib = w.map((v, i) => v * prev.values[i]);
    row.appendChild(layoutGrid(contrib, info.weights_layout, `input × weight: what pushed it up (red) or down (blue)`, info.input_layer));
  }
  body.appendChild(row);
  const t = el("table", "terms", null, { "aria-label": "largest terms" });
  t.innerHTML = "<thead><tr><th>input</th><th>value</th><th>× weight</th><th>= term</th></tr></thead>";
  const tb = t.createTBody();
  for (const term of info.top_terms) {
    const tr = tb.insertRow();
    for (const v of [term.name, fmt(term.input, 3), fmt(term.weight, 3), fmt(term.input * term.weight, 4)]) tr.insertCell().textContent = v;
  }
  body.appendChild(el("h3", null, info.last ? `Behind logit ${info.channel}: its largest terms` : "Its largest terms"));
  body.appendChild(wrap(t));
  body.appendChild(formula([
    `Σ over ${info.inputs} inputs of input × weight = ${fmt(info.sum, 4)}`,
    `+ bias ${fmt(info.bias, 4)} = ${fmt(info.sum + info.bias, 4)}   (the layer's output: ${fmt(info.output, 4)})`,
    activationLine(info),
  ]));
}

// ---- batch norm at test time: standardize by the training statistics, then scale and shift ------
// "+ 0.25" or "− 0.25": a term added, its sign folded into the operator
const signed = (v) => `${v < 0 ? "−" : "+"} ${fmt(Math.abs(v), 4)}`;

// batch norm's four steps for one unit; b: the server's batch-norm arithmetic
function batchNormLines(b, what) {
  return [
    `batch norm: x = ${fmt(b.input, 4)}   (${what})`,
    `running mean μ = ${fmt(b.mean, 4)}, running variance σ² = ${fmt(b.var, 4)}, ε = ${b.eps}`,
    `standardized x̂ = (x − μ) / √(σ² + ε) = (${fmt(b.input, 4)} ${signed(-b.mean)}) / ${Number(b.std.toPrecision(4))} = ${fmt(b.normalized, 4)}`,
    b.affine
      ? `scale and shift γ·x̂ + β = ${fmt(b.gamma, 4)} × ${fmt(b.normalized, 4)} ${signed(b.beta)} = ${fmt(b.sum, 4)}`
      : `no learned scale or shift (γ = 1, β = 0): x̂ = ${fmt(b.sum, 4)}`,
  ];
}

function batchNormView(info, body) {
  const scale = info.affine
    ? "then scaled by γ and shifted by β, both learned"
    : "with no learned scale or shift (γ = 1, β = 0)";
  body.appendChild(el("p", "note",
    `Batch norm at test time: the value is standardized with its channel's mean and variance over ` +
    `the training data (running averages kept during training, fixed now), ${scale}.` +
    (info.spatial ? ` The same numbers serve every position of map ${info.channel}.` : "")));
  const lines = batchNormLines(info, "what this layer reads here");
  lines[3] += `   (the layer's output: ${fmt(info.output, 4)})`;
  body.appendChild(formula([...lines, activationLine(info)]));
  const field = receptiveField(info);
  if (field) {
    const row = el("div", "unit-row");
    row.appendChild(field);
    body.appendChild(row);
  }
}

// ---- the output: logits -> exp -> normalize -> probabilities ------------------------------------
function softmaxView(info, body) {
  const z = info.logits;
  const top = Math.max(...z);
  const e = z.map((v) => Math.exp(v - top));
  const total = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / total);
  body.appendChild(el("h3", null, "Softmax, step by step"));
  const steps = [
    "1. the logits z: one score per class, any real number",
    `2. exp(z − max z): all positive; subtracting the largest logit (${fmt(top, 3)}) changes nothing after step 3 and keeps exp from overflowing`,
    `3. normalize: divide by their sum ${fmt(total, 4)}, so they add up to 1`,
    "4. the probabilities, as in the bars on the left",
  ];
  const caption = el("p", "note");
  const t = el("table", "softmax", null, { "aria-label": "softmax steps" });
  t.innerHTML = "<thead><tr><th>class</th><th>logit z</th><th>exp(z − max)</th><th>÷ Σ</th><th>probability</th></tr></thead>";
  const tb = t.createTBody();
  z.forEach((v, k) => {
    const tr = tb.insertRow();
    if (k === info.channel) tr.className = "chosen";
    const name = state.model.classes[k];
    const cells = [name === String(k) ? String(k) : `${k} ${name}`, fmt(v, 3), fmt(e[k], 4), `${fmt(e[k], 4)} / ${fmt(total, 3)}`, `${(100 * p[k]).toFixed(1)}%`];
    cells.forEach((c, i) => {
      const td = tr.insertCell();
      td.textContent = c;
      td.dataset.step = String(i);
    });
  });
  let step = 1;
  const controls = el("div", "controls");
  const back = el("button", null, "◀ previous step", { type: "button" });
  const next = el("button", null, "next step ▶", { type: "button", id: "softmax-next" });
  const all = el("button", null, "all steps", { type: "button" });
  controls.append(back, next, all);
  function show(s) {
    step = Math.max(1, Math.min(4, s));
    for (const td of t.querySelectorAll("td")) {
      const i = Number(td.dataset.step);
      td.classList.toggle("hidden-step", i > 0 && i > step);
    }
    caption.textContent = steps.slice(0, step).join("\n");
    caption.style.whiteSpace = "pre-wrap";
    next.disabled = step === 4;
    back.disabled = step === 1;
    t.dataset.step = String(step);
  }
  back.addEventListener("click", () => show(step - 1));
  next.addEventListener("click", () => show(step + 1));
  all.addEventListener("click", () => show(4));
  body.append(controls, caption, wrap(t));
  show(1);
}

// ---- `cnnlab viz report` pictures for this unit ---------------------------------------------------
function vizImages(info, body) {
  if (!info.images.length) {
    if (state.model.viz === false && (info.kind === "conv" || info.last)) {
      body.appendChild(el("p", "note", "Run `cnnlab viz report RUN_DIR -o RUN_DIR/viz` to see this channel's top test images and optimized input here."));
    }
    return;
  }
  const box = el("div", "viz-images");
  for (const im of info.images) {
    const img = el("img", null, null, { src: im.url, alt: `${im.title}, ${info.layer} ${info.channel}` });
    box.appendChild(figure(im.title, img));
  }
  body.appendChild(box);
}
