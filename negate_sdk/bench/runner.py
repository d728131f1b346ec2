"""``negate-bench run``: train and score detectors on a dataset under a protocol, write the results.

The runner talks only to registries and manifests. For each fold it extracts features through the
feature store (each image and extractor once, shared by every detector and later runs), fits each
detector on the training rows, scores the test rows clean and under each perturbation, and computes
metrics with bootstrap intervals. Results: ``results.json`` and ``predictions.parquet``.
"""

from __future__ import annotations

import fnmatch
import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.api import Label, Sample, partition_readable
from negate_sdk.bench import protocols
from negate_sdk.bench.clip_bias import clip_bias
from negate_sdk.bench.model_cache import ModelCache, fit_key
from negate_sdk.bench.perturb import perturb, resolve_conditions
from negate_sdk.bench.results import (
    SCHEMA_VERSION,
    columns_from_records,
    environment,
    environment_versions,
    group_metrics,
    peak_memory_mb,
    write_predictions,
    write_results,
)
from negate_sdk.detector import Detector
from negate_sdk.features import FeatureMatrix, extract_features
from negate_sdk.store import FeatureStore, MemoryFeatureStore

Progress = Callable[[str, int, int], None]


@dataclass
class RunConfig:
    """Everything that defines a run (recorded in the results for reproduction)."""

    datasets: list[str]
    detectors: list[str] = field(default_factory=list)
    extractors: list[str] | None = None
    head: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model_dirs: list[str] = field(default_factory=list)
    protocol: str = "train-test"
    train_on: str | None = None
    train_split: str | None = None
    data_dir: str | None = None
    limit: int | None = None
    per_generator: int | None = None
    test_fraction: float = 0.5
    perturb: list[str] = field(default_factory=list)
    seed: int = 0
    device: str | None = None
    n_boot: int = 1000
    n_jobs: int = 1
    chunk_size: int = 128
    cache_dir: str | None = None
    use_cache: bool = True
    refit: bool = False
    executor: str = "local"
    ray_address: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view."""
        return asdict(self)


@dataclass
class DetectorSpec:
    """How to build one detector of the run."""

    name: str
    build: Callable[[], Any]
    uses_clip: bool = False
    trainable: bool = True


def _uses_clip(detector: Any, entry_flag: bool) -> bool:
    if entry_flag:
        return True
    extractors = detector.resolved_extractors() if isinstance(detector, Detector) else []
    return any(getattr(e, "uses_clip", False) for e in extractors)


def detector_specs(config: RunConfig) -> list[DetectorSpec]:
    """The detectors of a run: registry names and globs, an ad-hoc composition, saved models."""
    from negate_sdk.artifacts import load_detector
    from negate_sdk.registry import create_classifier, create_detector, get_detector, list_detectors

    names: list[str] = []
    for pattern in config.detectors:
        if set("*?[") & set(pattern):
            matched = [n for n in list_detectors() if fnmatch.fnmatchcase(n, pattern)]
            if not matched:
                raise ValueError(f"no detector matches '{pattern}'")
            names += matched
        else:
            get_detector(pattern)  # an unknown name fails here, with suggestions
            names.append(pattern)
    specs = []
    for name in dict.fromkeys(names):
        entry = get_detector(name)
        specs.append(
            DetectorSpec(name, lambda name=name: create_detector(name), bool(entry.metadata.get("uses_clip")))
        )
    if config.extractors:
        head = config.head or "logistic"
        name = f"{'+'.join(config.extractors)}/{head}"

        def build_adhoc() -> Detector:
            return Detector(extractors=list(config.extractors), classifier=create_classifier(head), name=name)

        specs.append(DetectorSpec(name, build_adhoc))
    for model_dir in config.model_dirs:
        specs.append(
            DetectorSpec(
                f"model:{Path(model_dir).name}", lambda d=model_dir: load_detector(d), trainable=False
            )
        )
    if not specs:
        raise ValueError("nothing to run: give --detector, --extractors or --model")
    return specs


def seed_detector(detector: Any, seed: int) -> None:
    """Set every ``random_state`` (nested ones too: heads, ensemble members) and a ``seed`` to ``seed``."""
    keys = [
        k
        for k in detector.get_params(deep=True)
        if k in ("random_state", "seed") or k.endswith("__random_state")
    ]
    # shallow keys first: setting a component's own parameter must not undo its parent's
    for key in sorted(keys, key=lambda k: k.count("__")):
        detector.set_params(**{key: seed})


def apply_params(
    detectors: dict[str, Any], params: dict[str, Any], device: str | None, seed: int | None = None
) -> None:
    """Apply the run's ``seed``, then ``--param`` values (``name:key=value`` targets one detector), then
    ``--device`` to extractors and end-to-end detectors.

    A key no detector accepts is an error; a key some detectors lack is applied where it fits.
    """
    if seed is not None:
        for detector in detectors.values():
            seed_detector(detector, seed)
    for key, value in params.items():
        target, _, param = key.rpartition(":")
        chosen = {n: d for n, d in detectors.items() if not target or n == target}
        if target and not chosen:
            raise ValueError(f"--param {key}: no detector named '{target}' in this run")
        applied = 0
        for detector in chosen.values():
            try:
                detector.set_params(**{param: value})
                applied += 1
            except ValueError:
                continue
        if not applied:
            raise ValueError(f"--param {key}: no detector in this run has a parameter '{param}'")
    if device:
        for detector in detectors.values():
            if "device" in detector.get_params(deep=False):  # end-to-end trainable detectors
                detector.set_params(device=device)
            if isinstance(detector, Detector):
                for extractor in detector.resolved_extractors():
                    if "device" in extractor.get_params(deep=False):
                        extractor.set_params(device=device)


class Runner:
    """Runs one :class:`RunConfig`, reporting progress through a ``(stage, advance, total)`` callback."""

    def __init__(self, config: RunConfig, progress: Progress | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda stage, advance, total: None)
        if config.use_cache:
            self.store: FeatureStore | MemoryFeatureStore = FeatureStore(config.cache_dir)
        else:
            self.store = MemoryFeatureStore()
        models_dir = getattr(self.store, "models_dir", None)
        self.models = ModelCache(models_dir) if models_dir is not None and not config.refit else None
        self.versions = environment_versions()
        self.timings: dict[str, float] = {}

    def _time(self, key: str, start: float) -> None:
        self.timings[key] = round(self.timings.get(key, 0.0) + time.perf_counter() - start, 3)

    # -- data --------------------------------------------------------------------------------------

    def load(self, dataset: str) -> Any:
        """The dataset's manifest, sampled as configured (seeded, stratified)."""
        from negate_sdk.manifests import resolve_dataset

        manifest = resolve_dataset(dataset, data_dir=self.config.data_dir)
        if self.config.limit or self.config.per_generator:
            manifest = manifest.sample(
                limit=self.config.limit, per_generator=self.config.per_generator, seed=self.config.seed
            )
        return manifest

    def folds(self, manifest: Any) -> list[protocols.Fold]:
        """The protocol's folds for one dataset."""
        c = self.config
        if c.model_dirs and not (c.detectors or c.extractors):
            return protocols.model_only(manifest)
        if c.train_on:
            return protocols.cross_dataset(self.load(c.train_on), manifest, train_split=c.train_split)
        if c.protocol == "leave-one-generator-out":
            return protocols.leave_one_generator_out(manifest, seed=c.seed, test_fraction=c.test_fraction)
        if c.protocol != "train-test":
            raise ValueError(f"unknown protocol '{c.protocol}'; use one of {', '.join(protocols.PROTOCOLS)}")
        return protocols.train_test(manifest, seed=c.seed, test_fraction=c.test_fraction)

    def samples(self, manifest: Any) -> list[Sample]:
        """Lazy samples of a manifest (hashes verified from the bytes, never taken on trust)."""
        return list(manifest.to_samples(trust_sha256=False))

    def features(self, extractors: Sequence[Any], samples: Sequence[Sample]) -> FeatureMatrix:
        """Features through the store, with progress (on a Ray cluster with ``executor="ray"``)."""
        start = time.perf_counter()
        if self.config.executor == "ray":
            from negate_sdk.distributed import ray_extract_features

            matrix = ray_extract_features(
                extractors,
                samples,
                store=self.store,
                chunk_size=self.config.chunk_size,
                address=self.config.ray_address,
                progress=self.progress,
            )
        else:
            matrix = extract_features(
                extractors,
                samples,
                store=self.store,
                chunk_size=self.config.chunk_size,
                n_jobs=self.config.n_jobs,
                progress=self.progress,
            )
        self._time("extract", start)
        return matrix

    # -- one detector ------------------------------------------------------------------------------

    def fit(
        self, spec: DetectorSpec, detector: Any, train: Sequence[Sample]
    ) -> tuple[Any, dict[str, str], bool]:
        """Fit on the readable training samples (or load an identical cached fit).

        Returns the detector, the unreadable images' reasons, and whether the fit came from the cache.
        The time recorded as ``fit:<detector>`` excludes feature extraction (recorded as ``extract``).
        """
        stage = f"fit {spec.name}"
        features = None
        if isinstance(detector, Detector):
            matrix = self.features(detector.resolved_extractors(), train)
            kept = [s for s, ok in zip(train, matrix.ok) if ok]
            features = matrix.X
            failures = {train[i].id: reason for i, reason in matrix.failures.items()}
        else:
            kept, failures = readable(train)
        start = time.perf_counter()
        self.progress(stage, 0, 1)
        key = None
        if self.models is not None:
            hashes, labels = [s.sha256 for s in kept], [s.label for s in kept]
            key = fit_key(spec.name, detector, hashes, labels, self.versions)
            cached = self.models.load(key)
            if cached is not None:
                self.progress(stage, 1, 1)
                self._time(f"fit:{spec.name}", start)
                return cached, failures, True
        if features is not None:
            detector.fit(kept, features=features)
        elif "progress" in inspect.signature(detector.fit).parameters:  # trainable: per-epoch bars
            detector.fit(kept, progress=self.progress)
        else:
            detector.fit(kept)
        if key is not None:
            self.models.save(key, detector)
        self.progress(stage, 1, 1)
        self._time(f"fit:{spec.name}", start)
        return detector, failures, False

    def score(
        self, spec: DetectorSpec, detector: Any, test: Sequence[Sample], condition: str, fold: str
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Prediction records of one detector on one (possibly perturbed) test set."""
        if isinstance(detector, Detector):
            matrix = self.features(detector.resolved_extractors(), test)
            start = time.perf_counter()
            kept = [s for s, ok in zip(test, matrix.ok) if ok]
            X = matrix.X
            failures = {test[i].id: reason for i, reason in matrix.failures.items()}
        else:
            start = time.perf_counter()
            kept, failures = readable(test)
            X = None
        stage = f"score {spec.name}" + ("" if condition == "clean" else f" [{condition}]")
        records: list[dict[str, Any]] = []
        chunk = self.config.chunk_size
        for begin in range(0, len(kept), chunk):
            batch = kept[begin : begin + chunk]
            features = None if X is None else X[begin : begin + chunk]
            if features is None:
                verdicts = detector.verdicts(batch)
            else:
                verdicts = detector.verdicts(batch, features=features)
            thresholds = getattr(detector, "thresholds", None)
            if thresholds is not None:
                preds = [int(v.score >= thresholds.t_decision) for v in verdicts]
            else:  # a detector without exposed thresholds decides for itself
                preds = [int(p) for p in detector.predict(batch)]
            for sample, verdict, pred in zip(batch, verdicts, preds):
                records.append(_record(sample, verdict, spec.name, fold, condition, pred))
                sample.release()
            self.progress(stage, len(batch), len(kept))
        self._time(f"score:{spec.name}", start)
        return records, failures

    # -- a whole dataset ---------------------------------------------------------------------------

    def run_dataset(self, dataset: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Results document and prediction records of one dataset."""
        c = self.config
        wall = time.perf_counter()
        self.timings = {}
        manifest = self.load(dataset)
        folds = self.folds(manifest)
        specs = detector_specs(c)
        conditions = ["clean", *resolve_conditions(c.perturb)] if c.perturb else ["clean"]
        runs, records = [], []
        n_images = 0
        for fold in folds:
            train = self.samples(fold.train) if fold.train is not None else []
            test = self.samples(fold.test)
            n_images += len(train) + len(test) * len(conditions)
            detectors = {spec.name: spec.build() for spec in specs}
            apply_params(
                {n: d for n, d in detectors.items() if getattr(self._spec(specs, n), "trainable", True)},
                c.params,
                c.device,
                seed=c.seed,
            )
            for spec in specs:
                detector = detectors[spec.name]
                train_failures: dict[str, str] = {}
                from_cache = False
                if spec.trainable and fold.train is not None:
                    detector, train_failures, from_cache = self.fit(spec, detector, train)
                    if isinstance(detector, Detector):
                        detector.set_training_info(
                            dataset=fold.train.id,
                            manifest_hash=fold.train.content_hash,
                            trained_on=[fold.train.id],
                        )
                fold_records, test_failures = [], {}
                for condition in conditions:
                    samples = test if condition == "clean" else [perturb(s, condition, c.seed) for s in test]
                    recs, failures = self.score(spec, detector, samples, condition, fold.name)
                    fold_records += recs
                    test_failures.update({f"{condition}:{k}": v for k, v in failures.items()})
                records += fold_records
                runs.append(
                    self._run_entry(
                        spec,
                        detector,
                        fold,
                        fold_records,
                        train_failures,
                        test_failures,
                        manifest,
                        from_cache,
                    )
                )
        clip = self._clip_bias({r["detector"]: r["uses_clip"] for r in runs}, records, folds)
        wall_time = time.perf_counter() - wall
        document = {
            "schema_version": SCHEMA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dataset": {"id": manifest.id, **manifest.provenance()},
            "protocol": {
                "name": c.protocol if not c.train_on else "cross-dataset",
                "folds": [
                    {
                        "name": f.name,
                        "n_train": 0 if f.train is None else len(f.train),
                        "n_test": len(f.test),
                        **f.info,
                    }
                    for f in folds
                ],
                "conditions": conditions,
            },
            "runs": runs,
            "clip_bias": clip,
            "provenance": {
                **environment(),
                "config": c.to_dict(),
                "seed": c.seed,
                "timings": {**self.timings, "wall": round(wall_time, 3)},
                "images_per_second": round(n_images * len(specs) / wall_time, 2) if wall_time else None,
                "peak_memory_mb": peak_memory_mb(),
                "feature_store": str(getattr(self.store, "root", "memory")),
            },
        }
        return document, records

    @staticmethod
    def _spec(specs: list[DetectorSpec], name: str) -> DetectorSpec:
        return next(s for s in specs if s.name == name)

    def _run_entry(
        self, spec, detector, fold, fold_records, train_failures, test_failures, manifest, from_cache
    ) -> dict[str, Any]:
        columns = columns_from_records(fold_records)
        metrics = (
            group_metrics(columns, n_boot=self.config.n_boot, seed=self.config.seed) if fold_records else {}
        )
        thresholds = getattr(detector, "thresholds", None)
        card: dict[str, Any] = {}
        if isinstance(detector, Detector):
            card = {
                "extractors": [e.cache_key for e in detector.resolved_extractors()],
                "validation_metrics": getattr(detector, "validation_metrics_", None),
                "trained_on": getattr(detector, "training_info_", {}).get("trained_on", []),
            }
        contaminated = manifest.id in card.get("trained_on", []) and fold.train is None
        return {
            "detector": spec.name,
            "fold": fold.name,
            "uses_clip": _uses_clip(detector, spec.uses_clip),
            "params": _json_params(detector),
            "thresholds": thresholds.to_dict() if thresholds is not None else None,
            **card,
            "contaminated": contaminated,
            "fit_from_cache": from_cache,
            "metrics": metrics,
            "n_failures": {"train": len(train_failures), "test": len(test_failures)},
            "failures": [
                {"sample_id": k, "reason": v} for k, v in sorted({**train_failures, **test_failures}.items())
            ][:200],
        }

    def _clip_bias(
        self, uses_clip: dict[str, bool], records: list[dict[str, Any]], folds
    ) -> list[dict[str, Any]]:
        clip = [name for name, flag in uses_clip.items() if flag]
        other = [name for name, flag in uses_clip.items() if not flag]
        out = []
        for fold in folds:
            for a in clip:
                for b in other:
                    cols_a = columns_from_records(_aligned(records, a, fold.name))
                    cols_b = columns_from_records(_aligned(records, b, fold.name))
                    if len(cols_a["label"]) == 0 or not np.array_equal(
                        cols_a["sample_id"], cols_b["sample_id"]
                    ):
                        continue
                    result = clip_bias(cols_a, cols_b, n_boot=self.config.n_boot, seed=self.config.seed)
                    out.append({"clip_detector": a, "other_detector": b, "fold": fold.name, **result})
        return out


def _aligned(records: list[dict[str, Any]], detector: str, fold: str) -> list[dict[str, Any]]:
    mine = [
        r for r in records if r["detector"] == detector and r["fold"] == fold and r["condition"] == "clean"
    ]
    return sorted(mine, key=lambda r: r["sample_id"])


def readable(samples: Sequence[Sample]) -> tuple[list[Sample], dict[str, str]]:
    """Samples that decode, and the one-line reasons of those that do not by id (pixels released)."""
    positions, failures = partition_readable(samples, release=True)
    return [samples[i] for i in positions], {samples[i].id: reason for i, reason in failures.items()}


def _record(
    sample: Sample, verdict: Any, detector: str, fold: str, condition: str, pred: int
) -> dict[str, Any]:
    attrs = sample.attrs
    real_source = attrs.get("real_source") or sample.source or "unknown"
    return {
        "sample_id": sample.id,
        "detector": detector,
        "fold": fold,
        "condition": condition,
        "label": int(sample.label),
        "generator": sample.generator or "unknown",
        "source": sample.source or "unknown",
        "real_source": str(real_source) if sample.label == 0 else "",
        "uses_clip": str(attrs.get("uses_clip", "unknown")),
        "score": float(verdict.score),
        "pred": pred,
        "verdict": verdict.label.value if isinstance(verdict.label, Label) else str(verdict.label),
    }


def _json_params(detector: Any) -> dict[str, Any]:
    import json

    out = {}
    for key, value in detector.get_params(deep=True).items():
        try:
            json.dumps(value)
            out[key] = value
        except TypeError:
            out[key] = repr(value)
    return out


def run(config: RunConfig, output: str | Path, progress: Progress | None = None) -> list[Path]:
    """Run every dataset of ``config``; write results and predictions under ``output``; return their paths."""
    output = Path(output)
    runner = Runner(config, progress)
    paths = []
    for dataset in config.datasets:
        document, records = runner.run_dataset(dataset)
        folder = output if len(config.datasets) == 1 else output / document["dataset"]["id"]
        folder.mkdir(parents=True, exist_ok=True)
        write_predictions(folder / "predictions.parquet", records)
        write_results(folder / "results.json", document)
        paths.append(folder / "results.json")
    return paths
