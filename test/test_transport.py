# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Large images between processes: the shipped Fast DDS profile delivers every 640x480 frame."""

import ast
import importlib.util
from pathlib import Path
import xml.etree.ElementTree as ET

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / 'config' / 'fastdds_large_data.xml'
NS = {'dds': 'http://www.eprosima.com'}


def _bench():
    spec = importlib.util.spec_from_file_location('bench_transport',
                                                  ROOT / 'bench' / 'bench_transport.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_profile_is_a_default_participant_profile_with_large_shm_segments():
    root = ET.parse(PROFILE).getroot()
    participant = root.find('dds:profiles/dds:participant', NS)
    assert participant.get('is_default_profile') == 'true'
    used = [t.text for t in participant.findall('dds:rtps/dds:userTransports/dds:transport_id',
                                                NS)]
    shm = [d for d in root.findall('dds:profiles/dds:transport_descriptors/'
                                   'dds:transport_descriptor', NS)
           if d.findtext('dds:type', namespaces=NS) == 'SHM']
    assert shm and shm[0].findtext('dds:transport_id', namespaces=NS) in used
    # Several full 640x480 xyzrgb clouds (9.8 MB each) fit in one segment.
    assert int(shm[0].findtext('dds:segment_size', namespaces=NS)) >= 3 * 640 * 480 * 32


def test_every_640x480_frame_arrives_across_processes_with_best_effort_qos():
    received = _bench().measure(frames=30, rate=30.0, width=640, height=480,
                                qos='best_effort', profile=str(PROFILE), domain=93,
                                timeout=20.0)
    assert received == 30


def test_launch_file_sets_the_profile_for_the_node_and_setup_installs_it():
    source = (ROOT / 'launch' / 'perception.launch.py').read_text(encoding='utf-8')
    tree = ast.parse(source)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    env = [c for c in calls if getattr(c.func, 'id', '') == 'SetEnvironmentVariable']
    assert env and env[0].args[0].value == 'FASTDDS_DEFAULT_PROFILES_FILE'
    assert "'large_data_transport'" in source and 'fastdds_large_data.xml' in source
    assert "_data('config', '*.xml')" in (ROOT / 'setup.py').read_text(encoding='utf-8')
