"""Registries: names mapped to factories, in the manner of timm's model registry.

There is one :class:`Registry` per component kind (extractor, classifier, veto, detector, dataset).
Plugins fill them through the ``negate_register_*`` hooks (:mod:`negate_sdk.plugins`); code and the CLI
read them through the verbs ``create_*``, ``list_*``, ``get_*`` and ``is_*`` of :mod:`negate_sdk.catalog`.
A factory may be a lazy ``"package.module:attr"`` string, imported only when the component is created, so
listing never imports torch. This module imports nothing of the SDK: it is the bottom of the plugin layer.

Names are matched by one rule everywhere (:func:`matches`): a pattern with shell wildcards (``clip_*``)
is matched with :func:`fnmatch.fnmatchcase`; a bare word means that name when it is registered, else every
name containing it (``lite`` finds ``timm_efficientnet_lite0``).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

KINDS = ("extractor", "classifier", "veto", "detector", "dataset")
PLURALS = {
    "extractor": "extractors",
    "classifier": "classifiers",
    "veto": "vetoes",
    "detector": "detectors",
    "dataset": "datasets",
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_WILDCARDS = set("*?[")


class RegistryError(Exception):
    """Base class of registry errors; ``str(err)`` is one line a user can act on."""


class UnknownNameError(RegistryError, LookupError):
    """A name that no plugin registered; the message suggests the closest registered names."""


class DuplicateNameError(RegistryError, ValueError):
    """A name registered twice; the message names both plugins."""


class MissingDependencyError(RegistryError, ImportError):
    """A lazy factory could not be imported, usually because an optional extra is not installed."""


class RegisterFn(Protocol):
    """The ``register`` callable the host passes to the ``negate_register_*`` hooks."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        **metadata: Any,
    ) -> Entry:
        """Register ``factory`` under ``name`` and return the registry entry."""
        ...


@dataclass(frozen=True)
class Entry:
    """One registered component: its name, kind, factory and the plugin that registered it."""

    name: str
    kind: str
    factory: Callable[..., Any] | str
    plugin: str
    description: str = ""
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def lazy(self) -> bool:
        """True when the factory is a ``"module:attr"`` string not imported yet."""
        return isinstance(self.factory, str)

    @property
    def factory_path(self) -> str:
        """The factory as ``"module:qualname"``, without importing it."""
        if isinstance(self.factory, str):
            return self.factory
        return f"{self.factory.__module__}:{getattr(self.factory, '__qualname__', repr(self.factory))}"

    def load(self) -> Callable[..., Any]:
        """Return the factory, importing it first when it is lazy.

        Raises :class:`MissingDependencyError` with the extra to install when the import fails.
        """
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as err:
            raise MissingDependencyError(self._missing_message(err)) from err
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    def _missing_message(self, err: ImportError) -> str:
        requires = self.metadata.get("requires")
        hint = f"; install it with: pip install 'negate-sdk[{requires}]'" if requires else ""
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        return f"{self.kind} '{self.name}' cannot be loaded ({first_line}){hint}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description: name, kind, plugin, description, tags, factory and metadata."""
        return {
            "name": self.name,
            "kind": self.kind,
            "plugin": self.plugin,
            "description": self.description,
            "tags": list(self.tags),
            "factory": self.factory_path,
            "metadata": {k: _json_safe(v) for k, v in self.metadata.items()},
        }


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    return repr(value)


def matches(names: Iterable[str], pattern: str) -> list[str]:
    """The ``names`` a pattern selects, sorted: the one rule for registry filters and ``--detector``.

    With shell wildcards (``*?[``) the pattern is matched as by :func:`fnmatch.fnmatchcase`; a bare word
    selects exactly that name when it is among ``names``, else every name containing it.
    """
    names = sorted(names)
    pattern = pattern.lower()
    if _WILDCARDS & set(pattern):
        return [name for name in names if fnmatch.fnmatchcase(name, pattern)]
    if pattern in names:
        return [pattern]
    return [name for name in names if pattern in name]


def suggest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` registered names close to ``name`` (for "did you mean ..." messages)."""
    candidates = sorted(candidates)
    close = difflib.get_close_matches(name.lower(), candidates, n=n, cutoff=0.6)
    prefixed = [c for c in candidates if c.startswith(name.lower()) and c not in close]
    return (close + prefixed)[:n]


def unknown_name_message(kind: str, name: str, candidates: Iterable[str]) -> str:
    """One line for an unknown name, suggesting the closest candidates."""
    candidates = list(candidates)
    hints = suggest(name, candidates)
    if hints:
        tail = "did you mean " + " or ".join(f"'{h}'" for h in hints) + "?"
    elif candidates:
        tail = f"run 'negate-bench list {PLURALS.get(kind, kind)}' to see the {len(candidates)} available"
    else:
        tail = (
            f"no {PLURALS.get(kind, kind)} are registered (is a plugin failing? run 'negate-bench plugins')"
        )
    return f"unknown {kind} '{name}'; {tail}"


def _accepted_params(factory: Callable[..., Any]) -> set[str] | None:
    """Keyword parameters ``factory`` accepts, or None when it takes ``**kwargs`` or has no signature."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


class Registry:
    """Names of one kind of component mapped to their factories.

    >>> registry = Registry("extractor")
    >>> _ = registry.register("constant", dict, plugin="docs")
    >>> registry.names("const*")
    ['constant']
    """

    def __init__(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown registry kind '{kind}'; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        plugin: str = "__main__",
        description: str = "",
        tags: Iterable[str] = (),
        **metadata: Any,
    ) -> Entry:
        """Register ``factory`` under ``name`` on behalf of ``plugin`` and return the entry.

        Raises :class:`DuplicateNameError` (naming both plugins) when the name is taken, and
        ``ValueError`` for a malformed name or factory.
        """
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"{self.kind} name {name!r} from plugin '{plugin}' is not lower snake case "
                "(letters, digits, '_', '-', '.')"
            )
        if isinstance(factory, str):
            if ":" not in factory:
                raise ValueError(f"lazy factory {factory!r} for {self.kind} '{name}' is not 'module:attr'")
        elif not callable(factory):
            raise ValueError(f"factory for {self.kind} '{name}' is neither callable nor 'module:attr'")
        if name in self._entries:
            other = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.kind} '{name}' is registered by both plugin '{other}' and plugin '{plugin}'"
            )
        if not description and not isinstance(factory, str):
            description = (inspect.getdoc(factory) or "").split("\n")[0]
        entry = Entry(
            name=name,
            kind=self.kind,
            factory=factory,
            plugin=plugin,
            description=description,
            tags=tuple(tags),
            metadata=MappingProxyType(dict(metadata)),
        )
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> Entry:
        """Remove and return the entry registered under ``name``."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def remove_plugin(self, plugin: str) -> None:
        """Remove every entry registered by ``plugin``."""
        for name in [n for n, e in self._entries.items() if e.plugin == plugin]:
            del self._entries[name]

    def get(self, name: str) -> Entry:
        """Return the entry for ``name``; raise :class:`UnknownNameError` suggesting close names."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(unknown_name_message(self.kind, name, self._entries)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entries(
        self,
        filter: str | Iterable[str] | None = None,
        *,
        exclude: str | Iterable[str] | None = None,
        tag: str | None = None,
    ) -> list[Entry]:
        """Entries sorted by name, optionally filtered.

        ``filter`` and ``exclude`` are patterns (or lists of patterns, any of which matches), matched by
        :func:`matches`. ``tag`` keeps only entries carrying that tag.
        """
        include = [filter] if isinstance(filter, str) else list(filter or [])
        omit = [exclude] if isinstance(exclude, str) else list(exclude or [])
        chosen = {n for p in include for n in matches(self._entries, p)} if include else set(self._entries)
        chosen -= {n for p in omit for n in matches(self._entries, p)}
        found = []
        for name in sorted(chosen):
            entry = self._entries[name]
            if tag is not None and tag not in entry.tags:
                continue
            found.append(entry)
        return found

    def names(
        self,
        filter: str | Iterable[str] | None = None,
        *,
        exclude: str | Iterable[str] | None = None,
        tag: str | None = None,
    ) -> list[str]:
        """Registered names sorted, filtered as in :meth:`entries`."""
        return [e.name for e in self.entries(filter, exclude=exclude, tag=tag)]

    def create(self, name: str, **params: Any) -> Any:
        """Create the component registered under ``name`` with keyword ``params``.

        Unknown parameters are refused with the list of accepted ones.
        """
        entry = self.get(name)
        factory = entry.load()
        accepted = _accepted_params(factory)
        if accepted is not None:
            unknown = sorted(set(params) - accepted)
            if unknown:
                raise TypeError(
                    f"{self.kind} '{name}' has no parameter {', '.join(repr(u) for u in unknown)}; "
                    f"its parameters are: {', '.join(sorted(accepted)) or '(none)'}"
                )
        return factory(**params)
