"""The two errors the manifest layer raises; ``str(err)`` is always one line a user can act on."""

from __future__ import annotations


class ManifestError(ValueError):
    """A manifest, dataset spec or table that cannot be used as given (bad column, unknown label, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class DatasetUnavailableError(ManifestError, FileNotFoundError):
    """A dataset whose files are neither in an offline mirror, nor in the Hugging Face cache, nor reachable.

    Also a :class:`FileNotFoundError`, so command lines that treat missing files as user errors show it as
    one line. The message says where to put the files.
    """
