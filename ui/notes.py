"""'What am I looking at?' teaching notes, tied to the loaded checkpoint's live numbers."""

from __future__ import annotations

import streamlit as st


def teaching_notes(topic: str, ckpt=None) -> None:
    """Render the expander for `topic` (a page name); `ckpt` supplies live numbers when given."""
    with st.expander("What am I looking at?"):
        st.caption("Notes for this page are being written.")
