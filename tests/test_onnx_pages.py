"""An imported ONNX model in the app (AppTest): the Checkpoints page's import form, its on-page refusals, and every
page opening the imported checkpoint without an exception, beside a bundled demo on Compare."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import onnx_helpers as oh
from vae.checkpoint import load_checkpoint

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["pages/latent_map.py", "pages/recon_kl.py", "pages/compare.py", "pages/factors.py", "pages/beta_sweep.py",
         "pages/train.py", "pages/checkpoints.py"]
DEMO_ID = "demo/digits-3-vae"


@pytest.fixture(scope="module")
def conv_case():
    return oh.case("conv")


def _checkpoints_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/checkpoints.py").run()
    assert not at.exception, at.exception
    return at


def _fill(at: AppTest, enc: tuple[str, bytes] | None, dec: tuple[str, bytes] | None, split: bool = True) -> AppTest:
    for key, f in (("ckpts_onnx_enc", enc), ("ckpts_onnx_dec", dec)):
        if f is not None:
            at.file_uploader(key=key).set_value((f[0], f[1], "application/octet-stream"))
    at.checkbox(key="ckpts_onnx_split").set_value(split)
    at.text_input(key="ckpts_onnx_name").set_value("my conv vae")
    at.button(key="ckpts_onnx_go").click().run()
    assert not at.exception, at.exception
    return at


def _said(elements) -> str:
    """What the user reads in these elements (markdown escapes and invisible word joiners taken out)."""
    return " ".join(e.value for e in elements).replace("\\", "").replace("&#8288;", "")


def _imported(runs_dir: Path) -> list[Path]:
    return sorted(runs_dir.glob("*.safetensors"))


def test_the_import_form_keeps_the_model_as_a_run_and_picks_it(conv_case, runs_dir):
    at = _fill(_checkpoints_page(), ("enc.onnx", conv_case.encoder), ("dec.onnx", conv_case.decoder))
    assert not at.error, [e.value for e in at.error]
    assert "Imported enc.onnx + dec.onnx as my-conv-vae" in _said(at.success).replace("**", "")
    (path,) = _imported(runs_dir)
    assert path.name == "my-conv-vae.safetensors"
    ckpt = load_checkpoint(path)
    assert ckpt.model_config.arch == "imported" and ckpt.meta["program"]["source"]["decoder"]["file"] == "dec.onnx"
    assert at.selectbox(key="ckpts_pick").value == "run/my-conv-vae"  # the Manage section shows the new run
    table = at.dataframe[0].value
    row = table[table["name"] == "my-conv-vae"].iloc[0]
    assert row["model"] == "VAE · imported" and row["test recon"] not in (None, "—")
    assert row["epochs"] == "—" and table[table["name"] == "digits-3-vae"].iloc[0]["epochs"] == "200"  # not 200.000000


def test_refusals_show_on_the_page_and_keep_nothing(conv_case, runs_dir):
    at = _fill(_checkpoints_page(), ("enc.onnx", conv_case.encoder), ("cut.onnx", conv_case.decoder[:300]))
    assert "Import refused: decoder cut.onnx" in _said(at.error)
    assert _imported(runs_dir) == [] and not any(runs_dir.iterdir())  # no staging folder left either
    at = _fill(_checkpoints_page(), ("enc.onnx", conv_case.encoder), ("dec.onnx", conv_case.decoder), split=False)
    assert "decoder dec.onnx: its input is (B, 2); the encoder gives codes of (B, 4)" in _said(at.error)
    at = _fill(_checkpoints_page(), ("enc.onnx", conv_case.encoder), None)
    assert "both files" in _said(at.error)
    assert _imported(runs_dir) == []


def test_the_upload_handler_refuses_other_files_itself(conv_case, runs_dir):
    """The browser's file filter is a convenience: the handler checks the names and sizes again."""
    from vae.onnx_import import ImportOptions
    from vae.runs import RunStore
    from vae.uploads import UploadError, save_onnx_upload

    store, opts = RunStore(runs_dir), ImportOptions(split_output=True)
    for enc, dec, needle in ((("enc.pt", conv_case.encoder), ("dec.onnx", conv_case.decoder), "enc.pt: upload an .onnx"),
                             (("e.onnx", b""), ("dec.onnx", conv_case.decoder), "e.onnx: file is empty"),
                             (("../../e.onnx", conv_case.encoder), ("d.onnx", b"\x08" * 50), "decoder d.onnx")):
        with pytest.raises(UploadError, match=needle):
            save_onnx_upload(store, enc, dec, opts)
    with pytest.raises(UploadError, match="local file"):  # a dataset path the server must not read for a visitor
        save_onnx_upload(store, ("e.onnx", conv_case.encoder), ("d.onnx", conv_case.decoder),
                         ImportOptions(data="/etc/passwd.npz", split_output=True))
    assert not any(runs_dir.iterdir())
    ckpt_id = save_onnx_upload(store, ("../../e.onnx", conv_case.encoder), ("d.onnx", conv_case.decoder), opts)
    assert ckpt_id == "run/e-imported" and store.resolve(ckpt_id).parent == runs_dir


def test_the_import_obeys_the_upload_quotas(conv_case, runs_dir, monkeypatch):
    monkeypatch.setenv("VAE_MAX_UPLOADS", "0")
    at = _fill(_checkpoints_page(), ("enc.onnx", conv_case.encoder), ("dec.onnx", conv_case.decoder))
    assert "VAE_MAX_UPLOADS" in _said(at.error)
    assert _imported(runs_dir) == []


@pytest.mark.parametrize("name", ["mlp", "conv", "gaussian"])
def test_every_page_opens_an_imported_checkpoint(name, runs_dir, tmp_path):
    from conftest import as_run
    from vae.onnx_import import import_onnx

    c = oh.case(name, trained=True)  # trained a little, so the pages have a real code to show
    path = import_onnx(c.encoder, c.decoder, data="digits", **c.options, out=tmp_path / f"imported-{name}.safetensors")
    ckpt_id = as_run(path)
    for page in PAGES:
        at = AppTest.from_file(APP, default_timeout=180)
        at.session_state["ckpt_id"] = ckpt_id
        at.session_state["compare_ids"] = [ckpt_id, DEMO_ID]
        at.session_state["map_classic"] = page == "pages/latent_map.py" and name == "gaussian"  # Plotly map too
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not [e.value for e in at.error], (page, [e.value for e in at.error])
        if page == "pages/latent_map.py":
            shown = _said([*at.caption, *at.markdown, *at.warning])
            assert "server-drawn map because" not in shown, shown[:300]  # the canvas gets the model's program
        if page == "pages/compare.py":
            assert len(at.dataframe) >= 1 and any("imported" in m.value for m in at.markdown)


def test_the_canvas_payload_of_an_imported_model_holds_its_program(runs_dir, tmp_path):
    from ui.map.canvas_map import exported_parts
    from vae.onnx_import import import_onnx

    c = oh.case("gaussian")
    path = import_onnx(c.encoder, c.decoder, data="digits", **c.options, out=tmp_path / "g.safetensors")
    model, why, nbytes = exported_parts(str(path))
    assert why is None and nbytes > 0
    kinds = [op["op"] for op in model["decoder"].content["ops"]]  # quantised by vae.wire, as every model
    assert "mul" in kinds and "add" in kinds and kinds[-1] == "clamp"  # 0.5 * tanh + 0.5, then the image range


def test_factors_measures_an_imported_model_of_a_dataset_with_factors(runs_dir, tmp_path):
    """A researcher's model of `shapes` (32×32, five known factors): MIG from its encoder, like any checkpoint's."""
    import torch

    from conftest import as_run
    from vae.onnx_import import import_onnx

    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1024, 33), torch.nn.Tanh(), torch.nn.Linear(33, 8))
    dec = torch.nn.Sequential(torch.nn.Linear(4, 33), torch.nn.Tanh(), torch.nn.Linear(33, 1024))
    path = import_onnx(oh.export(enc, torch.rand(2, 1, 32, 32), ["h"]), oh.export(dec, torch.randn(2, 4), ["logits"]),
                       data="shapes", split_output=True, out=tmp_path / "shapes-imported.safetensors")
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["ckpt_id"] = as_run(path)
    at.switch_page("pages/factors.py").run()
    assert not at.exception, [e.value for e in at.exception]
    mig = {m.label: m.value for m in at.metric}["MIG · binned μ"]
    assert 0 <= float(mig) <= 1, mig  # a number from the imported encoder, not a placeholder
    assert at.get("plotly_chart"), "no heatmap of the dims × factors mutual information"
