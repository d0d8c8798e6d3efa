from setuptools import find_packages, setup

setup(
    name="dactyl_training",
    version="0.1.0",
    packages=find_packages(),
    package_data={"dactyl_training": ["config/*.yaml"]},
    install_requires=["setuptools"],
    zip_safe=False,
    description="Offline training for dactyl: PPO with LSTM policy and value, Ray rollouts, the vision pose estimator, ONNX export.",
    license="Apache-2.0",
    entry_points={"dactyl.verbs": ["export = dactyl_training.verbs.export:ExportVerb",
                                  "train = dactyl_training.verbs.train:TrainVerb",
                                  "bench-train = dactyl_training.verbs.bench_train:BenchTrainVerb",
                                  "train-vision = dactyl_training.verbs.train_vision:TrainVisionVerb",
                                  "export-vision = dactyl_training.verbs.vision_model:ExportVisionVerb",
                                  "eval-vision = dactyl_training.verbs.vision_model:EvalVisionVerb",
                                  "plot-training = dactyl_training.verbs.plot_training:PlotTrainingVerb"]},
)
