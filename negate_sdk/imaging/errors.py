"""The one error of image intake: :class:`ImageError`, whose message is one line."""

from __future__ import annotations


class ImageError(ValueError):
    """An image was refused; ``str(err)`` is ONE line, e.g.
    ``'corrupt or truncated image: image file is truncated'``.  The same text is in ``.reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(str(reason).split())
        super().__init__(self.reason)
