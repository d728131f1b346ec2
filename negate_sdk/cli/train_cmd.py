"""``negate train``: fit a detector on a dataset's training rows and save it (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from negate_sdk.cli._common import JOBS, POSITIVE, emit, parse_params


@click.command("train")
@click.option("--detector", help="Registered detector (recipe) name.")
@click.option("--extractors", help="Ad-hoc detector: comma-separated extractor names.")
@click.option("--head", default="logistic", show_default=True, help="Ad-hoc detector's classifier head.")
@click.option(
    "--param", "params", multiple=True, help="KEY=VALUE set on the detector (e.g. classifier__C=0.1)."
)
@click.option("--dataset", required=True, help="Dataset id, folder, or CSV/Parquet table.")
@click.option("--data-dir", help="Where offline dataset mirrors live (default $NEGATE_DATA_DIR).")
@click.option(
    "--split", help="Train on this split (default: 'train' when the dataset has one, else all rows)."
)
@click.option("--limit", type=POSITIVE, help="At most N images (stratified, seeded).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds sampling and the detector.")
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the saved detector."
)
@click.option(
    "--cache-dir", type=click.Path(file_okay=False), help="Feature store (default: the user cache)."
)
@click.option("--no-cache", is_flag=True, help="Keep features in memory only.")
@click.option("--jobs", type=JOBS, default=1, show_default=True, help="Worker processes (-1: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the detector card summary as JSON.")
def train_command(**options) -> None:
    """Train a detector and save it (calibration and thresholds from validation carved from training)."""
    from negate_sdk.artifacts import check_replaceable
    from negate_sdk.bench.assembly import RunConfig, detector_specs, seed_detector
    from negate_sdk.detectors import fit_detector
    from negate_sdk.features import extract_features
    from negate_sdk.manifests import resolve_dataset
    from negate_sdk.progress import stage_progress
    from negate_sdk.store import FeatureStore, MemoryFeatureStore

    if bool(options["detector"]) == bool(options["extractors"]):
        raise click.UsageError("give exactly one of --detector or --extractors")
    extractors = [e.strip() for e in options["extractors"].split(",")] if options["extractors"] else None
    config = RunConfig(
        datasets=[options["dataset"]],
        detectors=[options["detector"]] if options["detector"] else [],
        extractors=extractors,
        head=options["head"],
    )
    (spec,) = detector_specs(config)
    check_replaceable(options["out"])  # a folder of the user's is refused before training, not after
    detector = spec.build()
    store = MemoryFeatureStore() if options["no_cache"] else FeatureStore(options["cache_dir"])
    try:
        seed_detector(detector, options["seed"])
        if options["params"]:
            detector.set_params(**parse_params(options["params"]))
        manifest = resolve_dataset(options["dataset"], data_dir=options["data_dir"])
        split = options["split"] or ("train" if "train" in manifest.splits() else None)
        if split:
            manifest = manifest.filter(split=split)
        if options["limit"]:
            manifest = manifest.sample(limit=options["limit"], seed=options["seed"])
        samples = list(manifest.to_samples(trust_sha256=False))
        with stage_progress(enabled=not options["as_json"]) as progress:

            def extract(extractors, samples):
                return extract_features(extractors, samples, store=store, n_jobs=options["jobs"],
                                        progress=progress)  # fmt: skip

            fitted = fit_detector(
                detector,
                samples,
                extract=extract,
                progress=progress,
                training_info={
                    "dataset": manifest.id,
                    "manifest_hash": manifest.content_hash,
                    "trained_on": [manifest.id],
                    "split": split or "all",
                },
            )
            detector = fitted.detector
    except ValueError as err:
        raise click.ClickException(str(err).splitlines()[0]) from None
    path = detector.save(Path(options["out"]))
    summary = {
        "detector": spec.name,
        "dataset": manifest.id,
        "split": split or "all",
        "n_images": len(samples),
        "out": str(path),
        "thresholds": detector.thresholds.to_dict(),
        "validation_metrics": getattr(detector, "validation_metrics_", None),
    }
    if options["as_json"]:
        click.echo(json.dumps(summary, indent=2))
        return
    rows = [{"what": k, "value": v} for k, v in (summary["validation_metrics"] or {}).items()]
    rows += [{"what": k, "value": v} for k, v in (summary["thresholds"] or {}).items()]
    emit(
        rows,
        ["what", "value"],
        as_json=False,
        title=f"{spec.name} trained on {manifest.id} ({len(samples)} images)",
    )
    click.echo(f"saved to {path}", err=True)
