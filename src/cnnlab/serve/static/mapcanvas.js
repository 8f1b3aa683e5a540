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

const GAP = -1, PAST = -2; // pixels between boxes (left transparent); cells past the last unit (grey)

// A pixel as one 32-bit word of an ImageData's buffer: its bytes are R, G, B, A in memory.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const rgba = (r, g, b) => (LITTLE_ENDIAN ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0 : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0);
const BLANK = rgba(240, 241, 244); // #f0f1f4: a map with nothing drawn (an empty pad)
const GREY = rgba(235, 235, 235);

/**
 * A canvas under `boxes` (the .map elements in `grid`), each showing an h × w map.
 * paint(values, scale): box k shows values[k·h·w ..]; with one box and count < h·w (a fully
 * connected layer as a grid), the cells past `count` are grey. clear(): every box blank.
 * When the grid changes size (a reflow, a style, a panel shown), the boxes are measured again at
 * the next paint and onMove() is called to ask for one; refit() does the same for a window resize.
 */
export function mapCanvas(grid, boxes, h, w, count = h * w, onMove = null) {
  const canvas = document.createElement("canvas");
  canvas.className = "atlas";
  canvas.setAttribute("aria-hidden", "true");
  grid.prepend(canvas);
  new ResizeObserver(() => {
    stale = true;
    if (onMove) onMove();
  }).observe(grid);
  const ctx = canvas.getContext("2d");
  let dpr = 0; // the pixel ratio `source` was made for
  let stale = true; // the boxes may have moved since (refit): measure them again at the next paint
  let source = null; // (H·W) Int32Array: for each canvas pixel, the value it shows, GAP or PAST
  let image = null; // the canvas's ImageData, reused: only the boxes' pixels are ever written
  let pixels = null; // its bytes as one word a pixel
  let colours = new Uint32Array(0); // the colour of each value, worked out once a paint

  /** Size the canvas to the grid and map its pixels to values (again after a zoom or a refit:
   * a resized window can move the boxes); false while the grid is not laid out. Boxes are only
   * measured then, so a paint while drawing forces no layout. */
  function fit() {
    const ratio = window.devicePixelRatio || 1;
    if (ratio === dpr && !stale && source) return true;
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
    pixels = new Uint32Array(image.data.buffer);
    dpr = ratio;
    stale = false;
    return true;
  }

  function paint(values, scale) {
    if (!fit()) return;
    if (colours.length < values.length) colours = new Uint32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const k = 3 * level(values[i], scale);
      colours[i] = rgba(LUT[k], LUT[k + 1], LUT[k + 2]);
    }
    for (let p = 0; p < source.length; p++) {
      const s = source[p];
      if (s >= 0) pixels[p] = colours[s];
      else if (s === PAST) pixels[p] = GREY;
    }
    ctx.putImageData(image, 0, 0);
  }

  function clear() {
    if (!fit()) return;
    for (let p = 0; p < source.length; p++) if (source[p] !== GAP) pixels[p] = BLANK;
    ctx.putImageData(image, 0, 0);
  }

  /** The boxes may have moved (the window was resized): measure them at the next paint. */
  function refit() {
    stale = true;
  }

  return { canvas, paint, clear, refit };
}
