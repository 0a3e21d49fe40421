"""User-facing errors.

Every problem a user can cause (a missing file, a malformed recording, an unknown option) raises
:class:`VskdError` (or a subclass) with a message that names the file, field or option and what was
expected. The CLI prints it as one line and exits non-zero; it never shows a traceback for these.
"""


class VskdError(Exception):
    """An error caused by input (files, configs, options), reported to the user as one line."""


class DataError(VskdError):
    """A data file or dataset root is missing, unreadable or malformed."""


class ConfigError(VskdError):
    """A config file, a config key or a ``--set`` override is invalid."""
