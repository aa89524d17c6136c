"""A scripted exploration controller for recording navigation datasets (deploy layer: numpy).

Random waypoints (position and heading) in a square around the origin, each driven to by the pure-pursuit
law the scripted planner uses (`hrobot.nav_io.pure_pursuit_command`), with Gaussian noise on every
decision; a waypoint reached, or no progress towards it for `stuck_s`, draws the next. It knows nothing
of obstacles: it runs into them, slides along them and gives up, as undirected driving does.
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
    noise: tuple[float, float, float] = (0.2, 0.15, 0.3)  # std of vx, vy, wz added per decision
    reach: float = 0.3  # m (and 0.5 rad) from a waypoint counts as reached
    stuck_s: float = 5.0  # without 0.2 m of progress towards the waypoint: the next one


class Explorer:
    def __init__(self, cfg: ExplorerCfg | None = None, seed: int = 0,
                 low=(-1.0, -0.5, -1.0), high=(1.0, 0.5, 1.0)):
        self.cfg, self.rng = cfg or ExplorerCfg(), np.random.default_rng(seed)
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.waypoint: np.ndarray | None = None
        self.waypoints = 0

    def _next(self, now: float) -> None:
        h = self.cfg.half_size
        self.waypoint = np.array([*self.rng.uniform(-h, h, 2), self.rng.uniform(-math.pi, math.pi)])
        self.best, self.since = math.inf, now
        self.waypoints += 1

    def command(self, xy, yaw: float, now: float) -> np.ndarray:
        """The (vx, vy, wz) command for this decision, inside the skill's range."""
        if self.waypoint is None:
            self._next(now)
        d = self.waypoint[:2] - np.asarray(xy, dtype=np.float64)
        dist, heading = float(np.hypot(*d)), float(wrap_to_pi(self.waypoint[2] - yaw))
        if dist < self.cfg.reach and abs(heading) < 0.5:
            self._next(now)
            return self.command(xy, yaw, now)
        if dist < self.best - 0.2:
            self.best, self.since = dist, now
        elif now - self.since > self.cfg.stuck_s:
            self._next(now)
            return self.command(xy, yaw, now)
        c, s = math.cos(yaw), math.sin(yaw)
        gx, gy = c * d[0] + s * d[1], -s * d[0] + c * d[1]
        cmd = pure_pursuit_command(np.array([gx]), np.array([gy]), np.array([heading]), self.cfg.v_max,
                                   self.cfg.w_max)[0]
        cmd = cmd + self.rng.normal(0.0, self.cfg.noise)
        return np.minimum(np.maximum(cmd, self.low), self.high)
