"""The epoch loop shared by the trainable models: seeded epochs, early stopping, a time budget,
resumable checkpoints.

Every epoch runs with torch's RNG seeded from ``(seed, epoch)`` (dropout, anything random in a model)
and the caller draws shuffles and augmentations from generators seeded the same way, so on the CPU a run
resumed from its checkpoint ends with exactly the weights of an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from negate_sdk.progress import Reporter
from negate_sdk.runtime.checkpoint import (
    Checkpoint,
    load_module_tensors,
    load_optimizer,
    module_tensors,
    optimizer_tensors,
)

# train_epoch(epoch, tick) -> mean training loss; tick(advance, total) reports batches.
TrainEpoch = Callable[[int, Callable[[int, int], None]], float]
# evaluate() -> (monitor, extra metrics); a higher monitor is better. A tuple monitor compares
# lexicographically: (validation AUC, -validation loss) prefers the better ranking, then the better fit.
Evaluate = Callable[[], tuple[float | tuple[float, ...], dict[str, float]]]


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for one epoch of a run seeded with ``seed``."""
    digest = hashlib.sha256(f"{int(seed)}:{int(epoch)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def minibatches(indices: np.ndarray, size: int) -> list[np.ndarray]:
    """``indices`` cut into chunks of ``size``; a last chunk of one joins the previous one (batch norm
    cannot normalise a single image in training mode)."""
    chunks = [indices[i : i + size] for i in range(0, len(indices), size)]
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2:] = [np.concatenate(chunks[-2:])]
    return chunks


class OutOfTime(Exception):
    """Internal: the time budget ran out inside an epoch (raised from the batch tick)."""


@dataclass
class TrainingResult:
    """What the loop did: per-epoch ``history``, the ``best_epoch`` restored, and whether it resumed."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    stopped_by_budget: bool = False
    resumed_from: int = 0
    seconds: float = 0.0


def run_epochs(
    *,
    modules: dict[str, Any],
    optimizer: Any,
    train_epoch: TrainEpoch,
    evaluate: Evaluate,
    epochs: int,
    patience: int | None,
    seed: int,
    reporter: Reporter,
    stage: str,
    checkpoint: Checkpoint | None = None,
    max_minutes: float | None = None,
) -> TrainingResult:
    """Train ``modules`` for up to ``epochs`` epochs, stopping after ``patience`` epochs without a better
    monitor (None: never early), then load the best epoch's weights into ``modules``.

    ``max_minutes`` bounds the training time of this call: an epoch that would end past it is not begun
    (judged by the last epoch's length), and one that runs past it stops at its next batch and is
    evaluated as it stands; either way ``stopped_by_budget`` is set and the best weights so far are kept.
    With a ``checkpoint``, state is saved after every epoch and a run found there resumes after its last
    completed epoch (a finished run, or one stopped by its budget, only restores its best weights).
    """
    import torch

    if int(epochs) < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if patience is not None and int(patience) < 1:
        raise ValueError(f"patience must be at least 1 (or None), got {patience}")
    if max_minutes is not None and not float(max_minutes) > 0:
        raise ValueError(f"max_minutes must be a positive number of minutes (or None), got {max_minutes}")
    result = TrainingResult()
    best_monitor: tuple[float, ...] | None = None
    best_tensors: dict[str, Any] | None = None
    bad_epochs, start, finished = 0, 1, False
    saved = checkpoint.read() if checkpoint is not None else None
    if saved is not None:
        last, best_tensors = checkpoint.tensors(saved)
        load_module_tensors(modules, last)
        load_optimizer(optimizer, last, saved["optimizer"])
        result.history = list(saved["history"])
        result.best_epoch = int(saved["best_epoch"])
        best_monitor = tuple(float(v) for v in saved["best_monitor"])
        bad_epochs = int(saved["bad_epochs"])
        result.stopped_early = bool(saved["stopped_early"])
        # a run that stopped early stays stopped; one that ran out of epochs continues if given more
        result.stopped_by_budget = bool(saved.get("stopped_by_budget", False))
        finished = result.stopped_early or result.stopped_by_budget or int(saved["epoch"]) >= int(epochs)
        start = result.resumed_from = int(saved["epoch"]) + 1
        reporter.log(f"{stage}: resuming after epoch {saved['epoch']} from {checkpoint.directory}")
    began = time.perf_counter()
    deadline = None if max_minutes is None else began + 60.0 * float(max_minutes)
    last_seconds = 0.0
    for epoch in range(start, int(epochs) + 1):
        if finished:
            break
        tic = time.perf_counter()
        if deadline is not None and epoch > start and tic + last_seconds > deadline:
            result.stopped_by_budget = True
            reporter.log(
                f"{stage}: stopped before epoch {epoch}: it would end past max_minutes={max_minutes}"
            )
            break
        name = f"{stage} epoch {epoch}/{epochs}"

        def tick(advance: int, total: int, name: str = name) -> None:
            reporter(name, advance, total)
            if deadline is not None and time.perf_counter() > deadline:
                raise OutOfTime

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(epoch_seed(seed, epoch))
            try:
                loss: float | None = float(train_epoch(epoch, tick))
            except OutOfTime:  # the budget ran out inside this epoch: judge the weights as they stand
                loss, result.stopped_by_budget = None, True
                reporter.log(f"{stage}: max_minutes={max_minutes} reached inside epoch {epoch}")
            with torch.no_grad():
                value, extra = evaluate()
        monitor = tuple(float(v) for v in value) if isinstance(value, (tuple, list)) else (float(value),)
        improved = best_monitor is None or monitor > best_monitor
        if improved:
            best_monitor, result.best_epoch, bad_epochs = monitor, epoch, 0
            best_tensors = module_tensors(modules)
        else:
            bad_epochs += 1
        record = {
            "epoch": epoch,
            "train_loss": loss,  # None: the epoch was cut short by the time budget
            "monitor": list(monitor),
            **{k: float(v) for k, v in extra.items()},
            "seconds": round(time.perf_counter() - tic, 3),
        }
        result.history.append(record)
        last_seconds = record["seconds"]
        result.stopped_early = patience is not None and bad_epochs >= int(patience) and epoch < int(epochs)
        finished = result.stopped_early or result.stopped_by_budget or epoch == int(epochs)
        if checkpoint is not None:
            tensors, meta = optimizer_tensors(optimizer)
            state = {
                "epoch": epoch,
                "best_epoch": result.best_epoch,
                "best_monitor": list(best_monitor),
                "bad_epochs": bad_epochs,
                "finished": finished,
                "stopped_early": result.stopped_early,
                "stopped_by_budget": result.stopped_by_budget,
                "history": result.history,
                "optimizer": meta,
            }
            checkpoint.write(
                state, {**module_tensors(modules), **tensors}, best_tensors if improved else None
            )
        extras = " ".join(f"{k}={v:.4f}" for k, v in extra.items())
        shown = "cut short" if loss is None else f"{loss:.4f}"
        reporter.log(
            f"{stage} epoch {epoch}/{epochs}: loss={shown} {extras}"
            f"{' (best)' if improved else ''} [{record['seconds']:.1f}s]"
        )
    if best_tensors is not None:
        load_module_tensors(modules, best_tensors)
    result.seconds = round(time.perf_counter() - began, 3)
    return result
