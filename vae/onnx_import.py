"""Bring your own VAE: an encoder and a decoder exported to ONNX become one ordinary checkpoint of this app.

`import_onnx` checks both files (vae/onnx_safe.py), translates their graphs into op programs (vae/onnx_graph.py),
rebuilds them as torch layers (vae/program.py), proves the result computes what the ONNX files compute (onnx's own
reference evaluator on real test images and random codes), and writes the checkpoint atomically. Nothing reads the
.onnx files afterwards, and no code from them ever runs.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vae import settings
from vae.config import MAX_LATENT_DIM, ConfigError, DataConfig, ModelConfig
from vae.onnx_safe import OnnxError, parse

CHECK_INPUTS = 8  # images and codes on which the imported model must reproduce the ONNX files
CHECK_RTOL = CHECK_ATOL = 1e-4
DEFAULT_NAME = "imported"


@dataclass(frozen=True)
class ImportOptions:
    """How to read the two files: the dataset they belong to and what their outputs mean."""
    data: str | DataConfig = "digits"  # a dataset name or path (its default split), or a DataConfig
    likelihood: str = "bernoulli"  # bernoulli | gaussian
    decoder_output: str | None = None  # logits | probs | mean; None: probs after a final Sigmoid, else by likelihood
    split_output: bool = False  # the encoder's one (B, 2D) output is mu ‖ logvar
    sigma: float = 0.1  # the Gaussian likelihood's scale
    name: str | None = None

    def __post_init__(self):
        from vae.program import DECODER_OUTPUTS

        ModelConfig(likelihood=self.likelihood, sigma=self.sigma)  # their checks and messages
        if self.decoder_output is not None and self.decoder_output not in DECODER_OUTPUTS:
            raise ConfigError("decoder_output", f"must be one of {', '.join(DECODER_OUTPUTS)}")
        if not isinstance(self.data, DataConfig):
            DataConfig(name=self.data)
        if self.name is not None:
            from vae.checkpoint import sanitize_run_name

            sanitize_run_name(self.name)


def read_onnx(src: str | os.PathLike | bytes | tuple[str, bytes], part: str) -> tuple[bytes, str]:
    """(bytes, file name) of an encoder or decoder given as a path, bytes, or (file name, bytes); a file's size is
    checked before it is read."""
    if isinstance(src, tuple):
        return bytes(src[1]), str(src[0])
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), f"{part}.onnx"
    path, limit = Path(src), settings.ONNX_FILE.value()
    try:
        if path.stat().st_size > limit:
            raise OnnxError(f"{path.name}: file is {path.stat().st_size / 1024**2:.1f} MB, above the "
                            f"{settings.ONNX_FILE.shown()} limit (set {settings.ONNX_FILE.env} to change it)")
        with open(path, "rb") as f:
            return f.read(limit + 1), path.name
    except OSError as e:
        raise OnnxError(f"{path.name}: cannot read the {part} ({e.strerror or e})") from e


def import_onnx(encoder, decoder, *, data: str | DataConfig = "digits", likelihood: str = "bernoulli",
                decoder_output: str | None = None, split_output: bool = False, sigma: float = 0.1,
                name: str | None = None, out: str | os.PathLike | None = None, data_dir: str | None = None) -> Path:
    """Import an encoder and a decoder (ONNX file paths, bytes or (name, bytes)) for dataset `data`; the checkpoint.

    Written to `out`, or to checkpoints/runs/<name>.safetensors. OnnxError (a ValueError) names the file, node and
    op of anything refused; nothing is written then.
    """
    from vae import data as data_mod
    from vae.checkpoint import SUFFIX, CheckpointError, load_checkpoint, read_metadata, run_path, save_checkpoint
    from vae.program import ImportedVAE, ProgramError, split_weights
    from vae.train import evaluate_terms

    opts = ImportOptions(data, likelihood, decoder_output, split_output, sigma, name)
    (enc_blob, enc_name), (dec_blob, dec_name) = read_onnx(encoder, "encoder"), read_onnx(decoder, "decoder")
    enc_model, dec_model = parse(enc_blob, f"encoder {enc_name}"), parse(dec_blob, f"decoder {dec_name}")
    out = Path(out) if out is not None else run_path(Path("checkpoints") / "runs",
                                                     opts.name or f"{Path(enc_name).stem}-{DEFAULT_NAME}")
    if out.suffix != SUFFIX:
        raise ConfigError("out", f"must end in {SUFFIX}")
    if out.exists():
        try:
            read_metadata(out)
        except CheckpointError as e:
            raise ConfigError("out", f"{out.name} exists and is not a checkpoint of this app; refusing to overwrite "
                                     "it") from e
    data_cfg = opts.data if isinstance(opts.data, DataConfig) else DataConfig(name=opts.data, data_dir=data_dir)
    split = data_mod.load(data_cfg)
    image = tuple(split.info["shape"])
    enc_ops, posterior, d = encoder_ops(enc_model, f"encoder {enc_name}", image, opts.split_output)
    dec_ops = decoder_ops(dec_model, f"decoder {dec_name}", image, d)
    if not 1 <= d <= MAX_LATENT_DIM:
        raise OnnxError(f"encoder {enc_name}: a latent dim of {d} is outside 1..{MAX_LATENT_DIM}")
    last = next((op["op"] for op in reversed(dec_ops) if op["op"] != "reshape"), None)
    out_kind = opts.decoder_output or ("probs" if last == "sigmoid" else
                                       "logits" if opts.likelihood == "bernoulli" else "mean")
    cfg = ModelConfig(kind="vae" if posterior == "gaussian" else "ae", arch="imported", input_shape=image,
                      latent_dim=d, likelihood=opts.likelihood, sigma=opts.sigma)
    enc_meta, tensors = split_weights(enc_ops, "encoder")
    dec_meta, dec_tensors = split_weights(dec_ops, "decoder")
    program = {"posterior": posterior, "decoder_output": out_kind,
               "encoder": {"in_shape": list(image), "out_shape": [2 * d if posterior == "gaussian" else d], "ops": enc_meta},
               "decoder": {"in_shape": [d], "out_shape": list(image), "ops": dec_meta},
               "source": {"encoder": _source(enc_model, enc_name, enc_blob), "decoder": _source(dec_model, dec_name, dec_blob)}}
    try:
        model = ImportedVAE(cfg, program)
    except ProgramError as e:
        raise OnnxError(f"the translated model is refused: {e}") from e
    state = model.state_dict()  # log_sigma (Gaussian) keeps the value the config gave it
    assert set(tensors) | set(dec_tensors) <= set(state), "split_weights and build_net disagree on names"
    model.load_state_dict({**state, **tensors, **dec_tensors}, strict=True)
    model.eval()
    check_against_onnx(model, enc_model, dec_model, split.test.x[:CHECK_INPUTS], (enc_name, dec_name))
    from vae.export import ExportError, export_model

    try:
        export_model(model)  # the browser's program must compute the same: refused here, not on the map
    except ExportError as e:
        raise OnnxError(f"the imported model cannot run in the browser: {e}") from e
    history = [{"test": evaluate_terms(model, split.test.x)}]
    tmp = out.parent / f".{out.stem}.importing{SUFFIX}"  # checked by the one loader before it takes out's name
    try:
        save_checkpoint(tmp, model, train=None, data=split.info, history=history, extra={"status": "done"})
        load_checkpoint(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _source(model, name: str, blob: bytes) -> dict:
    clean = re.compile(r"[\x00-\x1f\x7f]")
    producer = clean.sub("", f"{model.producer_name} {model.producer_version}".strip())[:120]
    opset = next((i.version for i in model.opset_import if i.domain in ("", "ai.onnx")), 0)
    return {"file": clean.sub("", name)[:255], "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
            "producer": producer, "opset": int(opset)}


def _input_ops(g, image: tuple[int, ...], what: str) -> tuple:
    c, h, w = image
    if g.input_shape == image:
        return ()
    if g.input_shape in ((c * h * w,), (h, w) if c == 1 else ()):
        return ({"op": "reshape", "shape": list(g.input_shape)},)
    raise OnnxError(f"{what}: its input is (B, {', '.join(map(str, g.input_shape))}) but the dataset's images are "
                    f"(B, {c}, {h}, {w}); give it (B, C, H, W) or flat (B, C·H·W) images in [0, 1]")


def encoder_ops(model, what: str, image: tuple[int, ...], split_output: bool) -> tuple[list[dict], str, int]:
    """(ops from images to [mu, logvar] or mu, 'gaussian' | 'point', latent dim) of an encoder graph."""
    from vae.onnx_graph import Graph

    g = Graph(model, what)
    ops, outs = _input_ops(g, image, what), g.outputs
    if any(len(o.shape) != 1 for o in outs):
        o = next(o for o in outs if len(o.shape) != 1)
        raise OnnxError(f"{what}: {o.by} gives shape (B, {', '.join(map(str, o.shape))}); encoder outputs are (B, D)")
    if len(outs) == 2 and outs[0].part and outs[1].part and outs[0].part[2] is outs[1].part[2]:
        base, (a, b, _), (c, e, _) = outs[0].part[2], outs[0].part, outs[1].part
        if not (a == 0 and b == c and e == base.shape[0] and 2 * b == e):
            raise OnnxError(f"{what}: its outputs cut [{a}:{b}] and [{c}:{e}] from {outs[0].by.split(' (')[0]}'s "
                            f"{base.shape[0]} features; mu must be the first half and logvar the second")
        return list(ops + base.ops), "gaussian", b
    if any(o.part for o in outs) or not 1 <= len(outs) <= 2:
        raise OnnxError(f"{what}: has {len(outs)} outputs; an encoder gives mu and logvar, mu ‖ logvar "
                        "(with --split-output), or a single code (an auto-encoder)")
    if len(outs) == 1:
        k = outs[0].shape[0]
        if split_output and k % 2:
            raise OnnxError(f"{what}: --split-output needs an even output size, and {outs[0].by} gives {k}")
        return list(ops + outs[0].ops), ("gaussian" if split_output else "point"), k // 2 if split_output else k
    mu, logvar = outs
    n = 0
    while n < min(len(mu.ops), len(logvar.ops)) and mu.ops[n] is logvar.ops[n]:
        n += 1
    heads = mu.ops[n:], logvar.ops[n:]
    if mu.shape != logvar.shape or not all(len(h) == 1 and h[0]["op"] == "linear" for h in heads):
        raise OnnxError(f"{what}: mu ({mu.by}) and logvar ({logvar.by}) must each be one linear layer of the same "
                        "size on shared features")
    a, b = heads[0][0], heads[1][0]
    stacked = {"op": "linear", "in": a["in"], "out": a["out"] * 2, "weight": np.concatenate([a["weight"], b["weight"]]),
               "bias": np.concatenate([a["bias"], b["bias"]])}
    return list(ops + mu.ops[:n] + (stacked,)), "gaussian", a["out"]


def decoder_ops(model, what: str, image: tuple[int, ...], d: int) -> list[dict]:
    """The ops from codes (D,) to the decoder's output as an image (C, H, W)."""
    from vae.onnx_graph import Graph

    g = Graph(model, what)
    if g.input_shape != (d,):
        raise OnnxError(f"{what}: its input is (B, {', '.join(map(str, g.input_shape))}); the encoder gives codes "
                        f"of (B, {d})")
    if len(g.outputs) != 1 or g.outputs[0].part:
        raise OnnxError(f"{what}: has {len(g.outputs)} outputs; a decoder gives one image per code")
    o, (c, h, w) = g.outputs[0], image
    if o.shape not in (image, (c * h * w,), (h, w) if c == 1 else ()):
        raise OnnxError(f"{what}: {o.by} gives (B, {', '.join(map(str, o.shape))}), which does not match the "
                        f"dataset's images (B, {c}, {h}, {w})")
    return list(o.ops) + ([{"op": "reshape", "shape": list(image)}] if o.shape != image else [])


def check_against_onnx(model, enc_model, dec_model, x: torch.Tensor, names: tuple[str, str]) -> None:
    """OnnxError unless the imported layers compute what onnx's reference evaluator computes from the files."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(0)
    z = rng.normal(0, 1.5, (x.shape[0], model.config.latent_dim)).astype(np.float32)
    with torch.no_grad():
        ours = {"encoder": model.encoder(x).numpy(), "decoder": model.decoder(torch.from_numpy(z)).numpy()}
    for part, proto, inp, name in (("encoder", enc_model, x.numpy(), names[0]), ("decoder", dec_model, z, names[1])):
        ref = _reference(ReferenceEvaluator(proto), proto, inp)
        got = ours[part].reshape(len(inp), -1)
        err = np.abs(got - ref) - CHECK_RTOL * np.abs(ref) if got.shape == ref.shape else np.array([np.inf])
        if not float(err.max()) <= CHECK_ATOL:  # NaN too
            raise OnnxError(f"{part} {name}: the translation does not reproduce the file (max difference "
                            f"{float(np.abs(got - ref).max()) if got.shape == ref.shape else 'shape'}); please report it")


def _reference(session, proto, inp: np.ndarray) -> np.ndarray:
    """The file's outputs for a batch, flat per item and concatenated (mu ‖ logvar); in batches of the file's own
    size if it fixes one."""
    graph_in = next(i for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer})
    dims = graph_in.type.tensor_type.shape.dim
    shape = [d.dim_value for d in dims[1:]]
    dtype = np.float64 if graph_in.type.tensor_type.elem_type == 11 else np.float32
    n = (dims[0].dim_value if dims[0].HasField("dim_value") else 0) or len(inp)  # a fixed batch size is bounded
    outs = []
    for i in range(0, len(inp), n):
        chunk = inp[i : i + n]
        full = np.concatenate([chunk, np.repeat(chunk[-1:], n - len(chunk), axis=0)])  # a fixed batch, filled up
        res = session.run(None, {graph_in.name: full.reshape(n, *shape).astype(dtype)})
        outs.append(np.concatenate([np.asarray(r, dtype=np.float64).reshape(n, -1) for r in res], axis=1)[: len(chunk)])
    return np.concatenate(outs)
