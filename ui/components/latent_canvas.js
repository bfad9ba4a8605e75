// The latent canvas: every test point on a zoomable map; hovering empty space decodes that z right here
// (VaeOps, vae_ops.js), hovering a dot shows its thumbnail, a click goes to Python as a trigger, and a draw pad
// runs the encoder while you draw. Mouse moves send nothing to the server. Every string that comes from a user
// (class names) is written with textContent. Registered by ui/components/latent_canvas.py, which concatenates
// vae_ops.js, dom.js, map_geometry.js (pure geometry) and map_paint.js (painting) before this file.
//
// PROTOCOL: the one description of what ui/map/canvas_map.py and this file say to each other. One name a line
// ("//   name: ..."); tests/test_canvas_payload.py checks both sides against it, so a new field starts here.
// Python -> JS, `data` (ui/payload.py's container; VaeOps.receive puts back the parts this page already holds):
//   static_key: str naming the static parts together; zoom and pan are kept per key
//   latent_dim: int D
//   input_shape: [C, H, W]
//   model: null (cannot run here) | {posterior: "gaussian" | "point", decoder: part (a VaeOps program),
//       encoder: part | {$lazy: key}, sent once the pad asks for it with need_static}
//   view: part {n, xy, rows, plane, bounds, equal_axes, axes, px}: xy float32 (N, 2) bytes; rows int32 (N) bytes
//       or null for 0..N-1; plane {method, origin, basis (k, D)} or null (t-SNE: no inverse); bounds
//       [x0, x1, y0, y1]; axes [x title, y title]; px {map, snap, ellipse_min}: the frame of ui/map/frame.py, its
//       tolerances in CSS px (map height, click/hover snap to a dot, tiny-ellipse radius)
//   atlas: part {png, cols, rows, levels} | null: the thumbnails, row-major in point order
//   colour_key: str naming the colouring
//   colour: part {title, codes: u1 | u2 bytes (N), code_bytes, names, palette, ordered}
//   z: [D], the decoded z (this and the three below change with every rerun)
//   clicked: null | {row, xy: [x, y] | null, ellipse: [[x, y], ...] | null}
//   pins: [{name, z}]
//   drawing: null | {pixels [C*H*W], source: "pad" | "upload", nonce}
// JS -> Python, one trigger per event (setTriggerValue(name, value)); select and drawn carry a nonce:
//   select: {row: test row} (a dot) | {z: [D]} (empty space; Python clips it to vae.explore.Z_LIMIT)
//   drawn: {pixels: [C*H*W] in [0, 1], rounded to 3 places}: the pad, as the encoder takes it
//   failed: {message}: the canvas could not start; Python shows the Plotly map with this reason
//   need_static: {keys: [part keys]}: parts this page lacks (a lost message, or the lazy encoder)

const PAD_CSS = 168;  // px of the hover, pad and reconstruction canvases

class LatentCanvas {
  constructor(root) {
    this.root = el("div", "vc-root", root);
    const bar = el("div", "vc-bar", this.root);
    this.search = el("input", "vc-search", bar);
    this.search.type = "search";
    this.search.placeholder = "Find: a label, or #index";
    this.search.setAttribute("aria-label", "Find points by label or index");
    this.found = el("span", "vc-found", bar);
    const reset = el("button", "vc-btn", bar);
    reset.textContent = "Reset view";
    reset.addEventListener("click", () => this.resetView());
    this.status = el("span", "vc-status", bar);
    this.legend = el("div", "vc-legend", this.root);  // one swatch per category; a click highlights it

    const main = el("div", "vc-main", this.root);
    this.mapBox = el("div", "vc-map", main);
    this.pointsCv = el("canvas", "vc-points", this.mapBox);
    this.overlayCv = el("canvas", "vc-overlay", this.mapBox);
    this.axisX = el("div", "vc-axis vc-axis-x", this.mapBox);
    this.axisY = el("div", "vc-axis vc-axis-y", this.mapBox);

    const side = el("div", "vc-side", main);
    const card = (title, parent, cls) => {
      const c = el("div", "vc-card " + cls, parent);
      el("div", "vc-title", c).textContent = title;
      const cv = el("canvas", "vc-img", c);
      cv.width = cv.height = PAD_CSS;
      const cap = el("div", "vc-caption", c);
      return [c, cv, cap];
    };
    [, this.hoverCv, this.hoverCap] = card("Under the cursor", side, "vc-big");
    const row = el("div", "vc-row", side);
    const [padCard, padCv, padCap] = card("Draw here", row, "vc-small");
    this.padCv = padCv;
    this.padCv.classList.add("vc-pad");
    this.padCap = padCap;
    const tools = el("div", "vc-tools", padCard);
    const clear = el("button", "vc-btn", tools);
    clear.textContent = "Clear";
    clear.addEventListener("click", () => this.clearPad());
    this.ink = el("input", "vc-ink", tools);  // the brush colour, shown for colour datasets only
    this.ink.type = "color";
    this.ink.value = "#ffffff";
    this.ink.title = "Brush colour";
    this.ink.setAttribute("aria-label", "Brush colour");
    [, this.reconCv, this.reconCap] = card("Its reconstruction", row, "vc-small");

    this.zoom = 1;
    this.cx = this.cy = null;
    this.highlight = null;
    this.hover = null;      // {x, y} in plane coords of the decoded cursor, or {row}
    this.drawnQ = null;     // live posterior of the drawing on the plane
    this.stats = { hover: [], frames: 0, payloads: [] };  // payloads: {bytes, binary} as received
    // zoom and pan per view, kept for the page's life: a rerun, another view and back, or a page switch keep them
    this.views = (window.__vaeViews = window.__vaeViews || new Map());
    window.__vaeCanvas = this;  // for the tests and bench/: timings and state, nothing the app reads

    this.bindMap();
    this.bindPad();
    this.search.addEventListener("input", () => this.applySearch());
    new ResizeObserver(() => this.resize()).observe(this.mapBox);
  }

  // --- data ------------------------------------------------------------------------------------------------

  update(payload, setTrigger) {
    this.setTrigger = setTrigger;
    // model, points, thumbnails and colouring come once per session as parts (ui/payload.py); later payloads
    // name them by key and VaeOps.receive puts back the copies this page keeps
    this.stats.lastPayload = payload instanceof Uint8Array ? { bytes: payload.length, binary: true }
      : { bytes: JSON.stringify(payload).length, binary: false };
    this.stats.payloads.push(this.stats.lastPayload);
    if (this.stats.payloads.length > 50) this.stats.payloads.shift();
    const { data, missing } = VaeOps.receive(payload);
    if (missing.length) { setTrigger("need_static", { keys: missing }); return; }
    this.dyn = data;
    if (data.static_key !== this.staticKey) this.loadStatic(data);
    else this.syncEncoder(data.model);
    if (data.colour_key !== this.colourKey) this.applyColour(data.colour, data.colour_key);
    this.applyDrawing(data.drawing);
    this.showCurrent();
    this.drawOverlay();
  }

  applyColour(colour, key) {
    this.colourKey = key;
    this.codes = colour.code_bytes === 2 ? new Uint16Array(colour.codes.buffer, 0, this.n) : colour.codes;
    this.names = colour.names;
    this.palette = colour.palette;
    this.colourTitle = colour.title;
    this.byCode = this.names.map(() => []);
    for (let i = 0; i < this.n; i++) this.byCode[this.codes[i]].push(i);
    this.legend.replaceChildren();
    el("span", "vc-legend-title", this.legend).textContent = colour.title;
    this.names.forEach((name, c) => {
      const item = el("button", "vc-legend-item", this.legend);
      item.type = "button";
      const sw = el("span", "vc-swatch", item);
      sw.style.background = this.palette[c];
      el("span", "", item).textContent = name;
      item.title = `${this.byCode[c].length} points`;
      item.addEventListener("click", () => {
        this.search.value = this.search.value === name ? "" : name;
        this.applySearch();
      });
    });
    this.applySearch();  // redraws the points
  }

  // the shared z (sliders, clicks) decoded here whenever the cursor is not over the map
  showCurrent() {
    if (this.hover || !this.decoder || !this.dyn || !this.dyn.z) return;
    const z = this.dyn.z;
    this.paintImage(this.hoverCv, this.decoder.run(z));
    this.hoverCap.textContent = "current z = (" + z.slice(0, 3).map((v) => v.toFixed(2)).join(", ")
      + (z.length > 3 ? ", …)" : ")") + (this.plane ? "; hover the map to decode others" : "; hover a dot for its image");
  }

  saveView() {
    if (this.staticKey) this.views.set(this.staticKey, { zoom: this.zoom, cx: this.cx, cy: this.cy });
  }

  resetView() {
    this.zoom = 1;
    this.cx = this.cy = null;
    this.views.delete(this.staticKey);
    this.drawPoints();
    this.drawOverlay();
  }

  loadStatic(data) {
    const t0 = performance.now();
    this.staticKey = data.static_key;
    const m = data.model;
    this.d = data.latent_dim;
    this.shape = data.input_shape;  // [C, H, W]
    this.decoder = m ? VaeOps.compile(m.decoder) : null;
    this.encoderPart = undefined;
    this.syncEncoder(m);
    this.posterior = m ? m.posterior : null;
    const p = data.view;  // a part: its arrays are Uint8Arrays of their own (offset 0, aligned)
    this.n = p.n;
    this.xy = new Float32Array(p.xy.buffer, 0, 2 * p.n);  // (N, 2)
    this.rows = p.rows ? new Int32Array(p.rows.buffer, 0, p.n) : Int32Array.from({ length: p.n }, (_, i) => i);
    this.colourKey = null;  // the colouring is indexed by these points: re-apply it
    this.codes = new Array(this.n).fill(0);
    this.names = [""];
    this.palette = ["#1f77b4"];
    this.byCode = [Array.from({ length: this.n }, (_, i) => i)];
    this.plane = p.plane;  // {method, origin, basis, k} or null (t-SNE)
    this.bounds = p.bounds;  // [x0, x1, y0, y1]
    this.equal = p.equal_axes;
    this.px = p.px;  // {map, snap, ellipse_min}: the frame's tolerances, in CSS px
    this.axisX.textContent = p.axes[0];
    this.axisY.textContent = p.axes[1];
    const kept = this.views.get(this.staticKey);
    this.zoom = kept ? kept.zoom : 1;
    this.cx = kept ? kept.cx : null;
    this.cy = kept ? kept.cy : null;
    this.loadAtlas(data.atlas);
    this.pad = new Float32Array(this.shape[0] * this.shape[1] * this.shape[2]);  // (C, H, W), black
    this.ink.style.display = this.shape[0] === 3 ? "" : "none";
    this.cover = new Float32Array(this.shape[1] * this.shape[2]);  // the brush's strongest touch per pixel
    this.drawnQ = null;
    this.appliedDrawing = null;
    this.paintPad();
    this.clearCanvas(this.hoverCv);
    this.clearCanvas(this.reconCv);
    this.hover = null;
    this.hoverCap.textContent = this.plane ? "Move over the map" : "Move over a dot";
    this.padCap.textContent = this.encoder || this.lazyEncoder ? "Mouse or touch; the encoder runs as you draw" : "";
    this.reconCap.textContent = "";
    this.resize();
    this.applySearch();
    this.stats.firstPaintMs = performance.now() - t0;  // data arrival -> all points painted
    this.stats.points = this.n;
  }

  // the thumbnails: one PNG, decoded off the main path into a bitmap that the page keeps per atlas (a remount
  // after a page switch draws from it at once)
  loadAtlas(atlas) {
    const bitmaps = (window.__vaeAtlases = window.__vaeAtlases || new Map());
    this.atlasMeta = atlas;
    this.atlas = atlas ? bitmaps.get(atlas) || null : null;
    if (!atlas || this.atlas) return;
    createImageBitmap(new Blob([atlas.png], { type: "image/png" })).then((bmp) => {
      bitmaps.set(atlas, bmp);
      while (bitmaps.size > 2) { const [old] = bitmaps.keys(); bitmaps.get(old).close(); bitmaps.delete(old); }
      if (this.atlasMeta === atlas) this.atlas = bmp;
    }, (e) => { this.status.textContent = `thumbnails unavailable: ${e && e.message ? e.message : e}`; });
  }

  // --- geometry --------------------------------------------------------------------------------------------

  resize() {
    if (!this.px) return;  // the map's height comes with the view
    const w = Math.max(200, this.mapBox.clientWidth || 0), h = this.px.map, r = window.devicePixelRatio || 1;
    for (const cv of [this.pointsCv, this.overlayCv]) {
      cv.width = Math.round(w * r);
      cv.height = Math.round(h * r);
      cv.style.width = w + "px";
      cv.style.height = h + "px";
    }
    this.w = w;
    this.h = h;
    this.dpr = r;
    if (this.xy) { this.drawPoints(); this.drawOverlay(); }
  }

  // this object is the frame MapGeometry reads (bounds, equal, w, h, zoom, cx, cy); an unpanned view is centred
  scales() {
    if (this.cx === null) [this.cx, this.cy] = MapGeometry.middle(this);
    return MapGeometry.scales(this);
  }

  toScreen(x, y) { this.scales(); return MapGeometry.toScreen(this, x, y); }

  toPlane(px, py) { this.scales(); return MapGeometry.toPlane(this, px, py); }

  nearest(px, py, maxPx) { this.scales(); return MapGeometry.nearest(this, this.xy, this.n, px, py, maxPx); }

  zAt(x, y) { return MapGeometry.zAt(this.plane, this.dyn.z, x, y); }

  planeXY(z) { return MapGeometry.planeXY(this.plane, this.bounds, z); }

  // --- drawing ---------------------------------------------------------------------------------------------

  drawPoints() {
    if (!this.xy || !this.w) return;
    const ctx = this.pointsCv.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.w, this.h);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.w, this.h);
    this.scales();
    MapPaint.grid(ctx, this);
    this.sprites = this.sprites || {};
    MapPaint.points(ctx, this, this.xy, this.n, this.byCode, this.palette, this.codes, this.highlight, this.sprites);
  }

  drawOverlay() {
    if (!this.xy || !this.w) return;
    const ctx = this.overlayCv.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.w, this.h);
    this.scales();
    const dyn = this.dyn || {};
    const mark = (x, y, kind, color, text) => MapPaint.mark(ctx, this, x, y, kind, color, text);
    const ellipse = (pts, stroke, fill) => MapPaint.ellipse(ctx, this, pts, stroke, fill, this.px.ellipse_min);
    this.stats.ellipseScale = {};
    if (dyn.clicked && dyn.clicked.ellipse) this.stats.ellipseScale.clicked = ellipse(dyn.clicked.ellipse, "#000", "rgba(0,0,0,0.08)");
    if (dyn.clicked && dyn.clicked.xy) mark(dyn.clicked.xy[0], dyn.clicked.xy[1], "ring", "#000");
    if (this.plane) {
      for (const pin of dyn.pins || []) { const [x, y] = this.planeXY(pin.z); mark(x, y, "diamond", "#222", pin.name); }
      const [zx, zy] = this.planeXY(dyn.z);
      mark(zx, zy, "x", "#d62728");
    }
    if (this.drawnQ) {
      const q = this.drawnQ;
      const c = q.k === 2 ? q.centre : [q.centre[0], (this.bounds[2] + this.bounds[3]) / 2];
      if (q.k === 2 && this.posterior === "gaussian") {
        this.stats.ellipseScale.drawn = ellipse(MapGeometry.ellipsePoints(q.centre, q.cov), "#7b2cbf", "rgba(123,44,191,0.12)");
      }
      mark(c[0], c[1], "diamond", "#7b2cbf", "drawn");
    }
    if (this.hover && this.hover.plane) mark(this.hover.plane[0], this.hover.plane[1], "cross", "#111");
    if (this.hover && this.hover.row !== undefined) {
      const i = this.hover.row;
      mark(this.xy[2 * i], this.xy[2 * i + 1], "ring", "#111");
    }
  }

  clearCanvas(cv) { MapPaint.clear(cv); }

  paintImage(cv, a) {
    this.small = this.small || document.createElement("canvas");
    MapPaint.image(cv, this.small, this.shape, a);
  }

  paintThumb(cv, i) { MapPaint.thumb(cv, this.atlas, this.atlasMeta, this.shape, i); }

  // --- the map's mouse ------------------------------------------------------------------------------------------

  bindMap() {
    const cv = this.overlayCv;
    let down = null;
    cv.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [x, y] = this.toPlane(e.offsetX, e.offsetY);
      this.zoom = Math.min(200, Math.max(0.2, this.zoom * Math.exp(-e.deltaY * 0.0015)));
      const [nx, ny] = this.toPlane(e.offsetX, e.offsetY);  // keep the point under the cursor still
      this.cx += x - nx;
      this.cy += y - ny;
      this.saveView();
      this.drawPoints();
      this.drawOverlay();
    }, { passive: false });
    cv.addEventListener("pointerdown", (e) => {
      down = { x: e.offsetX, y: e.offsetY, cx: this.cx, cy: this.cy, moved: false };
      cv.setPointerCapture(e.pointerId);
    });
    cv.addEventListener("pointermove", (e) => {
      if (down && (down.moved || Math.hypot(e.offsetX - down.x, e.offsetY - down.y) > 4)) {
        down.moved = true;
        const [sx, sy] = this.scales();
        this.cx = down.cx - (e.offsetX - down.x) / sx;
        this.cy = down.cy + (e.offsetY - down.y) / sy;
        this.saveView();
        this.drawPoints();
        this.drawOverlay();
        return;
      }
      this.onHover(e.offsetX, e.offsetY, e.timeStamp);
    });
    cv.addEventListener("pointerup", (e) => {
      const wasClick = down && !down.moved;
      down = null;
      if (wasClick) this.onClick(e.offsetX, e.offsetY);
    });
    cv.addEventListener("pointerleave", () => { this.hover = null; this.showCurrent(); this.drawOverlay(); });
    cv.addEventListener("dblclick", () => this.resetView());
  }

  onHover(px, py, t0) {
    if (!this.xy) return;
    const i = this.nearest(px, py, this.plane ? this.px.snap : Infinity);
    if (i >= 0) {
      this.hover = { row: i };
      this.paintThumb(this.hoverCv, i);
      this.hoverCap.textContent = `${this.colourTitle} ${this.names[this.codes[i]]} · test #${this.rows[i]}`
        + (this.plane ? "" : " (t-SNE has no inverse: the nearest test image)");
    } else if (this.plane && this.decoder) {
      const [x, y] = this.toPlane(px, py);
      const z = this.zAt(x, y);
      this.paintImage(this.hoverCv, this.decoder.run(z));
      this.hover = { plane: this.plane.basis.length === 2 ? [x, y] : [x, (this.bounds[2] + this.bounds[3]) / 2], z };
      this.hoverCap.textContent = "decoded z = (" + z.slice(0, 3).map((v) => v.toFixed(2)).join(", ") + (z.length > 3 ? ", …)" : ")");
    }
    this.drawOverlay();
    const s = this.stats;
    s.frames++;
    requestAnimationFrame(() => { s.hover.push(performance.now() - t0); if (s.hover.length > 2000) s.hover.shift(); });
  }

  onClick(px, py) {
    const i = this.nearest(px, py, this.px.snap);
    if (i >= 0) this.send("select", { row: this.rows[i] });
    else if (this.plane) { const [x, y] = this.toPlane(px, py); this.send("select", { z: this.zAt(x, y) }); }
    else this.status.textContent = "t-SNE has no inverse: click a dot";
  }

  send(name, value) {
    this.nonce = (this.nonce || 0) + 1;
    this.status.textContent = "…";
    this.setTrigger(name, { ...value, nonce: this.nonce });
  }

  applySearch() {
    const q = this.search.value.trim().toLowerCase();
    if (!this.xy) return;
    if (!q) { this.highlight = null; this.found.textContent = ""; }
    else {
      const m = /^#?(\d+)$/.exec(q);
      const byIndex = q.startsWith("#") && m ? +m[1] : null;
      const codes = new Set(this.names.map((nm, c) => (String(nm).toLowerCase() === q ? c : -1)).filter((c) => c >= 0));
      const hits = [];
      for (let i = 0; i < this.n; i++) {
        if (byIndex !== null ? this.rows[i] === byIndex : codes.has(this.codes[i])) hits.push(i);
      }
      if (!hits.length && m && byIndex === null) {  // a bare number that is no label: an index
        for (let i = 0; i < this.n; i++) if (this.rows[i] === +m[1]) hits.push(i);
      }
      this.highlight = hits;
      this.found.textContent = hits.length ? `${hits.length} found` : "none found";
    }
    this.drawPoints();
  }

  // --- the draw pad ---------------------------------------------------------------------------------------------

  bindPad() {
    const cv = this.padCv;
    let last = null;
    const pos = (e) => [(e.offsetX / cv.clientWidth) * this.shape[2], (e.offsetY / cv.clientHeight) * this.shape[1]];
    cv.addEventListener("pointerenter", () => this.wantEncoder());  // usually there before the first stroke
    cv.addEventListener("pointerdown", (e) => {
      if (!this.shape) return;
      cv.setPointerCapture(e.pointerId);
      last = pos(e);
      this.stroke(last, last);
    });
    cv.addEventListener("pointermove", (e) => {
      if (!last) return;
      const p = pos(e);
      this.stroke(last, p);
      last = p;
    });
    const up = () => {
      if (!last) return;
      last = null;
      if (this.encoder || this.lazyEncoder) this.send("drawn", { pixels: Array.from(this.pad, (v) => Math.round(v * 1000) / 1000) });
    };
    cv.addEventListener("pointerup", up);
    cv.addEventListener("pointercancel", up);
  }

  stroke(a, b) {
    const ink = this.shape[0] === 3 ? [1, 3, 5].map((k) => parseInt(this.ink.value.slice(k, k + 2), 16) / 255) : null;
    MapPaint.brush(this.pad, this.cover, this.shape, a, b, ink);
    this.paintPad();
    this.encodePad();
  }

  clearPad() {
    if (!this.pad) return;
    this.pad.fill(0);
    this.cover.fill(0);
    this.drawnQ = null;
    this.paintPad();
    this.clearCanvas(this.reconCv);
    this.reconCap.textContent = "";
    this.drawOverlay();
  }

  padInput() {
    return this.pad;  // (C, H, W) as the encoder takes it
  }

  paintPad() {
    if (!this.shape) return;
    this.paintImage(this.padCv, this.padInput());
  }

  // the encoder is sent when the pad is first used (ui/map/canvas_map.py: a Lazy part): until then m.encoder is {$lazy: key}
  syncEncoder(m) {
    const enc = m ? m.encoder : null;
    this.lazyEncoder = enc && typeof enc.$lazy === "string" ? enc.$lazy : null;
    if (!enc || this.lazyEncoder) { this.encoder = null; this.encoderPart = null; return; }
    if (enc === this.encoderPart) return;  // the same kept part: compiled already
    this.encoderPart = enc;
    this.encoder = VaeOps.compile(enc);
    if (this.pad && this.pad.some((v) => v !== 0)) this.encodePad();  // drawn while it was on its way
  }

  wantEncoder() {
    if (!this.lazyEncoder || this.askedEncoder === this.lazyEncoder || !this.setTrigger) return;
    this.askedEncoder = this.lazyEncoder;
    this.setTrigger("need_static", { keys: [this.lazyEncoder] });
  }

  encodePad() {
    if (!this.encoder) { this.wantEncoder(); return; }
    const t0 = performance.now();
    const out = this.encoder.run(this.padInput());
    const q = VaeOps.planeGaussian(out, this.d, this.plane ? this.plane.origin : new Array(this.d).fill(0),
                                   this.plane ? this.plane.basis : [[1].concat(new Array(this.d - 1).fill(0))]);
    this.drawnQ = this.plane ? q : null;
    this.paintImage(this.reconCv, this.decoder.run(q.mu));
    this.reconCap.textContent = "decoded from μ = (" + Array.from(q.mu.slice(0, 3), (v) => v.toFixed(2)).join(", ")
      + (this.d > 3 ? ", …)" : ")") + (this.posterior === "gaussian" ? "; ellipse: μ ± σ" : "");
    this.drawOverlay();
    this.stats.encodeMs = performance.now() - t0;
  }

  applyDrawing(drawing) {
    // an uploaded image comes back from Python as pixels: put it on the pad once, as if drawn
    if (!drawing || drawing.nonce === this.appliedDrawing || !this.pad) return;
    this.appliedDrawing = drawing.nonce;
    if (drawing.source !== "upload" || drawing.pixels.length !== this.pad.length) return;
    this.pad.set(drawing.pixels);
    this.cover.fill(0);  // drawing over an upload paints on top of it
    this.paintPad();
    this.encodePad();
  }
}

export default function (component) {
  const canvas = mountOnce(component, LatentCanvas, "__vaeLatentCanvas");
  if (canvas) canvas.status.textContent = "";
}
