// The latent map's pure geometry: plane <-> screen, the dot under the cursor, z at a point of the view plane,
// a 2x2 covariance's 1-sigma ellipse, and round grid steps. No DOM and no state of its own: `f`, the frame, is
// any object with {bounds: [x0, x1, y0, y1], equal, w, h, zoom, cx, cy} (the LatentCanvas itself). Concatenated
// before latent_canvas.js by ui/components/latent_canvas.py, as vae_ops.js is.

const MapGeometry = {
  // px per plane unit on each axis; one scale for both when the axes are equal (a plane of the latent space)
  scales(f) {
    const [x0, x1, y0, y1] = f.bounds;
    let sx = f.w / (x1 - x0), sy = f.h / (y1 - y0);
    if (f.equal) sx = sy = Math.min(sx, sy);
    return [sx * f.zoom, sy * f.zoom];
  },

  // the middle of the bounds: where an unpanned view is centred
  middle(f) {
    const [x0, x1, y0, y1] = f.bounds;
    return [(x0 + x1) / 2, (y0 + y1) / 2];
  },

  toScreen(f, x, y) {
    const [sx, sy] = MapGeometry.scales(f);
    return [f.w / 2 + (x - f.cx) * sx, f.h / 2 - (y - f.cy) * sy];
  },

  toPlane(f, px, py) {
    const [sx, sy] = MapGeometry.scales(f);
    return [f.cx + (px - f.w / 2) / sx, f.cy - (py - f.h / 2) / sy];
  },

  // index of the dot of xy (N, 2) nearest to screen (px, py) within maxPx, or -1
  nearest(f, xy, n, px, py, maxPx) {
    const [sx, sy] = MapGeometry.scales(f);
    let best = -1, bestD = maxPx * maxPx;
    const w2 = f.w / 2, h2 = f.h / 2, cx = f.cx, cy = f.cy;
    for (let i = 0; i < n; i++) {
      const dx = w2 + (xy[2 * i] - cx) * sx - px, dy = h2 - (xy[2 * i + 1] - cy) * sy - py;
      const d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  },

  // z on the view plane at (x, y): vae.explore.from_plane with base = the current z for chosen dims (the other
  // dims keep their values), the plane's origin (the codes' mean) for PCA
  zAt(plane, z, x, y) {
    const { origin, basis, method } = plane;
    const base = method === "dims" ? z : origin;
    const xy = [x, y].slice(0, basis.length);
    const out = base.slice();
    basis.forEach((row, r) => {
      const cur = row.reduce((s, b, j) => s + b * (base[j] - origin[j]), 0);
      for (let j = 0; j < out.length; j++) out[j] += (xy[r] - cur) * row[j];
    });
    return out;
  },

  // where z lies on the plane; a 1-D latent's map puts it at the middle of the label axis
  planeXY(plane, bounds, z) {
    const { origin, basis } = plane;
    const v = basis.map((row) => row.reduce((s, b, j) => s + b * (z[j] - origin[j]), 0));
    return v.length === 2 ? v : [v[0], (bounds[2] + bounds[3]) / 2];
  },

  // eigen-decomposition of the 2x2 covariance: the 1-sigma ellipse as n + 1 points
  ellipsePoints(centre, cov, n = 64) {
    const [[a, b], [, d]] = cov;
    const tr = (a + d) / 2, det = Math.sqrt(Math.max(0, ((a - d) / 2) ** 2 + b * b));
    const l1 = tr + det, l2 = Math.max(0, tr - det);
    const th = Math.abs(b) < 1e-12 ? (a >= d ? 0 : Math.PI / 2) : Math.atan2(l1 - a, b);
    const pts = [];
    for (let i = 0; i <= n; i++) {
      const t = (2 * Math.PI * i) / n, u = Math.sqrt(l1) * Math.cos(t), v = Math.sqrt(l2) * Math.sin(t);
      pts.push([centre[0] + u * Math.cos(th) - v * Math.sin(th), centre[1] + u * Math.sin(th) + v * Math.cos(th)]);
    }
    return pts;
  },

  // a round step (1, 2 or 5 times a power of ten) giving about 4 to 10 grid lines over [lo, hi]
  gridStep(lo, hi) {
    const s = 10 ** Math.floor(Math.log10((hi - lo) / 4));
    return (hi - lo) / s > 20 ? 5 * s : (hi - lo) / s > 8 ? 2 * s : s;
  },
};
