"""serve.py, README's start command: Streamlit runs it as an st.App over app.py, with a warm-up at server start.

The browser tests (tests/e2e_helpers.start_server) start the app this way; these check the parts they cannot see.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_streamlit_runs_serve_py_as_an_asgi_app_and_app_py_as_a_plain_script():
    from streamlit.web.server.app_discovery import discover_asgi_app

    served = discover_asgi_app(ROOT / "serve.py")
    assert served.is_asgi_app and served.app_name == "app"
    assert not discover_asgi_app(ROOT / "app.py").is_asgi_app  # AppTest and `streamlit run app.py` still run it


def test_the_app_it_serves_is_app_py():
    import serve

    assert Path(serve.app._resolve_script_path()).resolve() == (ROOT / "app.py").resolve()


def test_server_start_routes_through_app_py_and_imports_torch_in_the_background(monkeypatch):
    from streamlit.runtime.pages_manager import PagesManager

    import serve

    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)  # what a fresh server assumes of `pages/`
    started = []
    real_start = threading.Thread.start

    def spy(self):
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", spy)

    async def start_and_stop():
        async with serve._lifespan(None):
            pass

    asyncio.run(start_and_stop())
    assert PagesManager.uses_pages_directory is False  # the first visitor's run is not rerun through the router
    assert started == ["vae-warm-up"]


def test_a_failing_warm_up_import_is_left_to_the_script(monkeypatch):
    import serve

    monkeypatch.setattr(serve, "WARM_MODULES", ("vae_no_such_module_anywhere",))
    serve._warm()  # nothing raised: the visitor's own import reports it where they can see it
