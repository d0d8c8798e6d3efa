from glob import glob

from setuptools import find_packages, setup

PACKAGE = "dactyl_vision"

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
    description="Three-camera CNN pose estimator node (ONNX Runtime)",
    license="Apache-2.0",
    entry_points={
        "console_scripts": ["vision_node = dactyl_vision.vision_node:main"],
        "dactyl.verbs": ["bench-vision = dactyl_vision.bench:BenchVisionVerb"],
    },
)
