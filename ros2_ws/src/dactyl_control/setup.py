from glob import glob

from setuptools import find_packages, setup

PACKAGE = "dactyl_control"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="dactyl developers",
    maintainer_email="dev@dactyl.invalid",
    description="The LSTM control policy node (ONNX Runtime) and the trial manager",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "policy_node = dactyl_control.policy_node:main",
        "trial_manager = dactyl_control.trial_manager:main",
    ], "dactyl.verbs": [
        "graph-loop = dactyl_control.verbs.graph_loop:GraphLoopVerb",
    ]},
)
