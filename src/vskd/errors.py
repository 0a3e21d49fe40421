"""User-facing errors.

Every problem a user can cause (a missing file, a malformed recording, an unknown option) raises
:class:`VskdError` (or a subclass) with a message that names the file, field or option and what was
expected. The CLI prints it as one line and exits non-zero; it never shows a traceback for these.
"""


class VskdError(Exception):
    """An error caused by input (files, configs, options), reported to the user as one line.

    The one line is guaranteed here, whatever the message quotes: line breaks and other control
    characters (e.g. from a user's ``--set`` value or a file's bytes) are shown escaped (``\\n``).
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(one_line(str(message)), *args)


def one_line(text: str) -> str:
    """``text`` with every control character escaped as Python would write it (``\\n``, ``\\x00``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class DataError(VskdError):
    """A data file or dataset root is missing, unreadable or malformed."""


class ConfigError(VskdError):
    """A config file, a config key or a ``--set`` override is invalid."""


class VskdWarning(UserWarning):
    """Something the user should know that does not stop the job (e.g. a modality absent from a dataset
    folder); the CLI prints it as one line, ``vskd COMMAND: warning: ...``."""


def warn(message: str) -> None:
    """Emit ``message`` as a :class:`VskdWarning` (one line in the CLI; ``pytest.warns`` can catch it)."""
    import warnings

    warnings.warn(message, VskdWarning, stacklevel=3)
