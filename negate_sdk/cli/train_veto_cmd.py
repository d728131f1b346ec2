"""``negate train-veto``: train a learned veto (the illustration veto) on a labelled dataset and save it.

Label convention: the veto learns P(illustration). Rows whose manifest label equals ``--positive-label``
(default 1) are the positives (illustrations, anime art); every other row is a negative (photos,
renders, anything that is not an illustration). A folder dataset names its class folders with
``--label-dirs`` (default ``illustration=1,other=0``: ``DIR/illustration/…`` and ``DIR/other/…``, or one
level down per split); a CSV/Parquet table uses its ``label`` column as is.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from negate_sdk.cli._common import emit, parse_params

DEFAULT_LABEL_DIRS = "illustration=1,other=0"


@click.command("train-veto")
@click.option("--veto", default="illustration", show_default=True, help="Registered learned veto to train.")
@click.option("--dataset", required=True, help="Dataset id, folder, or CSV/Parquet table.")
@click.option(
    "--positive-label",
    type=click.IntRange(0, 1),
    default=1,
    show_default=True,
    help="Manifest label of the positives (illustrations); the other label is 'not an illustration'.",
)
@click.option(
    "--label-dirs",
    default=None,
    metavar="NAME=LABEL,...",
    help=f"Class folders of a folder dataset (default for folders: '{DEFAULT_LABEL_DIRS}').",
)
@click.option("--data-dir", help="Where offline dataset mirrors live (default $NEGATE_DATA_DIR).")
@click.option(
    "--split", help="Train on this split (default: 'train' when the dataset has one, else all rows)."
)
@click.option("--limit", type=click.IntRange(min=1), help="At most N images (stratified, seeded).")
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the split, sampling and training."
)
@click.option(
    "--param", "params", multiple=True, help="KEY=VALUE set on the veto (e.g. epochs=3, image_size=160)."
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False),
    help="Save a checkpoint after every epoch; an interrupted run given the same folder resumes.",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False), help="Folder for the trained veto."
)
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
def train_veto_command(**options) -> None:
    """Train a learned veto (positives = illustrations) and save it as safetensors + JSON.

    Use it with weights=OUT, e.g. Detector(vetoes=[IllustrationVeto(weights="OUT")]).
    """
    import numpy as np

    from negate_sdk.bench.runner import readable
    from negate_sdk.catalog import create_veto
    from negate_sdk.manifests.resolve import parse_label_dirs, resolve_dataset
    from negate_sdk.progress import stage_progress

    veto = create_veto(options["veto"])
    if not callable(getattr(veto, "train", None)):
        raise click.ClickException(f"veto '{options['veto']}' is not trainable (it has no train method)")
    try:
        if "random_state" in veto.get_params(deep=False):
            veto.set_params(random_state=options["seed"])
        if options["checkpoint_dir"]:
            veto.set_params(checkpoint_dir=options["checkpoint_dir"])
        if options["params"]:
            veto.set_params(**parse_params(options["params"]))
        dataset = options["dataset"]
        label_dirs = options["label_dirs"]
        if label_dirs is None and Path(dataset).expanduser().is_dir() and not _has_table(Path(dataset)):
            label_dirs = DEFAULT_LABEL_DIRS
        manifest = resolve_dataset(
            dataset, data_dir=options["data_dir"], label_dirs=parse_label_dirs(label_dirs)
        )
        split = options["split"] or ("train" if "train" in manifest.splits() else None)
        if split:
            manifest = manifest.filter(split=split)
        if options["limit"]:
            manifest = manifest.sample(limit=options["limit"], seed=options["seed"])
        samples, failures = readable(list(manifest.to_samples(trust_sha256=False)))
        y = (np.asarray([s.label for s in samples]) == options["positive_label"]).astype("int64")
        with stage_progress(enabled=not options["as_json"]) as progress:
            veto.train(samples, y, progress=progress)
    except ValueError as err:
        raise click.ClickException(str(err).splitlines()[0]) from None
    path = veto.save(Path(options["out"]))
    info = getattr(veto, "training_info_", {})
    summary = {
        "veto": options["veto"],
        "dataset": manifest.id,
        "split": split or "all",
        "n_images": len(samples),
        "n_positives": int(y.sum()),
        "n_unreadable": len(failures),
        "out": str(path),
        "validation": info.get("validation"),
        "best_epoch": info.get("best_epoch"),
        "train_seconds": info.get("train_seconds"),
    }
    if options["as_json"]:
        click.echo(json.dumps(summary, indent=2))
        return
    rows = [{"what": k, "value": v} for k, v in (summary["validation"] or {}).items()]
    rows += [
        {"what": k, "value": summary[k]} for k in ("n_images", "n_positives", "best_epoch", "train_seconds")
    ]
    title = f"{options['veto']} veto trained on {manifest.id} ({len(samples)} images)"
    emit(rows, ["what", "value"], as_json=False, title=title)
    click.echo(f"saved to {path}; use it with weights='{path}'", err=True)


def _has_table(folder: Path) -> bool:
    """True when a folder holds a manifest table (then its ``label`` column is used, not class folders)."""
    from negate_sdk.manifests.resolve import TABLE_NAMES

    return any((folder / name).is_file() for name in TABLE_NAMES)
