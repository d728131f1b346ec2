"""Fine-tuning the illustration veto's tail: one epoch, the validation pass, and the loop around them.

Only the backbone's last block stage, its head convolution and the new linear output learn (AdamW, the
classes weighed equally); the frozen trunk runs without gradients and keeps its batch-norm statistics.
The epoch loop, checkpoints and augmentation come from :mod:`negate_sdk.runtime`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from negate_sdk.sample import Sample


class TailTraining:
    """One training run of an :class:`~negate_vetoes.illustration.IllustrationVeto` whose network is built.

    ``y``: 1 for illustrations, 0 for anything else; ``train`` and ``val`` index ``samples``.
    """

    def __init__(
        self, veto: Any, samples: Sequence[Sample], y: np.ndarray, train: np.ndarray, val: np.ndarray
    ) -> None:
        import torch

        from negate_sdk.runtime.augment import Augmentation

        self.veto, self.samples, self.y, self.train, self.val = veto, samples, y, train, val
        self.seed = int(veto.random_state)
        self.step = max(2, int(veto.batch_size))
        self.augmentation = Augmentation(
            float(veto.crop_scale), bool(veto.flip), float(veto.jpeg_probability), int(veto.jpeg_quality)
        )
        self.tail = torch.nn.ModuleDict({f"m{i}": m for i, m in enumerate(tail_modules(veto.backbone_))})
        self.optimizer = torch.optim.AdamW(
            [*self.tail.parameters(), *veto.head_.parameters()],
            lr=float(veto.learning_rate),
            weight_decay=float(veto.weight_decay),
        )
        self.targets = torch.from_numpy(y.astype(np.float32)).to(veto.device_)
        # Weigh the classes equally whatever their shares in the training rows.
        positive_weight = float((y[train] == 0).sum()) / max(1.0, float((y[train] == 1).sum()))
        self.loss_fn = torch.nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor(positive_weight, device=veto.device_)
        )
        self.bank: Any = None

    def train_epoch(self, epoch: int, tick: Any) -> float:
        """One epoch over the training rows in a seeded order; the mean training loss."""
        import torch

        from negate_sdk.runtime.training import minibatches

        veto = self.veto
        veto.backbone_.eval()  # frozen batch norms keep their ImageNet statistics
        self.tail.train()
        veto.head_.train()
        batches = minibatches(np.random.default_rng((self.seed, epoch)).permutation(self.train), self.step)
        total = 0.0
        for batch in batches:
            x = veto._input(self.augmentation.batch(self.bank.get(batch), batch, self.seed, epoch))
            with torch.no_grad():
                hidden = veto._trunk(x)
            loss = self.loss_fn(veto._tail(hidden), self.targets[torch.from_numpy(batch).to(veto.device_)])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach()) * len(batch)
            tick(1, len(batches))
        return total / len(self.train)

    def validation_logits(self) -> np.ndarray:
        """``(n_val,)`` logits of the validation rows."""
        from negate_sdk.runtime.training import minibatches

        chunks = minibatches(self.val, 4 * self.step)
        return np.concatenate([self.veto._logits_of_views(self.bank.get(c)) for c in chunks])

    def auc(self, scores: np.ndarray) -> float:
        """ROC AUC of ``(n_val,)`` scores against the validation labels."""
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(self.y[self.val], scores))

    def evaluate(self) -> tuple[tuple[float, float], dict[str, float]]:
        """``((validation AUC, -validation loss), metrics)``: the monitor the loop keeps the best of."""
        import torch

        logits = self.validation_logits()
        tensor = torch.from_numpy(logits).float().to(self.veto.device_)
        loss = float(self.loss_fn(tensor, self.targets[torch.from_numpy(self.val).to(self.veto.device_)]))
        auc = self.auc(logits)
        return (auc, -loss), {"val_loss": loss, "val_auc": auc}

    def run(self, checkpoint: Any, progress: Any) -> tuple[Any, np.ndarray]:
        """Train with early stopping; ``(TrainingResult, (n_val,) P(illustration) of the best epoch)``."""
        from scipy.special import expit

        from negate_sdk.progress import Reporter
        from negate_sdk.runtime.augment import ImageBank
        from negate_sdk.runtime.training import run_epochs

        veto = self.veto
        with Reporter(progress, bool(veto.verbose)) as reporter:
            self.bank = ImageBank(
                self.samples, lambda pixels: veto._views([pixels])[0], int(veto.view_.size), reporter
            )
            result = run_epochs(
                modules={"tail": self.tail, "head": veto.head_},
                optimizer=self.optimizer,
                train_epoch=self.train_epoch,
                evaluate=self.evaluate,
                epochs=int(veto.epochs),
                patience=None if veto.patience is None else int(veto.patience),
                seed=self.seed,
                reporter=reporter,
                stage="illustration veto",
                checkpoint=checkpoint,
            )
            return result, expit(self.validation_logits())


def tail_modules(backbone: Any) -> list[Any]:
    """The trained modules of the backbone: last block stage, head convolution and its batch norm."""
    return [backbone.blocks[-1], backbone.conv_head, backbone.bn2]
