// Painting the latent map and its images onto 2-D contexts: dots, grid lines, marks, ellipses, decoded images and
// thumbnails; and the draw pad's brush. Positions go through MapGeometry with the frame `f` (map_geometry.js, concatenated before this);
// nothing here keeps state but the caches it is handed. Concatenated before latent_canvas.js.

const MapPaint = {
  // (C, H, W) floats in [0, 1] -> an RGBA ImageData of H x W
  toImageData(a, c, h, w) {
    const img = new ImageData(w, h);
    const n = h * w;
    for (let i = 0; i < n; i++) {
      const r = a[i], g = c >= 3 ? a[n + i] : r, b = c >= 3 ? a[2 * n + i] : r;
      img.data[4 * i] = Math.max(0, Math.min(255, Math.round(255 * r)));
      img.data[4 * i + 1] = Math.max(0, Math.min(255, Math.round(255 * g)));
      img.data[4 * i + 2] = Math.max(0, Math.min(255, Math.round(255 * b)));
      img.data[4 * i + 3] = 255;
    }
    return img;
  },

  // one pre-drawn disc per colour, kept in `cache`: 10,000 drawImage calls are far cheaper than 10,000 arcs
  sprite(cache, colour, r, dpr) {
    const key = colour + r + "@" + dpr;
    if (!cache[key]) {
      const cv = document.createElement("canvas"), px = Math.ceil(2 * r * dpr);
      cv.width = cv.height = px;
      const c = cv.getContext("2d");
      c.fillStyle = colour;
      c.beginPath();
      c.arc(px / 2, px / 2, px / 2, 0, 2 * Math.PI);
      c.fill();
      cache[key] = cv;
    }
    return cache[key];
  },

  // every dot, by colour code (byCode[code] = point indices); the highlighted ones (or null) drawn over, ringed
  points(ctx, f, xy, n, byCode, palette, codes, highlight, sprites) {
    const [sx, sy] = MapGeometry.scales(f);
    const w2 = f.w / 2, h2 = f.h / 2, cx = f.cx, cy = f.cy;
    const r = n > 3000 ? 2 : 3;
    ctx.globalAlpha = highlight ? 0.15 : 0.8;
    byCode.forEach((idx, code) => {
      const dot = MapPaint.sprite(sprites, palette[code % palette.length], r, f.dpr);
      for (const i of idx) {
        ctx.drawImage(dot, w2 + (xy[2 * i] - cx) * sx - r, h2 - (xy[2 * i + 1] - cy) * sy - r, 2 * r, 2 * r);
      }
    });
    if (highlight) {
      ctx.globalAlpha = 1;
      for (const i of highlight) {
        ctx.fillStyle = palette[codes[i] % palette.length];
        const [px, py] = MapGeometry.toScreen(f, xy[2 * i], xy[2 * i + 1]);
        ctx.beginPath();
        ctx.arc(px, py, r + 2.5, 0, 2 * Math.PI);
        ctx.fill();
        ctx.strokeStyle = "#000";
        ctx.lineWidth = 1;
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
  },

  // light lines at round plane coordinates, labelled, so a position can be read off
  grid(ctx, f) {
    const [x0, y1] = MapGeometry.toPlane(f, 0, 0), [x1, y0] = MapGeometry.toPlane(f, f.w, f.h);
    ctx.strokeStyle = "#eee";
    ctx.fillStyle = "#999";
    ctx.font = "10px sans-serif";
    ctx.lineWidth = 1;
    const sxs = MapGeometry.gridStep(x0, x1), sys = MapGeometry.gridStep(y0, y1);
    for (let v = Math.ceil(x0 / sxs) * sxs; v <= x1; v += sxs) {
      const [px] = MapGeometry.toScreen(f, v, 0);
      ctx.beginPath(); ctx.moveTo(px, 0); ctx.lineTo(px, f.h); ctx.stroke();
      ctx.fillText(+v.toPrecision(3) + "", px + 2, f.h - 4);
    }
    for (let v = Math.ceil(y0 / sys) * sys; v <= y1; v += sys) {
      const [, py] = MapGeometry.toScreen(f, 0, v);
      ctx.beginPath(); ctx.moveTo(0, py); ctx.lineTo(f.w, py); ctx.stroke();
      ctx.fillText(+v.toPrecision(3) + "", 2, py - 2);
    }
  },

  // a closed outline through plane points, filled when `fill` is a colour
  poly(ctx, f, pts, stroke, fill) {
    ctx.beginPath();
    pts.forEach(([x, y], i) => {
      const [px, py] = MapGeometry.toScreen(f, x, y);
      if (i) ctx.lineTo(px, py); else ctx.moveTo(px, py);
    });
    ctx.closePath();
    if (fill) { ctx.fillStyle = fill; ctx.fill(); }
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 2;
    ctx.stroke();
  },

  // a mark at plane (x, y): "x" (decoded z), "ring" (clicked or hovered dot), "cross" (cursor), else a diamond
  mark(ctx, f, x, y, kind, color, text) {
    const [px, py] = MapGeometry.toScreen(f, x, y);
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    if (kind === "x") {
      ctx.moveTo(px - 6, py - 6); ctx.lineTo(px + 6, py + 6); ctx.moveTo(px + 6, py - 6); ctx.lineTo(px - 6, py + 6);
      ctx.stroke();
    } else if (kind === "ring") {
      ctx.arc(px, py, 8, 0, 2 * Math.PI); ctx.stroke();
    } else if (kind === "cross") {
      ctx.moveTo(px - 9, py); ctx.lineTo(px + 9, py); ctx.moveTo(px, py - 9); ctx.lineTo(px, py + 9); ctx.stroke();
      ctx.beginPath(); ctx.arc(px, py, 4, 0, 2 * Math.PI); ctx.stroke();
    } else {
      ctx.moveTo(px, py - 7); ctx.lineTo(px + 7, py); ctx.lineTo(px, py + 7); ctx.lineTo(px - 7, py); ctx.closePath();
      ctx.fill();
    }
    if (text) { ctx.font = "bold 13px sans-serif"; ctx.fillText(text, px + 8, py - 8); }
  },

  // the ellipse itself, plus a dotted copy enlarged to minPx and labelled with its scale when it is too small to
  // see (as the server-drawn map does); returns the scale (1: none needed)
  ellipse(ctx, f, pts, stroke, fill, minPx) {
    MapPaint.poly(ctx, f, pts, stroke, fill);
    const c = pts.reduce((a, [x, y]) => [a[0] + x / pts.length, a[1] + y / pts.length], [0, 0]);
    const [cx, cy] = MapGeometry.toScreen(f, c[0], c[1]);
    const r = Math.max(...pts.map(([x, y]) => {
      const [px, py] = MapGeometry.toScreen(f, x, y);
      return Math.hypot(px - cx, py - cy);
    }));
    if (r >= minPx) return 1;
    const k = minPx / Math.max(r, 1e-6);
    ctx.setLineDash([3, 3]);
    MapPaint.poly(ctx, f, pts.map(([x, y]) => [c[0] + k * (x - c[0]), c[1] + k * (y - c[1])]), stroke, null);
    ctx.setLineDash([]);
    ctx.font = "11px sans-serif";
    ctx.fillStyle = stroke;
    const label = `μ ± σ ×${+k.toPrecision(2)}`, tw = ctx.measureText(label).width;
    const lx = cx + minPx + 3 + tw > f.w ? cx - minPx - 3 - tw : cx + minPx + 3;
    ctx.fillText(label, lx, cy + minPx);  // on the side with room: a point at the edge keeps its label
    return k;
  },

  // a soft round brush from a to b (pad pixel coordinates) about a stroke's width at the dataset's resolution
  // (MNIST strokes are 2-3 px of 28), into pad (C, H, W); cover (H, W) keeps the brush's strongest touch per pixel,
  // so a pixel is inked once per touch. Grey data (ink null): light ink on black, as in MNIST; colour data: the
  // ink colour [r, g, b] in [0, 1], blended by the brush's cover
  brush(pad, cover, shape, a, b, ink) {
    const [ch, h, w] = shape, n = h * w;
    const s = Math.max(0.6, Math.min(h, w) / 28);
    const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1]) / (s / 2)));
    for (let k = 0; k <= steps; k++) {
      const x = a[0] + ((b[0] - a[0]) * k) / steps, y = a[1] + ((b[1] - a[1]) * k) / steps;
      for (let r = Math.max(0, Math.floor(y - 3 * s)); r < Math.min(h, Math.ceil(y + 3 * s)); r++) {
        for (let c = Math.max(0, Math.floor(x - 3 * s)); c < Math.min(w, Math.ceil(x + 3 * s)); c++) {
          const d2 = (c + 0.5 - x) ** 2 + (r + 0.5 - y) ** 2;
          const v = Math.min(1, 1.3 * Math.exp(-d2 / (2 * s * s))), i = r * w + c;
          if (v <= cover[i]) continue;
          cover[i] = v;
          for (let q = 0; q < ch; q++) {
            const j = q * n + i;
            pad[j] = ink ? pad[j] + (ink[q] - pad[j]) * v : Math.max(pad[j], v);
          }
        }
      }
    }
  },

  clear(cv) {
    const ctx = cv.getContext("2d");
    ctx.fillStyle = "#f4f4f4";
    ctx.fillRect(0, 0, cv.width, cv.height);
  },

  // image a (C, H, W) scaled up to fill cv without smoothing, through `small`, a canvas of the data's size
  image(cv, small, shape, a) {
    const [c, h, w] = shape;
    small.width = w;
    small.height = h;
    small.getContext("2d").putImageData(MapPaint.toImageData(a, c, h, w), 0, 0);
    const ctx = cv.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, cv.width, cv.height);
  },

  // thumbnail i of the atlas bitmap (meta: {cols}), row-major, each of the data's H x W
  thumb(cv, atlas, meta, shape, i) {
    if (!atlas || !meta) { MapPaint.clear(cv); return; }
    const [, h, w] = shape;
    const sx = (i % meta.cols) * w, sy = Math.floor(i / meta.cols) * h;
    const ctx = cv.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(atlas, sx, sy, w, h, 0, 0, cv.width, cv.height);
  },
};
