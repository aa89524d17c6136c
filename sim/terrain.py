"""Procedural rough terrain: a grid of tiles, one row per difficulty level.

Rows go from easy (row 0) to hard (last row); columns cycle through terrain types, as in
legged_gym's curriculum terrain. The same height array is compiled into a MuJoCo height
field and sampled (bilinearly, batched) by the environments for height scans and spawns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hrobot.heightmap import HeightMap, bilinear

TERRAIN_TYPES = ("bumps", "slope", "stairs", "blocks")


@dataclass(frozen=True)
class TerrainConfig:
    num_levels: int = 10
    num_types: int = 4  # columns; types cycle through TERRAIN_TYPES
    tile_size: float = 8.0  # m
    resolution: float = 0.1  # m per height sample
    border: float = 4.0  # flat border around the grid (m)
    max_bump: float = 0.08  # m, bump amplitude at the hardest level
    max_slope: float = 0.35  # rad at the hardest level
    max_step: float = 0.14  # m stair height at the hardest level
    max_block: float = 0.15  # m block height at the hardest level
    single_level: float | None = None  # render one tile of this difficulty (0..1) instead of the grid


class Terrain:
    """Height samples on a regular grid centred on the world origin."""

    def __init__(self, cfg: TerrainConfig, seed: int = 0):
        self.cfg = cfg
        rng = np.random.default_rng(seed)
        n_tile = int(round(cfg.tile_size / cfg.resolution))
        border = int(round(cfg.border / cfg.resolution))
        if cfg.single_level is not None:
            levels, types = [cfg.single_level], [0]
        else:
            levels = [lvl / max(cfg.num_levels - 1, 1) for lvl in range(cfg.num_levels)]
            types = list(range(cfg.num_types))
        rows, cols = len(levels), len(types)
        h = np.zeros((rows * n_tile + 2 * border, cols * n_tile + 2 * border))  # [x index, y index]
        for r, level in enumerate(levels):
            for c, t in enumerate(types):
                x0, y0 = border + r * n_tile, border + c * n_tile
                h[x0 : x0 + n_tile, y0 : y0 + n_tile] = _tile(TERRAIN_TYPES[t % len(TERRAIN_TYPES)], level, n_tile, cfg, rng)
        self.heights = h
        self.rows, self.cols, self.n_tile, self.border_cells = rows, cols, n_tile, border
        self.size_x = (h.shape[0] - 1) * cfg.resolution
        self.size_y = (h.shape[1] - 1) * cfg.resolution
        self.origin = np.array([-self.size_x / 2, -self.size_y / 2])  # world xy of sample [0, 0]
        self.map = HeightMap(h, (float(self.origin[0]), float(self.origin[1])), cfg.resolution)

    def tile_centre(self, level: int | np.ndarray, col: int | np.ndarray) -> np.ndarray:
        """World xy of the centre of tile (level, col)."""
        res = self.cfg.resolution
        x = self.origin[0] + (self.border_cells + (np.asarray(level) + 0.5) * self.n_tile) * res
        y = self.origin[1] + (self.border_cells + (np.asarray(col) + 0.5) * self.n_tile) * res
        return np.stack([x, y], axis=-1)

    def height_at(self, xy: np.ndarray) -> np.ndarray:
        """Bilinear height at world xy (..., 2); outside the grid the border height (0)."""
        return self.map.at(xy)

    def height_map(self) -> HeightMap:
        """The terrain as an elevation map (what a perceptive policy's height scan reads)."""
        return self.map


def _tile(kind: str, level: float, n: int, cfg: TerrainConfig, rng: np.random.Generator) -> np.ndarray:
    res = cfg.resolution
    centre = (n - 1) / 2
    ix, iy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    # Chebyshev distance from the tile centre in metres: pyramids and stairs rise towards the middle.
    d = np.maximum(np.abs(ix - centre), np.abs(iy - centre)) * res
    flat_radius = 1.0  # a flat platform in the middle where robots spawn
    if kind == "bumps":
        amp = 0.01 + level * cfg.max_bump
        coarse = rng.uniform(-amp / 2, amp / 2, size=(n // 4 + 2, n // 4 + 2))
        h = np.kron(coarse, np.ones((4, 4)))[:n, :n]
        return h - h.mean()
    if kind == "slope":
        slope = level * cfg.max_slope
        return np.tan(slope) * np.clip(cfg.tile_size / 2 - np.maximum(d, flat_radius), 0, None) - np.tan(slope) * (
            cfg.tile_size / 2 - flat_radius
        ) / 2
    if kind == "stairs":
        step_h = 0.02 + level * cfg.max_step
        step_w = 0.3
        steps = np.floor(np.clip(cfg.tile_size / 2 - np.maximum(d, flat_radius), 0, None) / step_w)
        return steps * step_h - step_h * steps.max() / 2
    if kind == "blocks":
        block = 0.02 + level * cfg.max_block
        cells = max(int(0.5 / res), 1)  # 0.5 m blocks
        coarse = rng.choice([-block / 2, 0.0, block / 2], size=(n // cells + 1, n // cells + 1))
        h = np.kron(coarse, np.ones((cells, cells)))[:n, :n]
        h[d < flat_radius] = 0.0
        return h
    raise ValueError(f"unknown terrain type {kind}")


class TorchHeights:
    """Batched bilinear terrain height lookup in torch (height scans, spawns, base height)."""

    def __init__(self, terrain: Terrain | None, device: str | torch.device = "cpu"):
        self.flat = terrain is None
        if terrain is not None:
            self.h = torch.tensor(terrain.heights, dtype=torch.float32, device=device)
            self.origin = torch.tensor(terrain.origin, dtype=torch.float32, device=device)
            self.res = terrain.cfg.resolution

    def __call__(self, xy: torch.Tensor) -> torch.Tensor:
        if self.flat:
            return torch.zeros(xy.shape[:-1], device=xy.device)
        return bilinear(self.h, self.origin, self.res, xy)
