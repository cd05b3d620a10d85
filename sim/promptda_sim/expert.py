# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Scripted grasping expert: inverse kinematics on the MuJoCo model (``mj_jacSite``), no ROS.

:func:`solve_ik` moves the ``grip`` site (between the fingertips) to a position with the hand
pointing down as far as the four-joint arm allows (a secondary task in the null space of the
position task), inside the joint limits. :class:`ScriptedExpert` turns one episode into
joint-space waypoints — above the object along the approach axis, down, close, lift, over the
box, open — and samples them at any time, never faster than the arm profile's velocity limits.
"""

import warnings

import numpy as np

from promptda_ros.core.errors import InputError
from promptda_sim import scene
from promptda_sim.render import mujoco

ARM_SPEED = 0.9       # rad/s, expert joint speed (below the 1 rad/s profile limit)
GRIPPER_SPEED = 0.08  # m/s (profile limit 0.1)
DROP_HEIGHT = 0.24    # m, grip site above the table when releasing over the box
LIFT_HEIGHT = 0.26    # m
APPROACH = 0.10       # m, pre-grasp distance back along the hand axis


def solve_ik(model, data, target: np.ndarray, q0: np.ndarray, tol: float = 1e-3) -> tuple:
    """Joint angles that put the ``grip`` site at ``target`` with the hand pointing down.

    Damped least squares on the site position (``mj_jacSite``) reaches the target; the hand
    orientation (axis down, fingers closing horizontally) is then optimised with the position
    held as an equality constraint (SLSQP, analytic Jacobians from ``mj_jacSite``), inside the
    joint limits. Several starts; the best feasible one wins.

    Args:
        model: the scene's MjModel.
        data: a scratch MjData (its qpos is overwritten).
        target: (3,) m grip site position in the world.
        q0: (4,) rad initial arm joint angles.
        tol: position tolerance, m.

    Returns:
        (q (4,) rad inside the joint limits, position error m, hand axis (3,) unit vector
        in the world pointing from the palm to the fingertips).
    """
    from scipy.optimize import minimize

    site = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, 'grip')
    jnt = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in scene.ARM_JOINTS]
    adr = [model.jnt_qposadr[j] for j in jnt]
    dof = [model.jnt_dofadr[j] for j in jnt]
    lo = np.array([model.jnt_range[j][0] for j in jnt])
    hi = np.array([model.jnt_range[j][1] for j in jnt])
    target = np.asarray(target, np.float64)
    jacp = np.zeros((3, model.nv))
    jacr = np.zeros((3, model.nv))
    down = np.array([0.0, 0.0, -1.0])

    def fk(q):
        data.qpos[adr] = q
        mujoco.mj_kinematics(model, data)
        mujoco.mj_comPos(model, data)
        mujoco.mj_jacSite(model, data, jacp, jacr, site)
        R = data.site_xmat[site].reshape(3, 3)
        return data.site_xpos[site].copy(), R.copy(), jacp[:, dof].copy(), jacr[:, dof].copy()

    def cost(q):
        _, R, _, Jr = fk(q)
        axis, close = -R[:, 2], R[:, 1]
        ea = axis - down
        grad = 2.0 * ea @ _axis_jac(axis, Jr) + 2.0 * close[2] * (
            np.cross(close, [0.0, 0.0, 1.0]) @ Jr)
        return float(ea @ ea + close[2] ** 2), grad

    def con(q):
        return fk(q)[0] - target

    def con_jac(q):
        return fk(q)[2]

    def reach(q):
        q = np.clip(np.asarray(q, np.float64), lo, hi)
        for _ in range(100):
            p, _, Jp, _ = fk(q)
            e = target - p
            if np.linalg.norm(e) < 1e-5:
                break
            dq = Jp.T @ np.linalg.solve(Jp @ Jp.T + 1e-4 * np.eye(3), e)
            n = np.linalg.norm(dq)
            q = np.clip(q + (dq * 0.3 / n if n > 0.3 else dq), lo, hi)
        return q

    starts = [np.asarray(q0, np.float64), scene.HOME[:4], np.array([0.6, -0.3, 0.0, 1.0]),
              np.array([-0.3, -0.6, 0.3, 1.8]), np.array([0.9, -0.1, -0.2, 0.6])]
    best: tuple | None = None
    for s0 in starts:
        q = reach(s0)
        with warnings.catch_warnings():   # SLSQP may step past a bound; it is clipped
            warnings.simplefilter('ignore', RuntimeWarning)
            res = minimize(cost, q, jac=True, method='SLSQP', bounds=list(zip(lo, hi)),
                           constraints=[{'type': 'eq', 'fun': con, 'jac': con_jac}],
                           options={'maxiter': 100, 'ftol': 1e-8})
        q = reach(np.clip(res.x, lo, hi))
        err = float(np.linalg.norm(con(q)))
        c = cost(q)[0]
        key = (err > tol, c)
        if best is None or key < best[0]:
            best = (key, q, err)
    assert best is not None
    q, err = best[1], best[2]
    _, R, _, _ = fk(q)
    return q, err, (-R[:, 2]).copy()


def _axis_jac(axis: np.ndarray, Jr: np.ndarray) -> np.ndarray:
    """(3, n) rate of a body-fixed unit axis (3,): d(axis)/dt = w x axis = -[axis]x Jr dq."""
    ax = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]],
                   [-axis[1], axis[0], 0.0]])
    return -ax @ Jr


class ScriptedExpert:
    """Pick-and-place plan for one episode, as timed joint-space waypoints.

    Args:
        world_model: the episode's MjModel (the object's place is read from the episode config).
        episode: the episode.
        q_start: (5,) measured joints at the start (arm rad, gripper m).

    Raises:
        InputError: when a waypoint is out of reach (IK error above 1 cm).
    """

    def __init__(self, world_model, episode: scene.EpisodeConfig, q_start: np.ndarray) -> None:
        self.episode = episode
        data = mujoco.MjData(world_model)
        spec = episode.spec
        xy = episode.object_xy()
        top = 2.0 * spec.half_height
        grasp = np.array([xy[0], xy[1], top - 0.045])
        q_grasp, err, axis = solve_ik(world_model, data, grasp, scene.HOME[:4])
        pre = grasp - APPROACH * axis
        q_pre, err_pre, _ = solve_ik(world_model, data, pre, q_grasp)
        lift = np.array([xy[0], xy[1], LIFT_HEIGHT])
        q_lift, err_lift, _ = solve_ik(world_model, data, lift, q_grasp)
        drop = np.array([scene.BOX_CENTER[0], scene.BOX_CENTER[1], DROP_HEIGHT])
        q_drop, err_drop, _ = solve_ik(world_model, data, drop, q_lift)
        worst = max(err, err_pre, err_lift, err_drop)
        if worst > 0.01:
            raise InputError('expert: a waypoint of %s at %s is out of reach (IK error %.3f m)'
                             % (episode.object, episode.position, worst))
        g_open, g_closed = scene.GRIPPER_OPEN, scene.GRIPPER_CLOSED
        q_start = np.asarray(q_start, np.float64)

        def line(a, b, q_from, n):
            """IK along the straight segment a -> b (n points after a), m."""
            out, q = [], q_from
            for k in range(1, n + 1):
                q, e, _ = solve_ik(world_model, data, a + (b - a) * k / n, q)
                if e > 0.01:
                    raise InputError('expert: %s at %s is out of reach (IK error %.3f m)'
                                     % (episode.object, episode.position, e))
                out.append(q)
            return out

        hover = pre + np.array([0.0, 0.0, max(LIFT_HEIGHT - pre[2], 0.0)])
        q_hover, err_hover, _ = solve_ik(world_model, data, hover, q_pre)
        if err_hover > 0.01:
            raise InputError('expert: %s at %s is out of reach (IK error %.3f m)'
                             % (episode.object, episode.position, err_hover))
        steps = [(np.append(q_hover, g_open), 0.1)]
        steps += [(np.append(q, g_open), 0.0) for q in line(hover, pre, q_hover, 2)]
        steps += [(np.append(q, g_open), 0.0) for q in line(pre, grasp, q_pre, 4)]
        steps += [(np.append(q_grasp, g_open), 0.2), (np.append(q_grasp, g_closed), 0.4)]
        steps += [(np.append(q, g_closed), 0.0) for q in line(grasp, lift, q_grasp, 4)]
        steps += [(np.append(q_drop, g_closed), 0.3), (np.append(q_drop, g_open), 0.4)]
        self.times = [0.0]
        self.points = [q_start.copy()]
        t = 0.0
        for target, dwell in steps:
            delta = np.abs(target - self.points[-1])
            dt = max(np.max(delta[:4]) / ARM_SPEED, delta[4] / GRIPPER_SPEED, 0.05)
            t += dt
            self.times.append(t)
            self.points.append(target)
            if dwell > 0:
                t += dwell
                self.times.append(t)
                self.points.append(target)
        self.duration_s = t

    def command_at(self, t: float) -> np.ndarray:
        """(5,) joint targets at ``t`` s after the start (linear between waypoints)."""
        times = np.asarray(self.times)
        if t <= 0:
            return self.points[0].copy()
        if t >= times[-1]:
            return self.points[-1].copy()
        i = int(np.searchsorted(times, t, side='right')) - 1
        a = (t - times[i]) / max(times[i + 1] - times[i], 1e-9)
        return (1.0 - a) * self.points[i] + a * self.points[i + 1]


def run_expert_episode(episode: scene.EpisodeConfig, control_hz: float = 30.0,
                       settle_s: float = 1.0) -> dict:
    """Run the expert open loop in the physics (no rendering, no ROS) and score it.

    Returns:
        dict with ``success`` (bool), ``duration_s`` (s of sim time) and ``object`` position
        (3,) m at the end.
    """
    from promptda_sim.world import SimWorld
    world = SimWorld(episode, render=False)
    expert = ScriptedExpert(world.model, episode, world.joint_positions())
    period = 1.0 / control_hz
    t = 0.0
    while t < expert.duration_s + settle_s:
        world.set_command(expert.command_at(t))
        world.step(period)
        t += period
    return {'success': world.success(), 'duration_s': t,
            'object': world.object_position().tolist()}
