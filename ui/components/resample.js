// The computation view's "Resample ε here": new noise ε ~ N(0, I) drawn in the browser, z = μ + σ ⊙ ε, and x̂
// decoded by VaeOps (vae_ops.js) from the map's decoder part, with no message to the server.
// Registered by ui/components/resample.py; used by ui/computation.py. Only numbers arrive in `data`.

function rsEl(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

// mulberry32: a small seeded generator, so a test can replay the draws; Box–Muller turns two uniforms into N(0, 1)
function rsRandom(seed) {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

class Resampler {
  constructor(root) {
    this.root = rsEl("div", "vc-root", root);
    const row = rsEl("div", "vc-cols", this.root);
    const card = rsEl("div", "vc-card", row);
    rsEl("div", "vc-title", card).textContent = "x̂ from this ε (decoded in your browser)";
    this.cv = rsEl("canvas", "vc-img", card);
    const side = rsEl("div", "vc-card", row);
    this.btn = rsEl("button", "vc-btn", side);
    this.btn.type = "button";
    this.btn.textContent = "Resample ε here (no server)";
    this.eps = rsEl("div", "vc-caption", side);
    this.z = rsEl("div", "vc-caption", side);
    this.stats = { draws: 0 };
    window.__vaeResample = this;
    this.btn.addEventListener("click", () => this.draw());
  }

  update(payload, setTrigger) {
    const { data, missing } = VaeOps.receive(payload);
    if (missing.length) { setTrigger("need_static", { keys: missing }); return; }
    const key = JSON.stringify([data.mu, data.sigma, data.seed]);
    if (key === this.key) return;
    this.key = key;
    this.data = data;
    this.prog = VaeOps.compile(data.decoder);
    this.normal = rsRandom(data.seed);
    this.draw();
  }

  draw() {
    const { mu, sigma } = this.data;
    const eps = mu.map(() => this.normal());
    const z = mu.map((m, i) => m + sigma[i] * eps[i]);
    const [c, h, w] = this.data.decoder.out_shape, a = this.prog.run(z), n = h * w;
    const img = new ImageData(w, h);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < 3; k++) img.data[4 * i + k] = Math.round(255 * Math.min(1, Math.max(0, a[(c >= 3 ? k : 0) * n + i])));
      img.data[4 * i + 3] = 255;
    }
    this.cv.width = w;
    this.cv.height = h;
    this.cv.getContext("2d").putImageData(img, 0, 0);
    const fmt = (v) => v.slice(0, 8).map((x) => x.toFixed(3)).join(", ") + (v.length > 8 ? ", …" : "");
    this.eps.textContent = `ε = (${fmt(eps)})`;
    this.z.textContent = `z = μ + σ ⊙ ε = (${fmt(z)})`;
    this.last = { eps, z, x_hat: Array.from(a) };
    this.stats.draws += 1;
  }
}

export default function (component) {
  mountOnce(component, Resampler, "__vaeResample");
}
