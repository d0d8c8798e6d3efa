"""Typed YAML loading: unknown keys, wrong types and inverted ranges are refused with the key named."""
from dataclasses import dataclass, field

import pytest

from dactyl_core.config import ConfigError, check_range, load, merge
from dactyl_core.scene import SceneConfig, load_scene_config


@dataclass(frozen=True)
class Inner:
    gain: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self):
        check_range("inner.gain", self.gain, positive=True)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    count: int = 1
    enabled: bool = True
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("count: 3\ninner: {gain: [1, 4]}\n")
    cfg = load(Outer, path)
    assert cfg.count == 3 and cfg.inner.gain == (1.0, 4.0) and cfg.name == "x"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"cont": 3}, r"unknown key\(s\) \['cont'\]"),
        ({"count": "3"}, r"Outer.count: expected an integer"),
        ({"enabled": 1}, r"Outer.enabled: expected true or false"),
        ({"inner": {"gain": [2.0, 1.0]}}, r"inverted"),
        ({"inner": {"gain": [-1.0, 1.0]}}, r"must be positive"),
        ({"inner": {"gain": [1.0]}}, r"Outer.inner.gain: expected a list of 2 values"),
        ({"inner": {"gian": [1.0, 2.0]}}, r"Outer.inner: unknown key\(s\) \['gian'\]"),
    ],
)
def test_bad_values_are_refused_with_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        load(Outer, data)


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(Outer, path)
    with pytest.raises(ConfigError, match="does not exist"):
        load(Outer, tmp_path / "missing.yaml")


def test_shipped_scene_yaml_matches_the_defaults():
    assert load_scene_config() == SceneConfig()


def test_merge_validates():
    cfg = load_scene_config()
    assert merge(cfg, {"physics": {"substeps": 20}}).physics.substeps == 20
    with pytest.raises(ConfigError, match="physics.timestep"):
        merge(cfg, {"physics": {"timestep": -0.1}})
    with pytest.raises(ConfigError, match="hand_initial_pose"):
        merge(cfg, {"hand_initial_pose": {"rh_FFJ9": 0.1}})
