"""A meshed 12-DoF quadruped written to a folder: a vendor-style user model without third-party assets.

It looks like what users download for their robot (Unitree's MJCF files, model zoos): binary
STL meshes for the visuals (dense, `contype=0 conaffinity=0`) and a mesh for the trunk's
collision, legs and feet as collision primitives, no actuators, no keyframe, MuJoCo's default
integrator; and a spec YAML for hrobot. Tests and `hrobot bench sim` use it to cover meshed
models (memory per env, numerics, training end to end).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

LEGS = {"FR": (0.19, -0.05), "FL": (0.19, 0.05), "RR": (-0.19, -0.05), "RL": (-0.19, 0.05)}
HIP_Y = 0.09
LINK = 0.21


def ellipsoid_mesh(radii: tuple[float, float, float], segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A UV ellipsoid: (vertices (V, 3), triangles (F, 3)); about 2 x segments^2 triangles."""
    lat = np.linspace(0, np.pi, segments + 1)[1:-1]
    lon = np.linspace(0, 2 * np.pi, 2 * segments, endpoint=False)
    t, p = np.meshgrid(lat, lon, indexing="ij")
    ring = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    verts = np.vstack([[0, 0, 1], ring, [0, 0, -1]]) * np.asarray(radii)
    n, rows = 2 * segments, segments - 1
    idx = lambda r, c: 1 + r * n + (c % n)  # noqa: E731
    faces = [(0, idx(0, c + 1), idx(0, c)) for c in range(n)]
    for r in range(rows - 1):
        for c in range(n):
            faces += [(idx(r, c), idx(r, c + 1), idx(r + 1, c)), (idx(r, c + 1), idx(r + 1, c + 1), idx(r + 1, c))]
    last = len(verts) - 1
    faces += [(last, idx(rows - 1, c), idx(rows - 1, c + 1)) for c in range(n)]
    return verts, np.asarray(faces)


def write_stl(path: Path, verts: np.ndarray, faces: np.ndarray) -> None:
    """Binary STL (what vendors ship)."""
    tri = verts[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(min=1e-12)
    rec = np.zeros(len(faces), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["n"], rec["v"] = normals, tri
    with open(path, "wb") as f:
        f.write(b"hrobot meshbot".ljust(80, b" ") + struct.pack("<I", len(faces)) + rec.tobytes())


MJCF = """<mujoco model="meshbot">
  <compiler angle="radian" meshdir="meshes"/>
  <default>
    <default class="visual"><geom type="mesh" contype="0" conaffinity="0" group="2" density="0"/></default>
    <default class="collision"><geom group="3"/></default>
    <joint damping="0.1" armature="0.01"/>
  </default>
  <asset>
{assets}
  </asset>
  <worldbody>
    <body name="base" pos="0 0 0.35">
      <freejoint/>
      <inertial pos="0.02 0 0" mass="6.9" diaginertia="0.025 0.098 0.107"/>
      <geom class="visual" mesh="base_visual"/>
      <geom name="base_collision" class="collision" type="mesh" mesh="base_collision"/>
      <site name="imu" pos="-0.02 0 0.04"/>
{legs}
    </body>
  </worldbody>
</mujoco>
"""
LEG = """      <body name="{leg}_hip" pos="{x} {y} 0">
        <inertial pos="0 0 0" mass="0.68" diaginertia="0.0005 0.0009 0.0006"/>
        <joint name="{leg}_hip_joint" axis="1 0 0" range="-1.0472 1.0472"/>
        <geom class="visual" mesh="hip_visual"/>
        <body name="{leg}_thigh" pos="0 {hy} 0">
          <inertial pos="0 0 -0.03" mass="1.15" diaginertia="0.0058 0.0058 0.001"/>
          <joint name="{leg}_thigh_joint" axis="0 1 0" range="-1.5708 3.4907"/>
          <geom class="visual" mesh="thigh_visual" pos="0 0 -0.105"/>
          <geom class="collision" type="box" size="0.017 0.012 0.1" pos="0 0 -0.105"/>
          <body name="{leg}_calf" pos="0 0 -{link}">
            <inertial pos="0 0 -0.11" mass="0.19" diaginertia="0.0011 0.0011 0.00004"/>
            <joint name="{leg}_calf_joint" axis="0 1 0" range="-2.7227 -0.83776"/>
            <geom class="visual" mesh="calf_visual" pos="0 0 -0.105"/>
            <geom class="collision" type="capsule" size="0.012" fromto="0 0 -0.02 0 0 -0.18"/>
            <geom name="{leg}_foot" class="collision" type="sphere" size="0.022" pos="0 0 -{link}" friction="0.8 0.02 0.01"/>
            <site name="{leg}_foot" pos="0 0 -{link}"/>
          </body>
        </body>
      </body>"""
JOINTS = {"hip": (0.0, -1.0472, 1.0472, 30.1, 23.7), "thigh": (0.8, -1.5708, 3.4907, 30.1, 23.7),
          "calf": (-1.5, -2.7227, -0.83776, 20.07, 35.55)}


def write_meshbot(folder: Path, segments: int = 160) -> Path:
    """Write meshbot.xml, its STL meshes and meshbot.yaml into `folder`; returns the spec path.

    `segments` sets the visual meshes' density (160: about 51,000 triangles per mesh, the order
    of a vendor's link meshes).
    """
    folder = Path(folder)
    (folder / "meshes").mkdir(parents=True, exist_ok=True)
    meshes = {"base_visual": ((0.19, 0.047, 0.057), segments), "base_collision": ((0.19, 0.05, 0.06), 24),
              "hip_visual": ((0.046, 0.046, 0.04), segments), "thigh_visual": ((0.025, 0.02, 0.11), segments),
              "calf_visual": ((0.015, 0.013, 0.11), segments)}
    for name, (radii, seg) in meshes.items():
        write_stl(folder / "meshes" / f"{name}.stl", *ellipsoid_mesh(radii, seg))
    assets = "\n".join(f'    <mesh name="{n}" file="{n}.stl"/>' for n in meshes)
    legs = "\n".join(LEG.format(leg=leg, x=x, y=y, hy=HIP_Y if y > 0 else -HIP_Y, link=LINK)
                     for leg, (x, y) in LEGS.items())
    (folder / "meshbot.xml").write_text(MJCF.format(assets=assets, legs=legs))
    rows = []
    for leg in LEGS:
        for part, (default, lo, hi, vel, tau) in JOINTS.items():
            d = default if part != "hip" else (-0.1 if leg[1] == "R" else 0.1)
            d = 1.0 if (part == "thigh" and leg[0] == "R") else d
            rows.append(f"  - {{name: {leg}_{part}_joint, default: {d}, range: [{lo}, {hi}], velocity: {vel}, "
                        f"torque: {tau}, kp: 20.0, kd: 0.5}}")
    spec = folder / "meshbot.yaml"
    spec.write_text("""# A meshed Go2-sized quadruped (written by hrobot.sim.meshbot).
name: meshbot
robot_class: quadruped
description: meshed 12-DoF quadruped (synthetic vendor-style model)
model: meshbot.xml
base_body: base
floating_base: true
base_height: 0.33
imu_site: imu
feet: [FR_foot, FL_foot, RR_foot, RL_foot]
contact_bodies: [base, FR_thigh, FL_thigh, RR_thigh, RL_thigh]
action_scale: 0.25
pd_rate_hz: 200
policy_rate_hz: 50
joints:
""" + "\n".join(rows) + "\n")
    return spec
