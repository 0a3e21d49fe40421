"""Registry of dataset readers and their base class :class:`DatasetReader`.

Every reader declares, in one class at the end of its own module, what the rest of vskd needs to
know about its dataset: its name, its options (name, default, accepted types), its class names, its
sensor rate, its modalities, the protocols it supports (with their default train / test groups), what
its root is, and one :meth:`~DatasetReader.scan` that returns the one result type :class:`ScanResult`.
``load_recordings`` (:mod:`vskd.data.datasets`), ``vskd data check`` (:mod:`vskd.data.check`), the
protocols (:mod:`vskd.data.protocols`), the config check and ``deploy`` ask this registry; none of
them names a dataset. ``vskd datasets`` lists what is registered.

Adding a dataset is one class in the reader's module::

    from vskd.data.registry import DatasetReader, Option, ScanResult, register_dataset

    @register_dataset("my-set")
    class MySet(DatasetReader):
        '''My recordings: a folder of <action>_<subject>_<trial>.csv accelerometer files.'''
        description = "my wrist recordings (accelerometer CSVs)"
        root_help = "the folder holding the CSV files"
        options = (Option("rate_hz", 50.0, (int, float), "sampling rate of the files"),)
        classes = ("walk", "wave")
        modalities = ("inertial",)
        protocols = {"cross-subject": None, "subject-specific": None}

        def scan(self, root, rate_hz=50.0) -> ScanResult:
            recordings, problems = ...  # one line per bad file in ``problems``, nothing raised for them
            return ScanResult(recordings, problems)

and, for a module outside :mod:`vskd.data`, importing that module once before use (the built-in readers
in :data:`BUILTIN_MODULES` are imported on the first look-up). The registry sits in the data layer;
``vskd.config`` (below it) only holds ``data.dataset`` as a string, and :func:`vskd.data.datasets.check_data_config`
checks it against this registry where a config becomes a run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from vskd.data.recording import MODALITIES, Recording
from vskd.errors import ConfigError, DataError

__all__ = [
    "BUILTIN_MODULES",
    "DatasetReader",
    "Groups",
    "Option",
    "ScanResult",
    "dataset_names",
    "get_dataset",
    "list_datasets",
    "register_dataset",
    "registered",
]

#: the modules of the built-in readers, imported (and so registered) on the first look-up
BUILTIN_MODULES = ("vskd.data.utd_mhad", "vskd.data.berkeley_mhad", "vskd.data.mmact", "vskd.data.manifest",
                   "vskd.data.synthetic")

#: default (train groups, test groups) of a protocol; None: the generic rule of :mod:`vskd.data.protocols`
Groups = tuple[Sequence[int], Sequence[int]] | None

_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", list: "a list", bool: "true/false",
               tuple: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Option:
    """One reader option: its name, default, the Python types a given value may have, and a help line.

    ``float`` accepts integers too; ``list`` accepts tuples; ``bool`` is never taken for an integer.
    A default of None means "the reader decides" (e.g. all modalities found) and None is then accepted.
    The reader checks the *values* (ranges, names); the registry checks names and types.
    """

    name: str
    default: Any
    types: tuple[type, ...]
    help: str = ""

    def check(self, value: Any, where: str) -> Any:
        """``value`` if its type is accepted; ConfigError naming ``where`` otherwise."""
        if value is None and self.default is None:
            return value
        for tp in self.types:
            if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                return value
            if tp is list and isinstance(value, (list, tuple)):
                return value
            if tp is int and isinstance(value, bool):
                continue
            if isinstance(value, tp):
                return value
        kinds = " or ".join(dict.fromkeys(_TYPE_NAMES.get(t, t.__name__) for t in self.types))
        raise ConfigError(f"{where}: expected {kinds}, got {value!r}")


@dataclass
class ScanResult:
    """What a reader's :meth:`DatasetReader.scan` found under a root, without reading the data.

    Attributes:
        recordings: the recordings (lazy sources), sorted by key.
        problems: one line per file, row or folder that cannot be used (a bad name, a missing partner
            file); :meth:`DatasetReader.load` raises the first, ``vskd data check`` reports them all.
        notes: facts worth a line in ``vskd data check`` that are not problems (e.g. recordings of the
            full release that are not here).
        classes: class names in label order when the scan learns them from the data (a manifest);
            None when the reader declares them.
    """

    recordings: list[Recording]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    classes: list[str] | None = None

    def checked(self) -> list[Recording]:
        """The recordings, or the first problem raised as one :class:`~vskd.errors.DataError` line
        (with how many more there are: ``vskd data check`` lists them all)."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more problem(s); run 'vskd data check')" if len(self.problems) > 1 else ""
            raise DataError(self.problems[0] + more)
        return self.recordings

    @property
    def modalities_present(self) -> tuple[str, ...]:
        """The modalities at least one recording has, in :data:`~vskd.data.recording.MODALITIES` order."""
        return tuple(m for m in MODALITIES if any(r.has(m) for r in self.recordings))


class DatasetReader:
    """Base class of every dataset reader: its declaration (class attributes) and :meth:`scan`.

    Class attributes a reader sets:

    * ``name`` (set by :func:`register_dataset`), ``description`` (one line for ``vskd datasets``),
      ``reference`` (the paper to cite);
    * ``root_help``: what the root is (``--root`` / ``data.root``), e.g. "the folder holding Inertial/,
      Depth/, Skeleton/"; None for a reader that takes no root (synthetic). ``root_env``: an environment
      variable read when no root is given;
    * ``options``: the :class:`Option` s the reader takes (config ``data.options.*``, ``load_recordings``
      keyword arguments); :meth:`resolve_options` checks names and types and fills the defaults;
    * ``classes``: the class names in label order, or None when they come from the data;
    * ``rate_hz``: the inertial rate (Hz) with the default options, or None when only the data knows it
      (a reader whose ``rate_hz`` option sets it reports that option: :meth:`sensor_rate`);
    * ``modalities``: the modalities the dataset can have;
    * ``protocols``: protocol name -> default ``(train groups, test groups)`` or None (the generic rule:
      odd / even subjects, first / second half of the trials, the last camera or scene tests).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    root_help: ClassVar[str | None] = None
    root_env: ClassVar[str | None] = None
    options: ClassVar[tuple[Option, ...]] = ()
    classes: ClassVar[tuple[str, ...] | None] = None
    rate_hz: ClassVar[float | None] = None
    modalities: ClassVar[tuple[str, ...]] = ()
    protocols: ClassVar[Mapping[str, Groups]] = {"cross-subject": None, "subject-specific": None}

    # ------------------------------------------------------------------ what a subclass implements

    def scan(self, root: Path | None, **options: Any) -> ScanResult:
        """Find the recordings under ``root`` (None when :attr:`root_help` is None) with the resolved
        ``options``. Problems with single files go into :attr:`ScanResult.problems`; a missing root or
        folder raises :class:`~vskd.errors.DataError`, a bad option value :class:`~vskd.errors.ConfigError`."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared behaviour

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def resolve_options(self, options: Mapping[str, Any],
                        where: Callable[[str], str] | None = None) -> dict[str, Any]:
        """The declared defaults (those not None) updated with ``options``, names and types checked.

        ``where(option)`` names an option in an error (default ``"dataset 'NAME' option 'OPTION'"``).
        """
        known = [o.name for o in self.options]
        unknown = [k for k in options if k not in known]
        if unknown:
            takes = f"it takes: {', '.join(known)}" if known else "it takes no options"
            head = f"{where(unknown[0])}: dataset {self.name!r} has no such option" if where else \
                f"dataset {self.name!r} has no option {unknown[0]!r}"
            raise ConfigError(f"{head}; {takes}")
        where = where or (lambda o: f"dataset {self.name!r} option {o!r}")
        out = {o.name: o.default for o in self.options if o.default is not None}
        for key, value in options.items():
            out[key] = self.option(key).check(value, where(key))
        return out

    def require_root(self, root: str | Path | None, how: str = "a root") -> Path | None:
        """``root`` (or ``$root_env``) as a Path; ConfigError when the reader needs one and none is given.

        ``how`` names where the root is given (``"--root"``, ``"config key 'data.root'"``).
        """
        if self.root_help is None:
            return Path(root) if root else None
        import os

        root = root or (os.environ.get(self.root_env) if self.root_env else None)
        if not root:
            env = f" (or set ${self.root_env})" if self.root_env else ""
            raise ConfigError(f"dataset {self.name!r} needs {how}: {self.root_help}{env}")
        return Path(root)

    def load(self, root: str | Path | None = None, **options: Any) -> list[Recording]:
        """The recordings of :meth:`scan`, raising the first problem (or an empty dataset) as one line."""
        recordings = self.scan(self.require_root(root), **self.resolve_options(options)).checked()
        if not recordings:
            raise DataError(f"{root}: no {self.name} recordings found")
        return recordings

    def class_names(self, recordings: Sequence[Recording]) -> list[str]:
        """Class names in label order: the declared :attr:`classes`, else those the sources carry in
        ``meta`` (``classes``, the full list; or ``class_name`` / ``action_name`` per recording); a label
        without a name is named by its number."""
        if self.classes is not None:
            return list(self.classes)
        found: dict[int, str] = {}
        for rec in recordings:
            for src in rec.sources.values():
                if "classes" in src.meta:
                    return [str(c) for c in src.meta["classes"]]
                cname = src.meta.get("class_name", src.meta.get("action_name"))
                if cname is not None:
                    found.setdefault(rec.label, str(cname))
        num = max([rec.label for rec in recordings] + list(found), default=-1) + 1
        return [found.get(k, str(k)) for k in range(num)]

    def sensor_rate(self, options: Mapping[str, Any]) -> float | None:
        """The inertial rate (Hz) the recordings will have with ``options`` (resolved), or None when only
        the data knows it: the ``rate_hz`` option when the reader declares one, else :attr:`rate_hz`."""
        if self.option("rate_hz") is not None and options.get("rate_hz") is not None:
            return float(options["rate_hz"])
        return None if self.rate_hz is None else float(self.rate_hz)

    def config_options(self, data: Any) -> dict[str, tuple[Any, str]]:
        """The reader options a config's ``data`` section (:class:`vskd.config.DataConfig`) gives, each
        with the config key that set it: by default ``data.options.*``."""
        return {k: (v, f"data.options.{k}") for k, v in (data.options or {}).items()}

    def default_groups(self, protocol: str) -> Groups:
        return self.protocols.get(protocol)


_READERS: dict[str, DatasetReader] = {}
_LOADED = False
R = TypeVar("R", bound=type)


def register_dataset(name: str) -> Callable[[R], R]:
    """Class decorator: register a :class:`DatasetReader` subclass under ``name``."""

    def deco(cls: R) -> R:
        if not (isinstance(cls, type) and issubclass(cls, DatasetReader)):
            raise TypeError(f"register_dataset({name!r}): {cls!r} is not a DatasetReader subclass")
        if name in _READERS and type(_READERS[name]) is not cls:
            raise ValueError(f"dataset {name!r} is already registered by {type(_READERS[name]).__qualname__}")
        bad = [m for m in cls.modalities if m not in MODALITIES]
        if bad or not cls.modalities:
            raise ValueError(f"dataset {name!r}: modalities {list(cls.modalities)} must be some of {list(MODALITIES)}")
        cls.name = name
        _READERS[name] = cls()
        return cls

    return deco


def _load_builtins() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for module in BUILTIN_MODULES:
            importlib.import_module(module)


def registered(name: str) -> DatasetReader | None:
    """The reader registered under ``name``, or None (e.g. a manifest's own dataset name)."""
    _load_builtins()
    return _READERS.get(name)


def get_dataset(name: str, where: str = "") -> DatasetReader:
    """The reader registered under ``name``; ConfigError listing the known ones otherwise.

    ``where`` prefixes the message (e.g. ``"config key 'data.dataset': "``).
    """
    reader = registered(name)
    if reader is None:
        raise ConfigError(f"{where}unknown dataset {name!r}; known datasets: {', '.join(dataset_names())}")
    return reader


def dataset_names() -> list[str]:
    _load_builtins()
    return sorted(_READERS)


def list_datasets() -> list[DatasetReader]:
    """Every registered reader, sorted by name."""
    return [_READERS[n] for n in dataset_names()]


def _unregister(name: str) -> None:
    """Remove ``name`` (tests registering a temporary reader)."""
    _READERS.pop(name, None)
