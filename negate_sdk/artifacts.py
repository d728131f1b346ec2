"""Detector artifacts: a JSON card plus weight files in safe formats, never pickle.

A saved detector is a folder holding ``detector.json`` (the card) and the weight files the card lists,
each with its sha256. Loading refuses a folder whose card is missing or foreign, whose listed files are
missing or altered, or which holds any file the card does not list (a planted pickle, say). The card
names the detector by its registry name; the class is found through the registry, never imported from
a path written in the card, so a card from a stranger cannot make the loader import arbitrary code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

CARD_NAME = "detector.json"
CARD_FORMAT = "negate-detector"
CARD_FORMAT_VERSION = 1
SAFE_SUFFIXES = (".json", ".safetensors", ".ubj", ".txt", ".skops")
# Types a .skops file may hold beyond skops' own trusted defaults. Anything else is refused on load.
SKOPS_ALLOWED = frozenset({"sklearn.tree._tree.Tree"})


class ArtifactError(ValueError):
    """A detector folder that cannot be trusted or read; ``str(err)`` is one line."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
        if path.suffix not in SAFE_SUFFIXES or not path.is_file():
            raise ValueError(
                f"refusing to save {path.name}: weights must be one of {', '.join(SAFE_SUFFIXES)}"
            )
        files[path.name] = file_sha256(path)
    full = {"format": CARD_FORMAT, "format_version": CARD_FORMAT_VERSION, **card, "files": files}
    text = json.dumps(full, indent=2, sort_keys=True, default=_json_default)
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
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{card_path}: not valid JSON ({err})") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ArtifactError(f"{card_path}: not a negate detector card (format is not '{CARD_FORMAT}')")
    if card.get("format_version") != CARD_FORMAT_VERSION:
        raise ArtifactError(
            f"{card_path}: card format version {card.get('format_version')!r} is not supported "
            f"(this negate-sdk reads version {CARD_FORMAT_VERSION})"
        )
    listed = card.get("files", {})
    for path in sorted(directory.iterdir()):
        if path.name == CARD_NAME or path.name.startswith("."):
            continue
        if path.name not in listed:
            raise ArtifactError(
                f"{directory}: refusing to load: unexpected file '{path.name}' not listed in the card"
            )
    for name, digest in listed.items():
        path = directory / name
        if Path(name).name != name or Path(name).suffix not in SAFE_SUFFIXES:
            raise ArtifactError(f"{card_path}: refusing to load: unsafe file entry '{name}'")
        if not path.is_file():
            raise ArtifactError(f"{directory}: file '{name}' listed in the card is missing")
        if file_sha256(path) != digest:
            raise ArtifactError(
                f"{directory}: file '{name}' does not match its sha256 in the card (altered?)"
            )
    return card


def save_skops(path: Path, obj: Any) -> str:
    """Dump a scikit-learn object with skops (no pickle); return the file name."""
    import skops.io as sio

    sio.dump(obj, path)
    return path.name


def load_skops(path: Path) -> Any:
    """Load a skops file trusting only skops' defaults plus :data:`SKOPS_ALLOWED`; refuse anything else."""
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as err:  # a corrupt or foreign archive
        raise ArtifactError(f"{path.name}: not a readable skops file ({type(err).__name__})") from None
    refused = sorted(set(untrusted) - SKOPS_ALLOWED)
    if refused:
        raise ArtifactError(f"{path.name}: refusing to load untrusted types {', '.join(refused)}")
    return sio.load(path, trusted=untrusted)


def load_detector(directory: str | os.PathLike[str]) -> Any:
    """Load a detector saved with ``save(directory)``: verify the folder, find the class by registry name.

    Composite detectors (:class:`negate_sdk.detector.Detector`) are rebuilt from their components' registry
    names; others by the ``load`` classmethod of the factory registered under the card's name.
    """
    from negate_sdk.registry import RegistryError, get_detector

    card = read_card(directory)
    if card.get("composite"):
        from negate_sdk.detector import Detector

        try:
            return Detector.load(directory)
        except RegistryError as err:
            raise ArtifactError(
                f"{directory}: cannot rebuild detector '{card.get('detector')}': {err}"
            ) from None
    name = card.get("detector")
    if not isinstance(name, str):
        raise ArtifactError(f"{directory}: the card does not name its detector")
    try:
        factory = get_detector(name).load()
    except RegistryError as err:
        raise ArtifactError(f"{directory}: cannot load detector '{name}': {err}") from None
    loader = getattr(factory, "load", None)
    if loader is None:
        raise ArtifactError(f"{directory}: detector '{name}' has no loader (its factory has no 'load')")
    return loader(directory)
