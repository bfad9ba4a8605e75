"""Teaching notes: live numbers render for every checkpoint, including ones saved without a training config."""

from __future__ import annotations

from vae.checkpoint import load_checkpoint, save_checkpoint
from vae.config import ModelConfig
from vae.model import build_model


def test_notes_line_for_a_vae_saved_without_training_config(tmp_path):
    from ui.notes import _live_line, live_numbers

    path = save_checkpoint(tmp_path / "bare.safetensors", build_model(ModelConfig(hidden=(8,))))  # train=None
    line = _live_line(live_numbers(load_checkpoint(path)))
    assert "β = –" in line and "D = 2" in line


def test_notes_line_shows_the_checkpoints_own_numbers(tiny_ckpts):
    from ui.notes import _live_line, live_numbers

    ckpt = load_checkpoint(tiny_ckpts["vae"])
    test = ckpt.history[-1]["test"]
    line = _live_line(live_numbers(ckpt))
    assert f"{test['recon']:.2f}" in line and f"{test['kl']:.2f}" in line


def test_articles_and_the_ae_note_without_an_ellipse(tiny_ckpts):
    from streamlit.testing.v1 import AppTest

    from ui.notes import _live_line, article, live_numbers

    assert [article(w) for w in ("AE", "PCA", "VAE", "MLP", "orange", "β-VAE")] == ["an", "a", "a", "an", "an", "a"]
    assert "is an AE" in _live_line(live_numbers(load_checkpoint(tiny_ckpts["ae"])))
    assert "is a PCA" in _live_line(live_numbers(load_checkpoint(tiny_ckpts["pca"])))

    def app(path):
        from ui.notes import teaching_notes
        from vae.checkpoint import load_checkpoint

        teaching_notes("latent_map", load_checkpoint(path))

    ae = " ".join(m.value for m in AppTest.from_function(app, args=(str(tiny_ckpts["ae"]),)).run().markdown)
    vae = " ".join(m.value for m in AppTest.from_function(app, args=(str(tiny_ckpts["vae"]),)).run().markdown)
    assert "ellipse is that uncertainty" not in ae and "no ellipse" in ae
    assert "ellipse is that uncertainty" in vae


def test_notes_line_names_a_beta_tcvae(tmp_path):
    from ui.notes import _live_line, live_numbers
    from vae.config import TrainConfig

    model = build_model(ModelConfig(hidden=(8,)))
    tc = save_checkpoint(tmp_path / "tc.safetensors", model, train=TrainConfig(objective="beta-tcvae", beta=6.0))
    plain = save_checkpoint(tmp_path / "vae.safetensors", model, train=TrainConfig(beta=6.0))
    assert "a β-TCVAE with D = 2, β = 6 on the total correlation" in _live_line(live_numbers(load_checkpoint(tc)))
    assert "a VAE with D = 2, β = 6," in _live_line(live_numbers(load_checkpoint(plain)))
