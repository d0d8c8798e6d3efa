from setuptools import find_packages, setup

PACKAGE = "dactyl_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="dactyl developers",
    maintainer_email="dev@dactyl.invalid",
    description="Shared ROS-side utilities of the dactyl nodes.",
    license="Apache-2.0",
    entry_points={"console_scripts": [], "dactyl.verbs": ["up = dactyl_ros.verbs.up:UpVerb", "bench-graph = dactyl_ros.verbs.bench_graph:BenchGraphVerb"]},
)
