// Training replay in the page: the test subset's means after each recorded epoch (vae/replay.py), moved linearly
// between epochs on a canvas. The scrubber and the play button only redraw: nothing goes to the server per frame.
// Registered by ui/components/replay.py; fed by ui/replay.py. Names (labels) arrive in `data` and are written with
// textContent only.

function vrEl(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

const VR_DOT = 2.6;  // px radius of a point
const VR_SECONDS = [3, 12];  // a whole replay plays in this many seconds at least / at most (10 epochs a second)

class ReplayPlayer {
  constructor(root) {
    this.root = vrEl("div", "vc-root", root);
    this.title = vrEl("div", "vc-caption", this.root);
    this.legend = vrEl("div", "vc-legend", this.root);
    const stage = vrEl("div", "vr-stage", this.root);
    this.cv = vrEl("canvas", "", stage);
    this.label = vrEl("div", "vr-epoch", stage);
    const bar = vrEl("div", "vr-controls", this.root);
    this.btn = vrEl("button", "vc-btn vr-play", bar);
    this.btn.type = "button";
    this.scrub = vrEl("input", "vr-scrub", bar);
    this.scrub.type = "range";
    this.scrub.min = "0";
    this.scrub.step = "0.01";
    this.scrub.setAttribute("aria-label", "epoch");
    const fix = vrEl("label", "vc-status", bar);
    this.fixed = vrEl("input", "", fix);
    this.fixed.type = "checkbox";
    vrEl("span", "", fix).textContent = " Fixed axes";
    this.fixed.addEventListener("change", () => this.draw());
    this.t = 0;
    this.playing = false;
    this.stats = { draws: 0, plays: 0 };
    this.btn.addEventListener("click", () => (this.playing ? this.pause() : this.start()));
    this.scrub.addEventListener("input", () => { this.pause(); this.seek(parseFloat(this.scrub.value), false); });
    this.tick = this.tick.bind(this);
    this.setPlaying(false);
  }

  update(payload, setTrigger, attempt = 0) {
    const data = receiveSoon(this, payload, setTrigger, attempt);
    if (!data) return;
    this.title.textContent = data.title || "";
    const f = data.frames;
    if (!f || data.frames_key === this.key) return;
    const first = this.key === undefined, atEnd = !first && this.t >= this.E - 1 - 1e-9;
    this.key = data.frames_key;
    this.E = f.epochs.length;
    this.N = f.n;
    this.epochs = f.epochs;
    this.xy = VaeOps.f32(f.xy);  // (E, N, 2) row-major
    if (this.xy.length !== this.E * this.N * 2) throw new Error("replay positions do not fit the epochs and points");
    this.codes = f.codes;
    this.palette = f.palette;
    this.bounds = f.bounds;
    this.frameBounds = f.frame_bounds || null;  // (E, 4): each epoch's own extent
    this.axes = f.axes || ["", ""];
    this.speed = (this.E - 1) / Math.min(VR_SECONDS[1], Math.max(VR_SECONDS[0], (this.E - 1) / 10));
    this.makeLegend(f.names, f.palette, f.title);
    this.scrub.max = String(Math.max(this.E - 1, 0));
    this.resize();
    // a live run adds epochs: follow them when the viewer was at the end, else stay put
    this.seek(first ? (data.start === "first" ? 0 : this.E - 1) : atEnd ? this.E - 1 : Math.min(this.t, this.E - 1));
  }

  makeLegend(names, palette, title) {
    this.legend.replaceChildren();
    vrEl("span", "vc-legend-title", this.legend).textContent = title || "";
    (names || []).forEach((name, c) => {
      const item = vrEl("span", "vc-legend-item", this.legend);
      vrEl("span", "vc-swatch", item).style.background = palette[c] || "#999";
      vrEl("span", "", item).textContent = name;
    });
  }

  resize() {
    const w = Math.max(240, Math.min(560, this.root.clientWidth || 560)), h = Math.round(w * 0.8);
    const dpr = window.devicePixelRatio || 1;
    this.w = w;
    this.h = h;
    this.cv.width = Math.round(w * dpr);
    this.cv.height = Math.round(h * dpr);
    this.cv.getContext("2d").setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  // the positions at fractional epoch index t: (N*2) numbers, linear between the recorded epochs
  positions(t) {
    const i = Math.min(Math.floor(t), Math.max(this.E - 2, 0)), w = this.E > 1 ? t - i : 0, n2 = 2 * this.N;
    const a = this.xy.subarray(i * n2, (i + 1) * n2), b = this.E > 1 ? this.xy.subarray((i + 1) * n2, (i + 2) * n2) : a;
    const out = new Float32Array(n2);
    for (let k = 0; k < n2; k++) out[k] = (1 - w) * a[k] + w * b[k];
    return out;
  }

  epochAt(t) {
    const i = Math.min(Math.floor(t), Math.max(this.E - 2, 0)), w = this.E > 1 ? t - i : 0;
    return this.E > 1 ? (1 - w) * this.epochs[i] + w * this.epochs[i + 1] : this.epochs[0];
  }

  // the view: every epoch's extent ("Fixed axes"), or this moment's, between the two epochs' own extents
  viewBounds() {
    if (this.fixed.checked || !this.frameBounds) return this.bounds;
    const i = Math.min(Math.floor(this.t), Math.max(this.E - 2, 0)), w = this.E > 1 ? this.t - i : 0;
    const a = this.frameBounds[i], b = this.frameBounds[Math.min(i + 1, this.E - 1)];
    return a.map((v, k) => (1 - w) * v + w * b[k]);
  }

  toScreen(x, y) {
    // one scale on both axes (the clusters keep their shape), the bounds centred
    const [x0, x1, y0, y1] = this.view, m = 14;
    const s = Math.min((this.w - 2 * m) / (x1 - x0), (this.h - 2 * m) / (y1 - y0));
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    return [this.w / 2 + (x - cx) * s, this.h / 2 - (y - cy) * s];
  }

  seek(t, moveScrubber = true) {
    this.t = Math.min(Math.max(t, 0), Math.max(this.E - 1, 0));
    if (moveScrubber) this.scrub.value = String(this.t);
    this.draw();
  }

  draw() {
    const g = this.cv.getContext("2d"), xy = this.positions(this.t);
    this.current = xy;
    this.view = this.viewBounds();
    g.fillStyle = "#fff";
    g.fillRect(0, 0, this.w, this.h);
    g.fillStyle = "#666";
    g.font = "12px sans-serif";
    g.fillText(this.axes[0], this.w - 8 - g.measureText(this.axes[0]).width, this.h - 6);
    g.fillText(this.axes[1], 8, 40);
    for (let k = 0; k < this.N; k++) {
      const [px, py] = this.toScreen(xy[2 * k], xy[2 * k + 1]);
      g.fillStyle = this.palette[this.codes[k]] || "#999";
      g.globalAlpha = 0.85;
      g.beginPath();
      g.arc(px, py, VR_DOT, 0, 2 * Math.PI);
      g.fill();
    }
    g.globalAlpha = 1;
    const e = this.epochAt(this.t), last = this.epochs[this.E - 1];
    this.label.textContent = `epoch ${Number.isInteger(e) ? e : e.toFixed(1)} of ${last}`;
    this.stats.draws += 1;
  }

  setPlaying(on) {
    this.playing = on;
    this.btn.textContent = on ? "❚❚ Pause" : "▶ Play";
  }

  start() {
    if (this.E < 2) return;
    if (this.t >= this.E - 1 - 1e-9) this.seek(0);
    this.setPlaying(true);
    this.stats.plays += 1;
    this.lastTime = null;
    requestAnimationFrame(this.tick);
  }

  pause() {
    this.setPlaying(false);
  }

  tick(now) {
    if (!this.playing) return;
    const dt = this.lastTime === null ? 0 : Math.min((now - this.lastTime) / 1000, 0.1);
    this.lastTime = now;
    this.seek(this.t + dt * this.speed);
    if (this.t >= this.E - 1) this.pause();
    else requestAnimationFrame(this.tick);
  }
}

export default function (component) {
  mountOnce(component, ReplayPlayer, "__vaeReplay", "__vaeReplay");
}
