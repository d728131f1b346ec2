"""Detector artifacts: a JSON card plus weight files in safe formats, never pickle; outputs written whole.

A saved detector is a folder holding ``detector.json`` (the card) and the weight files the card lists,
each with its sha256. Loading refuses a folder whose card is missing or foreign, whose listed files are
missing, altered, not regular files (links, FIFOs, devices) or not plain names inside the folder, or which
holds any file the card does not list (a planted pickle, say). The card names the detector by its registry
name; the class is found through the registry (:func:`negate_sdk.detectors.load_detector`), never imported
from a path written in the card, so a card from a stranger cannot make the loader import arbitrary code.

Outputs appear whole or not at all: a file through a temporary name and a rename
(:func:`atomic_write_bytes`), a folder (a saved detector, a run's results) through a staging folder beside
it (:func:`staging_folder`) published by renames (:func:`publish_folder`). Nothing the SDK did not write
is ever deleted: a folder is replaced only when it holds the SDK's own output and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from negate_sdk.weightfiles.files import ArtifactError, artifact_path, is_plain_name, read_json

__all__ = ["ArtifactError", "artifact_path", "is_plain_name"]  # re-exported: the names loaders use

CARD_NAME = "detector.json"
CARD_FORMAT = "negate-detector"
CARD_FORMAT_VERSION = 1
SAFE_SUFFIXES = (".json", ".safetensors", ".ubj", ".txt", ".skops")
MAX_CARD_BYTES = 16 << 20  # a card is parameters, thresholds and feature names: megabytes at most
MAX_WEIGHTS_BYTES = 8 << 30  # no detector file here comes near; a bound keeps /dev/zero-like tricks out
# Types a .skops file may hold beyond skops' own trusted defaults. Anything else is refused on load.
SKOPS_ALLOWED = frozenset({"sklearn.tree._tree.Tree"})


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written.

    The file gets the permissions any new file would (``0o666`` less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def staging_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A new hidden folder beside ``target`` to write an output into; removed on exit if still there.

    Publish it with :func:`publish_folder` inside the block. On any failure the staging folder (only ever
    written by the SDK) is removed and ``target`` is untouched.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def detector_files(folder: Path) -> set[str] | None:
    """The names a saved detector in ``folder`` owns (its card and listed files), or None if it is none."""
    try:
        card = json.loads((folder / CARD_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        return None
    listed = card.get("files", {})
    return {CARD_NAME, *(str(n) for n in listed)} if isinstance(listed, dict) else None


def check_replaceable(
    target: str | os.PathLike[str],
    owned: Callable[[Path], set[str] | None] = detector_files,
    what: str = "a saved detector",
) -> None:
    """Refuse (:class:`ArtifactError`, one line) a ``target`` an output may not replace.

    ``target`` may be absent, an empty folder, or a folder whose every non-hidden entry ``owned(target)``
    names (the SDK wrote them all). Call it before long work, so a bad ``--out`` fails at once.
    """
    target = Path(target).absolute()
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ArtifactError(f"{target}: exists and is not a folder; choose another output folder")
    visible = {e.name for e in target.iterdir() if not e.name.startswith(".")} if target.is_dir() else set()
    if not visible:
        return
    names = owned(target)
    if names is None or not visible <= names:
        foreign = sorted(visible - (names or set()))
        shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
        raise ArtifactError(
            f"{target}: not empty and not {what} ({len(foreign)} other file(s): {shown}); "
            "nothing was written: choose an empty or new folder"
        )


def publish_folder(
    staging: Path,
    target: str | os.PathLike[str],
    owned: Callable[[Path], set[str] | None] = detector_files,
    what: str = "a saved detector",
) -> Path:
    """Move the finished ``staging`` folder to ``target`` by renames, replacing only the SDK's own output.

    ``target`` must pass :func:`check_replaceable`; its hidden entries (``.git``, ``.DS_Store`` …) are
    carried into the new folder. The old output is moved aside first and restored if the new one cannot be
    put in place, so ``target`` holds the old output or the new one, whole, whenever a reader looks.
    """
    target = Path(target).absolute()
    check_replaceable(target, owned, what)
    if not target.exists() or not any(target.iterdir()):
        if target.is_dir():
            target.rmdir()
        os.rename(staging, target)
        return target
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    for entry in old.iterdir():  # the user's hidden entries come along; the SDK's old files go
        if entry.name.startswith(".") and not (target / entry.name).exists():
            os.rename(entry, target / entry.name)
    shutil.rmtree(old, ignore_errors=True)
    return target


def write_card(directory: str | os.PathLike[str], card: dict[str, Any]) -> Path:
    """Write ``card`` as ``directory/detector.json``, listing every weight file with its sha256.

    ``card`` must name the detector (``"detector"``: its registry name). Weight files must already be in
    ``directory`` and have safe suffixes.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if "detector" not in card:
        raise ValueError("a detector card needs the detector's registry name under 'detector'")
    files = {}
    for path in sorted(directory.iterdir()):
        if path.name == CARD_NAME or path.name.startswith("."):
            continue
        if path.suffix not in SAFE_SUFFIXES or not stat.S_ISREG(path.lstat().st_mode):
            raise ValueError(
                f"refusing to save {path.name}: weights must be one of {', '.join(SAFE_SUFFIXES)}"
            )
        files[path.name] = file_sha256(path)
    full = {"format": CARD_FORMAT, "format_version": CARD_FORMAT_VERSION, **card, "files": files}
    text = json.dumps(full, indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    return atomic_write_bytes(directory / CARD_NAME, text.encode())


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a detector card")


def read_card(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and verify ``directory/detector.json`` and the files it lists; raise :class:`ArtifactError`."""
    directory = Path(directory)
    card_path = directory / CARD_NAME
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not a folder (a saved detector is a folder with {CARD_NAME})")
    if not card_path.is_file():
        raise ArtifactError(f"{directory}: no {CARD_NAME}; not a saved negate detector")
    artifact_path(directory, CARD_NAME)  # a regular file, not a link, FIFO or device
    card = read_json(card_path, max_bytes=MAX_CARD_BYTES)  # strict: bounded, no NaN, no duplicate keys
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ArtifactError(f"{card_path}: not a negate detector card (format is not '{CARD_FORMAT}')")
    if card.get("format_version") != CARD_FORMAT_VERSION:
        raise ArtifactError(
            f"{card_path}: card format version {card.get('format_version')!r} is not supported "
            f"(this negate-sdk reads version {CARD_FORMAT_VERSION})"
        )
    listed = card.get("files", {})
    if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
        raise ArtifactError(f"{card_path}: 'files' must map file names to sha256 strings")
    for path in sorted(directory.iterdir()):
        if path.name == CARD_NAME or path.name.startswith("."):
            continue
        if path.name not in listed:
            raise ArtifactError(
                f"{directory}: refusing to load: unexpected file '{path.name}' not listed in the card"
            )
    for name, digest in listed.items():
        path = directory / name
        if not is_plain_name(name) or Path(name).suffix not in SAFE_SUFFIXES:
            raise ArtifactError(f"{card_path}: refusing to load: unsafe file entry {name!r}")
        if not path.exists() and not path.is_symlink():
            raise ArtifactError(f"{directory}: file '{name}' listed in the card is missing")
        artifact_path(directory, name)  # a regular file inside the folder: no link out, no FIFO, no device
        if path.stat().st_size > MAX_WEIGHTS_BYTES:
            raise ArtifactError(f"{path}: over the {MAX_WEIGHTS_BYTES} byte limit of a weight file")
        if file_sha256(path) != digest:
            raise ArtifactError(
                f"{directory}: file '{name}' does not match its sha256 in the card (altered?)"
            )
    return card


class _HideTorch:
    """A meta-path finder under which ``import torch`` fails (see :func:`_skops_io`)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        """Refuse torch and its submodules; leave every other import to the next finder."""
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not needed to read or write a skops file")


def _skops_io() -> Any:
    """``skops.io``. At import skops lists scikit-learn's estimators by importing every sklearn module,
    including the array-API shim that imports torch (2 s and ~1 GB for nothing a head needs): unless
    torch is already loaded, that one import runs with torch hidden, so loading a detector whose networks
    run in ONNX Runtime never imports torch."""
    if "skops.io" in sys.modules or "torch" in sys.modules:
        import skops.io

        return skops.io
    hide = _HideTorch()
    sys.meta_path.insert(0, hide)
    try:
        import skops.io
    finally:
        sys.meta_path.remove(hide)
    return skops.io


def save_skops(path: Path, obj: Any) -> str:
    """Dump a scikit-learn object with skops (no pickle); return the file name."""
    sio = _skops_io()

    sio.dump(obj, path)
    return path.name


def load_skops(path: Path) -> Any:
    """Load a skops file trusting only skops' defaults plus :data:`SKOPS_ALLOWED`; refuse anything else."""
    sio = _skops_io()

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as err:  # a corrupt or foreign archive
        raise ArtifactError(f"{path.name}: not a readable skops file ({type(err).__name__})") from None
    refused = sorted(set(untrusted) - SKOPS_ALLOWED)
    if refused:
        raise ArtifactError(f"{path.name}: refusing to load untrusted types {', '.join(refused)}")
    try:
        return sio.load(path, trusted=untrusted)
    except Exception as err:  # only allow-listed types reach here; anything malformed is one line
        raise ArtifactError(f"{path.name}: cannot be loaded ({type(err).__name__})") from None
