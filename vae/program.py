"""Models rebuilt from an op program (the vocabulary of vae/export.py), for checkpoints imported from ONNX.

An imported checkpoint stores, in its metadata, the program of its encoder and decoder without weights (`program`),
and its weights as ordinary safetensors tensors. `check_program` checks that metadata against the model config
(op vocabulary, types, bounds, every shape) before anything is built; `ImportedVAE` rebuilds it as plain torch
layers, which the one checkpoint loader fills; `net_ops` gives the program back with the weights, for the browser.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vae.errors import VaeError
from vae import settings
from vae.model import DiagonalGaussian, _Base

ARRAYS = {"linear": ("weight", "bias"), "conv2d": ("weight", "bias"), "conv_transpose2d": ("weight", "bias"),
          "add": ("value",), "mul": ("value",)}  # the weights of each op; the rest of an op is plain JSON
FIELDS = {"linear": {"in", "out"}, "conv2d": {"in_shape", "out_shape", "kernel", "stride", "padding"},
          "reshape": {"shape"}, "relu": set(), "leaky_relu": {"slope"}, "elu": {"alpha"}, "sigmoid": set(),
          "tanh": set(), "clamp": {"lo", "hi"}, "add": {"scalar"}, "mul": {"scalar"}}
FIELDS["conv_transpose2d"] = FIELDS["conv2d"]
POSTERIORS = ("gaussian", "point")  # encoder output [mu, logvar] (a VAE) or mu alone (an auto-encoder)
DECODER_OUTPUTS = ("logits", "probs", "mean")  # what the decoder's output is: the image is sigmoid(it), or it
PROBS_EPS = 1e-4  # probabilities are clamped to (eps, 1 - eps) before their logit, as PCA's (vae/model.py)
MAX_OPS = 256
MAX_KERNEL, MAX_STRIDE, MAX_PADDING = 16, 8, 16
MAX_DIM = 2**20  # any one size of an op: far above a small VAE, far below an overflow


class ProgramError(VaeError, ValueError):
    """An op program that does not fit the vocabulary or the model; the message names the op."""


# --- checks -------------------------------------------------------------------------------------------------


def _ints(v, n: int, lo: int, hi: int, what: str) -> list[int]:
    if not (isinstance(v, list) and len(v) == n and all(isinstance(i, int) and not isinstance(i, bool) and lo <= i <= hi
                                                        for i in v)):
        raise ProgramError(f"{what} must be {n} integers in {lo}..{hi}")
    return v


def _shape(v, what: str) -> list[int]:
    if not (isinstance(v, list) and 1 <= len(v) <= 3):
        raise ProgramError(f"{what} must list 1 to 3 sizes")
    return _ints(v, len(v), 1, MAX_DIM, what)


def _number(v, what: str) -> float:
    if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
        raise ProgramError(f"{what} must be a finite number")
    return float(v)


def _conv_out(op: dict, where: str, transpose: bool) -> list[int]:
    k = _ints(op["kernel"], 2, 1, MAX_KERNEL, f"{where}: kernel")
    s = _ints(op["stride"], 2, 1, MAX_STRIDE, f"{where}: stride")
    p = _ints(op["padding"], 2, 0, MAX_PADDING, f"{where}: padding")
    (_, hi, wi), (_, ho, wo) = op["in_shape"], op["out_shape"]
    if transpose:  # output_padding is what out_shape adds to the plain size; torch allows less than the stride
        extra = [o - ((i - 1) * st - 2 * pd + kk) for o, i, st, pd, kk in zip((ho, wo), (hi, wi), s, p, k)]
        if not all(0 <= e < st for e, st in zip(extra, s)):
            raise ProgramError(f"{where}: out_shape {op['out_shape']} is not reachable from in_shape {op['in_shape']}")
        return extra
    if [ho, wo] != [(i + 2 * pd - kk) // st + 1 for i, pd, kk, st in zip((hi, wi), p, k, s)]:  # (ho, wo >= 1)
        raise ProgramError(f"{where}: out_shape {op['out_shape']} does not follow from in_shape {op['in_shape']}")
    return [0, 0]


def check_ops(ops, in_shape: list[int], where: str) -> list[int]:
    """Check each op's fields and follow the shape through the program; returns the output shape."""
    if not isinstance(ops, list) or len(ops) > MAX_OPS:
        raise ProgramError(f"{where}.ops must be a list of at most {MAX_OPS} ops")
    shape, budget = list(in_shape), settings.PROGRAM_ACTIVATION.value()
    for i, op in enumerate(ops):
        at = f"{where}.ops[{i}]"
        kind = op.get("op") if isinstance(op, dict) else None
        if kind not in FIELDS:
            raise ProgramError(f"{at}: unknown op {str(kind)[:40]!r} (known: {', '.join(FIELDS)})")
        if set(op) != FIELDS[kind] | {"op"}:
            raise ProgramError(f"{at}: a {kind} op has the fields {sorted(FIELDS[kind])}")
        if kind == "linear":
            n_in, n_out = _ints([op["in"], op["out"]], 2, 1, MAX_DIM, f"{at}: in/out")
            if shape != [n_in]:
                raise ProgramError(f"{at}: a linear layer of {n_in} inputs gets shape {shape}")
            shape = [n_out]
        elif kind in ("conv2d", "conv_transpose2d"):
            if _shape(op["in_shape"], f"{at}: in_shape") != shape or len(shape) != 3:
                raise ProgramError(f"{at}: in_shape {op['in_shape']} is not the incoming shape {shape}")
            _shape(op["out_shape"], f"{at}: out_shape")
            if len(op["out_shape"]) != 3:
                raise ProgramError(f"{at}: out_shape must be (C, H, W)")
            _conv_out(op, at, kind == "conv_transpose2d")
            shape = list(op["out_shape"])
        elif kind == "reshape":
            if math.prod(_shape(op["shape"], f"{at}: shape")) != math.prod(shape):
                raise ProgramError(f"{at}: cannot reshape {shape} to {op['shape']}")
            shape = list(op["shape"])
        elif kind in ("leaky_relu", "elu"):
            _number(op["slope" if kind == "leaky_relu" else "alpha"], at)
        elif kind == "clamp":
            if not _number(op["lo"], at) <= _number(op["hi"], at):
                raise ProgramError(f"{at}: clamp needs lo <= hi")
        elif kind in ("add", "mul") and not isinstance(op["scalar"], bool):
            raise ProgramError(f"{at}: scalar must be true or false")
        if math.prod(shape) > budget:
            raise ProgramError(f"{at}: makes {math.prod(shape):,} numbers per image, above the "
                               f"{settings.PROGRAM_ACTIVATION.shown()} limit (set {settings.PROGRAM_ACTIVATION.env})")
    return shape


def check_program(program, cfg) -> dict:
    """Raise ProgramError unless `program` is an imported model of config `cfg` (ModelConfig); returns it."""
    if not isinstance(program, dict) or not {"posterior", "decoder_output", "encoder", "decoder"} <= set(program) \
            or not set(program) <= {"posterior", "decoder_output", "encoder", "decoder", "source"}:
        raise ProgramError("program must hold posterior, decoder_output, encoder, decoder (and source)")
    want = {"vae": "gaussian", "ae": "point"}.get(cfg.kind)
    if program["posterior"] != want:
        raise ProgramError(f"program.posterior must be {want!r} for a {cfg.kind} (gaussian: vae, point: ae)")
    if program["decoder_output"] not in DECODER_OUTPUTS:
        raise ProgramError(f"program.decoder_output must be one of {', '.join(DECODER_OUTPUTS)}")
    d, image = cfg.latent_dim, list(cfg.input_shape)
    ends = {"encoder": (image, [2 * d if want == "gaussian" else d]), "decoder": ([d], image)}
    for which, (i, o) in ends.items():
        prog = program[which]
        if not isinstance(prog, dict) or set(prog) != {"in_shape", "out_shape", "ops"}:
            raise ProgramError(f"program.{which} must hold in_shape, out_shape and ops")
        if prog["in_shape"] != i or prog["out_shape"] != o:
            raise ProgramError(f"program.{which} must map {i} to {o}, not {prog['in_shape']} to {prog['out_shape']}")
        if check_ops(prog["ops"], i, f"program.{which}") != o:
            raise ProgramError(f"program.{which}: its ops do not end in shape {o}")
    return program


# --- torch layers -------------------------------------------------------------------------------------------


class Reshape(nn.Module):
    def __init__(self, shape: list[int]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class Clamp(nn.Module):
    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(self.lo, self.hi)


class Constant(nn.Module):
    """x + value or x * value, value one number or one per activation (the batch dim broadcast)."""

    def __init__(self, kind: str, shape: list[int]):
        super().__init__()
        self.kind = kind
        self.register_buffer("value", torch.empty(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.value if self.kind == "add" else x * self.value


def _layer(op: dict, shape: list[int]) -> nn.Module:
    kind = op["op"]
    if kind == "linear":
        return nn.Linear(op["in"], op["out"])
    if kind in ("conv2d", "conv_transpose2d"):
        ci, co = op["in_shape"][0], op["out_shape"][0]
        if kind == "conv2d":
            return nn.Conv2d(ci, co, op["kernel"], op["stride"], op["padding"])
        extra = _conv_out(op, kind, transpose=True)
        return nn.ConvTranspose2d(ci, co, op["kernel"], op["stride"], op["padding"], output_padding=extra)
    if kind == "reshape":
        return Reshape(op["shape"])
    if kind in ("add", "mul"):
        return Constant(kind, [1] if op["scalar"] else shape)
    if kind == "clamp":
        return Clamp(float(op["lo"]), float(op["hi"]))
    if kind == "leaky_relu":
        return nn.LeakyReLU(float(op["slope"]))
    if kind == "elu":
        return nn.ELU(float(op["alpha"]))
    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[kind]()


def build_net(prog: dict) -> nn.Sequential:
    """One torch layer per op of a checked program (weights uninitialised: the loader assigns them)."""
    layers, shape = [], list(prog["in_shape"])
    for op in prog["ops"]:
        layers.append(_layer(op, shape))
        shape = check_ops([op], shape, "program")
    return nn.Sequential(Reshape(prog["in_shape"]), *layers)


def net_ops(net: nn.Sequential, prog: dict) -> list[dict]:
    """The program's ops with the net's current weights as float32 arrays (the export format)."""
    out = []
    for op, layer in zip(prog["ops"], list(net)[1:]):
        arrays = {name: getattr(layer, name).detach().cpu().float().numpy().copy() for name in ARRAYS.get(op["op"], ())}
        out.append({**op, **arrays})
    return out


def split_weights(ops: list[dict], prefix: str) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """The inverse of net_ops: ops with arrays -> (the ops as metadata, the state_dict entries of build_net's net)."""
    meta, tensors = [], {}
    for i, op in enumerate(ops):
        names = ARRAYS.get(op["op"], ())
        meta.append({k: v for k, v in op.items() if k not in names})
        for name in names:  # layer i + 1: build_net puts the input's Reshape first
            tensors[f"{prefix}.{i + 1}.{name}"] = torch.tensor(op[name], dtype=torch.float32)
    return meta, tensors


def link_ops(likelihood: str, decoder_output: str) -> list[dict]:
    """The decoder's output -> the mean image in [0, 1], as ImportedVAE.decode computes it."""
    if decoder_output == "logits":
        return [{"op": "sigmoid"}]
    lo, hi = (PROBS_EPS, 1 - PROBS_EPS) if likelihood == "bernoulli" else (0.0, 1.0)
    return [{"op": "clamp", "lo": lo, "hi": hi}]


class ImportedVAE(_Base):
    """A VAE (or auto-encoder) whose encoder and decoder are op programs; same interface as vae.model.VAE."""

    def __init__(self, cfg, program: dict):
        super().__init__(cfg)
        self.program = check_program(program, cfg)
        self.encoder = build_net(program["encoder"])
        self.decoder = build_net(program["decoder"])

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        h = self.encoder(x)  # (B, 2D) or (B, D)
        if self.program["posterior"] == "point":
            return DiagonalGaussian(h)
        mu, logvar = h.chunk(2, dim=1)
        return DiagonalGaussian(mu, logvar)

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        """Likelihood parameters, (B, C, H, W): Bernoulli logits or Gaussian means, whatever the decoder outputs."""
        out = self.decoder(z)
        bernoulli, logits = self.config.likelihood == "bernoulli", self.program["decoder_output"] == "logits"
        if bernoulli and not logits:
            return torch.logit(out.clamp(PROBS_EPS, 1 - PROBS_EPS))
        if not bernoulli and logits:
            return torch.sigmoid(out)
        return out

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        posterior = self.encode(x)
        z = posterior.sample(generator)
        return self.decoder_output(z), posterior, z
