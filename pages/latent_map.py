"""Placeholder: this page is being built (see the open issues)."""

import streamlit as st

st.title("latent_map")
st.info("This page is being built.")
