import pytest

from vskd.config import Config, apply_overrides, config_from_dict, load_config, save_config
from vskd.errors import ConfigError


def test_defaults_follow_the_paper():
    cfg = Config()
    assert cfg.teacher.train.optimizer == "sgd" and cfg.teacher.train.lr == 1e-3
    assert cfg.teacher.train.lr_steps == [50] and cfg.teacher.train.epochs == 100
    assert cfg.student.train.optimizer == "adam" and cfg.student.train.lr == 2e-4
    assert cfg.student.train.weight_decay == 1e-5 and cfg.student.train.batch_size == 16
    assert cfg.student.input.out_size == 224 and cfg.teacher.input.num_segments == 8


def test_overrides_are_typed_and_nested(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nstudent:\n  train:\n    lr: 1e-3\n")
    cfg = load_config(p, ["student.train.epochs=3", "data.val_subjects=[1, 3]", "teacher.pretrained=null",
                          "distill.options={alpha: 0.5}"])
    assert cfg.student.train.lr == 1e-3 and isinstance(cfg.student.train.lr, float)
    assert cfg.student.train.epochs == 3
    assert cfg.data.val_subjects == [1, 3]
    assert cfg.distill.options == {"alpha": 0.5}


def test_roundtrip(tmp_path):
    cfg = load_config(None, ["seed=7", "student.input.method=difference"])
    save_config(cfg, tmp_path / "c.yaml")
    again = load_config(tmp_path / "c.yaml")
    assert again == cfg


@pytest.mark.parametrize("data, needle", [
    ({"studnet": {}}, "unknown config key 'studnet'"),
    ({"student": {"train": {"lrr": 1}}}, "unknown config key 'student.train.lrr'"),
    ({"student": {"train": {"epochs": "many"}}}, "'student.train.epochs': expected an integer"),
    ({"seed": 1.5}, "'seed': expected an integer"),
    ({"teacher": {"partial_bn": "yes"}}, "'teacher.partial_bn': expected true/false"),
])
def test_bad_keys_and_types_name_the_key(data, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        config_from_dict(data)


@pytest.mark.parametrize("override, needle", [
    (["student.input.method=sum"], "student.input.method"),
    (["student.train.epochs=0"], "student.train.epochs"),
    (["nokey"], "key=value"),
])
def test_validation(override, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(None, override)


def test_dataset_root_is_checked_by_the_registry(monkeypatch):
    # config.py knows no readers; data.datasets.check_data_config (called before a run) names the key
    from vskd.data.datasets import check_data_config

    monkeypatch.delenv("VSKD_UTD_MHAD", raising=False)
    cfg = load_config(None, ["data.dataset=utd-mhad"])
    with pytest.raises(ConfigError, match=r"needs a root path \(config key 'data.root'\)"):
        check_data_config(cfg.data)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(lst)


def test_override_into_scalar_fails():
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_method_options_keyed_or_flat():
    from vskd.engine.pipeline import method_options
    from vskd.losses.registry import create_method

    keyed = load_config(None, ["distill.method=kd", "distill.options={dask: {alpha: 0.5}, kd: {temperature: 2}}"])
    assert method_options(keyed) == {"temperature": 2}
    keyed.distill.method = "sp"
    assert method_options(keyed) == {}
    flat = load_config(None, ["distill.method=dask", "distill.options={alpha: 0.5}"])
    assert method_options(flat) == {"alpha": 0.5}
    flat.distill.method = "sp"
    with pytest.raises(ConfigError, match="method 'sp': unknown option"):
        create_method("sp", method_options(flat))
