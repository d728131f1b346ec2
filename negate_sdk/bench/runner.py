"""``negate-bench run``: train and score detectors on a dataset under a protocol, write the results.

The runner talks only to registries and manifests. For each fold it fits each detector on the training
rows through the one fit path (:func:`negate_sdk.detectors.fit_detector`: features through the feature
store, each image and extractor once, shared by every detector and later runs), scores the test rows clean
and under each perturbation, and computes metrics with bootstrap intervals. The outputs of a run
(``results.json`` and ``predictions.parquet`` per dataset, ``leaderboard.md``, ``report.html``) appear
together or not at all (:mod:`negate_sdk.bench.outputs`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.base import clone

from negate_sdk.bench import protocols
from negate_sdk.bench.assembly import DetectorSpec, RunConfig, apply_params, detector_specs
from negate_sdk.bench.model_cache import ModelCache
from negate_sdk.bench.perturb import perturb, resolve_conditions
from negate_sdk.bench.records import clip_bias_entries, prediction_record, results_document, run_entry
from negate_sdk.bench.results import environment, environment_versions, peak_memory_mb
from negate_sdk.detectors import fit_detector
from negate_sdk.detectors.base import first_line
from negate_sdk.detectors.fitting import FitResult, readable
from negate_sdk.features import FeatureMatrix, extract_features
from negate_sdk.progress import ProgressFn
from negate_sdk.sample import Sample
from negate_sdk.store import FeatureStore, MemoryFeatureStore

__all__ = ["NothingFinished", "RunConfig", "Runner", "run"]

logger = logging.getLogger(__name__)


@dataclass
class DatasetParts:
    """What the detectors of one dataset produced: results entries, prediction records, failures, and
    whether each scored name uses CLIP."""

    runs: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    uses_clip: dict[str, bool] = field(default_factory=dict)


class Runner:
    """Runs one :class:`RunConfig`, reporting progress through a ``(stage, advance, total)`` callback."""

    def __init__(self, config: RunConfig, progress: ProgressFn | None = None) -> None:
        self.config = config
        self.progress = progress or (lambda stage, advance, total: None)
        if config.use_cache:
            self.store: FeatureStore | MemoryFeatureStore = FeatureStore(config.cache_dir)
        else:
            self.store = MemoryFeatureStore()
        self.versions = environment_versions()
        models_dir = getattr(self.store, "models_dir", None)
        self.models = (
            ModelCache(models_dir, self.versions) if models_dir is not None and not config.refit else None
        )
        self.timings: dict[str, float] = {}

    def _time(self, key: str, seconds: float) -> None:
        self.timings[key] = round(self.timings.get(key, 0.0) + seconds, 3)

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
        if self._only_pretrained() and not c.train_on and "train" not in manifest.splits():
            # nothing to train and no calibration data given: every row is scored, at the authors' threshold
            return protocols.model_only(manifest)
        if c.train_on:
            return protocols.cross_dataset(self.load(c.train_on), manifest, train_split=c.train_split)
        if c.protocol == "temporal":
            if not c.cutoff:
                raise ValueError("the temporal protocol needs --cutoff YYYY-MM-DD")
            return protocols.temporal(manifest, cutoff=c.cutoff, seed=c.seed, test_fraction=c.test_fraction)
        if c.protocol == "leave-one-source-out":
            return protocols.leave_one_source_out(manifest, seed=c.seed, test_fraction=c.test_fraction)
        if c.protocol == "leave-one-generator-out":
            return protocols.leave_one_generator_out(manifest, seed=c.seed, test_fraction=c.test_fraction)
        if c.protocol != "train-test":
            raise ValueError(f"unknown protocol '{c.protocol}'; use one of {', '.join(protocols.PROTOCOLS)}")
        return protocols.train_test(manifest, seed=c.seed, test_fraction=c.test_fraction)

    def _only_pretrained(self) -> bool:
        """True when every detector of the run is a registered pretrained one (nothing to train)."""
        from negate_sdk.bench.assembly import detector_names
        from negate_sdk.catalog import get_detector

        c = self.config
        names = detector_names(c.detectors) if c.detectors else []
        return (
            bool(names)
            and not c.extractors
            and all(get_detector(n).metadata.get("pretrained") for n in names)
        )

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
        self._time("extract", time.perf_counter() - start)
        return matrix

    # -- one detector ------------------------------------------------------------------------------

    def fitted_points(
        self, spec: DetectorSpec, detector: Any, fold: protocols.Fold, train: Sequence[Sample]
    ) -> list[tuple[str, Any, FitResult]]:
        """``(name, detector, fit)`` for each way ``spec`` is scored on this fold.

        A detector is fitted on the fold's training rows (when it has any and the spec is trainable). A
        pretrained detector is scored at its authors' operating point (``name@authors``) and, given
        training rows, also calibrated on them with its network frozen (``name@calibrated``).
        """
        pretrained = getattr(detector, "pretrained", False) and spec.trainable
        if not spec.trainable or fold.train is None:
            name = f"{spec.name}@authors" if pretrained else spec.name
            return [(name, detector, FitResult(detector))]
        info = {
            "dataset": fold.train.id,
            "manifest_hash": fold.train.content_hash,
            "trained_on": [fold.train.id],
        }
        points = [(f"{spec.name}@authors", detector, FitResult(detector))] if pretrained else []
        name = f"{spec.name}@calibrated" if pretrained else spec.name
        fitted = fit_detector(clone(detector) if pretrained else detector, train, extract=self.features,
                              progress=self.progress, training_info=info, cache=self.models,
                              stage=f"fit {name}")  # fmt: skip
        self._time(f"fit:{name}", fitted.seconds)
        return [*points, (name, fitted.detector, fitted)]

    def score(
        self,
        name: str,
        detector: Any,
        test: Sequence[Sample],
        condition: str,
        fold: str,
        seen: frozenset[str] = frozenset(),
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Prediction records of one detector on one (possibly perturbed) test set; ``seen``: ids of test
        images whose bytes were trained on (their records are flagged)."""
        X = None
        if detector.takes_features:
            matrix = self.features(detector.feature_extractors(), test)
            kept, X = [s for s, ok in zip(test, matrix.ok) if ok], matrix.X
            failures = {test[i].id: reason for i, reason in matrix.failures.items()}
        else:
            kept, failures = readable(test)
        start = time.perf_counter()
        stage = f"score {name}" + ("" if condition == "clean" else f" [{condition}]")
        records: list[dict[str, Any]] = []
        chunk = self.config.chunk_size
        t_decision = detector.thresholds.t_decision
        for begin in range(0, len(kept), chunk):
            batch = kept[begin : begin + chunk]
            features = None if X is None else X[begin : begin + chunk]
            for sample, verdict in zip(
                batch, detector.verdicts(batch, features=features, attributions=False)
            ):
                if verdict.error:
                    failures[sample.id] = verdict.error
                else:
                    pred = int(verdict.score >= t_decision)
                    records.append(prediction_record(sample, verdict, name, fold, condition, pred,
                                                     seen=sample.id in seen))  # fmt: skip
                sample.release()
            self.progress(stage, len(batch), len(kept))
        self._time(f"score:{name}", time.perf_counter() - start)
        return records, failures

    def run_detector(
        self,
        spec: DetectorSpec,
        detector: Any,
        fold: protocols.Fold,
        train: Sequence[Sample],
        test: Sequence[Sample],
        seen: frozenset[str],
        conditions: Sequence[str],
        *,
        dataset_id: str,
        parts: DatasetParts,
    ) -> None:
        """Fit and score one detector on one fold, adding its entries and records to ``parts``.

        An exception while fitting or scoring is recorded in ``parts.failed`` with its one-line reason (the
        points already scored are kept); the run carries on with the other detectors.
        """
        runs, records, failed, uses_clip = parts.runs, parts.records, parts.failed, parts.uses_clip
        c = self.config
        what, stage = spec.name, "fit"
        try:
            for name, fitted_detector, fitted in self.fitted_points(spec, detector, fold, train):
                what, stage = name, "score"
                fold_records, test_failures = [], {}
                for condition in conditions:
                    samples = test if condition == "clean" else [perturb(s, condition, c.seed) for s in test]
                    recs, failures = self.score(name, fitted_detector, samples, condition, fold.name, seen)
                    fold_records += recs
                    test_failures.update({f"{condition}:{k}": v for k, v in failures.items()})
                records += fold_records
                uses_clip[name] = spec.uses_clip or fitted_detector.uses_clip
                runs.append(
                    run_entry(
                        name,
                        fitted_detector,
                        fold=fold,
                        dataset_id=dataset_id,
                        uses_clip=uses_clip[name],
                        records=fold_records,
                        train_failures=fitted.failures,
                        test_failures=test_failures,
                        from_cache=fitted.from_cache,
                        n_boot=c.n_boot,
                        seed=c.seed,
                    )
                )
        except Exception as err:  # recorded with its reason; the other detectors carry on
            logger.warning(
                "%s / %s (%s) failed to %s: %s", dataset_id, what, fold.name, stage, first_line(err)
            )
            failed.append(_failure(what, fold.name, stage, err))

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
        parts = DatasetParts()
        n_images = 0
        for fold in folds:
            train = self.samples(fold.train) if fold.train is not None else []
            test = self.samples(fold.test)
            seen = frozenset(
                s.id for s in test if fold.seen_in_training and _sha256(s) in fold.seen_in_training
            )
            n_images += len(train) + len(test) * len(conditions)
            detectors = {}
            for spec in specs:
                try:
                    detectors[spec.name] = spec.build()
                except Exception as err:  # one detector that cannot be built must not sink the others
                    logger.warning("%s / %s (%s) failed to build: %s", manifest.id, spec.name, fold.name,
                                   first_line(err))  # fmt: skip
                    parts.failed.append(_failure(spec.name, fold.name, "build", err))
            trainable = {s.name: detectors[s.name] for s in specs if s.trainable and s.name in detectors}
            apply_params(trainable, c.params, c.device, seed=c.seed)
            for spec in specs:
                if spec.name in detectors:
                    self.run_detector(spec, detectors[spec.name], fold, train, test, seen, conditions,
                                      dataset_id=manifest.id, parts=parts)  # fmt: skip
        clip = clip_bias_entries(parts.uses_clip, parts.records, folds, n_boot=c.n_boot, seed=c.seed)
        wall_time = time.perf_counter() - wall
        provenance = {
            **environment(),
            "config": c.to_dict(),
            "seed": c.seed,
            "timings": {**self.timings, "wall": round(wall_time, 3)},
            "images_per_second": round(n_images * len(specs) / wall_time, 2) if wall_time else None,
            "peak_memory_mb": peak_memory_mb(),
            "feature_store": str(getattr(self.store, "root", "memory")),
        }
        document = results_document(
            manifest,
            protocol=c.protocol if not c.train_on else "cross-dataset",
            folds=folds,
            conditions=conditions,
            runs=parts.runs,
            clip=clip,
            provenance=provenance,
            failed=parts.failed,
        )
        return document, parts.records


class NothingFinished(ValueError):
    """Every detector of a run failed: nothing is written (a run with some finished is written, partial)."""


def _failure(detector: str, fold: str, stage: str, err: BaseException) -> dict[str, str]:
    """The ``failed`` entry of a detector that could not finish a fold: where, and why in one line."""
    return {"detector": detector, "fold": fold, "stage": stage, "reason": first_line(err)}


def _sha256(sample: Sample) -> str | None:
    """The sample's content hash, or None when its bytes cannot be read (it fails later with its reason)."""
    from negate_sdk.imaging import ImageError

    try:
        return sample.sha256
    except ImageError:
        return None
    finally:
        sample.release()


def run(config: RunConfig, output: str | Path, progress: ProgressFn | None = None) -> list[Path]:
    """Run every dataset of ``config`` and publish the outputs under ``output`` as one set.

    Returns the paths of the ``results.json`` files. A detector that fails (to build, fit or score) is
    recorded in its dataset's ``failed`` list with a one-line reason while the others carry on; when none
    finished, :class:`NothingFinished` is raised. Nothing appears in ``output`` unless every dataset
    finished; an existing ``output`` is replaced only when it holds an earlier run's outputs and nothing
    else (:func:`negate_sdk.bench.outputs.RunOutputs`).
    """
    from negate_sdk.bench.outputs import RunOutputs

    runner = Runner(config, progress)
    with RunOutputs(output, single=len(config.datasets) == 1) as outputs:
        for dataset in config.datasets:
            document, records = runner.run_dataset(dataset)
            outputs.add(document, records)
        failed = [f for d in outputs.documents for f in d["failed"]]
        if failed and not any(d["runs"] for d in outputs.documents):
            first = failed[0]
            more = f" (and {len(failed) - 1} more failures)" if len(failed) > 1 else ""
            where = f"{first['detector']} failed to {first['stage']}"
            raise NothingFinished(f"no detector finished: {where}: {first['reason']}{more}")
    return outputs.results_paths
