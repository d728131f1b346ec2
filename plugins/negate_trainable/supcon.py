"""``supcon``: a backbone fine-tuned with supervised contrastive loss, then a logistic head on its embedding.

Training (Khosla et al. 2020): each mini-batch holds ``n_views`` augmented views of every image; the
backbone's pooled embedding goes through a projection head (linear, ReLU, linear, L2-normalised) and
the SupCon loss pulls views of the same class together. Classes are real vs synthetic, or (``classes=
"generator"``) real and each generator apart. Early stopping watches the validation AUC of a
nearest-centroid score (cosine to the synthetic minus to the real training centroid), ties broken by
the gap between the classes' mean scores. The projection
head is then dropped: a standardised logistic regression is fitted on the training embeddings, and its
validation scores are calibrated.

The backbone is any registered torch embedding extractor of ``negate_timm`` (or ``negate_clip``), built
with its own preprocessing: EfficientNet-Lite0 with its offline ImageNet weights by default; ConvNeXt or
DINOv2 when their weights are available.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from negate_sdk.api import Sample
from negate_sdk.detectors.trainable import TrainableDetector
from negate_sdk.progress import Reporter
from negate_sdk.runtime.augment import ImageBank
from negate_sdk.runtime.views import ViewSpec

CLASSES = ("label", "generator")
AUTO_SIZE_LIMIT = 224  # at or above it the backbone's own input size is used
AUTO_SIZE_SAMPLES = 256  # training images whose sizes choose the input size


def auto_input_size(samples: Sequence[Sample], seed: int) -> int | None:
    """Twice the median short side of (up to 256 seeded) ``samples``, rounded up to a multiple of 32 and at
    least 64; None (the backbone's own size) when that is 224 or more, or no size can be read. Sizes come
    from the image headers (nothing is decoded); an unreadable image is skipped here and reported later."""
    import io

    from PIL import Image

    pick = np.random.default_rng(seed).permutation(len(samples))[:AUTO_SIZE_SAMPLES]
    sides = []
    for i in pick:
        sample = samples[int(i)]
        try:
            if sample.is_decoded:
                sides.append(min(sample.pixels.shape[:2]))
                continue
            with Image.open(io.BytesIO(sample.data)) as image:
                sides.append(min(image.size))
            sample.release()  # the bytes are read again when the image bank decodes it
        except Exception:  # the image bank reports unreadable images with their reasons
            continue
    if not sides:
        return None
    size = max(64, -(-2 * int(np.median(sides)) // 32) * 32)
    return size if size < AUTO_SIZE_LIMIT else None


class SupConDetector(TrainableDetector):
    """A backbone fine-tuned with supervised contrastive loss, then a logistic head on the embedding.

    Parameters
    ----------
    backbone: registry name of a torch embedding extractor (``timm_efficientnet_lite0``,
        ``timm_convnext_tiny_in22k`` …).
    backbone_params: parameters of that extractor (``{"pretrained": False}``, ``{"weights": path}`` …).
    image_size: input side. None: twice the training images' median short side, rounded up to a multiple
        of 32 and at least 64, when that is below 224, else the backbone's own size (224 for
        EfficientNet-Lite0): 32-px CIFAKE trains at 64 px (52 s an epoch on 2 cores instead of ~13
        minutes at 224), photos at the backbone's size. Smaller is faster.
    classes: ``"label"`` (real vs synthetic) or ``"generator"`` (real and each generator a class).
    projection_dim, temperature, n_views: the projection head's output size, the loss temperature and
        the augmented views per image in a batch.
    epochs, batch_size, learning_rate, weight_decay: AdamW on mini-batches of ``batch_size`` images
        (the projection head learns 10x faster than the backbone).
    head_C: inverse regularisation of the logistic head.
    patience: epochs without a better validation AUC (ties: a wider gap between the classes' mean
        centroid scores) before stopping early (None: never).
    max_minutes: a training time budget, as for ``saturate_cnn``.
    validation_fraction, calibration, target_fpr, target_miss: as for the composite Detector.
    crop_scale, flip, jpeg_probability, jpeg_quality: training augmentation.
    device, random_state, checkpoint_dir, verbose, vetoes: as for ``saturate_cnn``.
    """

    name = "supcon"

    def __init__(
        self,
        backbone: str = "timm_efficientnet_lite0",
        backbone_params: dict[str, Any] | None = None,
        image_size: int | None = None,
        classes: str = "label",
        projection_dim: int = 128,
        temperature: float = 0.1,
        n_views: int = 2,
        epochs: int = 5,
        batch_size: int = 32,
        learning_rate: float = 1e-4,
        weight_decay: float = 1e-4,
        head_C: float = 1.0,
        patience: int | None = 2,
        max_minutes: float | None = None,
        validation_fraction: float = 0.2,
        calibration: str = "sigmoid",
        target_fpr: float = 0.01,
        target_miss: float = 0.05,
        crop_scale: float = 0.8,
        flip: bool = True,
        jpeg_probability: float = 0.2,
        jpeg_quality: int = 75,
        device: str = "auto",
        random_state: int = 0,
        checkpoint_dir: str | None = None,
        verbose: bool = True,
        vetoes: Sequence[Any] = (),
    ) -> None:
        self.backbone = backbone
        self.backbone_params = backbone_params
        self.image_size = image_size
        self.classes = classes
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.n_views = n_views
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.head_C = head_C
        self.patience = patience
        self.max_minutes = max_minutes
        self.validation_fraction = validation_fraction
        self.calibration = calibration
        self.target_fpr = target_fpr
        self.target_miss = target_miss
        self.crop_scale = crop_scale
        self.flip = flip
        self.jpeg_probability = jpeg_probability
        self.jpeg_quality = jpeg_quality
        self.device = device
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose
        self.vetoes = vetoes

    # -- network -----------------------------------------------------------------------------------

    def _extractor(self, pretrained: bool) -> Any:
        from negate_sdk.catalog import create_extractor
        from negate_sdk.runtime.embedding import EmbeddingExtractor

        params = dict(self.backbone_params or {})
        if not pretrained:
            params["pretrained"] = False
        size = self.image_size if self.image_size is not None else getattr(self, "input_size_", None)
        if size is not None:
            params["image_size"] = int(size)
        try:
            extractor = create_extractor(self.backbone, **params)
        except TypeError as err:
            raise ValueError(f"backbone '{self.backbone}': {err}") from None
        if not isinstance(extractor, EmbeddingExtractor):
            raise ValueError(
                f"backbone '{self.backbone}' is not a torch embedding backbone (an EmbeddingExtractor, "
                "such as the timm and CLIP extractors)"
            )
        return extractor

    def _plan(self, samples: Sequence[Sample]) -> None:
        """With ``image_size=None``, the input side from the training images' sizes (see the class)."""
        self.input_size_ = (
            None if self.image_size is not None else auto_input_size(samples, self.random_state)
        )

    def _setup(self, device: str, pretrained: bool = True) -> None:
        from negate_sdk.runtime.devices import seeded_init
        from negate_trainable.networks import ProjectionHead

        if self.classes not in CLASSES:
            raise ValueError(f"unknown classes {self.classes!r}; use one of {', '.join(CLASSES)}")
        if int(self.n_views) < 1:
            raise ValueError(f"n_views must be at least 1, got {self.n_views}")
        loaded = self._extractor(pretrained).build(device)
        self.backbone_ = loaded.module.requires_grad_(True)
        self.view_ = ViewSpec(loaded.view.size, loaded.view.crop_pct, loaded.view.interpolation)
        self.mean_, self.std_ = tuple(loaded.mean), tuple(loaded.std)
        self.channels_last_ = bool(loaded.channels_last)
        self.embed_dim_ = int(loaded.dim)
        with seeded_init(int(self.random_state)):
            self.projection_ = ProjectionHead(self.embed_dim_, int(self.projection_dim)).to(device)
        self.device_ = device

    def _view_spec(self) -> ViewSpec:
        return self.view_

    def _groups(self, samples: Sequence[Sample], y: np.ndarray) -> np.ndarray:
        if self.classes != "generator":
            return y
        keys = [
            (int(label), "real" if label == 0 else (s.generator or "unknown")) for s, label in zip(samples, y)
        ]
        ids = {key: i for i, key in enumerate(sorted(set(keys)))}
        return np.array([ids[key] for key in keys], dtype=np.int64)

    def _embed(self, views: np.ndarray) -> Any:
        """``(n, dim)`` backbone embeddings of ``(n, s, s, 3)`` uint8 views (the module's current mode)."""
        import torch

        from negate_sdk.runtime.augment import to_tensor

        x = to_tensor(views, self.mean_, self.std_, self.device_)
        if self.channels_last_:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone_(x)

    def embeddings(self, views: np.ndarray) -> np.ndarray:
        """``(n, dim)`` float64 embeddings of ``(n, s, s, 3)`` uint8 views, in eval mode."""
        import torch

        self.backbone_.eval()
        step = max(1, 4 * int(self.batch_size))
        out = np.empty((len(views), self.embed_dim_), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(views), step):
                out[start : start + step] = self._embed(views[start : start + step]).double().cpu().numpy()
        return out

    def _head_scores(self, embeddings: np.ndarray) -> np.ndarray:
        from scipy.special import expit

        z = (embeddings - self.head_mean_) / self.head_scale_
        return expit(z @ self.head_coef_ + self.head_intercept_)

    def _scores_of_views(self, views: np.ndarray) -> np.ndarray:
        return self._head_scores(self.embeddings(views))

    # -- training ----------------------------------------------------------------------------------

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
        import torch
        from sklearn.metrics import roc_auc_score

        from negate_sdk.runtime.training import minibatches, run_epochs
        from negate_trainable.networks import supcon_loss

        backbone, projection, seed = self.backbone_, self.projection_, int(self.random_state)
        lr = float(self.learning_rate)
        optimizer = torch.optim.AdamW(
            [
                {"params": list(backbone.parameters()), "lr": lr},
                {"params": list(projection.parameters()), "lr": 10 * lr},
            ],
            weight_decay=float(self.weight_decay),
        )
        augmentation = self.augmentation()
        class_ids = torch.from_numpy(groups).to(self.device_)
        n_views, step = int(self.n_views), max(2, int(self.batch_size))
        centroids = np.zeros((2, self.embed_dim_))

        def train_epoch(epoch: int, tick) -> float:
            backbone.train()
            projection.train()
            order = np.random.default_rng((seed, epoch)).permutation(train)
            batches = minibatches(order, step)
            sums, counts = np.zeros((2, self.embed_dim_)), np.zeros(2)
            total, count = 0.0, 0
            for batch in batches:
                images = bank.get(batch)
                views = np.concatenate(
                    [augmentation.batch(images, batch, seed, epoch, v) for v in range(n_views)]
                )
                embedded = self._embed(views)
                z = projection(embedded).reshape(n_views, len(batch), -1).transpose(0, 1)
                loss = supcon_loss(
                    z, class_ids[torch.from_numpy(batch).to(self.device_)], float(self.temperature)
                )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                unit = torch.nn.functional.normalize(embedded.detach().float(), dim=-1)
                per_image = unit.reshape(n_views, len(batch), -1).mean(dim=0).double().cpu().numpy()
                for label in (0, 1):
                    chosen = y[batch] == label
                    sums[label] += per_image[chosen].sum(axis=0)
                    counts[label] += chosen.sum()
                total += float(loss.detach()) * len(batch)
                count += len(batch)
                tick(1, len(batches))
            centroids[:] = sums / np.maximum(counts, 1)[:, None]
            return total / max(count, 1)

        def evaluate() -> tuple[float, dict[str, float]]:
            embedded = self.embeddings(bank.get(val))
            unit = embedded / np.maximum(np.linalg.norm(embedded, axis=1, keepdims=True), 1e-12)
            c = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
            score = unit @ (c[1] - c[0])
            auc = float(roc_auc_score(y[val], score))
            gap = float(score[y[val] == 1].mean() - score[y[val] == 0].mean())
            return (auc, gap), {"val_centroid_auc": auc, "val_centroid_gap": gap}

        result = run_epochs(
            modules={"backbone": backbone, "projection": projection},
            optimizer=optimizer,
            train_epoch=train_epoch,
            evaluate=evaluate,
            epochs=int(self.epochs),
            patience=None if self.patience is None else int(self.patience),
            max_minutes=self.max_minutes,
            seed=seed,
            reporter=reporter,
            stage=self.name,
            checkpoint=checkpoint,
        )
        self._fit_head(self.embeddings(bank.get(train)), y[train])
        return result

    def _fit_head(self, embeddings: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(embeddings)
        head = LogisticRegression(C=float(self.head_C), max_iter=5000).fit(scaler.transform(embeddings), y)
        self.head_mean_ = scaler.mean_.astype(np.float64)
        self.head_scale_ = scaler.scale_.astype(np.float64)
        self.head_coef_ = head.coef_[0].astype(np.float64)
        self.head_intercept_ = float(head.intercept_[0])

    # -- artifacts ---------------------------------------------------------------------------------

    def _state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        import torch

        from negate_sdk.runtime.checkpoint import module_tensors

        tensors = module_tensors({"backbone": self.backbone_})  # the projection head is not needed any more
        tensors["head.mean"] = torch.from_numpy(self.head_mean_.copy())
        tensors["head.scale"] = torch.from_numpy(self.head_scale_.copy())
        tensors["head.coef"] = torch.from_numpy(self.head_coef_.copy())
        tensors["head.intercept"] = torch.tensor([self.head_intercept_], dtype=torch.float64)
        view = {
            "size": self.view_.size,
            "crop_pct": self.view_.crop_pct,
            "interpolation": self.view_.interpolation,
        }
        state = {"embed_dim": self.embed_dim_, "view": view, "input_size": getattr(self, "input_size_", None)}
        return tensors, state

    def _restore(self, tensors: dict[str, Any], state: dict[str, Any], device: str) -> None:
        from negate_sdk.artifacts import ArtifactError
        from negate_sdk.runtime.checkpoint import load_module_tensors

        size = state.get("input_size")  # chosen from the training images (absent: saved before it existed)
        if size is not None and (type(size) is not int or not 16 <= size <= 4096):
            raise ArtifactError(f"saved input_size {str(size)[:20]!r} is not a side in pixels")
        self.input_size_ = size
        self._setup(device, pretrained=False)  # the saved tensors replace every backbone weight
        backbone = {k: v for k, v in tensors.items() if k.startswith("backbone.")}
        try:
            load_module_tensors({"backbone": self.backbone_}, backbone)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ArtifactError(f"saved weights do not fit backbone '{self.backbone}' ({first})") from None
        if self.embed_dim_ != int(state["embed_dim"]):
            raise ArtifactError(
                f"saved head expects {state['embed_dim']}-d embeddings, backbone gives {self.embed_dim_}"
            )
        self.backbone_.eval()
        self.head_mean_ = tensors["head.mean"].numpy().astype(np.float64)
        self.head_scale_ = tensors["head.scale"].numpy().astype(np.float64)
        self.head_coef_ = tensors["head.coef"].numpy().astype(np.float64)
        self.head_intercept_ = float(tensors["head.intercept"].numpy()[0])
