"""``negate-bench run``: train and score detectors on datasets, write results, leaderboard and report."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from negate_sdk.bench.protocols import PROTOCOLS
from negate_sdk.cli._common import JOBS, PARTIAL, POSITIVE, parse_params

logger = logging.getLogger(__name__)


@click.command("run")
@click.option("--detector", "detectors", multiple=True, help="Registered detector name or glob (repeatable).")
@click.option("--extractors", help="Ad-hoc detector: comma-separated extractor names.")
@click.option("--head", help="Ad-hoc detector's classifier head (default logistic).")
@click.option(
    "--param", "params", multiple=True, help="KEY=VALUE set on detectors (DETECTOR:KEY=VALUE for one)."
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    required=True,
    help="Dataset id, folder or CSV/Parquet (repeatable).",
)
@click.option("--data-dir", help="Where offline dataset mirrors live (default $NEGATE_DATA_DIR).")
@click.option("--train-on", help="Cross-dataset: train on this dataset, test on --dataset.")
@click.option("--train-split", help="With --train-on: train only on this split of it.")
@click.option(
    "--protocol",
    type=click.Choice(list(PROTOCOLS)),
    default="train-test",
    show_default=True,
    help="Which rows train and which test (docs/results.md).",
)
@click.option(
    "--cutoff",
    help="With --protocol temporal: generators released before this date (YYYY-MM-DD) train, the rest test.",
)
@click.option(
    "--model",
    "model_dirs",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Score a saved detector (repeatable).",
)
@click.option("--limit", type=POSITIVE, help="At most N images per dataset (stratified, seeded).")
@click.option("--per-generator", type=POSITIVE, help="At most N images per generator (and of reals).")
@click.option(
    "--test-fraction",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Test share when a dataset has no test split.",
)
@click.option(
    "--perturb",
    "perturb",
    multiple=True,
    help="Robustness preset: jpeg, resize, blur, noise, crop, social, format-equalise, all.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seeds splits, sampling and every detector."
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="Device for learned extractors."
)
@click.option(
    "--n-boot",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="Bootstrap resamples per interval (at least 10).",
)
@click.option("--jobs", type=JOBS, default=1, show_default=True, help="Worker processes (-1: all cores).")
@click.option(
    "--executor",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where decoding and feature extraction run: this machine, or a Ray cluster (docs/ray.md).",
)
@click.option(
    "--ray-address",
    help="With --executor ray: the cluster (auto, HOST:PORT, ray://HOST:PORT; default $RAY_ADDRESS).",
)
@click.option(
    "--output", type=click.Path(file_okay=False), help="Results folder (default results/run-<time>)."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    help="Feature store (default $NEGATE_CACHE_DIR or the user cache).",
)
@click.option("--no-cache", is_flag=True, help="Keep features in memory only (and refit every detector).")
@click.option("--refit", is_flag=True, help="Refit detectors even when an identical fit is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def run_command(**options) -> None:
    """Train and score detectors on datasets: metrics with 95% intervals, results.json, predictions.parquet,
    leaderboard.md and report.html in the output folder.

    A detector that fails is listed in results.json ("failed") and the exit status is 3 (partial).
    """
    from negate_sdk.bench.assembly import RunConfig
    from negate_sdk.bench.leaderboard import leaderboard_rows, render, sort_rows
    from negate_sdk.bench.results import read_results
    from negate_sdk.bench.runner import run
    from negate_sdk.progress import stage_progress

    config = RunConfig(
        datasets=list(options["datasets"]),
        detectors=list(options["detectors"]),
        extractors=[e.strip() for e in options["extractors"].split(",")] if options["extractors"] else None,
        head=options["head"],
        params=parse_params(options["params"]),
        model_dirs=list(options["model_dirs"]),
        protocol=options["protocol"],
        cutoff=options["cutoff"],
        train_on=options["train_on"],
        train_split=options["train_split"],
        data_dir=options["data_dir"],
        limit=options["limit"],
        per_generator=options["per_generator"],
        test_fraction=options["test_fraction"],
        perturb=list(options["perturb"]),
        seed=options["seed"],
        device=options["device"],
        n_boot=options["n_boot"],
        n_jobs=options["jobs"],
        cache_dir=options["cache_dir"],
        use_cache=not options["no_cache"],
        refit=options["refit"],
        executor=options["executor"],
        ray_address=options["ray_address"],
    )
    output = Path(options["output"] or f"results/run-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        with stage_progress(enabled=True) as progress:
            paths = run(config, output, progress=progress)
    except (ValueError, KeyError) as err:
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise click.ClickException(message.splitlines()[0]) from None
    documents = [read_results(p) for p in paths]
    rows = sort_rows(leaderboard_rows(documents))
    for document in documents:
        for entry in document["runs"]:
            small = entry.get("small_groups", [])
            if small:
                shown = ", ".join(f"{g['group']} (n={g['n']})" for g in small[:4])
                more = f" and {len(small) - 4} more" if len(small) > 4 else ""
                where = f"{document['dataset']['id']} / {entry['detector']}"
                logger.warning(
                    "%s: groups too small for their intervals to mean much: %s%s", where, shown, more
                )
    failed = [{"dataset": d["dataset"]["id"], **f} for d in documents for f in d.get("failed", [])]
    if options["as_json"]:
        summary = {"results": [str(p) for p in paths], "leaderboard": rows, "failed": failed}
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(render(rows, "table"))
        click.echo(
            f"results: {', '.join(str(p) for p in paths)}\nreport:  {output / 'report.html'}", err=True
        )
    if failed:  # the others' results are written; the status says the run is partial
        click.get_current_context().exit(PARTIAL)
