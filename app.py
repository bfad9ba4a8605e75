"""VAE Latent Explorer: the router. Pages live in pages/; the sidebar holds the current checkpoint."""

import streamlit as st

from ui.common import sidebar

st.set_page_config(page_title="VAE Latent Explorer", page_icon="🧭", layout="wide")

pages = {
    "Explore": [
        st.Page("pages/latent_map.py", title="Latent map", icon="🗺️", default=True),
        st.Page("pages/recon_kl.py", title="Reconstruction & KL", icon="🔍"),
        st.Page("pages/factors.py", title="Factors", icon="🧩"),
    ],
    "Train": [
        st.Page("pages/train.py", title="Train", icon="🏋️"),
        st.Page("pages/beta_sweep.py", title="β sweep", icon="📉"),
    ],
    "Compare": [
        st.Page("pages/compare.py", title="Compare", icon="⚖️"),
        st.Page("pages/checkpoints.py", title="Checkpoints", icon="💾"),
    ],
}
page = st.navigation(pages)
sidebar()
page.run()
