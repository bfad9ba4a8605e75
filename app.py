"""VAE Latent Explorer: the router. Pages live in pages/; the sidebar holds the current checkpoint."""

import streamlit as st

from ui import links, owner, url_state
from ui.sidebar import sidebar

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
links.register()  # each page's URL parameters, before the first restore
url_state.restore(url_state.page_id(page))  # a reload or a shared link: the URL names the view
sidebar()
owner.keep_in_browser()  # this browser's secret, so its runs stay its own after a reload
url_state.show_notices()
url_state.write()  # before the page too: a view a callback changed (Start training) is in the URL before it is drawn,
try:  # so a reload the moment the new run shows does not carry the URL from before it
    page.run()
finally:  # also after st.stop(): the URL follows whatever the page now shows
    url_state.write()
