// All of a layer's maps on one canvas, under the maps' boxes.
//
// Every <canvas> is a compositor layer of its own, and Chromium's cost at each frame it commits
// grows with their number (see canvasOf in util.js): a canvas per map put ~50 of them in the
// network panel. Here the boxes (.map) stay the elements to click, hover, focus and outline,
// with nothing inside them; one canvas, placed under them at device-pixel resolution, shows
// each map in its box's content area, cells scaled by nearest neighbour as image-rendering:
// pixelated scales a small canvas.
"use strict";

import { LUT, level } from "./colormap.js";

const BLANK = [240, 241, 244]; // #f0f1f4: a map with nothing drawn (an empty pad)
const GAP = -1, PAST = -2; // pixels between boxes (left transparent); cells past the last unit (grey)

/**
 * A canvas under `boxes` (the .map elements in `grid`), each showing an h × w map.
 * paint(values, scale): box k shows values[k·h·w ..]; with one box and count < h·w (a fully
 * connected layer as a grid), the cells past `count` are grey. clear(): every box blank.
 */
export function mapCanvas(grid, boxes, h, w, count = h * w) {
  const canvas = document.createElement("canvas");
  canvas.className = "atlas";
  canvas.setAttribute("aria-hidden", "true");
  grid.prepend(canvas);
  const ctx = canvas.getContext("2d");
  let dpr = 0;
  let source = null; // (H·W) Int32Array: for each canvas pixel, the value it shows, GAP or PAST
  let image = null; // the canvas's ImageData, reused: only the boxes' pixels are ever written

  /** Size the canvas to the grid and map its pixels to values; false while the grid is not laid out. */
  function fit() {
    const ratio = window.devicePixelRatio || 1;
    if (ratio === dpr && source) return true;
    const cssW = grid.clientWidth, cssH = grid.clientHeight;
    if (!cssW || !cssH) return false;
    canvas.style.width = `${cssW}px`;
    canvas.style.height = `${cssH}px`;
    const W = (canvas.width = Math.round(cssW * ratio)), H = (canvas.height = Math.round(cssH * ratio));
    source = new Int32Array(W * H).fill(GAP);
    boxes.forEach((box, k) => {
      // the box's content area (inside its border), in canvas pixels
      const x0 = Math.round((box.offsetLeft + box.clientLeft) * ratio), y0 = Math.round((box.offsetTop + box.clientTop) * ratio);
      const bw = Math.min(W - x0, Math.round(box.clientWidth * ratio)), bh = Math.min(H - y0, Math.round(box.clientHeight * ratio));
      for (let dy = 0; dy < bh; dy++) {
        const sy = Math.floor(((dy + 0.5) * h) / bh); // the cell under the pixel's centre
        for (let dx = 0; dx < bw; dx++) {
          const cell = sy * w + Math.floor(((dx + 0.5) * w) / bw);
          source[(y0 + dy) * W + x0 + dx] = cell < count ? k * h * w + cell : PAST;
        }
      }
    });
    image = ctx.createImageData(W, H);
    dpr = ratio;
    return true;
  }

  function paint(values, scale) {
    if (!fit()) return;
    const d = image.data;
    for (let p = 0; p < source.length; p++) {
      const s = source[p];
      if (s === GAP) continue;
      if (s === PAST) {
        d[4 * p] = d[4 * p + 1] = d[4 * p + 2] = 235;
      } else {
        const k = 3 * level(values[s], scale);
        d[4 * p] = LUT[k];
        d[4 * p + 1] = LUT[k + 1];
        d[4 * p + 2] = LUT[k + 2];
      }
      d[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  function clear() {
    if (!fit()) return;
    const d = image.data;
    for (let p = 0; p < source.length; p++) {
      if (source[p] === GAP) continue;
      d.set(BLANK, 4 * p);
      d[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  return { canvas, paint, clear };
}
