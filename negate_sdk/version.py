"""The installed version of negate-sdk (read from the package metadata, without importing the SDK)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("negate-sdk")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
