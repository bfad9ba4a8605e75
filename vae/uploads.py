"""Uploads into the run store: checkpoints and .npz datasets, checked in full and within quotas before they are kept.

Nothing is unpickled. A file is written to a hidden temp folder inside the runs folder, checked there, and only
then given its final name by the store (never a name a queued run has reserved). On any failure nothing is left.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from vae import settings
from vae.checkpoint import SUFFIX, CheckpointError, atomic_write_bytes, load_checkpoint, sanitize_run_name
from vae.config import ConfigError, DataConfig
from vae.data import BUILTIN, DataError
from vae.errors import VaeError
from vae.runs import STAGING_PREFIX, RunStore

class UploadError(VaeError, ValueError):
    """An upload that is refused; the message is meant for the user."""


def _shown(filename: str) -> str:
    """The uploaded file's own name, for messages (any folders a browser sent are dropped)."""
    return (Path(str(filename).replace("\\", "/")).name or "upload")[:120]


def check_quota(store: RunStore, size: int, shown: str) -> None:
    """Refuse an upload of `size` bytes if it breaks a quota: per file, number of uploads, runs folder size.

    Checked once before the upload is written (a quick refusal) and again under the store's lock as it is kept,
    so two uploads at once cannot both take the last place.
    """
    limit = settings.UPLOAD_SIZE.value()
    if size > limit:
        raise UploadError(f"{shown}: file is {size / 1024**2:.1f} MB, above the {settings.UPLOAD_SIZE.shown()} upload "
                          f"limit (set {settings.UPLOAD_SIZE.env} to change it)")
    if store.upload_count() >= settings.UPLOADS.value():
        raise UploadError(f"{shown}: this server already keeps {settings.UPLOADS.shown()}, its limit; delete some on "
                          f"the Checkpoints page (or set {settings.UPLOADS.env})")
    if store.folder_bytes() + size > settings.RUNS_FOLDER.value():
        raise UploadError(f"{shown}: the runs folder would exceed its {settings.RUNS_FOLDER.shown()} limit; delete "
                          f"some runs first (or set {settings.RUNS_FOLDER.env})")


def save_checkpoint_upload(store: RunStore, filename: str, blob: bytes) -> str:
    """Validate an uploaded checkpoint in full and keep it under a unique safe name in the runs folder; its ID."""
    shown = _shown(filename)
    if not shown.lower().endswith(SUFFIX):
        raise UploadError(f"{shown}: only {SUFFIX} checkpoints can be uploaded. .pt/.pth/.ckpt files are Python "
                          "pickles, which can run code when loaded, so this app never opens them.")
    if len(blob) == 0:
        raise UploadError(f"{shown}: file is empty")
    check_quota(store, len(blob), shown)
    try:
        stem = sanitize_run_name(shown)
    except ConfigError:
        stem = "upload"
    with _staging(store) as tmp_dir:
        tmp = tmp_dir / ("upload" + SUFFIX)
        atomic_write_bytes(tmp, blob)
        try:
            ckpt = load_checkpoint(tmp)  # full validation: header, schema, config, shapes, dtypes, finite weights
        except CheckpointError as e:  # name the user's file, not our temp copy
            msg = str(e)
            raise UploadError(shown + msg[len(tmp.name):] if msg.startswith(tmp.name) else msg) from e
        _check_dataset_is_ours(store, shown, ckpt.data.get("name", "digits"))
        return store.claim(tmp, stem, check=lambda: check_quota(store, len(blob), shown))


def save_onnx_upload(store: RunStore, encoder: tuple[str, bytes], decoder: tuple[str, bytes], opts) -> str:
    """Import an uploaded encoder and decoder (file name, bytes) with `opts` (vae.onnx_import.ImportOptions) into the
    runs folder: both files within the quotas, the dataset one the server may open, the result checked in full."""
    from vae.onnx_import import import_onnx
    from vae.onnx_safe import OnnxError

    shown = [_shown(name) for name, _ in (encoder, decoder)]
    for name, (_, blob) in zip(shown, (encoder, decoder)):
        if not name.lower().endswith(".onnx"):
            raise UploadError(f"{name}: upload an .onnx file (export it with torch.onnx.export)")
        if len(blob) == 0:
            raise UploadError(f"{name}: file is empty")
    check_quota(store, len(encoder[1]) + len(decoder[1]), " + ".join(shown))
    _check_dataset_is_ours(store, shown[0], opts.data)
    try:
        stem = sanitize_run_name(opts.name or f"{Path(shown[0]).stem}-imported")
    except ConfigError:
        stem = "imported"
    with _staging(store) as tmp_dir:
        tmp = tmp_dir / ("import" + SUFFIX)
        try:  # checked in full on the way: the files, the translation, the result through the one loader
            import_onnx((shown[0], encoder[1]), (shown[1], decoder[1]), **{**vars(opts), "name": None}, out=tmp)
        except (OnnxError, ConfigError, CheckpointError, DataError) as e:
            raise UploadError(str(e)) from e
        return store.claim(tmp, stem)


def _check_dataset_is_ours(store: RunStore, shown: str, dataset: str) -> None:
    """An uploaded file names its dataset; a path there must not make the server read (and show) its own files."""
    if str(dataset).strip().lower() in BUILTIN:
        return
    try:
        inside = Path(dataset).resolve().parent == store.data_root.resolve()
    except (ValueError, OSError):  # not a path this system can even form
        inside = False
    if not inside:
        raise UploadError(f"{shown}: it was trained on a local file ({Path(str(dataset)).name}), which this app "
                          "cannot open for an upload; upload checkpoints of the built-in datasets "
                          f"({', '.join(BUILTIN)}) or of a dataset uploaded on the Train page.")


def save_dataset_upload(store: RunStore, filename: str, blob: bytes) -> Path:
    """Keep an uploaded .npz under `<runs>/data/`, named by its content hash, once it loads within the budget."""
    from vae.data import load

    shown = _shown(filename)
    if not shown.lower().endswith(".npz"):
        raise UploadError(f"{shown}: upload an .npz file (array 'x': N×H×W, optional integer labels 'y')")
    try:
        stem = sanitize_run_name(Path(shown).stem)[:40]
    except ConfigError:
        stem = "upload"
    path = store.data_root / f"{stem}-{hashlib.sha256(blob).hexdigest()[:12]}.npz"
    if path.exists():  # the same file uploaded twice is stored once (it was checked the first time)
        return path
    check_quota(store, len(blob), shown)
    with _staging(store) as tmp_dir:
        tmp = tmp_dir / path.name
        atomic_write_bytes(tmp, blob)
        try:
            load(DataConfig(name=str(tmp)))  # the bounded reader: members and memory are checked before decoding
        except DataError as e:
            raise UploadError(str(e)) from e
        store.data_root.mkdir(parents=True, exist_ok=True)
        with store.lock():
            if not path.exists():  # a twin that appeared meanwhile is the same file: it takes no more room
                check_quota(store, len(blob), shown)
            try:
                tmp.replace(path)  # same content, same name: replacing a twin changes nothing
            except OSError as e:
                raise UploadError(f"{shown}: could not be stored ({e.strerror or e})") from e
    return path


class _staging:
    """A hidden temp folder inside the runs folder (same file system: the final link or rename is atomic)."""

    def __init__(self, store: RunStore):
        self.store = store

    def __enter__(self) -> Path:
        self.store.runs_root.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.store.runs_root))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
