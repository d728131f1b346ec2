"""Every hook a negate plugin can implement.

A plugin is a module (or object) that implements one or more of these functions, decorated with
:data:`negate_sdk.hookimpl`, and that is announced through the ``negate`` entry-point group::

    [project.entry-points.negate]
    my_plugin = "my_package.plugin"

The registration hooks receive a ``register`` callable owned by the host: the host records which plugin
registered which name, refuses a name registered twice (naming both plugins) and keeps the other
plugins working when one of them fails. Every hook is documented in ``docs/hooks.md``; a test keeps this
module and that page in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from negate_sdk.registry import RegisterFn

PROJECT_NAME = "negate"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def negate_register_extractors(register: RegisterFn) -> None:
    """Register feature extractors.

    Call ``register(name, factory, description=..., tags=..., **metadata)`` once per extractor.
    ``factory`` is a class or function that accepts the extractor's keyword parameters, or a lazy
    ``"package.module:attr"`` string imported only when the extractor is created, so that listing
    extractors never imports torch. The object it returns follows :class:`negate_sdk.api.Extractor`.

    Useful metadata keys: ``uses_clip`` (bool; the harness groups CLIP-bias deltas by it),
    ``requires`` (the extra or package the factory needs, shown in listings) and
    ``test_params`` (keyword parameters for a fast instance the conformance suite can run offline).

    Called once per plugin when the registry is first used; the order between plugins is unspecified.
    """


@hookspec
def negate_register_classifiers(register: RegisterFn) -> None:
    """Register classifier heads.

    Call ``register(name, factory, ...)``; the factory returns a scikit-learn compatible binary
    classifier (``fit(X, y)``, ``predict_proba(X) -> (n_samples, 2)``, ``classes_``, ``get_params``).
    Label 1 is synthetic. Same conventions for lazy factories and metadata as
    :func:`negate_register_extractors`.
    """


@hookspec
def negate_register_vetoes(register: RegisterFn) -> None:
    """Register vetoes: models that can override a detector's verdict for stated reasons.

    Call ``register(name, factory, ...)``; the factory returns an object following
    :class:`negate_sdk.api.Veto`. A veto's ``effect`` says whether it may only downgrade SYNTHETIC to
    UNCERTAIN (``"downgrade"``) or raise a verdict to SYNTHETIC on evidence (``"raise"``).
    """


@hookspec
def negate_register_detectors(register: RegisterFn) -> None:
    """Register named detectors (recipes).

    Call ``register(name, factory, ...)``; the factory returns an unfitted object following
    :class:`negate_sdk.api.Detector` (extractors, classifier, calibration, thresholds, vetoes).
    """


@hookspec
def negate_register_datasets(register: RegisterFn) -> None:
    """Register datasets the benchmark harness can load by id.

    Call ``register(dataset_id, factory, ...)``; the factory returns the dataset's manifest (canonical rows
    of image locator, label, generator, source and split). ``description`` should name the licence.
    """


@hookspec
def negate_register_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``negate-bench`` command line.

    ``cli`` is the top-level :class:`click.Group`; call ``cli.add_command(command)`` or decorate
    functions with ``@cli.command()``. Commands should talk to the registries
    (``negate_sdk.create_detector`` and friends), not to other plugins directly.
    """
