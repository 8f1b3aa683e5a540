// The page's one colour scale: matplotlib's RdBu_r (ColorBrewer RdBu reversed), 256 steps,
// the same map `cnnlab viz` uses for weights in its PNGs. Negative values are blue, 0 is
// near-white, positive values are red; every layer is scaled symmetrically at ±max|v|, so
// 0 always sits in the middle of the legend. tests/serve/test_page.py checks this table
// against matplotlib's.
"use strict";

const HEX =
  "05306106326407346708366a09386d0a3b700c3d730d3f760e41790f437b10457e114781124984134c87144e8a15508d" +
  "1752901854931956961a58991b5a9c1c5c9f1d5fa21e61a51f63a82065ab2267ac2369ad246aae266caf276eb02870b1" +
  "2a71b22b73b32c75b42e77b52f79b5307ab6327cb7337eb83480b93681ba3783bb3885bc3a87bd3b88be3c8abe3e8cbf" +
  "3f8ec0408fc14291c24393c34695c44997c54c99c64f9bc7529dc8569fc959a1ca5ca3cb5fa5cd62a7ce65a9cf68abd0" +
  "6bacd16eaed271b0d375b2d478b4d57bb6d67eb8d781bad884bcd987beda8ac0db8dc2dc90c4dd93c6de96c7df98c8e0" +
  "9bc9e09dcbe1a0cce2a2cde3a5cee3a7d0e4a9d1e5acd2e5aed3e6b1d5e7b3d6e8b6d7e8b8d8e9bbdaeabddbeac0dceb" +
  "c2ddecc5dfecc7e0edcae1eecce2efcfe4efd1e5f0d2e6f0d4e6f1d5e7f1d7e8f1d8e9f1dae9f2dbeaf2ddebf2deebf2" +
  "e0ecf3e1edf3e3edf3e4eef4e6eff4e7f0f4e9f0f4eaf1f5ecf2f5edf2f5eff3f5f0f4f6f2f5f6f3f5f6f5f6f7f6f7f7" +
  "f7f6f6f7f5f4f8f4f2f8f3f0f8f2eff8f1edf9f0ebf9efe9f9eee7f9ede5f9ebe3faeae1fae9dffae8defae7dcfbe6da" +
  "fbe5d8fbe4d6fbe3d4fce2d2fce0d0fcdfcffcdecdfdddcbfddcc9fddbc7fdd9c4fcd7c2fcd5bffcd3bcfbd0b9fbceb7" +
  "fbccb4facab1fac8aff9c6acf9c4a9f9c2a7f8bfa4f8bda1f8bb9ef7b99cf7b799f7b596f6b394f6b191f6af8ef5ac8b" +
  "f5aa89f5a886f4a683f3a481f2a17ff19e7df09c7bef9979ee9677ec9374eb9172ea8e70e98b6ee8896ce6866ae58368" +
  "e48066e37e64e27b62e17860df765ede735cdd7059dc6e57db6b55da6853d86551d7634fd6604dd55d4cd35a4ad25849" +
  "d05548cf5246ce4f45cc4c44cb4942c94741c84440c6413ec53e3dc43b3cc2383ac13639bf3338be3036bd2d35bb2a34" +
  "ba2832b82531b72230b61f2eb41c2db3192cb1182bae172aab162aa81529a51429a213289f12289c1127991027960f27" +
  "930e26900d268d0c258a0b25870a248409248108237f08237c07227906227605217304217003206d02206a011f67001f";

export const LUT = new Uint8Array(768);
for (let i = 0; i < 768; i++) LUT[i] = parseInt(HEX.substr(2 * i, 2), 16);

/** Index into LUT for value v on a symmetric scale ±scale (matplotlib's rounding). */
export function level(v, scale) {
  const t = (v / scale + 1) / 2;
  return Math.max(0, Math.min(255, Math.floor(t * 256)));
}

/** "rgb(r,g,b)" for value v on the scale ±scale. */
export function css(v, scale) {
  const i = 3 * level(v, scale);
  return `rgb(${LUT[i]},${LUT[i + 1]},${LUT[i + 2]})`;
}

/** Text colour readable on top of css(v, scale). */
export function ink(v, scale) {
  return Math.abs(v / scale) > 0.6 ? "#fff" : "#1d2330";
}

/** The symmetric scale of some values: max |v|, never 0. */
export function scaleOf(values, start = 0, end = values.length) {
  let m = 0;
  for (let i = start; i < end; i++) {
    const a = Math.abs(values[i]);
    if (a > m) m = a;
  }
  return m > 1e-9 ? m : 1;
}

/**
 * RGBA bytes of values[offset .. offset + n) into rgba, 4 bytes a value, diverging around 0.
 * empty: values past `count` are light grey (a 12×10 grid for 120 units).
 */
export function fill(rgba, values, offset, n, scale, count = n) {
  for (let i = 0; i < n; i++) {
    if (i < count) {
      const k = 3 * level(values[offset + i], scale);
      rgba[4 * i] = LUT[k];
      rgba[4 * i + 1] = LUT[k + 1];
      rgba[4 * i + 2] = LUT[k + 2];
    } else {
      rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = 235;
    }
    rgba[4 * i + 3] = 255;
  }
}

/** Paint values[offset .. offset + h*w) onto canvas (w × h pixels); see fill. */
export function paint(canvas, values, offset, h, w, scale, count = h * w) {
  const c = canvas.getContext("2d");
  const img = c.createImageData(w, h);
  fill(img.data, values, offset, h * w, scale, count);
  c.putImageData(img, 0, 0);
}

let bar = null; // the colour bar as a PNG data URL, made once: every legend shows the same one

/** A legend: the colour bar, with −scale, 0 and +scale under it. */
export function legend(scale, digits = 2) {
  const box = document.createElement("div");
  box.className = "legend";
  if (!bar) {
    const c = document.createElement("canvas"); // never in the page: only encoded
    c.width = 256;
    c.height = 1;
    paint(c, new Float32Array(256).map((_, i) => (i + 0.5) / 128 - 1), 0, 1, 256, 1);
    bar = c.toDataURL();
  }
  const img = document.createElement("img");
  img.className = "bar";
  img.src = bar;
  img.alt = "";
  box.appendChild(img);
  const labels = document.createElement("div");
  labels.className = "legend-labels";
  box.appendChild(labels);
  setLegend(box, scale, digits);
  return box;
}

export function setLegend(box, scale, digits = 2) {
  const f = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(digits));
  const labels = box.querySelector(".legend-labels");
  labels.innerHTML = `<span>−${f(scale)}</span><span>0</span><span>+${f(scale)}</span>`;
  box.title = `colour scale: blue −${f(scale)}, white 0, red +${f(scale)}`;
}
