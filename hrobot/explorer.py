"""A scripted exploration controller for recording navigation datasets (deploy layer: numpy).

Random waypoints (position and heading) in a square around the origin, each driven to by the pure-pursuit
law the scripted planner uses (`hrobot.nav_io.pure_pursuit_command`), with Gaussian noise on every
decision that fades near the waypoint; at a waypoint (position and heading) it stands still for a random
dwell, as a person driving stops at places, then draws the next; no progress towards it for `stuck_s`
draws the next too. Given the room's boxes (a `RouteMap`, as a person driving sees the room, or OGBench's
oracle knows its maze) it draws waypoints in free space and drives along the shortest path around the
boxes, pursuing the furthest point of it that a straight line reaches clear of them. Without a map it drives straight at the waypoint and,
given its low range scan, as a careful person would: an obstacle close ahead slows it and turns it towards
the side with more room. The recording then holds arrivals, stops and detours, which a high level learned
from it must reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hrobot.geometry import wrap_to_pi
from hrobot.nav_io import pure_pursuit_command
from hrobot.world import ARENA_HALF_SIZE, OBSTACLE_SIZES

_NEIGHBOURS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]


class RouteMap:
    """The arena on a grid of `cell` m: its walls and boxes (centres (k, 2), half sizes by index as the
    simulator's OBSTACLE_SIZES), and path lengths to a goal around them. A cell nearer than `margin` to a box
    or wall costs more the nearer it is (paths keep the robot's body clear where there is room); a cell
    inside one is impassable."""

    def __init__(self, obstacles, half: float = ARENA_HALF_SIZE, cell: float = 0.1, margin: float = 0.7):
        self.half, self.cell, self.margin = half, cell, margin
        self.n = int(round(2 * half / cell))
        c = -half + cell * (np.arange(self.n) + 0.5)
        x, y = np.meshgrid(c, c, indexing="ij")
        gap = half - np.maximum(np.abs(x), np.abs(y))  # to the walls
        for i, (ox, oy) in enumerate(np.asarray(obstacles, dtype=np.float64).reshape(-1, 2)):
            hx, hy, _ = OBSTACLE_SIZES[i % len(OBSTACLE_SIZES)]
            gap = np.minimum(gap, np.hypot(np.maximum(np.abs(x - ox) - hx, 0.0), np.maximum(np.abs(y - oy) - hy, 0.0)))
        self.gap = gap
        cost = np.pad(np.where(gap > 0.0, 1.0 + 100.0 * np.clip(1.0 - gap / margin, 0.0, None) ** 2, np.inf), 1,
                      constant_values=np.inf)
        inner = cost[1:-1, 1:-1]
        # the cost of each cell's edge to its neighbour (di, dj): the mean of the two cells' costs times its length
        self.steps = [cell * math.hypot(di, dj) * 0.5 * (inner + cost[1 + di:self.n + 1 + di, 1 + dj:self.n + 1 + dj])
                      for di, dj in _NEIGHBOURS]

    def _cells(self, points) -> tuple[np.ndarray, np.ndarray]:
        """Grid indices (i, j) of points (..., 2), clipped to the grid."""
        ij = np.clip(((np.asarray(points, dtype=np.float64) + self.half) / self.cell).astype(int), 0, self.n - 1)
        return ij[..., 0], ij[..., 1]

    def index(self, xy) -> tuple[int, int]:
        i, j = self._cells(xy)
        return int(i), int(j)

    def centre(self, i: int, j: int) -> np.ndarray:
        return -self.half + self.cell * (np.array([i, j]) + 0.5)

    def clear(self, xy) -> bool:
        """Is xy at least `margin` from every box and wall?"""
        return bool(self.gap[self.index(xy)] >= self.margin)

    def field(self, goal) -> np.ndarray:
        """Path length (m, weighted by the cells' cost) from every cell to the goal's, 8-connected; inf where
        no path reaches."""
        d = np.full((self.n + 2, self.n + 2), np.inf)
        i, j = self.index(goal)
        d[i + 1, j + 1] = 0.0
        inner = (slice(1, -1), slice(1, -1))
        while True:
            before = d[inner].copy()
            for (di, dj), step in zip(_NEIGHBOURS, self.steps):
                np.minimum(d[inner], d[1 + di:self.n + 1 + di, 1 + dj:self.n + 1 + dj] + step, out=d[inner])
            if np.array_equal(before, d[inner]):
                return d[inner]

    def visible(self, a, b, clearance: float) -> bool:
        """Does the straight segment a -> b keep `clearance` m from every box and wall?"""
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        k = max(int(np.hypot(*(b - a)) / (0.5 * self.cell)), 1)
        return bool(self.gap[self._cells(a + np.linspace(0.0, 1.0, k + 1)[:, None] * (b - a))].min() >= clearance)

    def ahead(self, field: np.ndarray, xy, lookahead: float, clearance: float, horizon: float = 4.0) -> np.ndarray:
        """Where to head on the shortest path from xy: the furthest point of the grid path within `horizon` m that a
        straight line from xy reaches `clearance` m clear of the boxes (the path pulled taut, not the grid's 45
        degree steps); where none is, the point `lookahead` m along it."""
        i, j = self.index(xy)
        travelled, cells = 0.0, []
        while travelled < horizon and field[i, j] > 0.0:
            nxt = min(((i + di, j + dj) for di, dj in _NEIGHBOURS if 0 <= i + di < self.n and 0 <= j + dj < self.n),
                      key=lambda ij: field[ij])
            if not field[nxt] < field[i, j]:
                break
            travelled += self.cell * math.hypot(nxt[0] - i, nxt[1] - j)
            i, j = nxt
            cells.append((travelled, self.centre(i, j)))
        if not cells:
            return self.centre(i, j)
        for _, point in reversed(cells):
            if self.visible(xy, point, clearance):
                return point
        return next((p for t, p in cells if t >= lookahead), cells[-1][1])


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
    clearance: float = 0.6  # m: without a map, an obstacle nearer than this ahead slows and turns it
    ahead: float = 0.6  # rad: half-width of the sector that counts as ahead
    lookahead: float = 0.6  # m: with a map, the point pursued along the path where no straight line is clear
    clearance_path: float = 0.55  # m: with a map, a straight line this clear of the boxes may cut the path short


class Explorer:
    def __init__(self, cfg: ExplorerCfg | None = None, seed: int = 0,
                 low=(-1.0, -0.5, -1.0), high=(1.0, 0.5, 1.0), route_map: RouteMap | None = None):
        self.cfg, self.rng = cfg or ExplorerCfg(), np.random.default_rng(seed)
        self.low, self.high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        self.map = route_map
        self.waypoint: np.ndarray | None = None
        self.field: np.ndarray | None = None
        self.waypoints = 0
        self.dwell_until = -math.inf

    def _next(self, xy, now: float) -> None:
        """A random waypoint; with a map, one in free space that a path from xy reaches (the last of 100 draws
        otherwise: no progress to it, and `stuck_s` later the next)."""
        h = self.cfg.half_size
        for _ in range(100):
            self.waypoint = np.array([*self.rng.uniform(-h, h, 2), self.rng.uniform(-math.pi, math.pi)])
            if self.map is None:
                break
            if self.map.clear(self.waypoint[:2]):
                self.field = self.map.field(self.waypoint[:2])
                if np.isfinite(self.field[self.map.index(xy)]):
                    break
        else:
            self.field = self.map.field(self.waypoint[:2])
        self.best, self.since = math.inf, now
        self.waypoints += 1

    def command(self, xy, yaw: float, now: float, scan: np.ndarray | None = None,
                angle_increment: float = 0.0) -> np.ndarray:
        """The (vx, vy, wz) command for this decision, inside the skill's range. `scan`: ranges (m) of a planar
        scan from angle 0 (ahead) counter-clockwise every `angle_increment` rad."""
        if now < self.dwell_until:
            return np.zeros(3)
        xy = np.asarray(xy, dtype=np.float64)
        if self.waypoint is None:
            self._next(xy, now)
        d = self.waypoint[:2] - xy
        dist, heading = float(np.hypot(*d)), float(wrap_to_pi(self.waypoint[2] - yaw))
        if dist < self.cfg.reach and abs(heading) < self.cfg.reach_yaw:
            self.dwell_until = now + self.rng.uniform(*self.cfg.dwell_s)
            self._next(xy, self.dwell_until)
            return np.zeros(3)
        to_go = dist if self.map is None else float(self.field[self.map.index(xy)])  # progress along the path
        if to_go < self.best - 0.2:
            self.best, self.since = to_go, now
        elif now - self.since > self.cfg.stuck_s:
            self._next(xy, now)
            return self.command(xy, yaw, now, scan, angle_increment)
        if self.map is not None and not self.map.visible(xy, self.waypoint[:2], self.cfg.clearance_path):
            d = self.map.ahead(self.field, xy, self.cfg.lookahead, clearance=self.cfg.clearance_path) - xy
        c, s = math.cos(yaw), math.sin(yaw)
        gx, gy = c * d[0] + s * d[1], -s * d[0] + c * d[1]
        cmd = pure_pursuit_command(np.array([gx]), np.array([gy]), np.array([heading]), self.cfg.v_max,
                                   self.cfg.w_max)[0]
        if self.map is None and scan is not None and angle_increment > 0:
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
