"""Training checkpoints in safetensors + JSON: module weights, optimizer state, early-stopping state.

A checkpoint folder holds ``state.json`` (the last completed epoch, the early-stopping state, the history
and the optimizer's non-tensor state), ``epoch-NNNN.safetensors`` (module and optimizer tensors after that
epoch) and ``best-NNNN.safetensors`` (module tensors of the best epoch so far). Tensor files are written
before ``state.json`` names them and every write is atomic, so an interruption at any point leaves the
previous consistent state. The ``fingerprint`` ties a folder to one run (parameters and training data):
resuming with other data or parameters is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from negate_sdk.artifacts import atomic_write_bytes

STATE_FILE = "state.json"
FORMAT = "negate-trainable-checkpoint"


def module_tensors(modules: dict[str, Any]) -> dict[str, Any]:
    """``{"<module>.<key>": tensor}``: CPU copies of every module's state dict."""
    return {
        f"{name}.{key}": value.detach().to("cpu", copy=True).contiguous()
        for name, module in modules.items()
        for key, value in module.state_dict().items()
    }


def load_module_tensors(modules: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Load :func:`module_tensors` output back into ``modules`` (strict: every key must match)."""
    for name, module in modules.items():
        prefix = f"{name}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        module.load_state_dict(state, strict=True)


def optimizer_tensors(optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The optimizer's state as ``({"optimizer.<param>.<key>": tensor}, json_state)``."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, values in state["state"].items():
        for key, value in values.items():
            if hasattr(value, "detach"):
                tensors[f"optimizer.{param_id}.{key}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def load_optimizer(optimizer: Any, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    """Restore an optimizer from :func:`optimizer_tensors` output."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, param_id, key = name.split(".", 2)
            state.setdefault(int(param_id), {})[key] = value
    for name, value in meta["scalars"].items():
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_tensors(path: Path, tensors: dict[str, Any]) -> None:
    """Write ``tensors`` as one safetensors file, atomically."""
    from safetensors.torch import save

    atomic_write_bytes(path, save(tensors))


def load_tensors(path: Path) -> dict[str, Any]:
    """Read a safetensors file onto the CPU (its header checked first: :mod:`negate_sdk.weightfiles`)."""
    from negate_sdk.runtime.tensors import load_tensors as load

    return load(path)


class Checkpoint:
    """The checkpoint folder of one training run, identified by ``fingerprint``."""

    def __init__(self, directory: str | Path, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint

    def read(self) -> dict[str, Any] | None:
        """The saved state, or None when the folder holds no checkpoint yet.

        Raises ``ValueError`` (one line) when it holds a checkpoint of another run or an unreadable one.
        """
        path = self.directory / STATE_FILE
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: unreadable checkpoint state ({err})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{path}: not a negate training checkpoint")
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"{self.directory} holds a checkpoint of another training run (other parameters or "
                "data); pass another checkpoint_dir or delete that folder"
            )
        return state

    def write(
        self,
        state: dict[str, Any],
        last: dict[str, Any],
        best: dict[str, Any] | None,
    ) -> None:
        """Save the tensors of the last epoch (and of a new best one), then ``state``; prune older files."""
        self.directory.mkdir(parents=True, exist_ok=True)
        epoch = int(state["epoch"])
        last_name = f"epoch-{epoch:04d}.safetensors"
        save_tensors(self.directory / last_name, last)
        if best is not None:
            save_tensors(self.directory / f"best-{int(state['best_epoch']):04d}.safetensors", best)
        full = {
            **state,
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "last_file": last_name,
            "best_file": f"best-{int(state['best_epoch']):04d}.safetensors",
        }
        atomic_write_bytes(self.directory / STATE_FILE, json.dumps(full, indent=2).encode())
        keep = {STATE_FILE, full["last_file"], full["best_file"]}
        for path in self.directory.iterdir():
            if path.suffix == ".safetensors" and path.name not in keep:
                path.unlink(missing_ok=True)

    def tensors(self, state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(last, best)`` tensors named by ``state``."""
        return (
            load_tensors(self.directory / state["last_file"]),
            load_tensors(self.directory / state["best_file"]),
        )


def fingerprint(**parts: Any) -> str:
    """sha256 of JSON-serialisable ``parts`` (sorted keys): identifies a training run."""
    text = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def run_checkpoint(
    directory: str | Path | None, samples: Sequence[Any], y: Any, **identity: Any
) -> Checkpoint | None:
    """The checkpoint of one training run in ``directory`` (None without a directory).

    The run is identified by ``identity`` (who trains, its result parameters) and the training data: each
    sample's sha256 with its label, in order. Resuming with other data or parameters is refused.
    """
    if not directory:
        return None
    data = hashlib.sha256()
    for sample, label in zip(samples, y):
        data.update(f"{sample.sha256}:{int(label)}\n".encode())
    return Checkpoint(directory, fingerprint(**identity, data=data.hexdigest()))
