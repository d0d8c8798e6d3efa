"""Shared fixtures. Importing dactyl_core first selects MuJoCo's headless GL backend."""
import dactyl_core  # noqa: F401  (sets MUJOCO_GL before mujoco is imported anywhere)
import pytest

from dactyl_core.scene import cached_scene


@pytest.fixture(scope="session")
def block_scene():
    return cached_scene("block")


@pytest.fixture(scope="session")
def prism_scene():
    return cached_scene("prism")
