"""Locate the Shadow hand MJCF and meshes inside the installed `gymnasium-robotics` package.

We use its files in place (they carry OpenAI's and Vikash Kumar's Apache-2.0 notice in LICENSE.md next
to them) and never copy them into this repository. The package is found without importing it: importing
gymnasium_robotics registers dozens of environments and prints warnings.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

REQUIRED_FILES = ("hand/robot.xml", "hand/shared.xml", "hand/shared_asset.xml", "stls/hand/palm.stl", "LICENSE.md")
ASSETS_ENV_VAR = "DACTYL_HAND_ASSETS"  # override: a folder laid out like gymnasium_robotics/envs/assets


class AssetsNotFoundError(FileNotFoundError):
    """The Shadow hand model files are not where they should be."""


@dataclass(frozen=True)
class HandAssets:
    root: Path  # .../gymnasium_robotics/envs/assets

    @property
    def hand_dir(self) -> Path:
        return self.root / "hand"

    @property
    def mesh_dir(self) -> Path:
        return self.root / "stls" / "hand"

    @property
    def license_file(self) -> Path:
        return self.root / "LICENSE.md"


def find_hand_assets(root: str | os.PathLike | None = None) -> HandAssets:
    """Return the asset folder, or raise AssetsNotFoundError saying what was expected and where we looked."""
    looked: list[str] = []
    candidates: list[Path] = []
    if root is not None:
        candidates.append(Path(root))
        looked.append(f"{root} (given)")
    elif os.environ.get(ASSETS_ENV_VAR):
        candidates.append(Path(os.environ[ASSETS_ENV_VAR]))
        looked.append(f"{os.environ[ASSETS_ENV_VAR]} (from ${ASSETS_ENV_VAR})")
    else:
        spec = importlib.util.find_spec("gymnasium_robotics")
        if spec is None or not spec.submodule_search_locations:
            raise AssetsNotFoundError(
                "the Shadow hand model comes from the Python package gymnasium-robotics, which is not installed "
                "in this environment; run `make setup` (or `pip install gymnasium-robotics==1.4.2`), or point "
                f"${ASSETS_ENV_VAR} at a folder containing {', '.join(REQUIRED_FILES)}"
            )
        package_dir = Path(list(spec.submodule_search_locations)[0])
        candidates.append(package_dir / "envs" / "assets")
        looked.append(f"{candidates[-1]} (inside the installed gymnasium-robotics)")
    for candidate in candidates:
        missing = [f for f in REQUIRED_FILES if not (candidate / f).is_file()]
        if not missing:
            return HandAssets(candidate.resolve())
        looked[-1] += f": missing {', '.join(missing)}"
    raise AssetsNotFoundError(
        f"Shadow hand assets not found; expected {', '.join(REQUIRED_FILES)}. Looked in: {'; '.join(looked)}"
    )
