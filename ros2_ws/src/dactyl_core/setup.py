from glob import glob

from setuptools import find_packages, setup

PACKAGE = "dactyl_core"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    package_data={PACKAGE: ["config/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob(f"{PACKAGE}/config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="dactyl developers",
    maintainer_email="dev@dactyl.invalid",
    description="Shared core of dactyl: scene, joint table, rotations, task, contracts, CLI.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": ["dactyl = dactyl_core.cli:main"],
        "dactyl.verbs": [
            "scene = dactyl_core.verbs.scene:SceneVerb",
            "joints = dactyl_core.verbs.joint_table:JointTableVerb",
            "evaluate = dactyl_core.verbs.evaluate:EvaluateVerb",
            "bench-sim = dactyl_core.verbs.bench_sim:BenchSimVerb",
            "calibrate-mocap = dactyl_core.verbs.calibrate_mocap:CalibrateMocapVerb",
            "render-dataset = dactyl_core.verbs.render_dataset:RenderDatasetVerb",
        ],
    },
)
