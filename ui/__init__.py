"""Streamlit helpers shared by the pages: cached loaders, the checkpoint picker, image display."""
