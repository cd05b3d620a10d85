# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""promptda-eval fails loudly: one ``error:`` line and exit status 2, never a silent NaN.

Real frames: the VOID frame of ``shared/realdata`` (zhiyuandaily/Any2Full @9523b1b
``assets/{rgb,depth}/void_150_1``, Apache-2.0) and the iPhone + ARKit frame in
``test/data/arkit_example`` (DepthAnything/PromptDA b05523c, Apache-2.0).
"""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from promptda_ros.eval.cli import main

VOID = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'realdata',
                    'any2full_void_150_1')
ARKIT_DIR = os.path.join(os.path.dirname(__file__), 'data', 'arkit_example')
# Assumed intrinsics (none ship with the frames); the failures below do not depend on them.
VOID_K = {'fx': 514.6, 'fy': 514.6, 'cx': 319.5, 'cy': 239.5, 'width': 640, 'height': 480}
ARKIT_K = {'fx': 1450.0, 'fy': 1450.0, 'cx': 959.5, 'cy': 719.5, 'width': 1920, 'height': 1440}


def _folder(root, rgb_path, intrinsics, prompt, gt=None):
    """Write a one-frame folder; ``prompt`` / ``gt`` as .npy (float) or .png (uint16)."""
    for d in ('rgb', 'prompt', 'gt'):
        os.makedirs(root / d, exist_ok=True)
    shutil.copy(rgb_path, root / 'rgb' / ('000000' + os.path.splitext(rgb_path)[1]))
    for d, arr in (('prompt', prompt), ('gt', gt)):
        if arr is None:
            continue
        if arr.dtype == np.uint16:
            cv2.imwrite(str(root / d / '000000.png'), arr)
        else:
            np.save(root / d / '000000.npy', arr)
    (root / 'intrinsics.json').write_text(json.dumps(intrinsics))
    return str(root)


def _void(tmp_path, prompt_scale=1.0, gt_scale=1.0):
    if not os.path.isdir(VOID):
        pytest.skip('shared real data not present')
    depth = np.load(os.path.join(VOID, 'depth.npz'))['depth_m']
    return _folder(tmp_path / 'void', os.path.join(VOID, 'rgb.png'), VOID_K,
                   depth * np.float32(prompt_scale), depth * np.float32(gt_scale))


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert 'Traceback' not in err and len(lines) == 1, err
    assert lines[0].startswith('error: '), err
    return lines[0]


def _eval(folder, tmp_path, *extra):
    return main([folder, '--out', str(tmp_path / 'out'), '--methods', 'bilinear',
                 '--no-plots', '--no-recon', *extra])


def test_reference_in_millimetres_names_the_unit(tmp_path, capsys):
    """Was: L1 nan, exit 0, no note."""
    assert _eval(_void(tmp_path, gt_scale=1000.0), tmp_path) == 2
    line = _error_line(capsys)
    assert 'reference gt/000000 is not in metres' in line and 'millimetres' in line


def test_prompt_in_millimetres_names_the_unit(tmp_path, capsys):
    """Was: 'too few valid cells: 0 of 49152', the range unnamed."""
    assert _eval(_void(tmp_path, prompt_scale=1000.0), tmp_path) == 2
    line = _error_line(capsys)
    assert 'prompt/000000 is not in metres' in line and 'millimetres' in line
    assert 'median 960.9' in line  # the VOID frame's median, 0.96 m, written in mm


def test_transposed_prompt_is_refused(tmp_path, capsys):
    """Was: accepted, L1 2.82 m instead of 0.40 m (a 256x192 prompt for a 4:3 image)."""
    depth_mm = cv2.imread(os.path.join(ARKIT_DIR, 'arkit_depth.png'), cv2.IMREAD_UNCHANGED)
    reference = cv2.resize(depth_mm.astype(np.float32) / 1000, (1920, 1440),
                           interpolation=cv2.INTER_NEAREST)
    folder = _folder(tmp_path / 'arkit', os.path.join(ARKIT_DIR, 'image.jpg'), ARKIT_K,
                     np.ascontiguousarray(depth_mm.T), reference)
    assert _eval(folder, tmp_path) == 2
    line = _error_line(capsys)
    assert 'prompt/000000' in line and "does not have the image's aspect ratio" in line


def test_no_reference_in_the_depth_range_exits_2_and_says_why(tmp_path, capsys):
    """Was: L1 nan, exit 0 (every reference pixel outside --min-depth..--max-depth)."""
    assert _eval(_void(tmp_path), tmp_path, '--max-depth', '0.5') == 2
    line = _error_line(capsys)
    assert 'no frame could be scored (1 evaluated)' in line
    assert '0..0.5 m (the reference spans 0.5' in line


def test_no_method_could_run_exits_2_with_the_methods_reason(tmp_path, capsys):
    """99 % of the 225 VOID points held out: 2 are left, too few for a prompt."""
    assert _eval(_void(tmp_path), tmp_path, '--holdout', '0.99') == 2
    line = _error_line(capsys)
    assert 'no frame could be scored' in line and 'bilinear: PromptError' in line


@pytest.mark.parametrize('fraction', ['0', '1', '1.5', 'nan'])
def test_holdout_fraction_out_of_range(tmp_path, capsys, fraction):
    assert _eval(_void(tmp_path), tmp_path, '--holdout', fraction) == 2
    assert '--holdout: held-out fraction must be in (0, 1)' in _error_line(capsys)
