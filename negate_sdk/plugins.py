"""The plugin host: discovers plugins, runs their registration hooks, and reports the broken ones.

Plugins are found through the ``negate`` entry-point group; the built-in plugins shipped with
``negate-sdk`` are announced in the same group and loaded the same way. Two environment variables
change what is loaded:

``NEGATE_LOAD_PLUGINS``
    A comma-separated list of plugin (entry-point) names or distribution names: load only these.
    Set but empty, it loads no plugin at all.
``NEGATE_DISABLE_PLUGIN_AUTOLOAD``
    When set to a non-empty value, third-party plugins are not loaded automatically: only the built-ins
    and those named in ``NEGATE_LOAD_PLUGINS``.
``NEGATE_BLOCK_PLUGINS``
    A comma-separated list of plugin (entry-point) or distribution names never to load, built-ins
    included (as pytest's ``-p no:NAME``). A blocked plugin is listed as such by ``negate-bench plugins``.

A plugin that fails to import, implements an unknown hook, or raises while registering is recorded
with the reason (see :attr:`PluginHost.plugins`) and everything else keeps working; a plugin whose
registration hook raises keeps none of its registrations.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

import pluggy

from negate_sdk import hookspecs
from negate_sdk.registry import KINDS, PLURALS, DuplicateNameError, Entry, Registry, suggest

if TYPE_CHECKING:
    import click

ENTRY_POINT_GROUP = "negate"
BUILTIN_DISTRIBUTION = "negate-sdk"
ENV_LOAD_PLUGINS = "NEGATE_LOAD_PLUGINS"
ENV_DISABLE_AUTOLOAD = "NEGATE_DISABLE_PLUGIN_AUTOLOAD"
ENV_BLOCK_PLUGINS = "NEGATE_BLOCK_PLUGINS"
REGISTER_HOOKS = {kind: f"negate_register_{PLURALS[kind]}" for kind in KINDS}


@dataclass
class PluginInfo:
    """What the host knows of one plugin: where it came from, what it implements, what went wrong."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    builtin: bool = False
    blocked: bool = False
    hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """All errors of this plugin joined in one line, or None when it loaded cleanly."""
        return "; ".join(self.errors) if self.errors else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view used by ``negate-bench plugins --json``."""
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "builtin": self.builtin,
            "blocked": self.blocked,
            "hooks": sorted(self.hooks),
            "error": self.error,
        }


def _split_env_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _distribution(ep: importlib_metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


class PluginHost:
    """A pluggy plugin manager, the registries it fills, and the record of every plugin's state.

    Create one with :meth:`from_env` to honour the environment variables, or empty
    (``PluginHost()``) and add plugins in-process with :meth:`add_plugin` (what the tests do).
    Registration hooks run lazily, the first time a registry is read.
    """

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.registries = {kind: Registry(kind) for kind in KINDS}
        self.plugins: dict[str, PluginInfo] = {}
        self._pending: list[str] = []
        self._blocked: set[str] = set()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> PluginHost:
        """A host loaded from the ``negate`` entry points, honouring the environment variables."""
        environ = dict(os.environ if environ is None else environ)
        host = cls()
        for name in _split_env_list(environ.get(ENV_BLOCK_PLUGINS, "")):
            host.block(name)
        only = _split_env_list(environ[ENV_LOAD_PLUGINS]) if ENV_LOAD_PLUGINS in environ else None
        host.load_entrypoints(only=only, autoload=not environ.get(ENV_DISABLE_AUTOLOAD))
        return host

    def block(self, name: str) -> None:
        """Never load plugin ``name`` (an entry-point or distribution name) in this host."""
        self.pm.set_blocked(name)
        self._blocked.add(name)

    # -- discovery ---------------------------------------------------------------------------------

    def load_entrypoints(self, only: Iterable[str] | None = None, *, autoload: bool = True) -> None:
        """Load plugins from the entry-point group.

        ``only``: names (entry point or distribution) to load, ignoring all others; ``autoload=False``
        loads the built-ins plus those in ``only`` (the built-ins alone when ``only`` is None). Names in
        ``only`` that are not installed are recorded as errors.
        """
        wanted = None if only is None else set(only)
        found: set[str] = set()
        eps = sorted(
            importlib_metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (_distribution(ep)[0] != BUILTIN_DISTRIBUTION, ep.name),
        )
        for ep in eps:
            dist_name, version = _distribution(ep)
            builtin = dist_name == BUILTIN_DISTRIBUTION
            names = {ep.name, dist_name}
            if names & self._blocked:
                found |= names & (wanted or set())
                self.plugins.setdefault(
                    ep.name, PluginInfo(ep.name, dist_name, version, ep.value, builtin, blocked=True)
                )
                continue
            found |= names & (wanted or set())
            # with ``only``: those named, and the built-ins too without autoload
            load = (
                (autoload or builtin)
                if wanted is None
                else (bool(names & wanted) or (not autoload and builtin))
            )
            if not load:
                continue
            if ep.name in self.plugins:
                if self.plugins[ep.name].distribution == dist_name:
                    continue  # the same distribution seen twice on sys.path
                self._record_failure(
                    ep.name,
                    f"plugin name '{ep.name}' is used by both '{self.plugins[ep.name].distribution}' "
                    f"and '{dist_name}'",
                    distribution=dist_name,
                    version=version,
                )
                continue
            try:
                plugin = ep.load()
            except Exception as err:  # any import-time failure of a plugin is that plugin's problem
                self._record_failure(
                    ep.name,
                    f"failed to import '{ep.value}': {type(err).__name__}: {_first_line(err)}",
                    distribution=dist_name,
                    version=version,
                    builtin=builtin,
                )
                continue
            self.add_plugin(plugin, ep.name, distribution=dist_name, version=version, builtin=builtin)
        for name in sorted((wanted or set()) - found):
            self._record_failure(name, f"plugin '{name}' named in {ENV_LOAD_PLUGINS} is not installed")

    def _record_failure(self, name: str, message: str, **info: Any) -> PluginInfo:
        key = name if name not in self.plugins else f"{name} ({info.get('distribution')})"
        record = self.plugins.setdefault(key, PluginInfo(name))
        for attr, value in info.items():
            setattr(record, attr, value)
        record.errors.append(message)
        return record

    def add_plugin(
        self,
        plugin: Any,
        name: str | None = None,
        *,
        distribution: str | None = None,
        version: str | None = None,
        builtin: bool = False,
    ) -> PluginInfo:
        """Register a plugin object (usually a module) under ``name``.

        A plugin that implements a hook this host does not know (a misspelt name) or with arguments the
        hook does not provide is refused as a whole and recorded with the reason.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        version = version or getattr(plugin, "__version__", None)
        info = PluginInfo(
            name=name,
            distribution=distribution,
            version=version,
            module=getattr(plugin, "__name__", None),
            builtin=builtin,
        )
        self.plugins[name] = info
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as err:
            # pluggy explains over several lines (which hook, the definition, the bad arguments)
            info.errors.append(
                "refused: " + "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
            )
            return info
        known = {spec for spec in dir(hookspecs) if spec.startswith("negate_")}
        unknown = [hc.name for hc in self.pm.get_hookcallers(plugin) or [] if hc.name not in known]
        if unknown:
            self.pm.unregister(plugin)
            for hook in unknown:
                hints = suggest(hook, known, n=1)
                hint = f" (did you mean '{hints[0]}'?)" if hints else ""
                info.errors.append(f"refused: unknown hook '{hook}'{hint}")
            return info
        info.hooks = sorted(hc.name for hc in self.pm.get_hookcallers(plugin) or [])
        self._pending.append(name)
        return info

    def remove_plugin(self, name: str) -> None:
        """Unregister plugin ``name`` and remove everything it registered."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        for registry in self.registries.values():
            registry.remove_plugin(name)
        self.plugins.pop(name, None)
        if name in self._pending:
            self._pending.remove(name)

    # -- registration ------------------------------------------------------------------------------

    def registry(self, kind: str) -> Registry:
        """The registry of ``kind``, after running the registration hooks of plugins added since."""
        self._run_pending()
        return self.registries[kind]

    def _run_pending(self) -> None:
        while self._pending:
            name = self._pending.pop(0)
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                continue
            calls = [
                (impl.function, kind)
                for kind, hook_name in REGISTER_HOOKS.items()
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
                if impl.plugin is plugin
            ]
            for function, kind in calls:
                if not self._call_register(function, kind, name):
                    # a hook that raised fails its plugin as a whole: nothing it registered stays
                    for registry in self.registries.values():
                        registry.remove_plugin(name)
                    break

    def _call_register(self, function: Callable[..., Any], kind: str, plugin_name: str) -> bool:
        """Run one registration hook of ``plugin_name``; False when it raised (the error is recorded)."""
        registry = self.registries[kind]
        info = self.plugins[plugin_name]

        def register(name: str, factory: Any, **options: Any) -> Entry | None:
            try:
                return registry.register(name, factory, plugin=plugin_name, **options)
            except (DuplicateNameError, ValueError) as err:
                # Recorded, not raised: the plugin's other components stay usable.
                info.errors.append(str(err))
                return None

        try:
            function(register=register)
        except Exception as err:
            info.errors.append(f"{REGISTER_HOOKS[kind]} raised {type(err).__name__}: {_first_line(err)}")
            return False
        return True

    def register_commands(self, cli: click.Group) -> None:
        """Let every plugin add its commands to ``cli``; a command name already taken is refused."""
        for impl in self.pm.hook.negate_register_commands.get_hookimpls():
            before = dict(cli.commands)
            info = self.plugins[impl.plugin_name]
            try:
                impl.function(cli=cli)
            except Exception as err:
                info.errors.append(
                    f"negate_register_commands raised {type(err).__name__}: {_first_line(err)}"
                )
            for cmd_name, command in before.items():
                if cli.commands.get(cmd_name) is not command:
                    cli.commands[cmd_name] = command
                    info.errors.append(f"command '{cmd_name}' already exists; plugin's version ignored")

    def failures(self) -> list[PluginInfo]:
        """Plugins with at least one error, after running pending registrations."""
        self._run_pending()
        return [info for info in self.plugins.values() if info.errors]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide host, created from the entry points and environment on first use."""
    global _host
    if _host is None:
        _host = PluginHost.from_env()
    return _host


def set_host(host: PluginHost | None) -> PluginHost | None:
    """Replace the process-wide host (``None``: reload from the environment on next use); return the old."""
    global _host
    previous, _host = _host, host
    return previous


@contextlib.contextmanager
def use_host(host: PluginHost) -> Iterator[PluginHost]:
    """Use ``host`` as the process-wide host inside a ``with`` block (tests use this)."""
    previous = set_host(host)
    try:
        yield host
    finally:
        set_host(previous)


def torch_imported() -> bool:
    """True when torch has been imported in this process (listing and ``--help`` must keep it False)."""
    return "torch" in sys.modules
