# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Procedural indoor scene, ray-cast camera and spinning LiDAR (deterministic from a seed).

The scene is a room (floor, walls, ceiling) holding furniture-like boxes against the walls,
posters on the walls, a table with legs and a few objects (boxes, spheres, cylinders) on it.
Every surface carries a procedural solid texture (checker, wood rings, value noise, poster
stripes, plain) evaluated at the 3-D hit point, shaded with a Lambertian point light plus
ambient term, so the RGB image has strong edges both at depth discontinuities and inside flat
surfaces (texture and poster edges with no depth change).

Frames (REP 103 / 105):

* ``odom`` (world): z up. The robot ``base_link`` drives on an arc around the table, yawing to
  face it; its pose is a smooth function of time (:meth:`SampleGenerator.T_world_base`).
* ``camera_optical_frame``: z forward, x right, y down; mounted on ``base_link`` pitched down
  toward the table top.
* ``lidar``: x forward, y left, z up; mounted 10 cm behind and above the camera with a small
  extra yaw / pitch / roll (a known, non-trivial extrinsic).

Sensors:

* Camera: ``width`` x ``height`` (default 640 x 480), ``fx = fy = 525 * width / 640`` and an
  off-centre principal point. Rays are cast per pixel centre; ground-truth depth is the
  optical-axis z in metres (every pixel hits the room, so GT is dense).
* LiDAR: a spinning multi-beam pattern (default 32 beams over +-22.5 deg elevation, Ouster
  OS1-32-like, so the beams cover the camera's +-24.6 deg vertical field of view; 0.3 deg
  azimuth steps over the forward 180 deg), Gaussian range noise ``sigma = 8 mm + 0.2 % of range``,
  10 % random dropouts, dropouts on dark surfaces and at grazing incidence, min / max range.
  Each sweep is cast from the sensor pose at the LiDAR stamp (camera stamp + 7 ms by default).

Generation is fully vectorised numpy (one pass of all rays per primitive), about 0.2 s per
640 x 480 frame on one core. Frame ``i`` uses its own generator seeded by ``(seed, i)`` so any
frame can be produced on its own and every run with the same seed is bit-identical.

Over 500 lines because the procedural scene (geometry, textures, camera and LiDAR casting) is one
generator whose parts are used nowhere else.
"""

from dataclasses import dataclass, field
import math
from typing import Iterator, List, Optional, Tuple

import numpy as np

from promptda_ros.core.camera import PinholeCamera
from promptda_ros.core.errors import InputError
from promptda_ros.core.sync import seconds_to_ns
from promptda_ros.sample import mono_sim

BASE_STAMP_NS = 1_700_000_000_000_000_000
"""Stamp of frame 0 (integer nanoseconds since the epoch)."""

_EPS = 1e-6

# Material kinds (texture generators).
SOLID, CHECKER, WOOD, NOISE, POSTER = range(5)


@dataclass(frozen=True)
class SampleConfig:
    """Parameters of a generated sample (all lengths in metres, angles in degrees).

    Attributes:
        seed: seed of the scene layout, trajectory and sensor noise.
        frames: number of camera frames (>= 1).
        width, height: camera image size in pixels.
        rate_hz: camera (and LiDAR) frame rate.
        lidar_offset_s: LiDAR stamp minus camera stamp, seconds (pairing needs a slop).
        lidar_beams: number of LiDAR beams (rows).
        lidar_elevation_deg: (min, max) beam elevation.
        lidar_azimuth_deg: (min, max) azimuth kept (forward sector), x forward, y left.
        lidar_azimuth_step_deg: azimuth resolution.
        range_noise_m: constant part of the range noise sigma.
        range_noise_rel: proportional part of the range noise sigma (fraction of range).
        dropout: fraction of returns dropped at random.
        min_range_m, max_range_m: LiDAR range limits.
        rgb_noise: sigma of additive image noise in 8-bit levels.
    """

    seed: int = 0
    frames: int = 30
    width: int = 640
    height: int = 480
    rate_hz: float = 10.0
    lidar_offset_s: float = 0.007
    lidar_beams: int = 32
    lidar_elevation_deg: Tuple[float, float] = (-22.5, 22.5)
    lidar_azimuth_deg: Tuple[float, float] = (-90.0, 90.0)
    lidar_azimuth_step_deg: float = 0.3
    range_noise_m: float = 0.008
    range_noise_rel: float = 0.002
    dropout: float = 0.10
    min_range_m: float = 0.3
    max_range_m: float = 20.0
    rgb_noise: float = 2.0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise InputError(f'seed must be a non-negative integer, got {self.seed!r}')
        if int(self.frames) < 1:
            raise InputError(f'frames must be >= 1, got {self.frames}')
        if not (16 <= int(self.width) <= 8192 and 16 <= int(self.height) <= 8192):
            raise InputError(
                f'image size must be 16..8192 pixels, got {self.width}x{self.height}')
        if not self.rate_hz > 0:
            raise InputError(f'rate_hz must be > 0, got {self.rate_hz}')
        if not abs(self.lidar_offset_s) < 0.5 / self.rate_hz:
            raise InputError(
                f'lidar_offset_s must be smaller than half a frame period, got '
                f'{self.lidar_offset_s}')
        if int(self.lidar_beams) < 1 or not self.lidar_azimuth_step_deg > 0:
            raise InputError('lidar_beams must be >= 1 and lidar_azimuth_step_deg > 0')
        lo, hi = self.lidar_elevation_deg
        if not -89.0 < lo <= hi < 89.0:
            raise InputError(f'lidar_elevation_deg must satisfy -89 < min <= max < 89, '
                             f'got {self.lidar_elevation_deg}')
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f'dropout must be in [0, 1), got {self.dropout}')
        if not 0.0 <= self.min_range_m < self.max_range_m:
            raise InputError('need 0 <= min_range_m < max_range_m')
        if self.range_noise_m < 0 or self.range_noise_rel < 0 or self.rgb_noise < 0:
            raise InputError('noise levels must be >= 0')


# ----------------------------------------------------------------------------- geometry helpers
def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _transform(R: np.ndarray, t) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


# Optical frame (x right, y down, z forward) expressed in a body frame (x fwd, y left, z up).
R_BODY_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


# ----------------------------------------------------------------------------- scene container
@dataclass
class Scene:
    """Analytic scene: a room and lists of boxes, spheres and vertical cylinders.

    Attributes:
        room_lo, room_hi: (3,) metres, interior corners of the room (floor at z = 0).
        boxes: (B, 8) [cx, cy, cz, hx, hy, hz, yaw, material] (centre, half sizes, yaw rad).
        spheres: (S, 5) [cx, cy, cz, r, material].
        cylinders: (C, 6) [cx, cy, z0, z1, r, material].
        room_materials: 6 material ids for faces -x, +x, -y, +y, floor, ceiling.
        materials: (M, 10) [kind, r0, g0, b0, r1, g1, b1, scale, p0, p1] colours in 0..1.
        light: (3,) metres, point light position.
        table_center: (3,) metres, centre of the table top surface.
        table_half: (2,) metres, half sizes of the table top.
    """

    room_lo: np.ndarray
    room_hi: np.ndarray
    boxes: np.ndarray
    spheres: np.ndarray
    cylinders: np.ndarray
    room_materials: np.ndarray
    materials: np.ndarray
    light: np.ndarray
    table_center: np.ndarray
    table_half: np.ndarray
    noise_table: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ ray casting
    def cast(self, origin: np.ndarray, dirs: np.ndarray, with_object: bool = False) -> tuple:
        """Intersect rays with the scene (nearest hit wins).

        Args:
            origin: (3,) float64 metres, common ray origin in the world frame.
            dirs: (N, 3) float64 ray directions in the world frame (any length; the returned
                ``t`` is in units of the direction length, so unit-z camera rays give z-depth).
            with_object: also return the id of the object hit (see :meth:`num_objects`).

        Returns:
            t: (N,) float64 ray parameter of the hit (always finite inside the room).
            normal: (N, 3) float64 unit surface normal facing the ray origin.
            material: (N,) int64 material id.
            object_id: (N,) int64, only with ``with_object``: 0..5 the room faces -x, +x, -y,
                +y, floor, ceiling, then the boxes, spheres and cylinders in their order.
        """
        o = np.asarray(origin, dtype=np.float64)
        d = np.asarray(dirs, dtype=np.float64)
        n = d.shape[0]
        safe = np.where(np.abs(d) < 1e-12, 1e-12, d)
        inv = 1.0 / safe
        # Room (from inside): exit distance of the slab box.
        t_lo = (self.room_lo - o) * inv
        t_hi = (self.room_hi - o) * inv
        t_far = np.maximum(t_lo, t_hi)
        axis = np.argmin(t_far, axis=1)
        best_t = t_far[np.arange(n), axis]
        positive = d[np.arange(n), axis] > 0
        best_obj = axis * 2 + positive.astype(np.int64)
        best_mat = self.room_materials[best_obj]
        best_n = np.zeros((n, 3))
        best_n[np.arange(n), axis] = np.where(positive, -1.0, 1.0)

        norm = np.linalg.norm(d, axis=1)
        dn = d / np.maximum(norm, 1e-12)[:, None]

        def candidates(center, radius) -> np.ndarray:
            # Rays whose direction cone can reach the bounding sphere (cheap culling).
            v = np.asarray(center, dtype=np.float64) - o
            dist = float(np.linalg.norm(v))
            if dist <= radius * 1.001:
                return np.arange(n)
            cos_lim = math.sqrt(max(0.0, 1.0 - (radius / dist) ** 2))
            return np.flatnonzero(dn @ (v / dist) >= cos_lim - 1e-9)

        def take(idx, t, normal, mat):
            closer = (t > _EPS) & (t < best_t[idx])
            sel = idx[closer]
            best_t[sel] = t[closer]
            best_n[sel] = normal[closer]
            best_mat[sel] = mat
            best_obj[sel] = obj

        obj = 5
        for cx, cy, cz, hx, hy, hz, yaw, mat in self.boxes:
            obj += 1
            idx = candidates([cx, cy, cz], math.sqrt(hx * hx + hy * hy + hz * hz))
            if idx.size == 0:
                continue
            m = idx.size
            Rz = _rot_z(-yaw)
            ol = Rz @ (o - np.array([cx, cy, cz]))
            dl = d[idx] @ Rz.T
            dls = np.where(np.abs(dl) < 1e-12, 1e-12, dl)
            half = np.array([hx, hy, hz])
            t1 = (-half - ol) / dls
            t2 = (half - ol) / dls
            tn = np.minimum(t1, t2)
            tf = np.maximum(t1, t2)
            ax = np.argmax(tn, axis=1)
            t_near = tn[np.arange(m), ax]
            hit = (t_near <= tf.min(axis=1)) & (t_near > _EPS)
            nl = np.zeros((m, 3))
            nl[np.arange(m), ax] = -np.sign(dls[np.arange(m), ax])
            take(idx, np.where(hit, t_near, np.inf), nl @ Rz, int(mat))

        for cx, cy, cz, r, mat in self.spheres:
            obj += 1
            idx = candidates([cx, cy, cz], r)
            if idx.size == 0:
                continue
            di = d[idx]
            c = np.array([cx, cy, cz])
            oc = o - c
            a = np.einsum('ij,ij->i', di, di)
            b = di @ oc
            disc = b * b - a * (oc @ oc - r * r)
            with np.errstate(invalid='ignore'):
                t = (-b - np.sqrt(disc)) / a
            t = np.where(disc > 0, t, np.inf)
            p = o + np.where(np.isfinite(t), t, 0.0)[:, None] * di
            take(idx, t, (p - c) / r, int(mat))

        for cx, cy, z0, z1, r, mat in self.cylinders:
            obj += 1
            half_h = (z1 - z0) / 2
            idx = candidates([cx, cy, (z0 + z1) / 2], math.sqrt(r * r + half_h * half_h))
            if idx.size == 0:
                continue
            m = idx.size
            ox, oy = o[0] - cx, o[1] - cy
            di = d[idx]
            dx, dy, dz = di[:, 0], di[:, 1], di[:, 2]
            a = np.maximum(dx * dx + dy * dy, 1e-18)
            b = ox * dx + oy * dy
            disc = b * b - a * (ox * ox + oy * oy - r * r)
            with np.errstate(invalid='ignore'):
                ts = (-b - np.sqrt(disc)) / a
            zs = o[2] + ts * dz
            ts = np.where((disc > 0) & (zs >= z0) & (zs <= z1), ts, np.inf)
            tsf = np.where(np.isfinite(ts), ts, 0.0)
            side_n = np.stack([ox + tsf * dx, oy + tsf * dy, np.zeros(m)], axis=1) / r
            take(idx, ts, side_n, int(mat))
            dzs = np.where(np.abs(dz) < 1e-12, 1e-12, dz)
            for zc, nz in ((z1, 1.0), (z0, -1.0)):
                tc = (zc - o[2]) / dzs
                px, py = ox + tc * dx, oy + tc * dy
                tc = np.where(px * px + py * py <= r * r, tc, np.inf)
                take(idx, tc, np.broadcast_to([0.0, 0.0, nz], (m, 3)), int(mat))

        # Normals face the viewer.
        flip = np.einsum('ij,ij->i', best_n, d) > 0
        best_n = np.where(flip[:, None], -best_n, best_n)
        if with_object:
            return best_t, best_n, best_mat, best_obj
        return best_t, best_n, best_mat

    @property
    def num_objects(self) -> int:
        """Number of object ids :meth:`cast` can return (6 room faces + every primitive)."""
        return 6 + len(self.boxes) + len(self.spheres) + len(self.cylinders)

    # ------------------------------------------------------------------ appearance
    def albedo(self, points: np.ndarray, material: np.ndarray) -> np.ndarray:
        """Texture colour at surface points.

        Args:
            points: (N, 3) float64 metres, world hit points.
            material: (N,) int material ids.

        Returns:
            (N, 3) float64 RGB albedo in [0, 1].
        """
        m = self.materials[material]
        kind = m[:, 0].astype(np.int64)
        c0, c1 = m[:, 1:4], m[:, 4:7]
        scale = m[:, 7:8]
        p = points / scale
        w = np.zeros(len(points))
        sel = kind == CHECKER
        if np.any(sel):
            q = np.floor(p[sel] + 0.25).astype(np.int64)
            w[sel] = (q.sum(axis=1) & 1).astype(np.float64)
        sel = kind == WOOD
        if np.any(sel):
            ps = p[sel]
            r = np.sqrt(ps[:, 1] ** 2 + (ps[:, 2] * 0.5) ** 2) + 0.3 * self._noise(ps * 0.7)
            w[sel] = 0.5 + 0.5 * np.sin(2.0 * np.pi * r * 3.0)
        sel = kind == NOISE
        if np.any(sel):
            ps = p[sel]
            w[sel] = np.clip(0.65 * self._noise(ps) + 0.35 * self._noise(ps * 2.7 + 11.0), 0, 1)
        sel = kind == POSTER
        if np.any(sel):
            ps = p[sel]
            stripes = np.floor(ps[:, 0] + ps[:, 1] + m[sel, 8]) + 2 * np.floor(ps[:, 2] * 1.5)
            w[sel] = (np.mod(stripes, 3.0) / 2.0)
        return c0 + (c1 - c0) * w[:, None]

    def _noise(self, p: np.ndarray) -> np.ndarray:
        """Smooth 3-D value noise in [0, 1] from a seeded lattice; p: (N, 3) lattice units."""
        table = self.noise_table
        size = table.shape[0]
        i0 = np.floor(p).astype(np.int64)
        f = p - i0
        f = f * f * (3.0 - 2.0 * f)
        out = np.zeros(len(p))
        for dx in (0, 1):
            wx = f[:, 0] if dx else 1.0 - f[:, 0]
            for dy in (0, 1):
                wy = f[:, 1] if dy else 1.0 - f[:, 1]
                for dz in (0, 1):
                    wz = f[:, 2] if dz else 1.0 - f[:, 2]
                    v = table[(i0[:, 0] + dx) % size, (i0[:, 1] + dy) % size,
                              (i0[:, 2] + dz) % size]
                    out += wx * wy * wz * v
        return out

    def shade(self, points: np.ndarray, normals: np.ndarray, material: np.ndarray) -> np.ndarray:
        """Lambertian shading with a point light and ambient light.

        Args:
            points: (N, 3) float64 metres, world hit points.
            normals: (N, 3) float64 unit normals facing the viewer.
            material: (N,) int material ids.

        Returns:
            (N, 3) float64 linear RGB in [0, 1].
        """
        to_light = self.light - points
        dist = np.linalg.norm(to_light, axis=1)
        cos = np.clip(np.einsum('ij,ij->i', normals, to_light) / np.maximum(dist, 1e-9), 0, 1)
        light = 0.30 + 0.85 * cos / (1.0 + (dist / 4.0) ** 2)
        return np.clip(self.albedo(points, material) * light[:, None], 0.0, 1.0)

    def contains(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether points lie inside (or within ``margin`` of) any object or outside the room.

        Args:
            points: (N, 3) float64 metres, world frame.
            margin: clearance in metres.

        Returns:
            (N,) bool, True where the point is not free space.
        """
        pts = np.atleast_2d(np.asarray(points, dtype=np.float64))
        bad = np.any(pts < self.room_lo + margin, axis=1)
        bad |= np.any(pts > self.room_hi - margin, axis=1)
        for cx, cy, cz, hx, hy, hz, yaw, _ in self.boxes:
            local = (pts - [cx, cy, cz]) @ _rot_z(-yaw).T
            bad |= np.all(np.abs(local) <= np.array([hx, hy, hz]) + margin, axis=1)
        for cx, cy, cz, r, _ in self.spheres:
            bad |= np.linalg.norm(pts - [cx, cy, cz], axis=1) <= r + margin
        for cx, cy, z0, z1, r, _ in self.cylinders:
            rad = np.hypot(pts[:, 0] - cx, pts[:, 1] - cy)
            bad |= (rad <= r + margin) & (pts[:, 2] >= z0 - margin) & (pts[:, 2] <= z1 + margin)
        return bad


# ----------------------------------------------------------------------------- scene generation
def _material(kind: int, c0, c1, scale: float, p0: float = 0.0, p1: float = 0.0) -> list:
    return [kind, *c0, *c1, scale, p0, p1]


def _random_colour(rng: np.random.Generator, lo: float = 0.1, hi: float = 0.9) -> np.ndarray:
    return rng.uniform(lo, hi, 3)


@dataclass(frozen=True)
class Trajectory:
    """Robot path: ``base_link`` on an arc around the table, yawing to face it.

    Attributes:
        center: (2,) metres, arc centre (table centre, x y).
        radius: mean arc radius, metres.
        angle0: arc angle at t = 0, radians.
        angular_speed: rad / s along the arc.
        radial_amp: metres of radial in / out motion.
        yaw_amp: radians of yaw sway around facing the table.
        period: seconds of the radial / yaw oscillation.
    """

    center: np.ndarray
    radius: float
    angle0: float
    angular_speed: float
    radial_amp: float
    yaw_amp: float
    period: float

    def pose(self, t: float) -> np.ndarray:
        """Return T_world_base (4, 4) float64 at time ``t`` seconds after frame 0."""
        w = 2.0 * math.pi / self.period
        ang = self.angle0 + self.angular_speed * t
        rad = self.radius + self.radial_amp * math.sin(w * t)
        pos = np.array([self.center[0] + rad * math.cos(ang),
                        self.center[1] + rad * math.sin(ang), 0.0])
        yaw = ang + math.pi + self.yaw_amp * math.sin(w * t + 1.0)
        return _transform(_rot_z(yaw), pos)


def _make_scene(rng: np.random.Generator, duration: float) -> tuple:
    """Sample a valid scene layout, trajectory and sensor mounts; see :func:`make_scene`."""
    mats: List[list] = []

    def add(mat: list) -> int:
        mats.append(mat)
        return len(mats) - 1

    radius = rng.uniform(1.5, 2.1)
    span = radius + 0.35 + 1.0
    room_x = max(rng.uniform(5.0, 7.5), 2 * span + 0.2)
    room_y = max(rng.uniform(4.5, 7.0), 2 * span + 0.2)
    room_h = rng.uniform(2.6, 3.1)
    room_lo = np.array([-room_x / 2, -room_y / 2, 0.0])
    room_hi = np.array([room_x / 2, room_y / 2, room_h])
    table_xy = np.array([rng.uniform(-1, 1) * (room_x / 2 - span),
                         rng.uniform(-1, 1) * (room_y / 2 - span)])

    wall = add(_material(NOISE, _random_colour(rng, 0.55, 0.85), _random_colour(rng, 0.45, 0.8),
                         rng.uniform(0.3, 0.8)))
    wall2 = add(_material(NOISE, _random_colour(rng, 0.5, 0.9), _random_colour(rng, 0.3, 0.7),
                          rng.uniform(0.2, 0.6)))
    floor = add(_material(CHECKER, _random_colour(rng, 0.15, 0.45), _random_colour(rng, 0.5, 0.85),
                          rng.uniform(0.3, 0.6)))
    ceiling = add(_material(NOISE, [0.85, 0.85, 0.82], [0.75, 0.75, 0.72], 0.8))
    room_materials = np.array([wall, wall2, wall2, wall, floor, ceiling], dtype=np.int64)

    # Trajectory: angles are centred on a random direction; it must stay inside the room.
    angular_speed = math.radians(rng.uniform(10.0, 16.0)) * rng.choice([-1.0, 1.0])
    traj = Trajectory(center=table_xy, radius=radius, angle0=rng.uniform(0, 2 * math.pi),
                      angular_speed=angular_speed, radial_amp=rng.uniform(0.05, 0.25),
                      yaw_amp=math.radians(rng.uniform(2.0, 6.0)), period=rng.uniform(3.0, 5.0))
    times = np.linspace(0.0, duration, max(2, int(duration * 20) + 1))
    robot_xy = np.array([traj.pose(t)[:2, 3] for t in times])

    boxes: List[list] = []
    table_h = rng.uniform(0.72, 0.80)
    thx, thy = rng.uniform(0.45, 0.75), rng.uniform(0.35, 0.5)
    table_yaw = rng.uniform(-0.4, 0.4)
    wood = add(_material(WOOD, _random_colour(rng, 0.45, 0.7) * [1.0, 0.75, 0.5],
                         _random_colour(rng, 0.2, 0.4) * [1.0, 0.7, 0.45],
                         rng.uniform(0.08, 0.15)))
    top_t = 0.04
    boxes.append([table_xy[0], table_xy[1], table_h - top_t / 2, thx, thy, top_t / 2,
                  table_yaw, wood])
    leg = add(_material(SOLID, _random_colour(rng, 0.05, 0.3), [0, 0, 0], 1.0))
    Rt = _rot_z(table_yaw)[:2, :2]
    for sx in (-1, 1):
        for sy in (-1, 1):
            off = Rt @ np.array([sx * (thx - 0.06), sy * (thy - 0.06)])
            boxes.append([table_xy[0] + off[0], table_xy[1] + off[1], (table_h - top_t) / 2,
                          0.025, 0.025, (table_h - top_t) / 2, table_yaw, leg])

    # Objects on the table: non-overlapping footprints inside the table top.
    spheres: List[list] = []
    cylinders: List[list] = []
    placed: List[Tuple[float, float, float]] = []
    n_obj = int(rng.integers(3, 7))
    for _ in range(40):
        if len(placed) >= n_obj:
            break
        kind = int(rng.integers(0, 3))
        size = rng.uniform(0.04, 0.11)
        local = np.array([rng.uniform(-thx + size + 0.03, thx - size - 0.03),
                          rng.uniform(-thy + size + 0.03, thy - size - 0.03)])
        xy = table_xy + Rt @ local
        if any(math.hypot(xy[0] - px, xy[1] - py) < size + pr + 0.03 for px, py, pr in placed):
            continue
        placed.append((xy[0], xy[1], size * 1.45))
        mkind = [SOLID, CHECKER, POSTER][int(rng.integers(0, 3))]
        mat = add(_material(mkind, _random_colour(rng), _random_colour(rng),
                            rng.uniform(0.02, 0.06), rng.uniform(0, 3)))
        if kind == 0:
            spheres.append([xy[0], xy[1], table_h + size, size, mat])
        elif kind == 1:
            height = rng.uniform(0.08, 0.3)
            cylinders.append([xy[0], xy[1], table_h, table_h + height, size, mat])
        else:
            hz = rng.uniform(0.04, 0.15)
            boxes.append([xy[0], xy[1], table_h + hz, size, size * rng.uniform(0.6, 1.0), hz,
                          rng.uniform(-math.pi, math.pi), mat])

    # Furniture against the walls, kept clear of the robot path.
    n_furn = int(rng.integers(2, 6))
    for _ in range(60):
        if n_furn == 0:
            break
        side = int(rng.integers(0, 4))
        width = rng.uniform(0.6, 1.6)
        depth = rng.uniform(0.3, 0.6)
        height = rng.uniform(0.45, 2.0)
        along_x = side < 2
        limit = (room_x if along_x else room_y) / 2 - width / 2 - 0.05
        pos = rng.uniform(-limit, limit)
        if along_x:
            y = room_lo[1] + depth / 2 + 0.01 if side == 0 else room_hi[1] - depth / 2 - 0.01
            cx, cy, hx, hy = pos, y, width / 2, depth / 2
        else:
            x = room_lo[0] + depth / 2 + 0.01 if side == 2 else room_hi[0] - depth / 2 - 0.01
            cx, cy, hx, hy = x, pos, depth / 2, width / 2
        dx = np.maximum(np.abs(robot_xy[:, 0] - cx) - hx, 0)
        dy = np.maximum(np.abs(robot_xy[:, 1] - cy) - hy, 0)
        if np.min(np.hypot(dx, dy)) < 0.6:
            continue
        mkind = [SOLID, WOOD, CHECKER, NOISE][int(rng.integers(0, 4))]
        mat = add(_material(mkind, _random_colour(rng), _random_colour(rng),
                            rng.uniform(0.1, 0.4)))
        boxes.append([cx, cy, height / 2, hx, hy, height / 2, 0.0, mat])
        n_furn -= 1

    # Posters: thin boxes on the walls.
    for _ in range(int(rng.integers(2, 5))):
        side = int(rng.integers(0, 4))
        w, h = rng.uniform(0.4, 1.0), rng.uniform(0.4, 0.9)
        zc = rng.uniform(1.2, min(room_h - h / 2 - 0.1, 1.9))
        along_x = side < 2
        limit = (room_x if along_x else room_y) / 2 - w / 2 - 0.1
        pos = rng.uniform(-limit, limit)
        mat = add(_material(POSTER, _random_colour(rng, 0.05, 1.0), _random_colour(rng, 0.05, 1.0),
                            rng.uniform(0.05, 0.15), rng.uniform(0, 3)))
        if along_x:
            y = room_lo[1] + 0.006 if side == 0 else room_hi[1] - 0.006
            boxes.append([pos, y, zc, w / 2, 0.005, h / 2, 0.0, mat])
        else:
            x = room_lo[0] + 0.006 if side == 2 else room_hi[0] - 0.006
            boxes.append([x, pos, zc, 0.005, w / 2, h / 2, 0.0, mat])

    light = np.array([table_xy[0] + rng.uniform(-1, 1), table_xy[1] + rng.uniform(-1, 1),
                      room_h - 0.3])
    scene = Scene(room_lo=room_lo, room_hi=room_hi,
                  boxes=np.array(boxes, dtype=np.float64).reshape(-1, 8),
                  spheres=np.array(spheres, dtype=np.float64).reshape(-1, 5),
                  cylinders=np.array(cylinders, dtype=np.float64).reshape(-1, 6),
                  room_materials=room_materials, materials=np.array(mats, dtype=np.float64),
                  light=light, table_center=np.array([table_xy[0], table_xy[1], table_h]),
                  table_half=np.array([thx, thy]),
                  noise_table=rng.uniform(0.0, 1.0, (32, 32, 32)))

    # Sensor head: camera pitched down at the table top; LiDAR 10 cm behind and above it.
    cam_h = rng.uniform(1.15, 1.45)
    pitch = math.atan2(cam_h - table_h, radius) + math.radians(rng.uniform(-3.0, 3.0))
    T_base_cam = _transform(_rot_y(pitch) @ R_BODY_OPTICAL, [0.12, 0.0, cam_h])
    R_lidar = _rot_z(math.radians(1.5)) @ _rot_y(pitch + math.radians(1.0)) \
        @ _rot_x(math.radians(0.8))
    T_base_lidar = _transform(R_lidar, [0.02, 0.01, cam_h + 0.10])
    return scene, traj, T_base_cam, T_base_lidar


# ----------------------------------------------------------------------------- sample frames
@dataclass
class SampleFrame:
    """One generated frame.

    Attributes:
        index: frame number.
        stamp_ns: camera stamp, integer nanoseconds.
        lidar_stamp_ns: LiDAR sweep stamp, integer nanoseconds.
        rgb: (H, W, 3) uint8 RGB image.
        depth_gt_m: (H, W) float32 metres, ground-truth z-depth (dense).
        points_lidar: (N, 3) float32 metres, LiDAR returns in the ``lidar`` frame.
        intensity: (N,) float32 return intensity (0..255).
        T_world_base: (4, 4) float64 ``odom <- base_link`` at the camera stamp.
        T_world_base_lidar: (4, 4) float64 ``odom <- base_link`` at the LiDAR stamp.
        relative: (H, W) float32 relative disparity of a simulated monocular depth model
            (:mod:`promptda_ros.sample.mono_sim`; larger = nearer), or None.
    """

    index: int
    stamp_ns: int
    lidar_stamp_ns: int
    rgb: np.ndarray
    depth_gt_m: np.ndarray
    points_lidar: np.ndarray
    intensity: np.ndarray
    T_world_base: np.ndarray
    T_world_base_lidar: np.ndarray
    relative: Optional[np.ndarray] = None


class SampleGenerator:
    """Deterministic generator of the bundled sample (scene, sensors, frames).

    Attributes:
        config: the :class:`SampleConfig`.
        camera: :class:`PinholeCamera` of the RGB / GT-depth images.
        scene: the :class:`Scene`.
        trajectory: the robot :class:`Trajectory`.
        T_base_cam: (4, 4) float64 ``base_link <- camera_optical_frame``.
        T_base_lidar: (4, 4) float64 ``base_link <- lidar``.
    """

    def __init__(self, config: Optional[SampleConfig] = None, **overrides) -> None:
        if config is None:
            config = SampleConfig(**overrides)
        elif overrides:
            raise InputError('pass either a SampleConfig or keyword overrides, not both')
        self.config = config
        w, h = int(config.width), int(config.height)
        f = 525.0 * w / 640.0
        self.camera = PinholeCamera.from_intrinsics(f, f, 0.518 * w, 0.478 * h, w, h)
        duration = (config.frames - 1) / config.rate_hz + abs(config.lidar_offset_s)
        rng = np.random.default_rng([int(config.seed), 0x5CE4E])
        self.scene, self.trajectory, self.T_base_cam, self.T_base_lidar = \
            _make_scene(rng, duration)
        self._rays_cam = self.camera.rays().reshape(-1, 3).astype(np.float64)
        self._object_errors: tuple[np.ndarray, np.ndarray] | None = None
        cfg = config
        elev = np.radians(np.linspace(*cfg.lidar_elevation_deg, int(cfg.lidar_beams)))
        az0, az1 = cfg.lidar_azimuth_deg
        n_az = int(math.floor((az1 - az0) / cfg.lidar_azimuth_step_deg + 1e-9)) + 1
        az = np.radians(az0 + cfg.lidar_azimuth_step_deg * np.arange(n_az))
        el, a = np.meshgrid(elev, az, indexing='ij')
        self._rays_lidar = np.stack([np.cos(el) * np.cos(a), np.cos(el) * np.sin(a),
                                     np.sin(el)], axis=-1).reshape(-1, 3)

    @property
    def num_frames(self) -> int:
        """Number of frames in the sample."""
        return int(self.config.frames)

    def stamps_ns(self, index: int) -> tuple:
        """Return (camera stamp, LiDAR stamp) of frame ``index`` in integer nanoseconds."""
        period = int(round(1e9 / self.config.rate_hz))  # ns per frame
        cam = BASE_STAMP_NS + index * period
        return cam, cam + seconds_to_ns(self.config.lidar_offset_s)

    def T_world_base(self, stamp_ns: int) -> np.ndarray:
        """Return ``odom <- base_link`` (4, 4) float64 at an integer-nanosecond stamp."""
        return self.trajectory.pose((stamp_ns - BASE_STAMP_NS) * 1e-9)

    def T_world_cam(self, stamp_ns: int) -> np.ndarray:
        """Return ``odom <- camera_optical_frame`` (4, 4) float64 at a stamp (ns)."""
        return self.T_world_base(stamp_ns) @ self.T_base_cam

    def T_world_lidar(self, stamp_ns: int) -> np.ndarray:
        """Return ``odom <- lidar`` (4, 4) float64 at a stamp (ns)."""
        return self.T_world_base(stamp_ns) @ self.T_base_lidar

    @property
    def T_cam_lidar(self) -> np.ndarray:
        """Static extrinsic ``camera_optical_frame <- lidar`` (4, 4) float64."""
        return np.linalg.inv(self.T_base_cam) @ self.T_base_lidar

    def render_camera(self, T_world_cam: np.ndarray, rng: Optional[np.random.Generator] = None,
                      with_object: bool = False) -> tuple:
        """Ray-cast the camera.

        Args:
            T_world_cam: (4, 4) float64 camera optical frame pose in the world.
            rng: generator for image noise (None = no noise).
            with_object: also return the (H, W) int64 object id map (see :meth:`Scene.cast`).

        Returns:
            rgb: (H, W, 3) uint8 RGB; depth: (H, W) float32 metres z-depth; with
            ``with_object`` also the object ids.
        """
        h, w = self.camera.height, self.camera.width
        R, o = T_world_cam[:3, :3], T_world_cam[:3, 3]
        dirs = self._rays_cam @ R.T
        t, normal, mat, obj = self.scene.cast(o, dirs, with_object=True)
        pts = o + t[:, None] * dirs
        lin = self.scene.shade(pts, normal, mat)
        srgb = np.power(lin, 1.0 / 2.2) * 255.0
        if rng is not None and self.config.rgb_noise > 0:
            srgb = srgb + rng.normal(0.0, self.config.rgb_noise, srgb.shape)
        rgb = np.clip(np.rint(srgb), 0, 255).astype(np.uint8).reshape(h, w, 3)
        if with_object:
            return rgb, t.astype(np.float32).reshape(h, w), obj.reshape(h, w)
        return rgb, t.astype(np.float32).reshape(h, w)

    def render_lidar(self, T_world_lidar: np.ndarray, rng: np.random.Generator) -> tuple:
        """Ray-cast one LiDAR sweep with noise and dropouts.

        Args:
            T_world_lidar: (4, 4) float64 LiDAR pose in the world.
            rng: generator for noise and dropouts.

        Returns:
            points: (N, 3) float32 metres in the ``lidar`` frame; intensity: (N,) float32.
        """
        cfg = self.config
        R, o = T_world_lidar[:3, :3], T_world_lidar[:3, 3]
        rays = self._rays_lidar
        dirs = rays @ R.T
        rng_t, normal, mat = self.scene.cast(o, dirs)
        pts = o + rng_t[:, None] * dirs
        albedo = self.scene.albedo(pts, mat)
        reflect = albedo @ np.array([0.3, 0.59, 0.11])
        cos_inc = np.abs(np.einsum('ij,ij->i', normal, dirs))
        sigma = cfg.range_noise_m + cfg.range_noise_rel * rng_t
        noisy = rng_t + rng.normal(0.0, 1.0, rng_t.shape) * sigma
        u = rng.uniform(0.0, 1.0, (3, len(rng_t)))
        p_dark = np.clip((0.12 - reflect) / 0.08, 0.0, 0.9)
        p_graze = np.clip((0.2 - cos_inc) / 0.15, 0.0, 1.0)
        keep = (u[0] >= cfg.dropout) & (u[1] >= p_dark) & (u[2] >= p_graze)
        keep &= (noisy >= cfg.min_range_m) & (noisy <= cfg.max_range_m)
        points = (rays[keep] * noisy[keep, None]).astype(np.float32)
        intensity = np.clip(255.0 * reflect[keep] * (0.3 + 0.7 * cos_inc[keep]), 0, 255)
        return points, intensity.astype(np.float32)

    def frame(self, index: int, relative: bool = True) -> SampleFrame:
        """Generate frame ``index`` (0-based) independently of the others.

        ``relative`` = False skips the simulated monocular map (``SampleFrame.relative`` None).
        """
        if not 0 <= int(index) < self.num_frames:
            raise InputError(f'frame index {index} outside 0..{self.num_frames - 1}')
        index = int(index)
        rng = np.random.default_rng([int(self.config.seed), 1 + index])
        cam_ns, lidar_ns = self.stamps_ns(index)
        T_wb = self.T_world_base(cam_ns)
        T_wb_l = self.T_world_base(lidar_ns)
        rgb, depth, obj = self.render_camera(T_wb @ self.T_base_cam, rng, with_object=True)
        points, intensity = self.render_lidar(T_wb_l @ self.T_base_lidar, rng)
        rel = None
        if relative:
            if self._object_errors is None:
                self._object_errors = mono_sim.object_errors(self.config.seed,
                                                             self.scene.num_objects)
            rel = mono_sim.simulate_relative(
                depth, obj, *self._object_errors,
                np.random.default_rng([int(self.config.seed), 1 + index, mono_sim.STREAM]))
        return SampleFrame(index=index, stamp_ns=cam_ns, lidar_stamp_ns=lidar_ns, rgb=rgb,
                           depth_gt_m=depth, points_lidar=points, intensity=intensity,
                           T_world_base=T_wb, T_world_base_lidar=T_wb_l, relative=rel)

    def frames(self) -> Iterator[SampleFrame]:
        """Yield every frame in order."""
        for i in range(self.num_frames):
            yield self.frame(i)

    def check_valid(self) -> None:
        """Raise InputError unless every sensor pose is in free space and the table is in view.

        Both hold by construction for any seed; this is the explicit check tests rely on.
        """
        for i in range(self.num_frames):
            for stamp in self.stamps_ns(i):
                for T in (self.T_world_cam(stamp), self.T_world_lidar(stamp)):
                    if self.scene.contains(T[:3, 3][None], margin=0.15)[0]:
                        raise InputError(f'frame {i}: sensor at {T[:3, 3]} is not in free space')
            T_cw = np.linalg.inv(self.T_world_cam(self.stamps_ns(i)[0]))
            c = T_cw[:3, :3] @ self.scene.table_center + T_cw[:3, 3]
            uv, _ = self.camera.project(c[None])
            if not (np.all(np.isfinite(uv)) and 0 <= uv[0, 0] < self.camera.width
                    and 0 <= uv[0, 1] < self.camera.height):
                raise InputError(f'frame {i}: the table is not in view')
