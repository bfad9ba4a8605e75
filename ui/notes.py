"""'What am I looking at?' teaching notes on the ELBO (Kingma & Welling, 2014), tied to the loaded checkpoint's live numbers."""

from __future__ import annotations

import streamlit as st

ELBO = r"\log p(x) \;\ge\; \mathrm{ELBO}(x) = \underbrace{\mathbb{E}_{q(z|x)}\big[\log p(x|z)\big]}_{-\,\text{recon}} \;-\; \underbrace{\mathrm{KL}\big(q(z|x)\,\|\,\mathcal{N}(0, I)\big)}_{\text{KL}}"
KL_CLOSED = r"\mathrm{KL}\big(\mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)\,\|\,\mathcal{N}(0, I)\big) = \tfrac{1}{2}\sum_{i=1}^{D}\big(\mu_i^2 + \sigma_i^2 - 1 - \log \sigma_i^2\big)"
REPARAM = r"z = \mu(x) + \sigma(x) \odot \varepsilon, \qquad \varepsilon \sim \mathcal{N}(0, I)"
BETA_LOSS = r"\mathcal{L}_\beta(x) = \text{recon}(x) + \beta \cdot \mathrm{KL}(x)"
TC_LOSS = (r"\mathcal{L}_{\beta\text{-TC}} = \text{recon} + \underbrace{I_q(x; z)}_{\text{index-code MI}} + \beta\,"
           r"\underbrace{\mathrm{KL}\big(q(z)\,\|\,\textstyle\prod_d q(z_d)\big)}_{\text{total correlation}} + "
           r"\underbrace{\textstyle\sum_d \mathrm{KL}\big(q(z_d)\,\|\,p(z_d)\big)}_{\text{dimension-wise KL}}")


def live_numbers(ckpt) -> dict:
    """The loaded checkpoint's facts for the notes: kind, latent dim, β, and its last test recon / KL / ELBO."""
    if ckpt is None:
        return {}
    cfg, tc = ckpt.model_config, ckpt.train_config
    last = (ckpt.history or [{}])[-1]
    test = last.get("test") or {}
    return {"kind": cfg.kind, "d": cfg.latent_dim, "likelihood": cfg.likelihood, "beta": tc.beta if tc else None,
            "tcvae": tc is not None and tc.objective == "beta-tcvae",
            "recon": test.get("recon"), "kl": test.get("kl"), "elbo": test.get("elbo"), "epochs": len(ckpt.history or [])}


def article(word: str) -> str:
    """'a' or 'an' by how the word is said: an AE, a PCA, a VAE (letters named one by one say their own sound)."""
    w = word.strip()
    if not w:
        return "a"
    if w.isupper():  # an acronym read letter by letter: A, E, F, H, I, L, M, N, O, R, S, X start with a vowel sound
        return "an" if w[0] in "AEFHILMNORSX" else "a"
    return "an" if w[0].lower() in "aeiou" else "a"


def _fmt(v, unit: str = " nats") -> str:
    return "–" if v is None else f"{v:.2f}{unit}"


def _live_line(n: dict) -> str:
    if not n:
        return ""
    if n["kind"] != "vae":
        kind = n["kind"].upper()
        return (f"**This checkpoint** is {article(kind)} {kind} with a {n['d']}-D code: test recon {_fmt(n['recon'])} "
                "per image. It has no KL term and no prior, so it has no ELBO.")
    beta = "–" if n["beta"] is None else format(n["beta"], "g")  # a checkpoint saved without a training config
    model = f"a β-TCVAE with D = {n['d']}, β = {beta} on the total correlation" if n.get("tcvae") else (
        f"a VAE with D = {n['d']}, β = {beta}")
    line = (f"**This checkpoint**: {model}, after {n['epochs']} epochs. On the test "
            f"set: recon {_fmt(n['recon'])}, KL {_fmt(n['kl'])}, so ELBO = −(recon + KL) = {_fmt(n['elbo'])} per image.")
    if n["kl"] is not None and n["kl"] < 0.1:
        line += " The KL is almost 0: the posterior has collapsed onto the prior and z tells the decoder nothing."
    return line


def _elbo_block(n: dict) -> None:
    st.markdown("The VAE maximises a lower bound on the log-likelihood of each image x:")
    st.latex(ELBO)
    how = ("a Gaussian: squared error / 2σ² plus a log-σ term per pixel" if n.get("likelihood") == "gaussian"
           else "Bernoulli cross-entropy summed over pixels")
    st.markdown(f"**recon** is the reconstruction error −log p(x|z) ({how}); "
                "**KL** is how far the encoder's q(z|x) = N(μ(x), diag σ²(x)) moves from the prior. For diagonal "
                "Gaussians it has a closed form, so no sampling is needed for it:")
    st.latex(KL_CLOSED)
    st.caption("All figures are nats per image: summed over pixels and latent dimensions, averaged over images.")


def _holes_block() -> None:
    st.markdown("**Why the AE's latent space has holes and the VAE's does not.** A plain auto-encoder only needs "
                "codes that the decoder can tell apart: nothing stops it from placing clusters far apart with empty "
                "space between them, and it never learns what to draw there. The VAE pays KL for every code that "
                "moves away from N(0, I), and its noise σ makes neighbouring codes overlap, so the data cover the "
                "prior: decoding any z ~ N(0, I) gives a plausible image.")


def _latent_map(n: dict) -> None:
    if n and n["kind"] != "vae":  # point codes: no ellipse to explain, and the grid spans the codes, not N(0, 1)
        kind = n["kind"].upper()
        st.markdown(f"Each dot is the code of one test image, coloured by its label. {article(kind).capitalize()} "
                    f"{kind} maps each image to a single point, not a distribution, so a clicked dot has no ellipse "
                    "and no KL. The decoder turns any point z into an image, which is what the sliders and the grid "
                    "show; the grid spans the range the codes cover, since nothing made them follow N(0, 1).")
    else:
        st.markdown("Each dot is the posterior mean μ(x) of one test image, coloured by its label. A VAE's encoder "
                    "outputs a whole Gaussian q(z|x) = N(μ, diag σ²): the ellipse is that uncertainty. The decoder "
                    "turns any point z into an image, which is what the sliders and the grid show; the grid uses "
                    "evenly spaced quantiles of N(0, 1), as in Kingma & Welling's Fig. 4.")
    _holes_block()


def _recon_kl(n: dict) -> None:
    _elbo_block(n)
    st.markdown("**KL per dimension** splits the KL sum by latent dimension. A dimension is **active** when its "
                "posterior mean changes with the input, Var_x E[z_i|x] > 0.01 (Burda et al., 2016); an inactive one "
                "sits on the prior and carries no information. When all dimensions are inactive and KL ≈ 0 the "
                "posterior has **collapsed**: a strong decoder or a large β found it cheaper to ignore z.")
    st.markdown("**Aggregate posterior.** If the VAE matches the prior, q(z) = mean over x of q(z|x) should look "
                "like N(0, I). Where the prior has mass but no data encode, decoding prior samples gives poor images.")


def _train(n: dict) -> None:
    _elbo_block(n)
    st.markdown("**The reparameterisation trick.** Sampling z ~ q(z|x) is not differentiable in μ and σ, so the "
                "noise is moved outside the network:")
    st.latex(REPARAM)
    st.markdown("Now the gradient flows through μ and σ, and one sample per image gives an unbiased estimate of the "
                "reconstruction term. Training minimises the loss below; with β = 1 it is exactly −ELBO.")
    st.latex(BETA_LOSS)
    _tc_block()


def _tc_block() -> None:
    st.markdown("**β-TCVAE** (Chen et al., 2018) splits the KL, averaged over the data, into three parts and puts β "
                "on the total correlation alone, the part that makes the dims of the aggregate posterior q(z) "
                "depend on each other. The code keeps the information about x (MI) that a large β would take away "
                "from a β-VAE; at β = 1 it is the ELBO again.")
    st.latex(TC_LOSS)


def _beta(n: dict) -> None:
    st.latex(BETA_LOSS)
    st.markdown("β sets the price of information. The KL is the **rate**: roughly how many nats the code carries "
                "about x. The recon is the **distortion**. Small β buys a sharper reconstruction with more rate; "
                "large β squeezes the code towards the prior (Higgins et al., 2017). Each trained β is one point on "
                "the rate–distortion curve: there the distortion curve D(R) has slope −β: one more nat of rate "
                "would lower the distortion by β nats, exactly what it costs. On 64-pixel digits β ≥ 3 already "
                "collapses the posterior (KL ≈ 0): the whole image is then cheaper to guess than to encode.")
    st.latex(KL_CLOSED)
    _tc_block()


def _compare(n: dict) -> None:
    st.markdown("The tutorial ladder, on the same test images and the same z ~ N(0, I):\n"
                "- **PCA**: a linear code, the best linear reconstruction in squared error; no prior, not generative.\n"
                "- **Auto-encoder**: a non-linear code, sharper reconstructions; still no prior, so decoding "
                "N(0, I) lands in holes.\n"
                "- **VAE (β = 1)**: adds the KL term, so codes fill N(0, I) and prior samples look like digits.\n"
                "- **β-VAE (β = 2)**: a higher price on KL: a smoother, more regular code at the cost of blurrier "
                "reconstructions.")
    st.latex(ELBO)
    st.markdown("**IWAE NLL** averages k importance-weighted samples, log mean_k p(x, z_k)/q(z_k|x); it is a "
                "tighter bound than the ELBO and tends to the true −log p(x) as k grows (Burda et al., 2016). "
                "Lower is better. Only models with a prior have one.")
    _holes_block()


def _checkpoints(n: dict) -> None:
    st.markdown("A checkpoint is one `.safetensors` file: the weights as raw tensors plus JSON metadata (model and "
                "training config, seed, dataset id, the per-epoch history of recon, KL and ELBO). Loading it never "
                "runs code. `.pt` / `.ckpt` files are Python pickles, which can execute anything when opened, so "
                "this app refuses them. The metrics are the last epoch's test figures, in nats per image; the ELBO "
                "−(recon + KL) is a lower bound on log p(x), so a higher (less negative) ELBO is a better model.")


TOPICS = {"latent_map": _latent_map, "recon_kl": _recon_kl, "train": _train, "beta": _beta, "compare": _compare,
          "checkpoints": _checkpoints}


def teaching_notes(topic: str, ckpt=None) -> None:
    """Render the expander for `topic` (a page name); `ckpt` supplies live numbers when given."""
    n = live_numbers(ckpt)
    with st.expander("What am I looking at?"):
        TOPICS.get(topic, lambda _: st.caption("No notes for this page yet."))(n)
        if n:
            st.info(_live_line(n))
