"""Batched rotation helpers, quaternions as (w, x, y, z), for numpy arrays and torch tensors alike.

Core layer: torch is never imported here; a function given torch tensors uses the tensor's
own methods through `array_module`, so deployment (numpy only) and training share the code.
"""

from __future__ import annotations

import math
import sys

import numpy as np


def array_module(x):
    """numpy for numpy arrays (and plain numbers), torch for torch tensors (torch is never imported here)."""
    if isinstance(x, (np.ndarray, np.generic)) or not hasattr(x, "device"):  # numpy 2 scalars have .device too
        return np
    return sys.modules["torch"]


def _cross(xp, a, b):
    return xp.cross(a, b, axis=1) if xp is np else xp.cross(a, b, dim=1)


def quat_rotate_inverse(q, v):
    """Rotate world vectors v (N, 3) into the frame with orientation q (N, 4): R(q)^T v."""
    xp = array_module(q)
    w, xyz = q[:, :1], q[:, 1:]
    t = 2.0 * _cross(xp, xyz, v)
    return v - w * t + _cross(xp, xyz, t)


def quat_rotate(q, v):
    """Rotate body-frame vectors v (N, 3) into the world: R(q) v."""
    xp = array_module(q)
    w, xyz = q[:, :1], q[:, 1:]
    t = 2.0 * _cross(xp, xyz, v)
    return v + w * t + _cross(xp, xyz, t)


def yaw_from_quat(q):
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return array_module(q).arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quat_from_yaw(yaw):
    xp = array_module(yaw)
    half = 0.5 * yaw
    zeros = xp.zeros_like(yaw)
    return xp.stack([xp.cos(half), zeros, zeros, xp.sin(half)], 1)


def wrap_to_pi(a):
    return array_module(a).remainder(a + math.pi, 2 * math.pi) - math.pi


def quat_mul(a, b):
    """Hamilton product a * b (N, 4)."""
    xp = array_module(a)
    aw, ax, ay, az = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    bw, bx, by, bz = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return xp.stack([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw], 1)


def quat_conj(q):
    xp = array_module(q)
    return xp.concatenate([q[:, :1], -q[:, 1:]], 1)


def rot6_from_quat(q):
    """The first two columns of R(q) (N, 6): continuous, unlike a quaternion's sign."""
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return array_module(q).stack([1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y),
                                  2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)], 1)


def quat_to_rotvec(q):
    """Rotation vectors (N, 3) (axis times angle in [0, pi]) of unit quaternions (N, 4)."""
    xp = array_module(q)
    sign = xp.where(q[:, :1] < 0, -1.0, 1.0)  # the shorter way round
    w, v = q[:, :1] * sign, q[:, 1:] * sign
    s = xp.sqrt((v * v).sum(1, keepdims=True) if xp is np else (v * v).sum(1, keepdim=True))
    angle = 2.0 * xp.arctan2(s, w)
    # angle / sin(angle / 2) -> 2 as the angle -> 0
    return v * xp.where(s > 1e-9, angle / xp.where(s > 1e-9, s, 1.0), 2.0)
