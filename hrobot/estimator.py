"""Base state estimation for legged robots (deploy layer: numpy only).

Real low-level state has no base position or velocity. `BaseEstimator` is a linear Kalman
filter in the manner of Pronto's leg odometry and legged_control's linear KF: the state is the
base position and velocity in the world frame; the IMU's specific force, rotated by the IMU
orientation, drives the prediction; each period the feet in contact give a velocity measurement
(a stance foot does not move, so the base moves at -(J(q) dq + w x r) rotated to the world) and
a height measurement (the base above the stance feet); with no foot down for longer than any flight
phase (a fall, a lifted robot) a zero velocity instead. Orientation is the IMU's own estimate
(its yaw drifts on a real robot; an external odometry topic can replace all of this in a bringup).

`ChainKinematics` computes foot positions in the base frame from joint angles, from the chain that
`hrobot.sim.model.chain_kinematics` extracts from the robot's model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRAVITY = np.array([0.0, 0.0, -9.81])
_VELOCITY = np.hstack([np.zeros((3, 3)), np.eye(3)])  # measures the velocity
_LEGS = np.vstack([_VELOCITY, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])  # the stance legs: velocity and height


def quat_matrix(q) -> np.ndarray:
    w, x, y, z = (float(v) for v in q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def axis_angle_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    c, s, t = np.cos(angle), np.sin(angle), 1 - np.cos(angle)
    return np.array([[t * x * x + c, t * x * y - s * z, t * x * z + s * y],
                     [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
                     [t * x * z - s * y, t * y * z + s * x, t * z * z + c]])


class ChainKinematics:
    """Positions (base frame) of the chain ends (a leg's feet, a hand's fingertips) from joint angles (spec
    order), and their Jacobians, for every chain of the data `hrobot robots kinematics` writes."""

    def __init__(self, data: dict):
        self.names = [f["name"] for f in data["feet"]]
        self._feet = [([(np.asarray(link["pos"], float), quat_matrix(link["quat"]),
                         [(j["index"], np.asarray(j["axis"], float) / np.linalg.norm(j["axis"]),
                           np.asarray(j["anchor"], float), float(j["ref"])) for j in link["joints"]])
                        for link in f["links"]], np.asarray(f["site"], float)) for f in data["feet"]]

    def foot_positions(self, q: np.ndarray) -> np.ndarray:
        return np.array([end for end, _ in self._chains(q)])

    def foot_velocities(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """d/dt of foot_positions (base frame) for joint velocities dq."""
        return self.foot_states(q, dq)[1]

    def foot_states(self, q: np.ndarray, dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Foot positions and velocities (base frame) in one pass: each hinge adds dq (axis x (foot - anchor)).
        (Cross products written out: the base estimator runs this at the driver's 500 Hz.)"""
        chains = self._chains(q)
        pos, vel = np.empty((len(chains), 3)), np.empty((len(chains), 3))
        for i, (end, hinges) in enumerate(chains):
            pos[i] = end
            v = np.zeros(3)
            for index, a, o in hinges:
                d = end - o
                v += dq[index] * np.array([a[1] * d[2] - a[2] * d[1], a[2] * d[0] - a[0] * d[2], a[0] * d[1] - a[1] * d[0]])
            vel[i] = v
        return pos, vel

    def jacobians(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chain-end positions (n_ends, 3) and d position / d q (n_ends, 3, n_joints): column axis x (end - anchor)."""
        chains = self._chains(q)
        pos, jac = np.empty((len(chains), 3)), np.zeros((len(chains), 3, len(q)))
        for i, (end, hinges) in enumerate(chains):
            pos[i] = end
            for index, a, o in hinges:
                d = end - o
                jac[i, :, index] = (a[1] * d[2] - a[2] * d[1], a[2] * d[0] - a[0] * d[2], a[0] * d[1] - a[1] * d[0])
        return pos, jac

    def _chains(self, q: np.ndarray) -> list[tuple[np.ndarray, list]]:
        """Per chain: its end's position and its hinges (joint index, axis, anchor; base frame)."""
        out = []
        for links, site in self._feet:
            p, rot, hinges = np.zeros(3), np.eye(3), []
            for lpos, lrot, joints in links:
                p = p + rot @ lpos
                rot = rot @ lrot
                for index, axis, anchor, ref in joints:  # rotation about the axis through the anchor
                    rj = axis_angle_matrix(axis, q[index] - ref)
                    hinges.append((index, rot @ axis, p + rot @ anchor))
                    p = p + rot @ (anchor - rj @ anchor)
                    rot = rot @ rj
            out.append((p + rot @ site, hinges))
        return out


@dataclass
class EstimatorConfig:
    accel_noise: float = 2.0  # m/s^2: process noise of the IMU-driven prediction (impacts, vibration)
    leg_velocity_noise: float = 0.15  # m/s per stance foot
    height_noise: float = 0.02  # m per stance foot
    # no foot on the ground for this long: the robot lies (a fall) or is lifted, it is not in a trot's or a
    # jump's flight phase (< 0.3 s); its velocity is then measured as zero, so IMU bias cannot run the odometry away
    no_contact_s: float = 0.5
    rest_velocity_noise: float = 0.3  # m/s: that zero-velocity measurement


class BaseEstimator:
    """x = [position (3), velocity (3)] in the world frame, started at `position` at rest."""

    def __init__(self, kinematics: ChainKinematics, config: EstimatorConfig | None = None,
                 position: np.ndarray | None = None):
        self.kin, self.cfg = kinematics, config or EstimatorConfig()
        self.x = np.zeros(6)
        if position is not None:
            self.x[:3] = position
        self.P = np.diag([1e-4] * 3 + [1e-2] * 3)
        self.rot = np.eye(3)
        self.no_contact_for = 0.0  # s since a foot was last on the ground

    def step(self, dt: float, quat, gyro, acc, q, dq, contact) -> None:
        """One period: predict with the IMU, then correct with the legs in contact."""
        self.rot = quat_matrix(quat)
        a = self.rot @ np.asarray(acc, float) + GRAVITY
        F = np.eye(6)
        F[:3, 3:] = np.eye(3) * dt
        self.x = F @ self.x + np.concatenate([0.5 * dt * dt * a, dt * a])
        qa = self.cfg.accel_noise ** 2
        G = np.vstack([0.5 * dt * dt * np.eye(3), dt * np.eye(3)])
        self.P = F @ self.P @ F.T + qa * G @ G.T
        stance = np.flatnonzero(np.asarray(contact, bool))
        if not len(stance):
            self.no_contact_for += dt
            if self.no_contact_for > self.cfg.no_contact_s:  # lying or lifted: at rest
                self._correct(np.zeros(3), _VELOCITY, np.eye(3) * self.cfg.rest_velocity_noise ** 2)
            return
        self.no_contact_for = 0.0
        r, rdot = self.kin.foot_states(np.asarray(q, float), np.asarray(dq, float))
        r, rdot = r[stance], rdot[stance]
        w = np.asarray(gyro, float)
        v_feet = -(self.rot @ (rdot + np.cross(w, r)).T).T  # base velocity implied by each stance foot
        h_feet = -(self.rot @ r.T).T[:, 2]  # base height above each stance foot
        n = len(stance)
        z = np.concatenate([v_feet.mean(axis=0), [h_feet.mean()]])
        R = np.diag([self.cfg.leg_velocity_noise ** 2 / n] * 3 + [self.cfg.height_noise ** 2 / n])
        self._correct(z, _LEGS, R)

    def _correct(self, z: np.ndarray, H: np.ndarray, R: np.ndarray) -> None:
        """The Kalman update with measurement z = H x + noise of covariance R."""
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - H @ self.x)
        self.P = (np.eye(6) - K @ H) @ self.P

    @property
    def position(self) -> np.ndarray:
        return self.x[:3].copy()

    @property
    def velocity(self) -> np.ndarray:
        """World frame."""
        return self.x[3:].copy()

    @property
    def velocity_base(self) -> np.ndarray:
        return self.rot.T @ self.x[3:]
