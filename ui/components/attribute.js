// The Latent map's attribute vector slider: z + k·v decoded in the page by VaeOps (vae_ops.js) from the map's
// decoder part, live as the slider moves, with a strip of steps along v. Nothing is sent to the server per move.
// Registered by ui/components/attribute.py; fed by ui/attributes.py. The vector's name arrives in `data` and is
// written with textContent only.

function avEl(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function avPaint(cv, a, shape) {
  const [c, h, w] = shape, n = h * w, img = new ImageData(w, h);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) img.data[4 * i + k] = Math.round(255 * Math.min(1, Math.max(0, a[(c >= 3 ? k : 0) * n + i])));
    img.data[4 * i + 3] = 255;
  }
  cv.width = w;
  cv.height = h;
  cv.getContext("2d").putImageData(img, 0, 0);
}

class AttributeSlider {
  constructor(root) {
    this.root = avEl("div", "vc-root", root);
    this.title = avEl("div", "vc-title", this.root);
    const row = avEl("div", "vc-cols", this.root);
    const card = avEl("div", "vc-card", row);
    this.cv = avEl("canvas", "vc-img", card);
    this.caption = avEl("div", "vc-caption", card);
    const side = avEl("div", "vc-card", row);
    avEl("div", "vc-caption", side).textContent = "k (0: the start z; 1: moved by the whole of v)";
    this.slider = avEl("input", "av-k", side);
    this.slider.type = "range";
    this.slider.step = "0.01";
    this.slider.setAttribute("aria-label", "k");
    this.kText = avEl("div", "vc-caption", side);
    this.strip = avEl("div", "vc-cols", side);
    this.stats = { draws: 0 };
    this.slider.addEventListener("input", () => this.draw(parseFloat(this.slider.value)));
  }

  update(payload, setTrigger, attempt = 0) {
    const data = receiveSoon(this, payload, setTrigger, attempt);
    if (!data) return;
    const key = JSON.stringify([data.z, data.v, data.kmax, data.decoder && data.decoder.out_shape, data.name]);
    if (key === this.key) return;
    this.data = data;
    this.prog = VaeOps.compile(data.decoder);
    this.title.textContent = `z + k·v along “${data.name}”, decoded in your browser`;
    this.slider.min = String(-data.kmax);
    this.slider.max = String(data.kmax);
    this.strip.replaceChildren();
    const steps = data.strip || [];
    for (const k of steps) {
      const c = avEl("div", "vc-card vc-small", this.strip);
      const cv = avEl("canvas", "vc-img", c);
      avPaint(cv, this.decode(k).x_hat, data.decoder.out_shape);
      avEl("div", "vc-caption", c).textContent = `k = ${k}`;
    }
    const k = this.last ? Math.max(-data.kmax, Math.min(data.kmax, this.last.k)) : 0;
    this.slider.value = String(k);
    this.draw(k);
    this.key = key;  // only once drawn: a failed update is tried again with the next payload
  }

  decode(k) {
    const { z, v } = this.data;
    const zk = z.map((zi, i) => zi + k * v[i]);
    return { k, z: zk, x_hat: this.prog.run(zk) };
  }

  draw(k) {
    const got = this.decode(k);
    avPaint(this.cv, got.x_hat, this.data.decoder.out_shape);
    this.kText.textContent = `k = ${k.toFixed(2)}`;
    const fmt = (a) => a.slice(0, 6).map((x) => x.toFixed(2)).join(", ") + (a.length > 6 ? ", …" : "");
    this.caption.textContent = `z + ${k.toFixed(2)}·v = (${fmt(got.z)})`;
    this.last = { k, z: got.z, x_hat: Array.from(got.x_hat) };
    this.stats.draws += 1;
  }
}

export default function (component) {
  mountOnce(component, AttributeSlider, "__vaeAttr", "__vaeAttr");
}
