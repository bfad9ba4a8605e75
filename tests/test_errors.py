"""Every error a user may see has one base, vae.errors.VaeError, and keeps the built-in base it had."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import vae
from vae.errors import VaeError


def _error_classes() -> list[type]:
    out = []
    for info in pkgutil.iter_modules(vae.__path__):
        mod = importlib.import_module(f"vae.{info.name}")
        out += [c for _, c in inspect.getmembers(mod, inspect.isclass)
                if issubclass(c, BaseException) and c.__module__ == mod.__name__]
    return out


def test_every_error_class_in_vae_is_a_vae_error():
    classes = _error_classes()
    assert len(classes) >= 12, [c.__name__ for c in classes]  # the scan found them
    assert not [c.__name__ for c in classes if not issubclass(c, VaeError)]


@pytest.mark.parametrize("name, old_base", [
    ("config.ConfigError", ValueError), ("checkpoint.CheckpointError", RuntimeError), ("data.DataError", RuntimeError),
    ("data.UnknownDatasetError", RuntimeError), ("runs.UnknownCheckpoint", KeyError), ("jobs.NotOwner", PermissionError),
    ("schema.SchemaError", ValueError), ("npz.NpzError", ValueError), ("uploads.UploadError", ValueError),
    ("images.ImageError", ValueError), ("export.ExportError", ValueError),
])
def test_old_except_clauses_still_catch(name, old_base):
    mod, cls = name.split(".")
    err = getattr(importlib.import_module(f"vae.{mod}"), cls)
    assert issubclass(err, VaeError) and issubclass(err, old_base)


def test_a_caller_catches_one_thing_and_gets_the_message():
    from vae.checkpoint import load_checkpoint
    from vae.runs import RunStore

    for fail in (lambda: load_checkpoint("/nonexistent/x.safetensors"),
                 lambda: RunStore("/nonexistent-runs").resolve("run/../../etc/passwd")):
        with pytest.raises(VaeError) as e:
            fail()
        assert str(e.value) and "\n" not in str(e.value) and not str(e.value).startswith("'")
