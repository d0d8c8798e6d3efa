from glob import glob

from setuptools import find_packages, setup

PACKAGE = "shadow_hand_driver"

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
    description="Shadow Dexterous Hand driver (lifecycle node with safety filter, watchdog and emergency stop) and PhaseSpace motion-capture node (marker fitting to object pose and fingertips)",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "hand_node = shadow_hand_driver.hand_node:main",
        "phasespace_node = shadow_hand_driver.phasespace_node:main",
    ]},
)
