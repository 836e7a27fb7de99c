"""Errors a user can act on. Each carries a message that names the file, line
or config path at fault; the CLI prints it once and exits 2."""


class KeysentryError(Exception):
    """An error caused by input, configuration or an outside system."""

    exit_code = 2


class ConfigError(KeysentryError):
    """The configuration file or an option is invalid."""


class InputError(KeysentryError):
    """An input file cannot be read or parsed."""


class SourceError(KeysentryError):
    """The live inventory source failed (credentials, permissions, availability)."""


class StoreError(KeysentryError):
    """The history database cannot be used as asked."""
