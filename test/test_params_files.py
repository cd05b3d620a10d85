# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Every shipped params file applies to its node inside a namespace (rclpy's own YAML loading)."""

from pathlib import Path

import pytest
import rclpy
import yaml

from promptda_policy.ros.policy_node import PolicyNode
from promptda_policy.ros.recorder_node import RecorderNode
from promptda_ros.core.errors import PromptDAError
from promptda_ros.ros.perception_node import PerceptionNode

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / 'config').glob('*.yaml'))

# (file, section, node class, non-default values to write, parameter to read back)
CASES = [
    ('perception.yaml', 'promptda_perception', PerceptionNode,
     {'slop_s': 0.02, 'autostart': False}, 'slop_s'),
    ('policy.yaml', 'promptda_policy', PolicyNode,
     {'control_rate_hz': 15.0, 'autostart': False}, 'control_rate_hz'),
    ('policy.yaml', 'promptda_policy_recorder', RecorderNode, {'fps': 15}, 'fps'),
]


def test_every_section_uses_the_any_namespace_wildcard():
    assert {p.name for p in CONFIGS} >= {'perception.yaml', 'policy.yaml'}
    for path in CONFIGS:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
        for key, section in data.items():
            assert key.startswith('/**/'), f'{path.name}: {key!r} only applies in the root ' \
                'namespace; write /**/' + key
            assert set(section) == {'ros__parameters'}, (path.name, key)


def _start(cls, params_file: Path, context):
    return cls(context=context, namespace='robot1',
               cli_args=['--ros-args', '--params-file', str(params_file)])


@pytest.mark.parametrize('file_name, section, cls, values, probe', CASES,
                         ids=[case[1] for case in CASES])
def test_params_file_applies_under_a_namespace(tmp_path, file_name, section, cls, values,
                                               probe):
    data = yaml.safe_load((ROOT / 'config' / file_name).read_text(encoding='utf-8'))
    params = data['/**/' + section]['ros__parameters']
    assert params[probe] != values[probe], 'pick a value that differs from the shipped one'
    params.update(values)
    if cls is RecorderNode:
        params['root'] = str(tmp_path / 'dataset')  # the recorder needs a new folder
    wildcard = tmp_path / 'wildcard.yaml'
    wildcard.write_text(yaml.safe_dump(data), encoding='utf-8')
    # The same file with a bare node-name key: rclpy ignores it inside a namespace.
    bare = tmp_path / 'bare.yaml'
    bare.write_text(yaml.safe_dump({section: data['/**/' + section]}), encoding='utf-8')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=77)
    try:
        if cls is RecorderNode:  # root stays '' when the file is ignored: refused
            with pytest.raises(PromptDAError, match='root is empty'):
                _start(cls, bare, context)
        else:
            node = _start(cls, bare, context)
            try:
                assert node.get_parameter(probe).value != values[probe]
            finally:
                node.destroy_node()
        node = _start(cls, wildcard, context)
        try:
            assert node.get_namespace() == '/robot1' and node.get_name() == section
            for name, value in values.items():
                assert node.get_parameter(name).value == value, name
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
