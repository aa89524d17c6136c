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
_EYE = np.eye(3)


def quat_matrix(q) -> np.ndarray:
    w, x, y, z = (float(v) for v in q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


class ChainKinematics:
    """Positions (base frame) of the chain ends (a leg's feet, a hand's fingertips) from joint angles (spec
    order), and their Jacobians, for every chain of the data `hrobot robots kinematics` writes.

    The chains are walked side by side (the base estimator runs this at the driver's 500 Hz): each chain is
    a sequence of steps, a fixed transform then at most one hinge, padded with identity steps to the longest
    chain, so that one batched matrix product per step moves every chain."""

    def __init__(self, data: dict):
        self.names = [f["name"] for f in data["feet"]]
        chains = []
        for f in data["feet"]:
            steps = []  # (position, rotation, hinge (index, unit axis, anchor, ref) or None)
            for link in f["links"]:
                lpos, lrot = np.asarray(link["pos"], float), quat_matrix(link["quat"])
                hinges = [(int(j["index"]), np.asarray(j["axis"], float) / np.linalg.norm(j["axis"]),
                           np.asarray(j["anchor"], float), float(j["ref"])) for j in link["joints"]] or [None]
                for k, hinge in enumerate(hinges):  # a link's further joints: identity transforms before them
                    steps.append((lpos, lrot, hinge) if k == 0 else (np.zeros(3), np.eye(3), hinge))
            chains.append(steps)
        n_steps, n_chains = max(len(c) for c in chains), len(chains)
        self._index = np.zeros((n_steps, n_chains), dtype=np.int64)
        self._hinge = np.zeros((n_steps, n_chains), dtype=bool)
        self._ref = np.zeros((n_steps, n_chains))
        axis, anchor = np.zeros((n_steps, n_chains, 3)), np.zeros((n_steps, n_chains, 3))
        axis[..., 2] = 1.0  # padding and hingeless steps: a zero angle about any axis
        lpos, lrot = np.zeros((n_steps, n_chains, 3)), np.tile(np.eye(3), (n_steps, n_chains, 1, 1))
        for c, steps in enumerate(chains):
            for s, (p, r, hinge) in enumerate(steps):
                lpos[s, c], lrot[s, c] = p, r
                if hinge is not None:
                    self._index[s, c], axis[s, c], anchor[s, c], self._ref[s, c] = hinge
                    self._hinge[s, c] = True
        self._lrot, self._anchor = lrot, anchor
        # per step, in the frame before the link's rotation: the link offset, the hinge axis and anchor
        self._fixed = np.stack([lpos, np.einsum("scij,scj->sci", lrot, axis),
                                np.einsum("scij,scj->sci", lrot, anchor)], axis=-1)  # (steps, chains, 3, 3)
        x, y, z = np.moveaxis(axis, -1, 0)
        o = np.zeros_like(x)
        self._K = np.stack([np.stack([o, -z, y], -1), np.stack([z, o, -x], -1), np.stack([-y, x, o], -1)], -2)
        self._K2 = self._K @ self._K
        self._site = np.array([f["site"] for f in data["feet"]], float)

    def foot_positions(self, q: np.ndarray) -> np.ndarray:
        return self._walk(q)[0]

    def foot_velocities(self, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """d/dt of foot_positions (base frame) for joint velocities dq."""
        return self.foot_states(q, dq)[1]

    def foot_states(self, q: np.ndarray, dq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Foot positions and velocities (base frame) in one pass: each hinge adds dq (axis x (foot - anchor))."""
        end, axes, lever = self._walk(q)
        rate = np.where(self._hinge, np.asarray(dq, float)[self._index], 0.0).T  # (chains, steps)
        return end, np.einsum("cs,csk->ck", rate, _cross(axes, lever))

    def jacobians(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Chain-end positions (n_ends, 3) and d position / d q (n_ends, 3, n_joints): column axis x (end - anchor)."""
        end, axes, lever = self._walk(q)
        cols = _cross(axes, lever)  # (chains, steps, 3)
        jac = np.zeros((len(end), 3, len(q)))
        c, s = np.nonzero(self._hinge.T)
        jac[c, :, self._index[s, c]] = cols[c, s]
        return end, jac

    def _walk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Chain ends (chains, 3), and per chain and step the hinge axis and the lever from its anchor to the
        end (chains, steps, 3), in the base frame."""
        angle = np.where(self._hinge, np.asarray(q, float)[self._index] - self._ref, 0.0)[..., None, None]
        rj = _EYE + np.sin(angle) * self._K + (1.0 - np.cos(angle)) * self._K2  # Rodrigues, every hinge
        shift = self._anchor - (rj @ self._anchor[..., None])[..., 0]  # a rotation about the anchor
        moves = np.concatenate([self._fixed, self._lrot @ shift[..., None]], axis=-1)
        turns = self._lrot @ rj
        n_steps, n_chains = self._hinge.shape
        p, rot = np.zeros((n_chains, 3)), turns[0]
        axes, anchors = np.empty((n_chains, n_steps, 3)), np.empty((n_chains, n_steps, 3))
        m = moves[0]  # the first step starts from the base frame
        for s in range(n_steps):
            if s:
                m = rot @ moves[s]  # (chains, 3, 4): link offset, axis, anchor, the hinge's shift
                rot = rot @ turns[s]
            p = p + m[..., 0]
            axes[:, s], anchors[:, s] = m[..., 1], p + m[..., 2]
            p = p + m[..., 3]
        end = p + (rot @ self._site[..., None])[..., 0]
        return end, axes, end[:, None, :] - anchors


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a x b over the last axis (written out: np.cross is several times slower on small arrays)."""
    return np.stack([a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1], a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2],
                     a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]], axis=-1)


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
    """x = [position (3), velocity (3)] in the world frame, started at `position` at rest.

    The prediction moves each axis on its own and every measurement is per axis (the stance legs' velocity in
    the world frame, the height along z), so the covariance stays three 2 x 2 blocks, one per axis:
    kept as their entries (p00, p01, p11), each over (x, y, z), and updated in closed form (the same filter
    as the 6 x 6 one, at a fraction of its cost at 500 Hz)."""

    def __init__(self, kinematics: ChainKinematics, config: EstimatorConfig | None = None,
                 position: np.ndarray | None = None):
        self.kin, self.cfg = kinematics, config or EstimatorConfig()
        self.x = np.zeros(6)
        if position is not None:
            self.x[:3] = position
        self.p00, self.p01, self.p11 = np.full(3, 1e-4), np.zeros(3), np.full(3, 1e-2)
        self.rot = np.eye(3)
        self.no_contact_for = 0.0  # s since a foot was last on the ground

    def step(self, dt: float, quat, gyro, acc, q, dq, contact) -> None:
        """One period: predict with the IMU, then correct with the legs in contact."""
        self.rot = quat_matrix(quat)
        a = self.rot @ np.asarray(acc, float) + GRAVITY
        x, qa = self.x, self.cfg.accel_noise ** 2
        x[:3] += dt * x[3:] + 0.5 * dt * dt * a
        x[3:] += dt * a
        self.p00 = self.p00 + dt * (2.0 * self.p01 + dt * self.p11) + qa * dt ** 4 / 4.0
        self.p01 = self.p01 + dt * self.p11 + qa * dt ** 3 / 2.0
        self.p11 = self.p11 + qa * dt * dt
        stance = np.flatnonzero(np.asarray(contact, bool))
        if not len(stance):
            self.no_contact_for += dt
            if self.no_contact_for > self.cfg.no_contact_s:  # lying or lifted: at rest
                self._correct_velocity(np.zeros(3), self.cfg.rest_velocity_noise ** 2)
            return
        self.no_contact_for = 0.0
        r, rdot = self.kin.foot_states(q, dq)
        r, rdot = r[stance], rdot[stance]
        w = np.asarray(gyro, float)
        v_feet = -(rdot + _cross(w, r)) @ self.rot.T  # base velocity implied by each stance foot
        h_feet = -(r @ self.rot[2])  # base height above each stance foot
        n = len(stance)
        self._correct_velocity(v_feet.mean(axis=0), self.cfg.leg_velocity_noise ** 2 / n)
        self._correct_height(float(h_feet.mean()), self.cfg.height_noise ** 2 / n)

    def _correct_velocity(self, z: np.ndarray, r: float) -> None:
        """The Kalman update with a measurement z of the velocity, noise variance r on each axis."""
        s = self.p11 + r
        k0, k1 = self.p01 / s, self.p11 / s
        innovation = z - self.x[3:]
        self.x[:3] += k0 * innovation
        self.x[3:] += k1 * innovation
        self.p00, self.p01, self.p11 = self.p00 - k0 * self.p01, self.p01 - k0 * self.p11, self.p11 - k1 * self.p11

    def _correct_height(self, z: float, r: float) -> None:
        """The Kalman update with a measurement z of the height (the z position), noise variance r."""
        p00, p01, p11 = float(self.p00[2]), float(self.p01[2]), float(self.p11[2])
        s = p00 + r
        k0, k1 = p00 / s, p01 / s
        innovation = z - self.x[2]
        self.x[2] += k0 * innovation
        self.x[5] += k1 * innovation
        self.p00[2], self.p01[2], self.p11[2] = p00 - k0 * p00, p01 - k0 * p01, p11 - k1 * p01

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
