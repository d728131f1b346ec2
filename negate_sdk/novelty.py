"""Out-of-distribution abstention: is an image unlike everything a detector was trained on?

A detector's score means something only near its training data: trained on two sources and shown a third, the
dev proxy's heads put a quarter of the third source's real photos above ``t_synthetic``. The safe answer for
such an image is UNCERTAIN with its own reason, distinct from a score in the middle band.

:class:`NearestNeighbourNovelty` standardises feature columns on the training rows, keeps a seeded sample of
them as the reference, and measures a new row's mean Euclidean distance to its ``k`` nearest reference rows.
The threshold is the ``quantile`` of that distance over the validation rows (held-out images of the training
sources, never in the reference), so about ``1 - quantile`` of in-distribution images pass it by construction;
a row whose distance exceeds the threshold is *novel*, and :meth:`ratios` says by how much.

The reference rows are saved as one ``.safetensors`` file (checked before it is read) and the scaling and
threshold as numbers in the detector card.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.artifacts import ArtifactError, atomic_write_bytes
from negate_sdk.weightfiles import artifact_path

_CHUNK = 512  # query rows per distance block: 512 × max_reference float32 stays a few MB


class NearestNeighbourNovelty:
    """k-nearest-neighbour distance to the training rows, thresholded on validation rows.

    Parameters
    ----------
    k: neighbours averaged per distance.
    quantile: the share of validation rows that must fall at or below the threshold.
    max_reference: the most training rows kept as the reference (a seeded sample beyond that).
    random_state: seed of that sample.
    """

    def __init__(
        self, k: int = 5, quantile: float = 0.99, max_reference: int = 4000, random_state: int = 0
    ) -> None:
        if not 0.5 <= quantile < 1.0:
            raise ValueError(f"novelty quantile must be in [0.5, 1), not {quantile}")
        self.k = int(k)
        self.quantile = float(quantile)
        self.max_reference = int(max_reference)
        self.random_state = int(random_state)

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (JSON numbers)."""
        return {"k": self.k, "quantile": self.quantile, "max_reference": self.max_reference,
                "random_state": self.random_state}  # fmt: skip

    def fit(self, train: np.ndarray, validation: np.ndarray) -> NearestNeighbourNovelty:
        """Standardise on ``train`` rows, keep a reference sample, set the threshold on ``validation``."""
        train = np.asarray(train, dtype=np.float64)
        if train.ndim != 2 or len(train) <= self.k or len(validation) == 0:
            raise ValueError(f"novelty needs more than {self.k} training rows and some validation rows")
        self.mean_ = train.mean(axis=0)
        std = train.std(axis=0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)
        rows = np.arange(len(train))
        if len(rows) > self.max_reference:
            rng = np.random.default_rng(self.random_state)
            rows = np.sort(rng.choice(rows, self.max_reference, replace=False))
        self.reference_ = self._standardise(train[rows])
        self.threshold_ = float(np.quantile(self.distances(validation), self.quantile))
        return self

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)

    def distances(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` mean distance of each row of ``X`` to its ``k`` nearest reference rows (standardised)."""
        Z = self._standardise(X)
        ref = self.reference_
        ref_sq = np.einsum("ij,ij->i", ref, ref)
        k = min(self.k, len(ref))
        out = np.empty(len(Z))
        for start in range(0, len(Z), _CHUNK):
            block = Z[start : start + _CHUNK]
            sq = np.einsum("ij,ij->i", block, block)[:, None] + ref_sq[None, :] - 2.0 * (block @ ref.T)
            nearest = np.partition(np.maximum(sq, 0.0), k - 1, axis=1)[:, :k]
            out[start : start + _CHUNK] = np.sqrt(nearest).mean(axis=1)
        return out

    def ratios(self, X: np.ndarray) -> np.ndarray:
        """``(n,)`` distance over threshold: above 1 the row is farther out than the validation quantile."""
        return self.distances(X) / max(self.threshold_, 1e-12)

    # -- artifacts ---------------------------------------------------------------------------------

    def save(self, directory: Path, stem: str) -> dict[str, Any]:
        """Write the reference rows to ``directory/<stem>.safetensors``; return the card entry."""
        from safetensors.numpy import save

        data = save({"reference": np.ascontiguousarray(self.reference_, dtype=np.float32)})
        path = atomic_write_bytes(Path(directory) / f"{stem}.safetensors", data)
        return {
            "params": self.get_params(),
            "reference": path.name,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "threshold": self.threshold_,
        }

    @classmethod
    def load(cls, directory: Path, state: Any, n_features: int) -> NearestNeighbourNovelty:
        """Restore from :meth:`save`'s card entry; the reference must be finite (m, n_features) float32."""
        from negate_sdk.weightfiles import float_array, read_safetensors

        where = f"{directory}: novelty"
        if not isinstance(state, dict) or not isinstance(state.get("params"), dict):
            raise ArtifactError(f"{where}: the card entry is not a novelty state")
        try:
            model = cls(**state["params"])
        except (TypeError, ValueError) as err:
            raise ArtifactError(f"{where}: bad parameters ({err})") from None
        model.mean_ = float_array(state.get("mean"), f"{where} mean", (n_features,))
        model.scale_ = float_array(state.get("scale"), f"{where} scale", (n_features,))
        threshold = state.get("threshold")
        if not isinstance(threshold, float) or not math.isfinite(threshold) or threshold <= 0:
            raise ArtifactError(f"{where}: threshold {threshold!r} is not a positive number")
        if np.any(model.scale_ <= 0):
            raise ArtifactError(f"{where}: scales must be positive")
        model.threshold_ = threshold
        path = artifact_path(directory, state.get("reference"))
        tensors = read_safetensors(path)
        reference = tensors.get("reference")
        if set(tensors) != {"reference"} or reference is None:
            raise ArtifactError(f"{path}: holds {sorted(tensors)[:4]}, not one 'reference' tensor")
        if reference.dtype != np.float32 or reference.ndim != 2 or reference.shape[1] != n_features:
            found = f"{reference.dtype} {reference.shape}"
            raise ArtifactError(f"{path}: holds {found}, not (m, {n_features}) float32")
        if len(reference) == 0 or not np.isfinite(reference).all():
            raise ArtifactError(f"{path}: the reference rows are empty or not finite")
        model.reference_ = reference
        return model
