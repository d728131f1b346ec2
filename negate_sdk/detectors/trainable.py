"""The trainable family: networks trained end to end by ``fit``, on the detector core.

The core carves the validation split (:class:`BaseDetector`); the network trains on the rest with early
stopping on the validation split, and the core calibrates its validation scores and chooses the
thresholds. Test data is never touched.

A subclass builds and trains its network and turns ``(n, size, size, 3)`` uint8 views into raw scores in
[0, 1]; it also lists the tensors to save and restores them. Torch is imported only when a network is
built (:mod:`negate_sdk.runtime`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from negate_sdk.artifacts import ArtifactError, artifact_path
from negate_sdk.detectors.base import BaseDetector
from negate_sdk.progress import ProgressFn, Reporter
from negate_sdk.runtime.augment import Augmentation, ImageBank, square_view
from negate_sdk.runtime.views import ViewSpec
from negate_sdk.sample import Sample

WEIGHTS_FILE = "model.safetensors"


class TrainableDetector(BaseDetector):
    """Base class of detectors whose network is trained end to end by ``fit``.

    Subclasses store (at least) these constructor parameters: ``batch_size``, ``max_minutes`` (a training
    time budget, :func:`negate_sdk.runtime.training.run_epochs`), ``validation_fraction``,
    ``calibration``, ``target_fpr``, ``target_miss``, ``crop_scale``, ``flip``, ``jpeg_probability``,
    ``jpeg_quality``, ``device``, ``random_state``, ``checkpoint_dir``, ``verbose``, ``vetoes``; and
    implement :meth:`_setup`, :meth:`_view_spec`, :meth:`_train`, :meth:`_scores_of_views`, :meth:`_state`
    and :meth:`_restore`.
    """

    family = "trainable"
    name: ClassVar[str] = ""  # type: ignore[misc]
    format_version: ClassVar[int] = 1
    # Parameters that never change what a run learns: left out of the checkpoint fingerprint, so a run can
    # resume on another device, with more epochs or with progress turned off.
    runtime_params: ClassVar[frozenset[str]] = frozenset(
        {"epochs", "patience", "max_minutes", "verbose", "checkpoint_dir", "device", "vetoes"}
    )

    batch_size: int
    crop_scale: float
    flip: bool
    jpeg_probability: float
    jpeg_quality: int
    device: str
    checkpoint_dir: str | None
    verbose: bool

    # -- to implement ------------------------------------------------------------------------------

    def _setup(self, device: str, pretrained: bool = True) -> None:
        """Build the (untrained) network on ``device``; ``pretrained=False`` skips pretrained weights."""
        raise NotImplementedError

    def _plan(self, samples: Sequence[Sample]) -> None:
        """Choose what depends on the training images (an input size, say) before :meth:`_setup`;
        nothing by default."""

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

    def _scores_of_views(self, views: np.ndarray) -> np.ndarray:
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

    # -- the scorer --------------------------------------------------------------------------------

    def augmentation(self) -> Augmentation:
        """The training augmentation these parameters describe."""
        return Augmentation(
            crop_scale=float(self.crop_scale),
            flip=bool(self.flip),
            jpeg_probability=float(self.jpeg_probability),
            jpeg_quality=int(self.jpeg_quality),
        )

    def _strata(self, samples: Sequence[Sample], y: np.ndarray) -> Sequence[Any]:
        return np.asarray(self._groups(samples, y), dtype=np.int64)

    def _fit_scorer(
        self,
        samples: Sequence[Sample],
        y: np.ndarray,
        train: np.ndarray,
        val: np.ndarray,
        *,
        features: np.ndarray | None,
        progress: ProgressFn | None,
    ) -> dict[str, Any]:
        from negate_sdk.runtime.checkpoint import run_checkpoint
        from negate_sdk.runtime.devices import resolve_device

        self.augmentation()  # validate augmentation parameters before any work
        device = resolve_device(self.device)
        checkpoint = run_checkpoint(self.checkpoint_dir, samples, y, detector=self.name,
                                    format=self.format_version, params=self.result_params())  # fmt: skip
        tic = time.perf_counter()
        with Reporter(progress, bool(self.verbose)) as reporter:
            self._plan(samples)
            self._setup(device)
            spec = self._view_spec()
            bank = ImageBank(samples, lambda pixels: square_view(pixels, spec), spec.size, reporter)
            groups = np.asarray(self._strata(samples, y))
            result = self._train(bank, y, train, val, groups, reporter, checkpoint)
        return {
            "device": device,
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "stopped_by_budget": result.stopped_by_budget,
            "resumed_from_epoch": result.resumed_from,
            "history": result.history,
            "train_seconds": result.seconds,
            "fit_seconds": round(time.perf_counter() - tic, 3),
        }

    def _raw_scores(self, samples: Sequence[Sample], *, features: np.ndarray | None = None) -> np.ndarray:
        """``(n_samples,)`` uncalibrated network scores, computed ``batch_size`` images at a time."""
        spec = self._view_spec()
        out = np.empty(len(samples), dtype=np.float64)
        step = max(1, int(self.batch_size))
        for start in range(0, len(samples), step):
            batch = samples[start : start + step]
            views = np.stack([square_view(s.pixels, spec) for s in batch])
            out[start : start + len(batch)] = self._scores_of_views(views)
        return out

    # -- artifacts ---------------------------------------------------------------------------------

    def _save_state(self, directory: Path) -> dict[str, Any]:
        from negate_sdk.runtime.checkpoint import save_tensors

        tensors, state = self._state()
        save_tensors(directory / WEIGHTS_FILE, tensors)
        return {"model_format": self.format_version, "weights": WEIGHTS_FILE, "model": state}

    def _load_state(self, card: dict[str, Any], directory: Path) -> None:
        from negate_sdk.runtime.checkpoint import load_tensors
        from negate_sdk.runtime.devices import resolve_device

        if card.get("model_format") != self.format_version:
            raise ArtifactError(
                f"{directory}: model format {card.get('model_format')!r} is not supported by this "
                f"'{self.name}' (it reads format {self.format_version}); retrain or upgrade negate-sdk"
            )
        tensors = load_tensors(artifact_path(directory, card["weights"]))
        self._restore(tensors, card["model"], resolve_device(self.device))
