"""Train the trainable detectors on the dev CIFAKE training split and score its test split.

Runs ``negate_sdk.bench.runner.run`` (what ``negate-bench run`` does) once per configuration:
``saturate_cnn`` on plain RGB, on the inverted/saturated view and on both stacked (5 epochs of 32, as
published), and ``supcon`` (EfficientNet-Lite0, offline ImageNet weights, fine-tuned at 64 px). Prints
accuracy with its bootstrap interval, AUC, and training time next to the published CIFAKE figures
(small CNN: 94.0% on RGB, 76.7% on the inverted/saturated view; those were trained on CIFAKE's 100,000
training images, the dev split holds 6,000).

    .venv/bin/python benchmarks/trainable_cifake.py --output /tmp/trainable [--threads 1]

Results (``results.json``, ``predictions.parquet``) go to ``OUTPUT/<configuration>/``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from negate_sdk.bench.results import read_results
from negate_sdk.bench.runner import RunConfig, run

PUBLISHED = {"saturate_cnn[rgb]": 0.940, "saturate_cnn[inverted]": 0.767}
CONFIGURATIONS = {
    "saturate_cnn[rgb]": ("saturate_cnn", {"view": "rgb"}),
    "saturate_cnn[inverted]": ("saturate_cnn", {"view": "inverted"}),
    "saturate_cnn[both]": ("saturate_cnn", {"view": "both"}),
    "supcon[lite0@64]": ("supcon", {"image_size": 64, "epochs": 3}),
}


def main() -> None:
    """Run the chosen configurations and print the summary table (and JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="/tmp/trainable", help="Folder for the results.")
    parser.add_argument("--dataset", default="dev-cifake", help="Dataset with train/test splits.")
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGURATIONS), help="Run only these.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is steadier on a shared machine).")
    parser.add_argument("--json", action="store_true", help="Also print the summary as JSON.")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = []
    for label in args.only or list(CONFIGURATIONS):
        name, params = CONFIGURATIONS[label]
        config = RunConfig(
            datasets=[args.dataset],
            detectors=[name],
            params={f"{name}:{key}": value for key, value in {**params, "verbose": True}.items()},
            seed=args.seed,
            use_cache=False,
        )
        started = time.perf_counter()
        (path,) = run(config, Path(args.output) / label.replace("[", "-").replace("]", "").replace("@", "-"))
        document = read_results(path)
        (entry,) = document["runs"]
        overall = entry["metrics"]["overall"]
        timings = document["provenance"]["timings"]
        rows.append(
            {
                "configuration": label,
                "accuracy": overall["accuracy"]["value"],
                "accuracy_ci": overall["accuracy"]["ci"],
                "auc": overall["auc"]["value"],
                "n_test": overall["auc"]["n"],
                "published_accuracy": PUBLISHED.get(label),
                "fit_seconds": timings.get(f"fit:{name}"),
                "score_seconds": timings.get(f"score:{name}"),
                "wall_seconds": round(time.perf_counter() - started, 1),
                "results": str(path),
            }
        )
    header = ("configuration", "accuracy [95% CI]", "AUC", "published", "fit s", "score s")
    print("{:26} {:24} {:>6} {:>9} {:>7} {:>7}".format(*header))
    for row in rows:
        low, high = row["accuracy_ci"]
        published = f"{row['published_accuracy']:.3f}" if row["published_accuracy"] else "-"
        interval = f"{row['accuracy']:.3f} [{low:.3f}, {high:.3f}]"
        print(
            f"{row['configuration']:26} {interval:24} {row['auc']:6.3f} {published:>9} "
            f"{row['fit_seconds']:7.1f} {row['score_seconds']:7.1f}"
        )
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
