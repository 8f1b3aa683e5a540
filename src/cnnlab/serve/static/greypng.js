// The drawing pad as an 8-bit grey PNG, for runs whose images have one channel.
//
// canvas.toBlob() writes RGBA: four bytes a pixel for the server to inflate and unfilter,
// most of a prediction's decoding time. The server turns that RGBA into grey with Pillow's
// rule, L = (19595 R + 38470 G + 7471 B + 32768) >> 16; doing the same here and sending one
// byte a pixel gives it the very same grey levels (so the very same prediction) in a quarter
// of the bytes. A pad with any transparent pixel is left to toBlob (the server composites it).
"use strict";

const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC of type + data. */
function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The canvas as a grey PNG Blob, or null when some pixel is not opaque. */
export async function greyPng(canvas) {
  const { width: w, height: h } = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, w, h).data;
  const raw = new Uint8Array((w + 1) * h); // each row: filter byte 0 ("none"), then w levels
  for (let y = 0, i = 0, o = 0; y < h; y++) {
    raw[o++] = 0;
    for (let x = 0; x < w; x++, i += 4) {
      if (rgba[i + 3] !== 255) return null;
      raw[o++] = (19595 * rgba[i] + 38470 * rgba[i + 1] + 7471 * rgba[i + 2] + 32768) >>> 16;
    }
  }
  const zlib = new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate"));
  const idat = new Uint8Array(await new Response(zlib).arrayBuffer());
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, w);
  v.setUint32(4, h);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit, greyscale, deflate, adaptive filtering, no interlace
  const signature = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
  return new Blob([signature, chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))], {
    type: "image/png",
  });
}
