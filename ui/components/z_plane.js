// One z, several decoders: hovering the z plane decodes that z with every compared checkpoint at once, in the
// browser (VaeOps, vae_ops.js). Checkpoint names come from users: written with textContent only.
// Registered by ui/components/latent_canvas.py (after vae_ops.js, dom.js and map_paint.js); used by Compare.

const SIDE = 300;

class ZPlane {
  constructor(root) {
    this.root = el("div", "vc-root", root);
    this.cols = el("div", "vc-cols", this.root);
    const box = el("div", "vc-plane", this.cols);
    this.cv = el("canvas", "", box);
    this.cv.width = this.cv.height = SIDE;
    this.cv.style.width = this.cv.style.height = SIDE + "px";
    this.caption = el("div", "vc-caption", this.root);
    this.outs = el("div", "vc-cols", this.cols);
    this.stats = { hover: [] };
    window.__vaeZPlane = this;
    this.cv.addEventListener("pointermove", (e) => this.onHover(e.offsetX, e.offsetY, e.timeStamp));
    this.cv.addEventListener("pointerdown", (e) => this.onHover(e.offsetX, e.offsetY, e.timeStamp));
  }

  update(payload, setTrigger) {
    const { data, missing } = VaeOps.receive(payload);  // the decoders are parts (ui/payload.py), often the map's
    if (missing.length) { setTrigger("need_static", { keys: missing }); return; }
    if (data.static_key === this.key) return;
    this.key = data.static_key;
    this.data = data;
    this.lim = data.lim;
    this.outs.replaceChildren();
    this.models = data.models.map((m) => {
      const col = el("div", "vc-col", this.outs);
      el("div", "vc-name", col).textContent = m.name;
      const cv = el("canvas", "", col);
      cv.width = cv.height = 150;
      const cap = el("div", "vc-caption", col);
      cap.textContent = m.note || "";
      return { prog: VaeOps.compile(m.decoder), shape: m.decoder.out_shape, cv };
    });
    this.z = data.base.slice();
    this.drawPlane(null);
    this.paint();
  }

  toZ(px, py) {
    const s = SIDE / (2 * this.lim);
    return [px / s - this.lim, this.lim - py / s];
  }

  drawPlane(at) {
    const ctx = this.cv.getContext("2d"), s = SIDE / (2 * this.lim), c = SIDE / 2;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, SIDE, SIDE);
    ctx.strokeStyle = "#ddd";
    ctx.fillStyle = "#888";
    ctx.font = "10px sans-serif";
    // grid lines at 1, 2, 5, 10, ... units: at least 28 px apart, so the labels never run into each other
    const step = [1, 2, 5, 10, 20, 50, 100, 200, 500].find((u) => u * s >= 28) || 1000;
    for (let v = -Math.floor(this.lim / step) * step; v <= this.lim; v += step) {
      ctx.beginPath(); ctx.moveTo(c + v * s, 0); ctx.lineTo(c + v * s, SIDE); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, c - v * s); ctx.lineTo(SIDE, c - v * s); ctx.stroke();
      if (v) ctx.fillText(String(v), c + v * s + 2, c - 2);
    }
    this.gridStep = step;
    ctx.strokeStyle = "#9ecae1";
    for (const r of [1, 2]) { ctx.beginPath(); ctx.arc(c, c, r * s, 0, 2 * Math.PI); ctx.stroke(); }
    ctx.fillText(this.data.axes[0], SIDE - 24, c + 12);
    ctx.fillText(this.data.axes[1], c + 4, 12);
    if (at) {
      ctx.strokeStyle = "#d62728";
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(at[0] - 8, at[1]); ctx.lineTo(at[0] + 8, at[1]); ctx.moveTo(at[0], at[1] - 8); ctx.lineTo(at[0], at[1] + 8); ctx.stroke();
      ctx.lineWidth = 1;
    }
  }

  paint() {
    this.small = this.small || document.createElement("canvas");
    for (const m of this.models) MapPaint.image(m.cv, this.small, m.shape, m.prog.run(this.z));
  }

  onHover(px, py, t0) {
    const [x, y] = this.toZ(px, py);
    const [i, j] = this.data.dims;
    this.z[i] = x;
    this.z[j] = y;
    this.paint();
    this.drawPlane([px, py]);
    this.caption.textContent = `z = (${this.z.slice(0, 4).map((v) => v.toFixed(2)).join(", ")}${this.z.length > 4 ? ", …" : ""})`;
    requestAnimationFrame(() => this.stats.hover.push(performance.now() - t0));
  }
}

export default function (component) {
  mountOnce(component, ZPlane, "__vaeZPlane");
}
