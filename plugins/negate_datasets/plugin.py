"""Registers the datasets defined in ``datasets_manifest/`` through the ``negate_register_datasets`` hook.

Every ``<id>.toml`` there (except ``generators.toml``) becomes a dataset id, plus one id per ``[subsets.*]``
table. The dev sets (``dev``, ``dev-cifake``, ``dev-diffusiondb``, ``dev-faces``) are registered only when
their folder is found (``$NEGATE_DEV_DATA`` or ``../shared/datasets``). Registering reads the small TOML
files and nothing else; a dataset's rows are read when it is created.
"""

from __future__ import annotations

from negate_sdk import hookimpl
from negate_sdk.registry import RegisterFn


@hookimpl
def negate_register_datasets(register: RegisterFn) -> None:
    """Register one dataset id per spec (and per subset), with its licence in the description."""
    from negate_sdk.manifests.locate import dev_data_dir
    from negate_sdk.manifests.resolve import DatasetFactory
    from negate_sdk.manifests.spec import list_specs

    dev_found = dev_data_dir() is not None
    for spec in list_specs():
        if spec.location == "dev" and not dev_found:
            continue
        for dataset_id in spec.ids:
            subset = spec.subsets.get(dataset_id)
            title = spec.title + (f", {', '.join(f'{k} {v}' for k, v in subset.items())}" if subset else "")
            metadata = {"kind": spec.kind, "licence": spec.licence, "spec": spec.path.name}
            if spec.kind == "hf":
                metadata.update(requires="hub", repo_id=spec.repo_id, configs=list(spec.configs))
            if spec.kind in ("hf", "folder"):
                metadata["test_params"] = {"sample": True}  # a generated mirror in the dataset's own layout
            register(
                dataset_id,
                DatasetFactory(dataset_id, spec.path),
                description=f"{title} (licence: {spec.licence.split(';')[0]})",
                tags=(spec.kind, "local" if spec.location == "dev" else "mirror-or-hub"),
                **metadata,
            )
