# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Build script: an ament_python package that also installs with pip into a plain venv."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = 'promptda_ros'


def _data(folder, pattern):
    """Return the files of ``folder`` matching ``pattern`` (for data_files)."""
    return [f for f in glob(os.path.join(folder, pattern)) if os.path.isfile(f)]


setup(
    name=PACKAGE,
    version='0.1.0',
    # The policy lives in the top-level policy/ folder but installs as ``promptda_policy`` (the
    # simulator likewise in sim/ as ``promptda_sim``):
    # a bare ``policy`` module would clash with anything else of that name on sys.path.
    packages=find_packages(include=['promptda_ros', 'promptda_ros.*'])
    + find_packages('policy', include=['promptda_policy', 'promptda_policy.*'])
    + find_packages('sim', include=['promptda_sim', 'promptda_sim.*']),
    package_dir={'promptda_policy': 'policy/promptda_policy', 'promptda_sim': 'sim/promptda_sim'},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', _data('launch', '*.launch.py')),
        ('share/' + PACKAGE + '/config', _data('config', '*.yaml') + _data('config', '*.rviz')
         + _data('config', '*.xml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='The promptda_ros Authors',
    maintainer_email='promptda-ros@users.noreply.github.com',
    description='Dense metric depth from camera + LiDAR with Prompt Depth Anything, '
                'and an ACT grasping policy on that depth.',
    license='Apache-2.0',
    python_requires='>=3.10',
    entry_points={
        'console_scripts': [
            'promptda-make-sample = promptda_ros.sample.cli:main',
            'promptda-default-bench = promptda_ros.sample.bench_cli:main',
            'promptda-depth = promptda_ros.model.cli:depth_main',
            'promptda-convert = promptda_ros.model.cli:convert_main',
            'promptda-export = promptda_ros.model.cli:export_main',
            'promptda-perception = promptda_ros.ros.perception_node:main',
            'promptda-replay = promptda_ros.ros.replay:main',
            'promptda-demo = promptda_ros.demo:main',
            'promptda-eval = promptda_ros.eval.cli:main',
            'promptda-adapt = promptda_ros.adapt.cli:main',
            'promptda-train = promptda_ros.train.cli:train_main',
            'promptda-simulate-lidar = promptda_ros.train.cli:simulate_lidar_main',
            'promptda-policy-record = promptda_policy.ros.recorder_node:main',
            'promptda-policy-train = promptda_policy.train:main',
            'promptda-policy-eval = promptda_policy.train:eval_main',
            'promptda-policy = promptda_policy.ros.policy_node:main',
            'promptda-sim = promptda_sim.cli:main',
            'promptda-sim-record = promptda_sim.graph:record_main',
            'promptda-sim-eval = promptda_sim.graph:main',
            'promptda-sim-pipeline = promptda_sim.pipeline:main',
            'promptda-sim-frames = promptda_sim.frames:main',
        ],
    },
)
