"""What every trainable detector shares: the validation split, calibration, thresholds, verdicts and the
saved card.

``fit`` carves a stratified, seeded validation split from the training samples (as the composite
:class:`negate_sdk.detector.Detector` does). The network trains on the rest with early stopping on the
validation split; the calibrator and the two thresholds are then fitted on the network's validation
scores with :mod:`negate_sdk.calibration`. Test data is never touched.

A subclass builds and trains its network and turns ``(n, size, size, 3)`` uint8 views into raw scores in
[0, 1]; it also lists the tensors to save and restores them.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_sdk.api import Label, ParamsMixin, Sample, Thresholds, Verdict, labels_of, partition_readable
from negate_sdk.artifacts import ArtifactError, read_card, write_card
from negate_sdk.calibration import calibrate_on_validation, calibrator_from_dict
from negate_sdk.splits import stratified_split
from negate_timm.preprocess import ViewSpec
from negate_trainable.images import Augmentation, ImageBank, square_view
from negate_trainable.progress import ProgressFn, Reporter

WEIGHTS_FILE = "model.safetensors"
# Parameters that never change what a run learns: left out of the checkpoint fingerprint, so a run can
# resume on another device, with more epochs or with progress turned off.
RUNTIME_PARAMS = frozenset({"epochs", "patience", "verbose", "checkpoint_dir", "device"})


class TrainableDetector(ParamsMixin):
    """Base class of detectors whose network is trained end to end by ``fit``.

    Subclasses store (at least) these constructor parameters: ``batch_size``, ``validation_fraction``,
    ``calibration``, ``target_fpr``, ``target_miss``, ``crop_scale``, ``flip``, ``jpeg_probability``,
    ``jpeg_quality``, ``device``, ``random_state``, ``checkpoint_dir``, ``verbose``; and implement
    :meth:`_setup`, :meth:`_view_spec`, :meth:`_train`, :meth:`_raw_scores`, :meth:`_state` and
    :meth:`_restore`.
    """

    name: ClassVar[str] = ""
    format_version: ClassVar[int] = 1

    batch_size: int
    validation_fraction: float
    calibration: str
    target_fpr: float
    target_miss: float
    crop_scale: float
    flip: bool
    jpeg_probability: float
    jpeg_quality: int
    device: str
    random_state: int
    checkpoint_dir: str | None
    verbose: bool

    # -- to implement ------------------------------------------------------------------------------

    def _setup(self, device: str, pretrained: bool = True) -> None:
        """Build the (untrained) network on ``device``; ``pretrained=False`` skips pretrained weights."""
        raise NotImplementedError

    def _view_spec(self) -> ViewSpec:
        """How an image becomes the network's square input view (after :meth:`_setup`)."""
        raise NotImplementedError

    def _train(
        self,
        bank: ImageBank,
        y: np.ndarray,
        train: np.ndarray,
        val: np.ndarray,
        groups: np.ndarray,
        reporter: Reporter,
        checkpoint: Any,
    ) -> Any:
        """Train on ``bank`` rows ``train`` with early stopping on rows ``val``; return a TrainingResult."""
        raise NotImplementedError

    def _raw_scores(self, views: np.ndarray) -> np.ndarray:
        """``(n,)`` raw P(synthetic) of ``(n, size, size, 3)`` uint8 views (before calibration)."""
        raise NotImplementedError

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(tensors, json_state)`` of the trained network, for :meth:`save`."""
        raise NotImplementedError

    def _restore(self, tensors: dict[str, Any], state: dict[str, Any], device: str) -> None:
        """Rebuild the trained network from :meth:`_state` output (no pretrained weights needed)."""
        raise NotImplementedError

    def _groups(self, samples: Sequence[Sample], y: np.ndarray) -> np.ndarray:
        """``(n_samples,)`` class ids the network is trained to separate (default: the labels)."""
        return y

    # -- fitting -----------------------------------------------------------------------------------

    def augmentation(self) -> Augmentation:
        """The training augmentation these parameters describe."""
        return Augmentation(
            crop_scale=float(self.crop_scale),
            flip=bool(self.flip),
            jpeg_probability=float(self.jpeg_probability),
            jpeg_quality=int(self.jpeg_quality),
        )

    def fit(
        self, samples: Sequence[Sample], y: np.ndarray | None = None, *, progress: ProgressFn | None = None
    ) -> TrainableDetector:
        """Train the network, then fit calibrator and thresholds on the validation split; return ``self``.

        ``progress`` receives ``(stage, advance, total)`` updates (image preparation, each epoch's
        batches); without it, rich bars are drawn on stderr when ``verbose``.
        """
        from negate_sdk.devices import resolve_device
        from negate_trainable.checkpoint import Checkpoint
        from negate_trainable.training import fingerprint

        samples = list(samples)
        y = labels_of(samples) if y is None else np.asarray(y, dtype=np.int64)
        if len(y) != len(samples):
            raise ValueError(f"got {len(y)} labels for {len(samples)} samples")
        if not set(np.unique(y)) <= {0, 1}:
            raise ValueError("labels must be 0 (real) or 1 (synthetic)")
        counts = np.bincount(y, minlength=2)
        if counts.min() < 4:
            raise ValueError(
                f"training needs at least 4 images of each class; got {counts[0]} real, {counts[1]} synthetic"
            )
        self.augmentation()  # validate augmentation parameters before any work
        groups = np.asarray(self._groups(samples, y), dtype=np.int64)
        train, val = stratified_split(
            y, float(self.validation_fraction), int(self.random_state), strata=groups
        )
        device = resolve_device(self.device)
        checkpoint = None
        if self.checkpoint_dir:
            data = hashlib.sha256()
            for sample, label in zip(samples, y):
                data.update(f"{sample.sha256}:{int(label)}\n".encode())
            params = {k: v for k, v in self.get_params(deep=False).items() if k not in RUNTIME_PARAMS}
            run = fingerprint(
                detector=self.name, format=self.format_version, params=params, data=data.hexdigest()
            )
            checkpoint = Checkpoint(self.checkpoint_dir, run)
        tic = time.perf_counter()
        with Reporter(progress, bool(self.verbose)) as reporter:
            self._setup(device)
            spec = self._view_spec()
            bank = ImageBank(samples, lambda pixels: square_view(pixels, spec), spec.size, reporter)
            result = self._train(bank, y, train, val, groups, reporter, checkpoint)
            raw_val = self._raw_scores(bank.get(val))
        self.calibrator_, self.thresholds_, self.validation_metrics_ = calibrate_on_validation(
            raw_val, y[val], method=self.calibration, target_fpr=self.target_fpr, target_miss=self.target_miss
        )
        self.training_info_ = {
            "n_train": len(train),
            "n_validation": len(val),
            "device": device,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "resumed_from_epoch": result.resumed_from,
            "history": result.history,
            "train_seconds": result.seconds,
            "fit_seconds": round(time.perf_counter() - tic, 3),
        }
        return self

    def set_training_info(self, **info: Any) -> TrainableDetector:
        """Record where the training data came from (dataset, manifest hash, ``trained_on``) for the card."""
        self.training_info_ = {**getattr(self, "training_info_", {}), **info}
        return self

    # -- prediction --------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "calibrator_"):
            raise ValueError(f"detector '{self.name}' is not fitted; call fit() or load a saved one")

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds chosen on the validation split."""
        self._check_fitted()
        return self.thresholds_

    def raw_scores(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` uncalibrated network scores, computed ``batch_size`` images at a time."""
        self._check_fitted()
        spec = self._view_spec()
        out = np.empty(len(samples), dtype=np.float64)
        step = max(1, int(self.batch_size))
        for start in range(0, len(samples), step):
            batch = samples[start : start + step]
            views = np.stack([square_view(s.pixels, spec) for s in batch])
            out[start : start + len(batch)] = self._raw_scores(views)
        return out

    def predict_proba(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples, 2)`` calibrated probabilities of [real, synthetic]."""
        self._check_fitted()
        if len(samples) == 0:
            return np.empty((0, 2))
        p = self.calibrator_.transform(self.raw_scores(samples))
        return np.column_stack([1.0 - p, p])

    def predict(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` labels at ``t_decision``."""
        scores = self.predict_proba(samples)[:, 1]
        return (scores >= self.thresholds.t_decision).astype(np.int64)

    def verdicts(self, samples: Sequence[Sample]) -> list[Verdict]:
        """One :class:`Verdict` per sample; an unreadable image gets ``error`` set instead of a score."""
        self._check_fitted()
        readable, errors = partition_readable(samples)
        scores = self.predict_proba([samples[i] for i in readable])[:, 1] if readable else np.empty(0)
        by_index = dict(zip(readable, scores))
        t = self.thresholds_
        out = []
        for i, sample in enumerate(samples):
            if i in errors:
                out.append(
                    Verdict(
                        float("nan"), Label.UNCERTAIN, t.t_genuine, t.t_synthetic, sample.id, error=errors[i]
                    )
                )
                continue
            score = float(by_index[i])
            out.append(Verdict(score, t.label(score), t.t_genuine, t.t_synthetic, sample.id))
        return out

    # -- artifacts ---------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the card and ``model.safetensors`` to ``directory`` (no pickle); return the folder."""
        from negate_sdk import __version__
        from negate_trainable.checkpoint import save_tensors

        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.iterdir():  # a re-save must not leave files of an older detector behind
            if stale.is_file() and not stale.name.startswith("."):
                stale.unlink()
        tensors, state = self._state()
        save_tensors(directory / WEIGHTS_FILE, tensors)
        training = getattr(self, "training_info_", {})
        card = {
            "detector": self.name,
            "composite": False,
            "model_format": self.format_version,
            "params": self.get_params(deep=False),
            "weights": WEIGHTS_FILE,
            "model": state,
            "calibrator": self.calibrator_.to_dict(),
            "thresholds": self.thresholds_.to_dict(),
            "validation_metrics": self.validation_metrics_,
            "training": training,
            "trained_on": list(training.get("trained_on", [])),
            "versions": {"negate-sdk": __version__},
        }
        write_card(directory, card)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> TrainableDetector:
        """Read a detector written by :meth:`save`; refuses a card of another detector or model format."""
        from negate_sdk.devices import resolve_device
        from negate_trainable.checkpoint import load_tensors

        directory = Path(directory)
        card = read_card(directory)
        if card.get("detector") != cls.name:
            raise ArtifactError(
                f"{directory}: the card is for detector {card.get('detector')!r}, not '{cls.name}'"
            )
        if card.get("model_format") != cls.format_version:
            raise ArtifactError(
                f"{directory}: model format {card.get('model_format')!r} is not supported by this "
                f"'{cls.name}' (it reads format {cls.format_version}); retrain or upgrade negate-sdk"
            )
        try:
            detector = cls(**card["params"])
        except TypeError as err:
            raise ArtifactError(
                f"{directory}: the card's parameters do not fit '{cls.name}' ({err})"
            ) from None
        detector._restore(
            load_tensors(directory / card["weights"]), card["model"], resolve_device(detector.device)
        )
        detector.calibrator_ = calibrator_from_dict(card["calibrator"])
        detector.thresholds_ = Thresholds(**card["thresholds"])
        detector.validation_metrics_ = card["validation_metrics"]
        detector.training_info_ = card.get("training", {})
        return detector
