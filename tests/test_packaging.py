"""The workspace layout: proper ament_python packages, a core that never imports rclpy, one CLI."""
import ast
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROS_PACKAGES = ["dactyl_core", "dactyl_ros", "dactyl_sim", "dactyl_control", "dactyl_vision", "shadow_hand_driver"]


@pytest.mark.parametrize("name", ROS_PACKAGES)
def test_ament_python_package(name):
    pkg = ROOT / "ros2_ws" / "src" / name
    manifest = ET.parse(pkg / "package.xml").getroot()
    assert manifest.get("format") == "3"
    assert manifest.findtext("name") == name
    assert manifest.find("export/build_type").text == "ament_python"
    assert (pkg / "resource" / name).is_file()
    assert (pkg / name / "__init__.py").is_file()
    setup_cfg = (pkg / "setup.cfg").read_text()
    assert f"$base/lib/{name}" in setup_cfg
    setup_py = (pkg / "setup.py").read_text()
    assert "share/ament_index/resource_index/packages" in setup_py and "package.xml" in setup_py


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_rclpy():
    core = ROOT / "ros2_ws" / "src" / "dactyl_core" / "dactyl_core"
    offenders = [str(p.relative_to(ROOT)) for p in core.rglob("*.py") if {"rclpy", "rclpy_message_converter"} & _imports(p)]
    assert offenders == []


def test_cli_lists_its_verbs():
    out = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for verb in ("scene", "joints"):
        assert verb in out


def test_cli_bad_input_is_one_clear_line(tmp_path):
    bad = tmp_path / "scene.yaml"
    bad.write_text("objct: block\n")
    result = subprocess.run([sys.executable, "-m", "dactyl_core.cli", "scene", "--config", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown key(s) ['objct']" in result.stderr and "Traceback" not in result.stderr
