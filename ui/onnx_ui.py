"""The Checkpoints page's "Import from ONNX" form: a researcher's encoder and decoder, through the same checks,
quotas and run store as every upload (vae.uploads.save_onnx_upload)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from ui.common import md, store
from vae import settings
from vae.config import ConfigError
from vae.data import BUILTIN
from vae.onnx_import import ImportOptions
from vae.program import DECODER_OUTPUTS
from vae.runs import RunStore
from vae.uploads import UploadError, save_onnx_upload

K_ENC, K_DEC, K_DATA, K_LIK = "ckpts_onnx_enc", "ckpts_onnx_dec", "ckpts_onnx_data", "ckpts_onnx_likelihood"
K_OUT, K_SPLIT, K_NAME, K_GO, K_MSG = ("ckpts_onnx_output", "ckpts_onnx_split", "ckpts_onnx_name", "ckpts_onnx_go",
                                       "ckpts_onnx_message")
AUTO = "auto"
EXAMPLE = """torch.onnx.export(encoder.eval(), torch.rand(1, 1, 28, 28), "enc.onnx", dynamo=False,
                  input_names=["x"], output_names=["mu", "logvar"], dynamic_axes={"x": {0: "batch"}})
torch.onnx.export(decoder.eval(), torch.randn(1, 2), "dec.onnx", dynamo=False,
                  input_names=["z"], dynamic_axes={"z": {0: "batch"}})"""


def _datasets() -> list[str]:
    """Built-in datasets, then the .npz files uploaded on the Train page (as their paths in the run store)."""
    root = store().data_root
    return [*BUILTIN, *(str(p) for p in sorted(root.glob("*.npz")))] if root.is_dir() else list(BUILTIN)


def _import(on_done: Callable[[str], None]) -> None:
    """The Import button's callback: it runs before the page, so the table and the Manage picker below already
    show the new run (a widget key set in the page body followed by st.rerun() is undone by the browser's state)."""
    ss = st.session_state
    enc, dec = ss.get(K_ENC), ss.get(K_DEC)
    if enc is None or dec is None:
        ss[K_MSG] = ("error", "Choose both files: the encoder and the decoder (.onnx).")
        return
    try:
        opts = ImportOptions(data=ss[K_DATA], likelihood=ss[K_LIK],
                             decoder_output=None if ss[K_OUT] == AUTO else ss[K_OUT], split_output=ss[K_SPLIT],
                             name=ss[K_NAME].strip() or None)
        with st.spinner("Checking, translating and verifying the two files…"):
            ckpt_id = save_onnx_upload(store(), (enc.name, enc.getvalue()), (dec.name, dec.getvalue()), opts)
    except ConfigError as e:
        ss[K_MSG] = ("error", f"Import refused: {md(e.field)}: {md(e.message)}")
    except UploadError as e:
        ss[K_MSG] = ("error", f"Import refused: {md(e)}")
    else:
        ss[K_MSG] = ("success", f"Imported **{md(enc.name)}** + **{md(dec.name)}** as **{md(RunStore.stem(ckpt_id))}** "
                                "in your runs: open it below, and every page shows it.")
        on_done(ckpt_id)


def import_ui(on_done: Callable[[str], None]) -> None:
    """Two .onnx files and how to read them; Import runs the checks and keeps the checkpoint in the run store."""
    limit_mb = max(1, min(settings.UPLOAD_SIZE.value(), settings.ONNX_FILE.value()) // 1024**2)
    st.caption("Your own VAE from any framework that writes ONNX. Supported: Gemm / MatMul + Add, Conv, "
               "ConvTranspose, BatchNormalization (folded), Relu, LeakyRelu, Sigmoid, Tanh, Elu, Flatten, Reshape, "
               "and Add / Sub / Mul / Div by constants. No code from the files ever runs.")
    c1, c2 = st.columns(2)
    c1.file_uploader("Encoder (.onnx): images → mu, logvar", type=["onnx"], key=K_ENC, max_upload_size=limit_mb)
    c2.file_uploader("Decoder (.onnx): z → image", type=["onnx"], key=K_DEC, max_upload_size=limit_mb)
    d1, d2, d3 = st.columns(3)
    d1.selectbox("Trained on", _datasets(), key=K_DATA, format_func=lambda n: n if n in BUILTIN else n.rsplit("/", 1)[-1])
    d2.selectbox("Likelihood", ["bernoulli", "gaussian"], key=K_LIK)
    d3.selectbox("Decoder outputs", [AUTO, *DECODER_OUTPUTS], key=K_OUT,
                 help="auto: probabilities after a final Sigmoid, else logits (Bernoulli) or the mean (Gaussian)")
    e1, e2, e3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    e1.checkbox("One encoder output: split it as mu ‖ logvar", key=K_SPLIT)
    e2.text_input("Name (optional)", key=K_NAME, max_chars=64)
    e3.button("Import", key=K_GO, type="primary", width="stretch", on_click=_import, args=(on_done,))
    with st.expander("How to export from PyTorch"):
        st.code(EXAMPLE, language="python")
    if (msg := st.session_state.pop(K_MSG, None)) is not None:  # shown once: (level, text)
        getattr(st, msg[0])(msg[1])
