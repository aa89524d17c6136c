"""Ground height around a robot: the elevation map a perceptive policy's height scan samples (core layer).

One definition for training and deployment: the simulator's terrain and a robot's elevation map are both a
`HeightMap` (heights on a regular grid in the odometry / world frame), read by the same bilinear lookup, and the
policy's height scan is taken from either by the same `height_scan` (numpy for one robot, torch batched).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hrobot.geometry import array_module, yaw_from_quat


def bilinear(heights, origin, resolution: float, xy):
    """Heights (nx, ny) sampled at world xy (..., 2), bilinear; sample [i, j] lies at origin + (i, j) * resolution.
    Outside the grid: the height at its nearest edge. numpy or torch, as `heights` is."""
    xp = array_module(heights)
    g = (xy - origin) / resolution
    nx, ny = heights.shape
    if xp is np:
        gx, gy = np.clip(g[..., 0], 0, nx - 1.001), np.clip(g[..., 1], 0, ny - 1.001)
        ix, iy = np.floor(gx).astype(int), np.floor(gy).astype(int)
    else:
        gx, gy = g[..., 0].clamp(0, nx - 1.001), g[..., 1].clamp(0, ny - 1.001)
        ix, iy = gx.floor().long(), gy.floor().long()
    fx, fy = gx - ix, gy - iy
    h = heights
    return (h[ix, iy] * (1 - fx) * (1 - fy) + h[ix + 1, iy] * fx * (1 - fy)
            + h[ix, iy + 1] * (1 - fx) * fy + h[ix + 1, iy + 1] * fx * fy)


@dataclass(frozen=True)
class HeightMap:
    """An elevation map: `heights[i, j]` (m) at odometry-frame xy `origin + (i, j) * resolution`."""

    heights: np.ndarray
    origin: tuple[float, float]
    resolution: float

    def at(self, xy: np.ndarray) -> np.ndarray:
        return bilinear(self.heights, np.asarray(self.origin), self.resolution, np.asarray(xy))

    @staticmethod
    def flat(height: float = 0.0) -> HeightMap:
        """Level ground everywhere (the lookup holds the edge's height beyond the grid)."""
        return HeightMap(np.full((2, 2), float(height)), (0.0, 0.0), 1.0)


def scan_points(nx: int, ny: int, spacing: float) -> np.ndarray:
    """(nx * ny, 2) base-frame xy of the scan grid, centred under the base, x-major."""
    gx = (np.arange(nx) - (nx - 1) / 2) * spacing
    gy = (np.arange(ny) - (ny - 1) / 2) * spacing
    return np.stack(np.meshgrid(gx, gy, indexing="ij"), axis=-1).reshape(-1, 2)


def height_scan(base_pos, base_quat, ground, points, offset: float):
    """(N, k) base height - offset - ground height at the scan points (N, k), the grid turned with the base's yaw.

    `ground` maps world xy (N, k, 2) to heights; base_pos (N, 3), base_quat (N, 4) w, x, y, z; points (k, 2)."""
    xp = array_module(base_pos)
    yaw = yaw_from_quat(base_quat)
    c, s = xp.cos(yaw)[:, None], xp.sin(yaw)[:, None]
    px, py = points[:, 0][None], points[:, 1][None]
    xy = xp.stack([base_pos[:, :1] + c * px - s * py, base_pos[:, 1:2] + s * px + c * py], -1)
    return base_pos[:, 2:3] - offset - ground(xy)
