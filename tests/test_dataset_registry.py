"""The dataset registry (vskd.data.registry): declarations, one-line refusals, and the dispatch sites
(load_recordings, data check, protocols, the config check, deploy's rate) really asking it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vskd.config import load_config
from vskd.data import registry
from vskd.data.check import check_dataset
from vskd.data.datasets import check_data_config, class_names, load_recordings
from vskd.data.protocols import PROTOCOLS, make_splits
from vskd.data.recording import MODALITIES, InertialSignal, Recording, RecordingKey, Source
from vskd.data.registry import DatasetReader, Option, ScanResult, get_dataset, list_datasets, register_dataset
from vskd.errors import ConfigError, DataError

BUILTIN = {"utd-mhad", "berkeley-mhad", "mmact", "manifest", "synthetic"}


def test_every_builtin_reader_declares_its_fields():
    readers = {r.name: r for r in list_datasets()}
    assert BUILTIN <= set(readers)
    for name, r in readers.items():
        assert isinstance(r, DatasetReader) and r.name == name and get_dataset(name) is r
        assert r.description and r.modalities and set(r.modalities) <= set(MODALITIES)
        assert r.protocols and set(r.protocols) <= set(PROTOCOLS), name
        for groups in r.protocols.values():
            assert groups is None or (set(groups[0]).isdisjoint(groups[1]) and groups[0] and groups[1])
        assert r.classes is None or (len(r.classes) == len(set(r.classes)) >= 2)
        assert r.rate_hz is None or r.rate_hz > 0
        assert all(isinstance(o, Option) and o.types for o in r.options)
        assert len({o.name for o in r.options}) == len(r.options)
        assert type(r).scan is not DatasetReader.scan, f"{name} has no scan"
    assert len(readers["utd-mhad"].classes) == 27 and readers["utd-mhad"].rate_hz == 50
    assert len(readers["berkeley-mhad"].classes) == 11 and len(readers["mmact"].classes) == 37
    assert readers["berkeley-mhad"].protocols["cross-subject"] == (list(range(1, 8)), list(range(8, 13)))
    assert readers["mmact"].protocols["cross-view"] == ([1, 2, 3], [4])
    assert readers["synthetic"].root_help is None and readers["manifest"].root_help


def test_unknown_dataset_is_one_line_listing_the_known_ones():
    with pytest.raises(ConfigError) as err:
        load_recordings("utd-mhda", "/nowhere")
    msg = str(err.value)
    assert "\n" not in msg and "unknown dataset 'utd-mhda'" in msg
    assert all(name in msg for name in BUILTIN)
    cfg = load_config(None, ["data.dataset=nope"])  # config.py knows no readers ...
    with pytest.raises(ConfigError, match=r"config key 'data.dataset': unknown dataset 'nope'; known datasets: .*utd-mhad"):
        check_data_config(cfg.data)  # ... the registry refuses it before a run


def test_options_are_checked_by_name_and_type():
    with pytest.raises(ConfigError, match=r"dataset 'utd-mhad' has no option 'rate_hz'; it takes: modalities"):
        load_recordings("utd-mhad", "/nowhere", rate_hz=50)
    with pytest.raises(ConfigError, match=r"dataset 'berkeley-mhad' option 'accelerometer': expected an integer"):
        load_recordings("berkeley-mhad", "/nowhere", accelerometer=True)
    cfg = load_config(None, ["data.synthetic={trials: two}"])
    with pytest.raises(ConfigError, match=r"config key 'data.synthetic.trials': expected an integer, got 'two'"):
        check_data_config(cfg.data)
    cfg = load_config(None, ["data.dataset=mmact", "data.root=/x", "data.options={camera: 1}"])
    with pytest.raises(ConfigError, match=r"config key 'data.options.camera': dataset 'mmact' has no such option; "
                                          r"it takes: sensors, cameras, rate_hz, modalities"):
        check_data_config(cfg.data)
    name, root, options = check_data_config(load_config(None, ["data.preset=tiny", "data.synthetic={trials: 1}"]).data)
    assert (name, root, options) == ("synthetic", None, {"preset": "tiny", "seed": 0, "trials": 1})
    _, root, options = check_data_config(load_config(None, ["data.dataset=berkeley-mhad", "data.root=/b"]).data)
    assert root == Path("/b") and options == {"accelerometer": 1, "cluster": 1, "camera": 1, "rate_hz": 30.0}


# ------------------------------------------------------------------ a reader registered by a test

TOY = "toy-set"


def _toy_recordings(subjects: int, rate: float) -> list[Recording]:
    recs = []
    for action in (1, 2):
        for subject in range(1, subjects + 1):
            for trial in (1, 2):
                rng = np.random.default_rng([action, subject, trial])
                sig = InertialSignal(rng.normal(size=(40, 3)) * action, rate, ("acc_x", "acc_y", "acc_z"))
                src = Source(load=lambda s=sig: s, path=None, meta={"cache_key": f"toy{action}{subject}{trial}"})
                recs.append(Recording(RecordingKey(TOY, action, subject, trial), action - 1, {"inertial": src}))
    return recs


@pytest.fixture
def toy_reader():
    @register_dataset(TOY)
    class Toy(DatasetReader):
        description = "an in-memory test dataset"
        options = (Option("subjects", 4, (int,), "subjects 1..n"), Option("rate_hz", 25.0, (float,), "rate"))
        classes = ("still", "shake")
        modalities = ("inertial",)
        protocols = {"cross-subject": ([1, 2], [3, 4]), "subject-specific": None}
        calls: list[dict] = []

        def scan(self, root, subjects=4, rate_hz=25.0) -> ScanResult:
            type(self).calls.append({"root": root, "subjects": subjects, "rate_hz": rate_hz})
            problems = [f"{root}/bad.txt: not a toy file"] if root is not None else []
            return ScanResult(_toy_recordings(subjects, rate_hz), problems, notes=["a toy note"])

    yield Toy
    registry._unregister(TOY)


def test_a_registered_reader_works_at_every_dispatch_site(toy_reader, tmp_path):
    # load_recordings: looked up, defaults filled, options passed
    recs = load_recordings(TOY, subjects=4)
    assert len(recs) == 16 and toy_reader.calls[-1] == {"root": None, "subjects": 4, "rate_hz": 25.0}
    assert class_names(TOY, recs) == ["still", "shake"]
    # its scan's problems: load raises the first as one line, data check reports them all
    with pytest.raises(DataError, match=r"bad.txt: not a toy file"):
        load_recordings(TOY, tmp_path)
    report = check_dataset(TOY, tmp_path, subjects=3)
    assert report.recordings == 12 and report.counts["inertial"] == 12
    assert report.errors == [f"{tmp_path}/bad.txt: not a toy file"] and report.notes == ["a toy note"]
    assert "toy-set" in report.format()
    # protocols: its declared default groups, and a protocol it does not declare is refused
    splits = make_splits(recs, "cross-subject")
    assert splits.groups == {"train": [1], "val": [2], "test": [3, 4]}
    with pytest.raises(DataError, match=r"cross-view: dataset 'toy-set' has no cameras .*cross-subject, subject-specific"):
        make_splits(recs, "cross-view")
    # the config check and deploy's sensor rate
    cfg = load_config(None, [f"data.dataset={TOY}", "data.options={rate_hz: 20}"])
    assert check_data_config(cfg.data) == (TOY, None, {"subjects": 4, "rate_hz": 20})
    from vskd.deploy.model import dataset_rate

    assert dataset_rate(cfg) == 20.0
    # and vskd datasets lists it
    from vskd.cli import main

    assert main(["datasets", "--json"]) == 0


def test_cli_lists_datasets(capsys, toy_reader):
    from vskd.cli import main

    assert main(["datasets", "--names"]) == 0
    names = capsys.readouterr().out.split()
    assert BUILTIN | {TOY} <= set(names)
    assert main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[TOY]["protocols"]["cross-subject"] == {"train": [1, 2], "test": [3, 4]}
    assert rows["utd-mhad"]["rate_hz"] == 50.0 and len(rows["utd-mhad"]["classes"]) == 27
    assert main(["datasets", "--options"]) == 0
    out = capsys.readouterr().out
    assert "--option accelerometer=1" in out and "5 datasets" not in out  # the toy set is the sixth


def test_data_check_cli_takes_reader_options(capsys, toy_reader, tmp_path):
    from vskd.cli import main

    rc = main(["data", "check", "--dataset", TOY, "--option", "subjects=2"])
    out = capsys.readouterr().out
    assert rc == 0 and "8 recordings" in out
    assert main(["data", "check", "--dataset", TOY, "--accelerometer", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dataset 'toy-set' has no option 'accelerometer'; it takes: subjects, rate_hz" in err[0]
    assert main(["data", "check", "--dataset", "nope"]) == 2
    assert "known datasets:" in capsys.readouterr().err


def test_register_refuses_bad_declarations():
    with pytest.raises(TypeError):
        register_dataset("x")(object)
    with pytest.raises(ValueError, match="already registered"):
        @register_dataset("utd-mhad")
        class Other(DatasetReader):
            modalities = ("inertial",)
    with pytest.raises(ValueError, match="modalities"):
        @register_dataset("no-mods")
        class NoMods(DatasetReader):
            modalities = ("smell",)
    assert registry.registered("no-mods") is None


def test_scan_result_is_shared(utd_root):
    # every built-in reader's scan returns the one ScanResult type
    res = get_dataset("utd-mhad").scan(Path(utd_root), modalities="inertial")
    assert isinstance(res, ScanResult) and res.modalities_present == ("inertial",)
    assert len(res.recordings) == 861 and not res.problems
    assert any("never released" in n for n in res.notes)
    syn = get_dataset("synthetic").scan(None, preset="tiny")
    assert isinstance(syn, ScanResult) and set(syn.modalities_present) == set(MODALITIES)
