# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Node parameters: one spec system for every node, and the perception node's parameters.

The one mechanism (used by the perception node, the policy node, the recorder and the simulator
nodes): a table of :class:`ParamSpec` (description with units, a range where numeric, choices
where an enumeration; **read-only unless marked** ``read_only=False``, i.e. unless the node
handles a run-time change), declared by :func:`declare` with ROS descriptors, read into a frozen
dataclass per node (:class:`PerceptionParams` here, hand-written with validation; or one made
from the table by :func:`params_class`).

Perception: every parameter is declared once from ``PARAMETERS``.  The values are read into
:class:`PerceptionParams`, which validates itself in ``__post_init__`` and raises the project's
exceptions naming the offending parameter.  Run-time changes are validated by building a new
:class:`PerceptionParams` from the current one plus the changes (:func:`apply_changes`).
"""

from dataclasses import dataclass, fields, InitVar, make_dataclass, replace
from dataclasses import field as dc_field
import math
from typing import Any, Mapping, Sequence

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.parameter import Parameter

from promptda_ros.backends import BUILTIN_BACKENDS, NETWORK_RELATIVE_SOURCES
from promptda_ros.core.errors import CalibrationError, InputError
from promptda_ros.core.prompt import FILL_METHODS
from promptda_ros.pipeline import PipelineConfig, unit_quaternion

PROMPT_FILLS = FILL_METHODS
_PIPELINE = PipelineConfig()  # the defaults of the frame pipeline's parameters
PROMPT_SOURCES = ('points', 'depth_image')
IMAGE_TRANSPORTS = ('raw', 'compressed')
EXTRINSICS_SOURCES = ('auto', 'tf', 'static')
SENSOR_QOS = ('sensor_data', 'reliable')
DEVICES = ('cpu', 'cuda')
PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')  # model.runtime.PRECISION_CHOICES
ENCODERS = ('', 'vits', 'vitb', 'vitl')
RELATIVE_SOURCES = ('',) + NETWORK_RELATIVE_SOURCES  # the 'starrygazer' backend's ('' = none)
MAX_IMAGE_AREA = 4096 * 3072
"""Default bound on image area, px^2: 12.6 MP covers 4K UHD (3840 x 2160) and 12 MP sensors,
while a header claiming e.g. 65535 x 65535 (4.3 G px, 13 GB as rgb8) is refused before any
allocation; at this bound one rgb8 frame is 38 MB and a float32 depth 50 MB."""


@dataclass(frozen=True)
class ParamSpec:
    """Declaration of one node parameter.

    Attributes:
        name: parameter name (flat, as in ``config/perception.yaml``).
        default: default value; its Python type fixes the ROS parameter type.
        description: one line with units.
        read_only: declared read-only (the default): a change needs a restart. Only
            parameters the node applies at run time say ``read_only=False``.
        low: lower bound for int/float parameters (inclusive), or None.
        high: upper bound for int/float parameters (inclusive), or None.
        choices: allowed values for string parameters, or None for free text.
        float_range, int_range: ``(low, high)`` in one argument (sets ``low`` / ``high``).
    """

    name: str
    default: Any
    description: str
    read_only: bool = True
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    float_range: InitVar[tuple | None] = None
    int_range: InitVar[tuple | None] = None

    def __post_init__(self, float_range: tuple | None, int_range: tuple | None) -> None:
        """Take ``(low, high)`` from ``float_range`` / ``int_range`` when given."""
        bounds = float_range if float_range is not None else int_range
        if bounds is not None:
            object.__setattr__(self, 'low', bounds[0])
            object.__setattr__(self, 'high', bounds[1])


def changeable(*specs: ParamSpec) -> tuple[ParamSpec, ...]:
    """Mark specs as applied at run time (``read_only=False``)."""
    return tuple(replace(spec, read_only=False) for spec in specs)


PARAMETERS: tuple[ParamSpec, ...] = (
    # -- model / backend: fixed at configure time ---------------------------------------------
    ParamSpec('backend', 'default', 'depth backend: one of %s (%s need checkpoint) or a '
              'registered name' % (', '.join(BUILTIN_BACKENDS), ', '.join(
                  n for n, b in BUILTIN_BACKENDS.items() if b.needs_weights)),
              read_only=True),
    ParamSpec('checkpoint', '', 'path of the PromptDA checkpoint (.safetensors / .pth / -hf '
              "directory); only used by the 'promptda' backend", read_only=True),
    ParamSpec('relative_source', '', "relative depth of the 'starrygazer' backend (whose "
              "refinement weights are 'checkpoint'): 'promptda_noprompt' (the PromptDA network "
              "of relative_checkpoint without a prompt) or 'depth_anything_v2' (a Depth "
              "Anything V2 -hf folder or .pth in relative_checkpoint)", read_only=True,
              choices=RELATIVE_SOURCES),
    ParamSpec('relative_checkpoint', '', "weights of the 'starrygazer' backend's relative "
              'depth network (see relative_source)', read_only=True),
    ParamSpec('encoder', '', "ViT encoder of the checkpoint: 'vits', 'vitb', 'vitl' or '' to "
              'infer it from the checkpoint', read_only=True, choices=ENCODERS),
    ParamSpec('device', 'cpu', "inference device: 'cpu' or 'cuda'", read_only=True,
              choices=DEVICES),
    ParamSpec('precision', 'auto', "inference precision: 'auto' (fp16 on cuda, fp32 on cpu), "
              "'fp32', 'fp16' (cuda) or 'bf16' (autocast of the ViT blocks)",
              read_only=True, choices=PRECISIONS),
    ParamSpec('input_size', [0, 0], 'network input size [height, width] px (multiples of 14); '
              '[0, 0] = backend default', read_only=True),
    ParamSpec('prompt_source', 'points', "prompt input: 'points' (PointCloud2 on lidar/points) "
              "or 'depth_image' (16UC1 mm / 32FC1 m Image on prompt_depth)", read_only=True,
              choices=PROMPT_SOURCES),
    ParamSpec('image_transport', 'raw', "camera input: 'raw' (Image on image) or 'compressed' "
              '(CompressedImage on image/compressed)', read_only=True, choices=IMAGE_TRANSPORTS),
    ParamSpec('sensor_qos', 'sensor_data', "subscription QoS: 'sensor_data' (best effort, keep "
              "last 5) or 'reliable' (keep last 5); qos_overrides.* also apply", read_only=True,
              choices=SENSOR_QOS),
    ParamSpec('extrinsics_source', 'auto', "LiDAR->camera transform: 'tf' (tf2 lookup at the "
              "sweep stamp), 'static' (lidar_to_camera_* parameters, identity allowed), 'auto' "
              '(tf when tf2_ros is installed, else the lidar_to_camera_* parameters when set: a '
              'LiDAR frame other than the camera frame with neither is an error, no depth); '
              'unused when both frame ids are equal', read_only=True,
              choices=EXTRINSICS_SOURCES),
    ParamSpec('lidar_cache_size', 10, 'number of LiDAR sweeps / prompt images kept for pairing',
              read_only=True, low=1, high=200),
    ParamSpec('queue_size', 2, 'paired frames waiting for inference; when full, the oldest is '
              'dropped (dropped_frames). 1 = the newest frame only (lowest latency); 2 also '
              'serves a frame that a LiDAR sweep completed together with the next one',
              read_only=True, low=1, high=8),
    ParamSpec('diagnostics_period_s', 1.0, 'period of /diagnostics messages, s', read_only=True,
              low=0.05, high=60.0),
    ParamSpec('autostart', True, 'configure and activate the lifecycle node on start-up',
              read_only=True),
    # -- changeable at run time -------------------------------------------------------------------
    *changeable(
        ParamSpec('max_image_area', MAX_IMAGE_AREA, 'largest image the node accepts, px^2 '
                  '(width * height) of camera and prompt images and of output_size; larger '
                  "images are rejected ('too_large' in diagnostics); default 4096 x 3072",
                  low=1, high=1 << 28),
        ParamSpec('output_size', [0, 0], 'output depth size [height, width] px; [0, 0] = input '
                  'image size (depth/camera_info is scaled to match)'),
        ParamSpec('slop_s', 0.05, 'max |image stamp - LiDAR stamp| for pairing, s', low=0.0,
                  high=1.0),
        ParamSpec('prompt_height', _PIPELINE.prompt_height, 'height of the LiDAR prompt grid, '
                  'px', low=8, high=4096),
        ParamSpec('prompt_width', _PIPELINE.prompt_width, 'width of the LiDAR prompt grid, px',
                  low=8, high=4096),
        ParamSpec('prompt_fill', _PIPELINE.prompt_fill, "hole filling of the prompt: 'pyramid', "
                  "'knn', 'morph' or 'none'", choices=PROMPT_FILLS),
        ParamSpec('min_depth', _PIPELINE.min_depth, 'minimum valid depth (prompt and output), m',
                  low=0.0, high=1000.0),
        ParamSpec('max_depth', _PIPELINE.max_depth, 'maximum valid depth (prompt and output), m',
                  low=0.0, high=1000.0),
        ParamSpec('min_prompt_coverage', _PIPELINE.min_prompt_coverage, 'minimum fraction of '
                  'prompt cells with a LiDAR return; sparser frames are rejected', low=0.0,
                  high=1.0),
        ParamSpec('support_radius_deg', _PIPELINE.support_radius_deg, 'depth farther than this '
                  'angle from every prompt return (e.g. above the LiDAR field of view) is NaN, '
                  'deg; 0 = no limit (returns beyond max_depth still mask their pixels)',
                  low=0.0, high=180.0),
        ParamSpec('publish_points', True, 'publish depth/points (only computed while subscribed)'),
        ParamSpec('points_rgb', True, 'depth/points carries packed rgb (xyzrgb) instead of xyz'),
        ParamSpec('points_decimation', 1, 'keep every n-th row and column in depth/points',
                  low=1, high=64),
        ParamSpec('points_max_range', 0.0, 'drop (NaN) points farther than this from the camera, '
                  'm; 0 = no limit', low=0.0, high=1000.0),
        ParamSpec('publish_prompt', False, 'publish the filled prompt on prompt/image (32FC1 m)'),
        ParamSpec('lidar_to_camera_translation', [0.0, 0.0, 0.0], 'static extrinsics: position of '
                  'the LiDAR frame in the camera optical frame [x, y, z], m'),
        ParamSpec('lidar_to_camera_rotation_xyzw', [0.0, 0.0, 0.0, 1.0], 'static extrinsics: '
                  'rotation LiDAR frame -> camera optical frame, quaternion [x, y, z, w]'),
        ParamSpec('tf_timeout_s', 0.05, 'tf2 lookup timeout, s', low=0.0, high=5.0),
    ),
)

SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in PARAMETERS}


def check_value(spec: ParamSpec, value: Any) -> None:
    """Check one value against its spec: choices, a finite number inside [low, high].

    Raises:
        InputError: naming the parameter and what it allows.
    """
    if spec.choices is not None and value not in spec.choices:
        raise InputError(f'parameter {spec.name} must be one of {list(spec.choices)}, '
                         f'got {value!r}')
    if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or \
                not math.isfinite(value):
            raise InputError(f'parameter {spec.name} must be a finite number, got {value!r}')
        if (spec.low is not None and value < spec.low) or \
                (spec.high is not None and value > spec.high):
            raise InputError(f'parameter {spec.name} must be in [{spec.low}, {spec.high}], '
                             f'got {value!r}')


def _size(value: Any, name: str) -> tuple[int, int]:
    values = list(value)
    if len(values) != 2:
        raise InputError(f'parameter {name} must be [height, width], got {values!r}')
    height, width = (int(v) for v in values)
    if (height == 0) != (width == 0) or height < 0 or width < 0:
        raise InputError(f'parameter {name} must be [0, 0] or two positive sizes, got {values!r}')
    return height, width


def _floats(value: Any, name: str, count: int) -> tuple[float, ...]:
    values = [float(v) for v in value]
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise CalibrationError(f'parameter {name} must be {count} finite numbers, got {values!r}')
    return tuple(values)


@dataclass(frozen=True)
class PerceptionParams:
    """Validated configuration of the perception node (``PARAMETERS`` gives meaning, units)."""

    backend: str = 'default'
    checkpoint: str = ''
    relative_source: str = ''
    relative_checkpoint: str = ''
    encoder: str = ''
    device: str = 'cpu'
    precision: str = 'auto'
    input_size: tuple[int, int] = (0, 0)
    prompt_source: str = 'points'
    image_transport: str = 'raw'
    sensor_qos: str = 'sensor_data'
    extrinsics_source: str = 'auto'
    lidar_cache_size: int = 10
    queue_size: int = 2
    diagnostics_period_s: float = 1.0
    autostart: bool = True
    max_image_area: int = MAX_IMAGE_AREA
    output_size: tuple[int, int] = (0, 0)
    slop_s: float = 0.05
    prompt_height: int = _PIPELINE.prompt_height
    prompt_width: int = _PIPELINE.prompt_width
    prompt_fill: str = _PIPELINE.prompt_fill
    min_depth: float = _PIPELINE.min_depth
    max_depth: float = _PIPELINE.max_depth
    min_prompt_coverage: float = _PIPELINE.min_prompt_coverage
    support_radius_deg: float = _PIPELINE.support_radius_deg
    publish_points: bool = True
    points_rgb: bool = True
    points_decimation: int = 1
    points_max_range: float = 0.0
    publish_prompt: bool = False
    lidar_to_camera_translation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    lidar_to_camera_rotation_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    tf_timeout_s: float = 0.05

    def __post_init__(self) -> None:
        if not self.backend.strip():
            raise InputError('parameter backend must not be empty')
        object.__setattr__(self, 'input_size', _size(self.input_size, 'input_size'))
        object.__setattr__(self, 'output_size', _size(self.output_size, 'output_size'))
        h, w = self.input_size
        if h and (h % 14 or w % 14):
            raise InputError(f'parameter input_size must be multiples of 14, got [{h}, {w}]')
        for spec in PARAMETERS:
            check_value(spec, getattr(self, spec.name))
        out_h, out_w = self.output_size
        if out_h * out_w > self.max_image_area:
            raise InputError(f'parameter output_size [{out_h}, {out_w}] is {out_h * out_w} px^2, '
                             f'more than max_image_area ({self.max_image_area} px^2)')
        if self.max_depth <= self.min_depth:
            raise InputError(f'parameter max_depth ({self.max_depth} m) must be greater than '
                             f'min_depth ({self.min_depth} m)')
        object.__setattr__(self, 'lidar_to_camera_translation', _floats(
            self.lidar_to_camera_translation, 'lidar_to_camera_translation', 3))
        quat = _floats(self.lidar_to_camera_rotation_xyzw, 'lidar_to_camera_rotation_xyzw', 4)
        try:
            unit = unit_quaternion(quat)
        except CalibrationError:
            raise CalibrationError('parameter lidar_to_camera_rotation_xyzw must be a non-zero '
                                   f'quaternion, got {list(quat)}') from None
        object.__setattr__(self, 'lidar_to_camera_rotation_xyzw', unit)

    @property
    def prompt_hw(self) -> tuple[int, int]:
        """Prompt grid size (height, width) in pixels."""
        return self.prompt_height, self.prompt_width

    @property
    def pipeline(self) -> PipelineConfig:
        """The frame pipeline's part of the parameters."""
        return PipelineConfig(prompt_height=self.prompt_height, prompt_width=self.prompt_width,
                              prompt_fill=self.prompt_fill, min_depth=self.min_depth,
                              max_depth=self.max_depth,
                              min_prompt_coverage=self.min_prompt_coverage,
                              output_size=self.output_size,
                              support_radius_deg=self.support_radius_deg)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> 'PerceptionParams':
        """Build from a name -> value mapping; raises InputError naming unknown parameters."""
        unknown = sorted(set(values) - set(SPECS))
        if unknown:
            raise InputError(f'unknown perception parameter(s): {", ".join(unknown)}')
        return cls(**{name: _plain(value) for name, value in values.items()})

    def as_dict(self) -> dict[str, Any]:
        """Return the values as a name -> plain Python value dict (lists for arrays)."""
        out = {}
        for field in fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    def backend_options(self) -> dict[str, Any]:
        """Return the keyword options for ``make_backend`` ('promptda' and 'starrygazer')."""
        if self.backend == 'starrygazer':
            return {'checkpoint': self.checkpoint, 'relative_source': self.relative_source,
                    'relative_checkpoint': self.relative_checkpoint, 'device': self.device,
                    'input_size': self.input_size if self.input_size[0] else None}
        if self.backend != 'promptda':
            return {}
        return {
            'checkpoint': self.checkpoint,
            'encoder': self.encoder or None,
            'device': self.device,
            'precision': self.precision,
            'input_size': self.input_size if self.input_size[0] else None,
        }


def _plain(value: Any) -> Any:
    """Convert array-like parameter values (lists, numpy, array.array) to tuples."""
    if isinstance(value, (str, bool, int, float)):
        return value
    return tuple(value.tolist() if hasattr(value, 'tolist') else value)


def apply_changes(current: PerceptionParams, changes: Mapping[str, Any]) -> PerceptionParams:
    """Return ``current`` with ``changes`` applied, validated.

    Raises:
        InputError / CalibrationError: naming the invalid parameter; read-only parameters and
            unknown names are rejected too.
    """
    for name in changes:
        spec = SPECS.get(name)
        if spec is None:
            raise InputError(f'unknown perception parameter: {name}')
        if spec.read_only and _plain(changes[name]) != _plain(getattr(current, name)):
            raise InputError(f'parameter {name} is read-only (restart the node to change it)')
    return replace(current, **{name: _plain(value) for name, value in changes.items()})


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """Build the ROS ParameterDescriptor of one parameter (description, range, read-only)."""
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.choices is not None:
        desc.additional_constraints = 'one of: ' + ', '.join(repr(c) for c in spec.choices)
    if spec.low is not None and spec.high is not None:
        if isinstance(spec.default, float):
            desc.floating_point_range = [FloatingPointRange(
                from_value=float(spec.low), to_value=float(spec.high), step=0.0)]
        elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
            desc.integer_range = [IntegerRange(
                from_value=int(spec.low), to_value=int(spec.high), step=1)]
    return desc


def declare(node: Any, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on ``node`` with its descriptor; return ``{name: value}``.

    An empty-list default has no ROS type: it is declared as a string array when the name ends
    with ``names``, else as a double array.

    Raises:
        InputError: a given value (``-p``, a params file, an override) that ROS refuses for
            its type or its descriptor's range, naming the parameter and its allowed range.
    """
    values = {}
    for spec in specs:
        desc = descriptor(spec)
        try:
            if isinstance(spec.default, list) and not spec.default:
                kind = (Parameter.Type.STRING_ARRAY if spec.name.endswith('names')
                        else Parameter.Type.DOUBLE_ARRAY)
                param = node.declare_parameter(spec.name, kind, desc)
                values[spec.name] = list(param.value) if param.value is not None else []
            else:
                param = node.declare_parameter(spec.name, spec.default, desc)
                values[spec.name] = param.value
        except ParameterException as exc:
            allowed = (f' (allowed: [{spec.low}, {spec.high}])'
                       if spec.low is not None and spec.high is not None else '')
            raise InputError(f'parameter {spec.name} refused: '
                             f'{str(exc).strip().splitlines()[0]}{allowed}') from None
    return values


def params_class(name: str, specs: Sequence[ParamSpec]) -> Any:
    """Return a frozen dataclass with one field per spec (arrays as tuples).

    Its instances also answer ``params['name']`` and ``as_dict()``; build one from declared
    values with ``cls.from_mapping(values)``, which checks every value against its spec
    (:func:`check_value`: choices, finite numbers inside the range).
    """
    def from_mapping(cls, values: Mapping[str, Any]):
        unknown = sorted(set(values) - {spec.name for spec in specs})
        if unknown:
            raise InputError(f'unknown {name} parameter(s): {", ".join(unknown)}')
        for spec in specs:
            if spec.name in values:
                check_value(spec, _plain(values[spec.name]))
        return cls(**{key: _plain(value) for key, value in values.items()})

    namespace = {
        '__getitem__': lambda self, key: getattr(self, key),
        'as_dict': lambda self: {f.name: getattr(self, f.name) for f in fields(self)},
        'from_mapping': classmethod(from_mapping),
        '__doc__': f'Parameters of the {name} node (frozen; see its ParamSpec table).',
    }
    return make_dataclass(name, [(spec.name, Any, dc_field(default=_plain(spec.default)))
                                 for spec in specs], frozen=True, namespace=namespace)


def declare_parameters(node: Any, specs: Sequence[ParamSpec] = PARAMETERS) -> PerceptionParams:
    """Declare every parameter on ``node`` and return the validated values.

    Raises:
        InputError / CalibrationError: when the given values (e.g. from a params file) are invalid.
    """
    return PerceptionParams.from_mapping(declare(node, specs))
