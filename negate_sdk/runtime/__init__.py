"""Network plumbing shared by every plugin that runs a model, imported lazily.

Weights resolution (:mod:`~negate_sdk.runtime.weights`), devices and precision
(:mod:`~negate_sdk.runtime.devices`), image views for networks (:mod:`~negate_sdk.runtime.views`), the
frozen-backbone embedding base (:mod:`~negate_sdk.runtime.embedding`), tensor files
(:mod:`~negate_sdk.runtime.tensors`), training augmentation and image banks
(:mod:`~negate_sdk.runtime.augment`), checkpoints (:mod:`~negate_sdk.runtime.checkpoint`) and the epoch loop
(:mod:`~negate_sdk.runtime.training`). No module here imports torch at import time: torch is imported by
the functions that need it, so plugins depend on the core and never on each other.
"""
