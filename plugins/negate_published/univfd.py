"""UniversalFakeDetect (Ojha, Li and Lee, CVPR 2023; MIT): a linear probe on CLIP ViT-L/14 image features.

The authors' ``validate.py`` centre-crops 224 x 224 without resizing, normalises with CLIP's mean and std,
takes ``encode_image`` (the projected 768-d embedding, not normalised) and applies ``fc`` (768 → 1): a
positive logit is synthetic. Here the embedding is the registered ``clip_vit_l14`` extractor with
``normalize=False, resize=False``, and ``fc`` is the authors' ``fc_weights.pth``, read with
``torch.load(weights_only=True)`` and checked for exactly its two tensors and their shapes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from negate_sdk.artifacts import ArtifactError
from negate_sdk.detectors.pretrained import PretrainedDetector
from negate_sdk.runtime.weights import WeightsCfg

REPO, COMMIT, PATH = (
    "WisconsinAIVision/UniversalFakeDetect",
    "76a0e3e60a8a06458707a625d269ba815a2e5919",
    ("pretrained_weights/fc_weights.pth"),
)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

UNIVFD_WEIGHTS = WeightsCfg(
    name="univfd",
    url=f"https://github.com/{REPO}/raw/{COMMIT}/{PATH}",
    filename="fc_weights.pth",
    sha256="477100745713bcc957beb2b40859536859b6483fd6301b3b9293151b194c7847",
    input_size=(3, 224, 224),
    mean=CLIP_MEAN,
    std=CLIP_STD,
    licence="MIT",
    trained_on=("cnndetection-progan-20class", "progan"),
    source=f"{REPO} @ {COMMIT} : {PATH}",
    citation="Ojha, Li, Lee. Towards Universal Fake Image Detectors that Generalize Across Generative "
    "Models. CVPR 2023",
)


def read_linear_head(path: Any, n_features: int | None = None) -> tuple[np.ndarray, float]:
    """``(w (n_features,), b)`` of a saved ``torch.nn.Linear(n, 1)`` state dict (``weight`` (1, n),
    ``bias`` (1,)), read with ``weights_only``; anything else is a one-line ``ArtifactError``."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged or foreign file: one line, never a traceback
        raise ArtifactError(
            f"{path}: not a readable weights-only torch file ({type(err).__name__})"
        ) from None
    if not isinstance(state, dict) or set(state) != {"weight", "bias"}:
        keys = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ArtifactError(f"{path}: expected exactly 'weight' and 'bias', found {keys}")
    weight, bias = state["weight"], state["bias"]
    n = weight.shape[-1] if weight.ndim == 2 else -1
    if tuple(weight.shape) != (1, n) or tuple(bias.shape) != (1,) or (n_features not in (None, n)):
        raise ArtifactError(
            f"{path}: head shapes {tuple(weight.shape)} and {tuple(bias.shape)}; expected (1, "
            f"{n_features or 'n'}) and (1,)"
        )
    w = weight.double().numpy().ravel()
    if not np.all(np.isfinite(w)) or not torch.isfinite(bias).all():
        raise ArtifactError(f"{path}: the head holds non-finite values")
    return w, float(bias.double()[0])


class UniversalFakeDetect(PretrainedDetector):
    """UniversalFakeDetect: the authors' linear head on CLIP ViT-L/14's embedding (trained on ProGAN)."""

    name = "univfd"
    weights_cfg: ClassVar[WeightsCfg] = UNIVFD_WEIGHTS
    extractor = "clip_vit_l14"
    default_extractor_params: ClassVar[dict[str, Any]] = {"normalize": False, "resize": False}

    def _load_head(self) -> tuple[np.ndarray, float]:
        from negate_sdk.runtime.embedding import weights_cfg_for
        from negate_sdk.runtime.weights import resolve_weights

        dim = len(self.feature_extractors()[0].get_feature_names_out())
        if self.weights == "random":  # a seeded random head of the right size, for tests only
            rng = np.random.default_rng(0)
            return rng.normal(0.0, 1.0 / np.sqrt(dim), dim), 0.0
        cfg = weights_cfg_for(self.weights_cfg, self.weights)
        # a file the user names is theirs to vouch for; the pinned source is checked against its sha256
        resolved = resolve_weights(cfg.replace(sha256=None) if self.weights else cfg)
        return read_linear_head(resolved.path, dim)
