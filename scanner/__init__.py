"""keysentry: scores an organization's Google Cloud API keys against the Gemini
deadlines and key hygiene rules, and keeps the history."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The release is the one place a version is written: pyproject.toml.
    __version__ = version("keysentry")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
