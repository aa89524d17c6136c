"""A scripted exploration controller for recording navigation datasets (deploy layer: numpy).

Random waypoints (position and heading) in a square around the origin, each driven to by the pure-pursuit
law the scripted planner uses (`hrobot.nav_io.pure_pursuit_command`), with Gaussian noise on every
decision that fades near the waypoint; at a waypoint (position and heading) it stands still for a random
dwell, as a person driving stops at places, then draws the next; no progress towards it for `stuck_s`
draws the next too. Given its low range scan it drives as a careful person would: an obstacle close
ahead slows it and turns it towards the side with more room. The recording then holds arrivals, stops and
detours, which a high level learned from it must reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hrobot.geometry import wrap_to_pi
from hrobot.nav_io import pure_pursuit_command


@dataclass(frozen=True)
class ExplorerCfg:
    half_size: float = 3.2  # m: waypoints inside [-half_size, half_size]^2
    v_max: float = 0.8
    w_max: float = 1.0
    noise: tuple[float, float, float] = (0.2, 0.15, 0.3)  # std of vx, vy, wz added per decision, far from it
    noise_fade: float = 1.0  # m: noise scales with the distance to the waypoint inside this
    reach: float = 0.2  # m (and reach_yaw rad) from a waypoint counts as reached
    reach_yaw: float = 0.2
    dwell_s: tuple[float, float] = (0.5, 2.0)  # standing still at a reached waypoint
    stuck_s: float = 5.0  # without 0.2 m of progress towards the waypoint: the next one
    clearance: float = 0.6  # m: an obstacle nearer than this ahead slows and turns it
    ahead: float = 0.6  # rad: half-width of the sector that counts as ahead


class Explorer:
    def __init__(self, cfg: ExplorerCfg | None = None, seed: int = 0,
                 low=(-1.0, -0.5, -1.0), high=(1.0, 0.5, 1.0)):
        self.cfg, self.rng = cfg or ExplorerCfg(), np.random.default_rng(seed)
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.waypoint: np.ndarray | None = None
        self.waypoints = 0
        self.dwell_until = -math.inf

    def _next(self, now: float) -> None:
        h = self.cfg.half_size
        self.waypoint = np.array([*self.rng.uniform(-h, h, 2), self.rng.uniform(-math.pi, math.pi)])
        self.best, self.since = math.inf, now
        self.waypoints += 1

    def command(self, xy, yaw: float, now: float, scan: np.ndarray | None = None,
                angle_increment: float = 0.0) -> np.ndarray:
        """The (vx, vy, wz) command for this decision, inside the skill's range. `scan`: ranges (m) of a planar
        scan from angle 0 (ahead) counter-clockwise every `angle_increment` rad."""
        if now < self.dwell_until:
            return np.zeros(3)
        if self.waypoint is None:
            self._next(now)
        d = self.waypoint[:2] - np.asarray(xy, dtype=np.float64)
        dist, heading = float(np.hypot(*d)), float(wrap_to_pi(self.waypoint[2] - yaw))
        if dist < self.cfg.reach and abs(heading) < self.cfg.reach_yaw:
            self.dwell_until = now + self.rng.uniform(*self.cfg.dwell_s)
            self._next(self.dwell_until)
            return np.zeros(3)
        if dist < self.best - 0.2:
            self.best, self.since = dist, now
        elif now - self.since > self.cfg.stuck_s:
            self._next(now)
            return self.command(xy, yaw, now, scan, angle_increment)
        c, s = math.cos(yaw), math.sin(yaw)
        gx, gy = c * d[0] + s * d[1], -s * d[0] + c * d[1]
        cmd = pure_pursuit_command(np.array([gx]), np.array([gy]), np.array([heading]), self.cfg.v_max,
                                   self.cfg.w_max)[0]
        if scan is not None and angle_increment > 0:
            cmd = self._avoid(cmd, np.asarray(scan, dtype=np.float64), angle_increment)
        cmd = cmd + self.rng.normal(0.0, self.cfg.noise) * min(1.0, dist / self.cfg.noise_fade)
        return np.minimum(np.maximum(cmd, self.low), self.high)

    def _avoid(self, cmd: np.ndarray, scan: np.ndarray, inc: float) -> np.ndarray:
        """An obstacle nearer than `clearance` ahead: forward speed cut by how near it is, and a turn towards the
        half of the scan with more room (the turn at its fastest when the obstacle is at half the clearance)."""
        angles = wrap_to_pi(np.arange(len(scan)) * inc)
        near = float(np.min(np.where(np.abs(angles) < self.cfg.ahead, scan, np.inf)))
        if cmd[0] <= 0.0 or near >= self.cfg.clearance:
            return cmd
        room = lambda side: float(np.minimum(side, 3.0).mean()) if side.size else 0.0  # noqa: E731
        room_left = room(scan[(angles > 0) & (angles < math.pi / 2)])
        room_right = room(scan[(angles < 0) & (angles > -math.pi / 2)])
        k = min(1.0, 2.0 * (1.0 - near / self.cfg.clearance))
        out = cmd.copy()
        out[0] = cmd[0] * (1.0 - k)
        out[2] = (1.0 - k) * cmd[2] + k * self.cfg.w_max * (1.0 if room_left >= room_right else -1.0)
        return out
