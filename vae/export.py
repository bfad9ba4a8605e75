"""A model as a plain program for the browser: an ordered list of ops with float32 weights.

`export_model(model)` walks the encoder and decoder modules generically: every layer maps to one op of a small,
fixed vocabulary (linear, conv2d, conv_transpose2d, reshape, relu, leaky_relu, sigmoid, tanh, clamp; elu, add and
mul for models imported from ONNX, which carry their program already: vae/program.py) or the export is refused with `ExportError` naming the layer. The result is then run by the numpy reference interpreter
here (`run_program`) on random inputs and compared with torch, so a layer whose meaning changed is refused too:
an export is exact or it does not exist. The app sends it quantised (vae/wire.py) to the component's JS
interpreter (ui/components/vae_ops.js), which mirrors `run_program` op for op; `to_json` (base64 float32) is the
format before that, still read by the JS and measured by bench/canvas_payload.py.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch
from torch import nn

from vae.errors import VaeError

FORMAT = 1
OPS = ("linear", "conv2d", "conv_transpose2d", "reshape", "relu", "leaky_relu", "sigmoid", "tanh", "clamp", "elu", "add",
       "mul")
CHECK_INPUTS = 8  # random inputs the exported program must reproduce before it is handed out
CHECK_ATOL = 1e-4  # float32 torch against the float64 reference: real differences are ~1e-6
PCA_EPS = 1e-4  # PCA's Bernoulli logits are clamped to (eps, 1 - eps), so its mean image is too (vae/model.py)


class ExportError(VaeError, ValueError):
    """The model cannot be run in the browser exactly; the message names the layer and what is supported."""


# --- leaves: one torch layer -> one op (or none) ------------------------------------------------------------


def _f32(t: torch.Tensor | np.ndarray) -> np.ndarray:
    a = t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    return np.ascontiguousarray(a, dtype=np.float32)


def _bias(m: nn.Module, n: int) -> np.ndarray:
    return _f32(m.bias) if getattr(m, "bias", None) is not None else np.zeros(n, np.float32)


def _pair(v) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(a) for a in v]


def _conv_checks(m: nn.Module, where: str) -> None:
    if m.groups != 1 or _pair(m.dilation) != [1, 1]:
        raise ExportError(f"{where}: {type(m).__name__} with groups={m.groups}, dilation={m.dilation} is not "
                          "supported in the browser (groups=1, dilation=1 only)")
    if isinstance(m.padding, str) or m.padding_mode != "zeros":
        raise ExportError(f"{where}: {type(m).__name__} padding {m.padding!r}/{m.padding_mode!r} is not supported "
                          "(integer zero padding only)")


def _leaf_op(m: nn.Module, where: str, in_shape: list[int], out_shape: list[int]) -> dict | None:
    """The op for layer `m` (shapes without the batch dim), None for a no-op, ExportError for anything unknown."""
    if isinstance(m, nn.Linear):
        return {"op": "linear", "in": m.in_features, "out": m.out_features, "weight": _f32(m.weight),
                "bias": _bias(m, m.out_features)}
    if isinstance(m, nn.ConvTranspose2d):  # before Conv2d: both derive from _ConvNd, neither from the other
        _conv_checks(m, where)
        return {"op": "conv_transpose2d", "in_shape": in_shape, "out_shape": out_shape,
                "kernel": _pair(m.kernel_size), "stride": _pair(m.stride), "padding": _pair(m.padding),
                "weight": _f32(m.weight), "bias": _bias(m, m.out_channels)}  # weight (Cin, Cout, kh, kw)
    if isinstance(m, nn.Conv2d):
        _conv_checks(m, where)
        return {"op": "conv2d", "in_shape": in_shape, "out_shape": out_shape, "kernel": _pair(m.kernel_size),
                "stride": _pair(m.stride), "padding": _pair(m.padding), "weight": _f32(m.weight),
                "bias": _bias(m, m.out_channels)}  # weight (Cout, Cin, kh, kw)
    if isinstance(m, (nn.Flatten, nn.Unflatten)):  # row-major data: a new shape, the same numbers
        return {"op": "reshape", "shape": out_shape}
    if isinstance(m, nn.ReLU):
        return {"op": "relu"}
    if isinstance(m, nn.LeakyReLU):
        return {"op": "leaky_relu", "slope": float(m.negative_slope)}
    if isinstance(m, nn.Sigmoid):
        return {"op": "sigmoid"}
    if isinstance(m, nn.Tanh):
        return {"op": "tanh"}
    if isinstance(m, nn.Identity):
        return None
    raise _unknown(m, where)


SUPPORTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Flatten, nn.Unflatten, nn.ReLU, nn.LeakyReLU, nn.Sigmoid,
             nn.Tanh, nn.Identity)


def _unknown(m: nn.Module, where: str) -> ExportError:
    return ExportError(f"{where}: layer {type(m).__name__} has no browser op; supported layers are "
                       f"{', '.join(t.__name__ for t in SUPPORTED)}. "
                       "Add it to vae/export.py and ui/components/vae_ops.js, or use the server-side map.")


def _leaves(m: nn.Module, where: str) -> list[tuple[str, nn.Module]]:
    """Layers in call order. Only containers whose forward is a plain chain are opened; vae.model's Encoder and
    Decoder are one `net` each (the Decoder's final view is added by the caller)."""
    from vae.model import Decoder, Encoder

    if isinstance(m, nn.Sequential):
        return [leaf for name, child in m.named_children() for leaf in _leaves(child, f"{where}.{name}")]
    if isinstance(m, (Encoder, Decoder)):
        return _leaves(m.net, f"{where}.net")
    return [(where, m)]


def _chain(module: nn.Module, where: str, in_shape: tuple[int, ...]) -> tuple[list[dict], list[int]]:
    """Ops for a module applied to one input of shape in_shape; shapes come from a dry run of each layer."""
    ops: list[dict] = []
    x = torch.zeros(1, *in_shape)
    with torch.no_grad():
        for name, leaf in _leaves(module, where):
            if type(leaf) not in SUPPORTED:  # exact types: a subclass may override forward
                raise _unknown(leaf, name)
            before = list(x.shape[1:])
            try:
                x = leaf(x)
            except Exception as e:  # a layer that cannot even run on this shape cannot be exported
                raise ExportError(f"{name}: {type(leaf).__name__} failed on shape {before}: {e}") from e
            op = _leaf_op(leaf, name, before, list(x.shape[1:]))
            if op is not None:
                ops.append(op)
    return ops, list(x.shape[1:])


def _program(in_shape, ops: list[dict], out_shape) -> dict:
    return {"in_shape": [int(s) for s in in_shape], "out_shape": [int(s) for s in out_shape], "ops": ops}


# --- whole models --------------------------------------------------------------------------------------------


def _link(cfg) -> dict:
    """Likelihood parameters -> mean image in [0, 1], as model.decode does."""
    return {"op": "sigmoid"} if cfg.likelihood == "bernoulli" else {"op": "clamp", "lo": 0.0, "hi": 1.0}


def export_model(model: nn.Module, check: bool = True) -> dict:
    """{'kind', 'latent_dim', 'input_shape', 'likelihood', 'posterior', 'encoder', 'decoder'}.

    decoder: z (D,) -> mean image (C, H, W) in [0, 1], exactly model.decode.
    encoder: x (C, H, W) -> [mu, logvar] (2D,) when posterior == 'gaussian', else mu (D,) ('point': AE, PCA).
    """
    from vae.model import PCA, VAE, AutoEncoder
    from vae.program import ImportedVAE, link_ops, net_ops

    cfg = model.config
    shape, d = tuple(cfg.input_shape), cfg.latent_dim
    if isinstance(model, ImportedVAE):  # its layers are its program: the weights go back in, the link goes after
        prog, posterior = model.program, model.program["posterior"]
        enc = net_ops(model.encoder, prog["encoder"])
        dec = net_ops(model.decoder, prog["decoder"]) + link_ops(cfg.likelihood, prog["decoder_output"])
    elif isinstance(model, PCA):
        comps, mean = _f32(model.components), _f32(model.mean)  # (D, P), (P,)
        lo, hi = (PCA_EPS, 1 - PCA_EPS) if cfg.likelihood == "bernoulli" else (0.0, 1.0)
        dec = [{"op": "linear", "in": d, "out": cfg.n_pixels, "weight": np.ascontiguousarray(comps.T), "bias": mean},
               {"op": "reshape", "shape": list(shape)}, {"op": "clamp", "lo": lo, "hi": hi}]
        enc = [{"op": "reshape", "shape": [cfg.n_pixels]},
               {"op": "linear", "in": cfg.n_pixels, "out": d, "weight": comps,
                "bias": _f32(-(model.components.double() @ model.mean.double()))}]
        posterior = "point"
    elif isinstance(model, VAE):  # AutoEncoder is a VAE without the logvar head
        dec, out = _chain(model.decoder.net, "decoder.net", (d,))
        dec += [{"op": "reshape", "shape": list(shape)}, _link(cfg)]
        enc, (feat,) = _chain(model.encoder, "encoder", shape)
        if isinstance(model, AutoEncoder):
            heads, posterior = [model.to_mu], "point"
        else:
            heads, posterior = [model.to_mu, model.to_logvar], "gaussian"
        for h, name in zip(heads, ("to_mu", "to_logvar")):
            if not isinstance(h, nn.Linear):
                raise ExportError(f"{name}: a {type(h).__name__} head is not supported (Linear only)")
        # both heads read the same features: one linear with the weights stacked gives [mu, logvar]
        enc.append({"op": "linear", "in": feat, "out": d * len(heads), "weight": np.concatenate([_f32(h.weight) for h in heads]),
                    "bias": np.concatenate([_bias(h, d) for h in heads])})
    else:
        raise ExportError(f"model class {type(model).__name__} has no browser export (VAE, AutoEncoder, PCA only)")
    out = {"format": FORMAT, "kind": cfg.kind, "latent_dim": d, "input_shape": list(shape),
           "likelihood": cfg.likelihood, "posterior": posterior,
           "encoder": _program(shape, enc, [d * (2 if posterior == "gaussian" else 1)]),
           "decoder": _program([d], dec, shape)}
    for prog in (out["encoder"], out["decoder"]):
        for op in prog["ops"]:
            if op["op"] not in OPS:  # a guard for this module's own edits
                raise ExportError(f"internal: op {op['op']!r} is not in the browser vocabulary")
    if check:
        check_export(model, out)
    return out


@torch.no_grad()
def torch_reference(model: nn.Module, posterior: str, which: str, x: np.ndarray) -> np.ndarray:
    """What the exported program must compute, from the model itself: decode, or encode as [mu, logvar] / mu."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if which == "decoder":
        return model.decode(t).reshape(t.shape[0], -1).double().numpy()
    q = model.encode(t)
    parts = [q.mu] + ([q.logvar] if posterior == "gaussian" else [])
    return torch.cat(parts, 1).double().numpy()


def check_export(model: nn.Module, exported: dict, n: int = CHECK_INPUTS, seed: int = 0) -> float:
    """Max abs difference between run_program and torch on random inputs; ExportError above CHECK_ATOL."""
    rng = np.random.default_rng(seed)
    d, shape = exported["latent_dim"], exported["input_shape"]
    worst = 0.0
    for which, x in (("decoder", rng.normal(0, 2, (n, d))), ("encoder", rng.uniform(0, 1, (n, *shape)))):
        got = np.stack([run_program(exported[which], xi).ravel() for xi in x])
        ref = torch_reference(model, exported["posterior"], which, x)
        err = float(np.abs(got - ref).max()) if got.shape == ref.shape else np.inf
        if not err <= CHECK_ATOL:  # also catches NaN
            raise ExportError(f"the exported {which} does not reproduce the model (max abs difference {err:.3g}): "
                              "its forward pass does something the module walk cannot see")
        worst = max(worst, err)
    return worst


# --- the reference interpreter (float64), mirrored by the JS one ------------------------------------------------


def _conv2d(x: np.ndarray, op: dict) -> np.ndarray:
    (kh, kw), (sh, sw), (ph, pw) = op["kernel"], op["stride"], op["padding"]
    co, ho, wo = op["out_shape"]
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    w = op["weight"].astype(np.float64)  # (Co, Ci, kh, kw)
    out = np.zeros((co, ho, wo)) + op["bias"][:, None, None]
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw]  # (Ci, Ho, Wo)
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], patch)
    return out


def _conv_transpose2d(x: np.ndarray, op: dict) -> np.ndarray:
    """Each input pixel scatters its kernel into the output at stride spacing, shifted back by the padding."""
    (kh, kw), (sh, sw), (ph, pw) = op["kernel"], op["stride"], op["padding"]
    co, ho, wo = op["out_shape"]
    _, hi, wi = x.shape
    w = op["weight"].astype(np.float64)  # (Ci, Co, kh, kw)
    full = np.zeros((co, (hi - 1) * sh + kh + ho, (wi - 1) * sw + kw + wo))  # room for output_padding
    for i in range(kh):
        for j in range(kw):
            full[:, i : i + sh * (hi - 1) + 1 : sh, j : j + sw * (wi - 1) + 1 : sw] += np.einsum("co,chw->ohw", w[:, :, i, j], x)
    return full[:, ph : ph + ho, pw : pw + wo] + op["bias"][:, None, None]


def run_program(program: dict, x: np.ndarray) -> np.ndarray:
    """Run one input (no batch dim) through a program; returns an array of program['out_shape']."""
    a = np.asarray(x, dtype=np.float64).reshape(program["in_shape"])
    for op in program["ops"]:
        kind = op["op"]
        if kind == "linear":
            a = op["weight"].astype(np.float64) @ a.ravel() + op["bias"]
        elif kind == "conv2d":
            a = _conv2d(a.reshape(op["in_shape"]), op)
        elif kind == "conv_transpose2d":
            a = _conv_transpose2d(a.reshape(op["in_shape"]), op)
        elif kind == "reshape":
            a = a.reshape(op["shape"])
        elif kind == "relu":
            a = np.maximum(a, 0)
        elif kind == "leaky_relu":
            a = np.where(a >= 0, a, op["slope"] * a)
        elif kind == "sigmoid":
            a = 1 / (1 + np.exp(-a))
        elif kind == "tanh":
            a = np.tanh(a)
        elif kind == "clamp":
            a = np.clip(a, op["lo"], op["hi"])
        elif kind == "elu":
            a = np.where(a > 0, a, op["alpha"] * np.expm1(np.minimum(a, 0)))
        elif kind in ("add", "mul"):  # value: one number, or one per activation
            v = op["value"].astype(np.float64)
            v = v.reshape(a.shape) if v.size > 1 else v.reshape(())
            a = a + v if kind == "add" else a * v
        else:
            raise ExportError(f"unknown op {kind!r}")
    return a.reshape(program["out_shape"])


# --- JSON for the component ------------------------------------------------------------------------------------


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def to_json(exported: dict) -> dict[str, Any]:
    """The export with every weight array as {'b64': little-endian float32, 'shape': [...]}: JSON-safe."""
    def op_json(op: dict) -> dict:
        return {k: ({"b64": _b64(v), "shape": list(v.shape)} if isinstance(v, np.ndarray) else v) for k, v in op.items()}

    out = {k: v for k, v in exported.items() if k not in ("encoder", "decoder")}
    for which in ("encoder", "decoder"):
        prog = exported[which]
        out[which] = {**prog, "ops": [op_json(op) for op in prog["ops"]]}
    return out


def weight_bytes(exported: dict) -> int:
    """float32 bytes of all weights (before base64's 4/3)."""
    return sum(v.nbytes for which in ("encoder", "decoder") for op in exported[which]["ops"]
               for v in op.values() if isinstance(v, np.ndarray))
