// The browser half of vae/export.py: compiles an exported program (ops + weights) into a function
// Float32Array -> Float32Array. It mirrors vae.export.run_program op for op; tests/test_canvas_parity.py checks
// both against torch in Chromium. Weights come as vae/wire.py encodes them (float16, or int8 with a scale) inside
// its binary container (`unpack`); base64 float32 ({b64}, vae.export.to_json) is still read.
// A classic script (no `export`): the component prepends it to its module.
const VaeOps = (() => {
  let half = null;  // float16 bit pattern -> its value; each is exact in float32
  function halfTable() {
    if (half) return half;
    half = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
      half[h] = s * (e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1024 + m) * 2 ** (e - 25));
    }
    return half;
  }

  const WIDTH = { f16: 2, i8: 1, f32: 4 };

  // an encoded array -> Float32Array: the values vae.wire.tensor_values computes (q * scale rounds to float32
  // on the store, as numpy's float32 product does)
  function f32(w) {
    if (w.b64 !== undefined) {
      const bin = atob(w.b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new Float32Array(bytes.buffer);
    }
    const n = size(w.shape), bytes = w.data, width = WIDTH[w.dtype];
    if (!width) throw new Error(`unknown weight dtype ${JSON.stringify(w.dtype)}: this page is older than the exporter`);
    if (!(bytes instanceof Uint8Array) || bytes.length !== n * width) {
      throw new Error(`a ${w.dtype} weight of shape [${w.shape}] needs ${n * width} bytes`);
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), out = new Float32Array(n);
    if (w.dtype === "f16") { const t = halfTable(); for (let i = 0; i < n; i++) out[i] = t[dv.getUint16(2 * i, true)]; }
    else if (w.dtype === "i8") { const s = w.scale; for (let i = 0; i < n; i++) out[i] = dv.getInt8(i) * s; }
    else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    return out;
  }

  // vae.wire.pack's container: "VAE1", u32 LE header length, JSON header, blobs at 8-byte offsets; every
  // {"$blob": [offset, nbytes]} of the header comes back as a Uint8Array of its own (not a view of the message)
  function unpack(bytes) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 8 || dv.getUint32(0, false) !== 0x56414531) throw new Error("the payload is not a VAE1 container");
    const n = dv.getUint32(4, true), start = 8 + n, base = start + ((8 - (start % 8)) % 8);
    if (start > bytes.length) throw new Error("the payload's header runs past its end");
    const walk = (v) => {
      if (Array.isArray(v)) return v.map(walk);
      if (!v || typeof v !== "object") return v;
      if (Array.isArray(v.$blob)) {
        const [off, len] = v.$blob;
        if (base + off + len > bytes.length) throw new Error("a blob runs past the payload's end");
        return bytes.slice(base + off, base + off + len);
      }
      const out = {};
      for (const k of Object.keys(v)) out[k] = walk(v[k]);
      return out;
    };
    return walk(JSON.parse(new TextDecoder().decode(bytes.subarray(8, start))));
  }

  function size(shape) {
    return shape.reduce((a, b) => a * b, 1);
  }

  function linear(op) {
    const W = f32(op.weight), b = f32(op.bias), n = op.in, m = op.out, out = new Float32Array(m);
    return (x) => {
      for (let o = 0; o < m; o++) {
        let s = b[o];
        const row = o * n;
        for (let i = 0; i < n; i++) s += W[row + i] * x[i];
        out[o] = s;
      }
      return out;
    };
  }

  function conv2d(op) {
    const W = f32(op.weight), b = f32(op.bias);
    const [ci, hi, wi] = op.in_shape, [co, ho, wo] = op.out_shape;
    const [kh, kw] = op.kernel, [sh, sw] = op.stride, [ph, pw] = op.padding;
    const out = new Float32Array(co * ho * wo);
    return (x) => {
      for (let o = 0; o < co; o++) {
        for (let y = 0; y < ho; y++) {
          for (let xx = 0; xx < wo; xx++) {
            let s = b[o];
            for (let c = 0; c < ci; c++) {
              const wbase = (o * ci + c) * kh * kw, xbase = c * hi * wi;
              for (let i = 0; i < kh; i++) {
                const iy = y * sh - ph + i;
                if (iy < 0 || iy >= hi) continue;
                for (let j = 0; j < kw; j++) {
                  const ix = xx * sw - pw + j;
                  if (ix < 0 || ix >= wi) continue;
                  s += W[wbase + i * kw + j] * x[xbase + iy * wi + ix];
                }
              }
            }
            out[(o * ho + y) * wo + xx] = s;
          }
        }
      }
      return out;
    };
  }

  // each input pixel scatters its kernel into the output at stride spacing, shifted back by the padding;
  // output_padding only makes the output larger, and out_shape already says by how much
  function convTranspose2d(op) {
    const W = f32(op.weight), b = f32(op.bias);
    const [ci, hi, wi] = op.in_shape, [co, ho, wo] = op.out_shape;
    const [kh, kw] = op.kernel, [sh, sw] = op.stride, [ph, pw] = op.padding;
    const out = new Float32Array(co * ho * wo);
    const acc = new Float64Array(co * ho * wo);
    return (x) => {
      for (let o = 0; o < co; o++) acc.fill(b[o], o * ho * wo, (o + 1) * ho * wo);
      for (let c = 0; c < ci; c++) {
        for (let y = 0; y < hi; y++) {
          for (let xx = 0; xx < wi; xx++) {
            const v = x[(c * hi + y) * wi + xx];
            if (v === 0) continue;  // after a ReLU about half the inputs are zero
            for (let o = 0; o < co; o++) {
              const wbase = (c * co + o) * kh * kw, obase = o * ho * wo;
              for (let i = 0; i < kh; i++) {
                const oy = y * sh - ph + i;
                if (oy < 0 || oy >= ho) continue;
                for (let j = 0; j < kw; j++) {
                  const ox = xx * sw - pw + j;
                  if (ox < 0 || ox >= wo) continue;
                  acc[obase + oy * wo + ox] += v * W[wbase + i * kw + j];
                }
              }
            }
          }
        }
      }
      for (let i = 0; i < out.length; i++) out[i] = acc[i];
      return out;
    };
  }

  function pointwise(f) {
    let out = new Float32Array(0);
    return (x) => {
      if (out.length !== x.length) out = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
      return out;
    };
  }

  // x + value or x * value, value one number or one per activation (imported models: vae/program.py)
  function constant(op, add) {
    const c = f32(op.value);
    if (c.length === 1) { const v = c[0]; return pointwise(add ? (x) => x + v : (x) => x * v); }
    const out = new Float32Array(c.length);
    return (x) => {
      for (let i = 0; i < c.length; i++) out[i] = add ? x[i] + c[i] : x[i] * c[i];
      return out;
    };
  }

  function compileOp(op) {
    switch (op.op) {
      case "linear": return linear(op);
      case "conv2d": return conv2d(op);
      case "conv_transpose2d": return convTranspose2d(op);
      case "reshape": return (x) => x;  // row-major: the same numbers under a new shape
      case "relu": return pointwise((v) => (v > 0 ? v : 0));
      case "leaky_relu": { const a = op.slope; return pointwise((v) => (v >= 0 ? v : a * v)); }
      case "sigmoid": return pointwise((v) => 1 / (1 + Math.exp(-v)));
      case "tanh": return pointwise(Math.tanh);
      case "clamp": { const lo = op.lo, hi = op.hi; return pointwise((v) => (v < lo ? lo : v > hi ? hi : v)); }
      case "elu": { const a = op.alpha; return pointwise((v) => (v > 0 ? v : a * Math.expm1(v))); }
      case "add": return constant(op, true);
      case "mul": return constant(op, false);
      default: throw new Error(`unknown op ${JSON.stringify(op.op)}: this page is older than the exporter`);
    }
  }

  // program -> {run(Float32Array | number[]) -> Float32Array (a fresh copy), inSize, outSize}
  function compile(program) {
    const steps = program.ops.map(compileOp);
    const inSize = size(program.in_shape), outSize = size(program.out_shape);
    const input = new Float32Array(inSize);
    return {
      inSize, outSize,
      run(x) {
        if (x.length !== inSize) throw new Error(`input has ${x.length} numbers, the program wants ${inSize}`);
        input.set(x);
        let a = input;
        for (const step of steps) a = step(a);
        return Float32Array.from(a);
      },
    };
  }

  // the posterior of an encoder output [mu, logvar] (gaussian) or [mu] (point) on a 2-D view plane:
  // centre (k,) and covariance (k x k) of B q(z) with basis B (k x D), origin o
  function planeGaussian(out, d, origin, basis) {
    const mu = out.slice(0, d), logvar = out.length >= 2 * d ? out.slice(d, 2 * d) : null;
    const k = basis.length;
    const centre = basis.map((row) => row.reduce((s, bj, j) => s + bj * (mu[j] - origin[j]), 0));
    const cov = basis.map((ri) => basis.map((rj) => (logvar ? ri.reduce((s, b, j) => s + b * rj[j] * Math.exp(logvar[j]), 0) : 0)));
    return { mu, logvar, centre, cov, k };
  }

  // a payload of ui/payload.py (bytes: the container; else JSON) -> {data, missing}: the parts it brings are kept
  // for the page's life, the last "$keep" (ui.payload.MAX_PARTS), and every {"$part": key} in it is replaced by
  // the part itself; `missing` lists keys this page does not hold (the caller asks Python for them); a
  // {"$lazy": key} (sent only when asked for) stays as it is unless the page holds that part already
  function receive(payload) {
    const cache = (window.__vaeParts = window.__vaeParts || new Map());
    const data = payload instanceof Uint8Array ? unpack(payload) : payload;
    for (const [key, part] of Object.entries(data.$parts || {})) { cache.delete(key); cache.set(key, part); }
    while (cache.size > (data.$keep || 16)) cache.delete(cache.keys().next().value);
    const missing = [];
    const walk = (v) => {
      if (Array.isArray(v)) return v.map(walk);
      if (!v || typeof v !== "object" || v instanceof Uint8Array) return v;
      if (typeof v.$lazy === "string") return cache.get(v.$lazy) || v;  // not sent until asked for: no miss
      if (typeof v.$part === "string") {
        if (!cache.has(v.$part)) missing.push(v.$part);
        return cache.get(v.$part) || null;
      }
      const out = {};
      for (const k of Object.keys(v)) if (k !== "$parts") out[k] = walk(v[k]);
      return out;
    };
    return { data: walk(data), missing };
  }

  return { compile, f32, size, planeGaussian, unpack, receive };
})();
