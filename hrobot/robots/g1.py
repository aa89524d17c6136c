"""Unitree G1 class humanoid (23 DoF) from primitives.

Link frames, masses, centres of mass and inertias follow the unitree_ros g1_23dof URDF
(pelvis 3.813 kg, torso 8.562 kg, head 1.036 kg, legs 7.19 kg and arms 3.05 kg each).
Fixed links (waist housing, head) are welded child bodies so the mass distribution matches.
"""

from __future__ import annotations

import mujoco

from hrobot.robots import primitives as p
from hrobot.spec import RobotSpec

BODY_RGBA = (0.75, 0.75, 0.78, 1.0)
DARK_RGBA = (0.22, 0.22, 0.25, 1.0)

# (name, parent-frame pos, rpy, joint axis, mass, com, inertia (ixx, iyy, izz, ixy, ixz, iyz)) for the left leg.
LEG = (
    ("hip_pitch", (0, 0.064452, -0.1027), (0, 0, 0), (0, 1, 0),
     1.35, (0.002741, 0.047791, -0.02606), (0.001811, 0.0014193, 0.0012812, 3.68e-5, -3.44e-5, 0.000171)),
    ("hip_roll", (0, 0.052, -0.030465), (0, -0.1749, 0), (1, 0, 0),
     1.52, (0.029812, -0.001045, -0.087934), (0.0023773, 0.0024123, 0.0016595, -3.8e-6, -0.0003908, 1.84e-5)),
    ("hip_yaw", (0.025001, 0, -0.12412), (0, 0, 0), (0, 0, 1),
     1.702, (-0.057709, -0.010981, -0.15078), (0.0057774, 0.0076124, 0.003149, -0.0005411, -0.0023948, -0.0007072)),
    ("knee", (-0.078273, 0.0021489, -0.17734), (0, 0.1749, 0), (0, 1, 0),
     1.932, (0.005457, 0.003964, -0.12074), (0.011329, 0.011277, 0.0015168, 4.82e-5, -4.49e-5, -0.0007146)),
    ("ankle_pitch", (0, -9.4445e-5, -0.30001), (0, 0, 0), (0, 1, 0),
     0.074, (-0.007269, 0, 0.011137), (8.4e-6, 1.89e-5, 1.26e-5, 0, -2.9e-6, 0)),
    ("ankle_roll", (0, 0, -0.017558), (0, 0, 0), (1, 0, 0),
     0.608, (0.026505, 0, -0.016425), (0.0002231, 0.0016161, 0.0016667, 2e-7, 8.91e-5, -1e-7)),
)
ARM = (
    ("shoulder_pitch", (0.0039563, 0.10022, 0.23778), (0.27931, 5.4949e-05, -0.00019159), (0, 1, 0),
     0.718, (0, 0.035892, -0.011628), (0.0004291, 0.000453, 0.000423, -9.2e-6, 6.4e-6, 2.26e-5)),
    ("shoulder_roll", (0, 0.038, -0.013831), (-0.27925, 0, 0), (1, 0, 0),
     0.643, (-0.000227, 0.00727, -0.063243), (0.0006177, 0.0006912, 0.0003894, -1e-6, 8.7e-6, -5.3e-6)),
    ("shoulder_yaw", (0, 0.00624, -0.1032), (0, 0, 0), (0, 0, 1),
     0.734, (0.010773, -0.002949, -0.072009), (0.0009988, 0.0010605, 0.0004354, 7.9e-6, 0.0001412, -2.86e-5)),
    ("elbow", (0.015783, 0, -0.080518), (0, 0, 0), (0, 1, 0),
     0.6, (0.064956, 0.004454, -0.010062), (0.0002891, 0.0004152, 0.0004197, 6.53e-5, 1.72e-5, -5.6e-6)),
    ("wrist_roll", (0.1, 0.00188791, -0.01), (0, 0, 0), (1, 0, 0),
     0.35692864, (0.1079465665, 0.00163511945, 0.00202244863),
     (0.00019613494735, 0.00200280358206, 0.00194181412808, -4.19816908e-6, -3.95086058e-5, 2.49774203e-6)),
)
# Collision-and-visual primitives per link of the left side: (kind, size, fromto or pos).
LEG_GEOMS = {
    "hip_roll": [("capsule", (0.05,), (0.02, 0, -0.01, 0.02, 0, -0.06))],
    "hip_yaw": [("capsule", (0.05,), (-0.01, 0, -0.04, -0.06, 0, -0.15))],
    "knee": [("capsule", (0.04,), (0.01, 0, -0.02, 0.01, 0, -0.16)), ("capsule", (0.03,), (0.01, 0, -0.2, 0.01, 0, -0.27))],
}
ARM_GEOMS = {
    "shoulder_pitch": [("capsule", (0.03,), (0, 0.02, -0.01, 0, 0.05, -0.01))],
    "shoulder_yaw": [("capsule", (0.032,), (0, 0, -0.005, 0, 0, -0.08))],
    "elbow": [("capsule", (0.03,), (0.0, 0, -0.01, 0.08, 0, -0.01))],
    "wrist_roll": [("capsule", (0.03,), (0.01, 0, 0, 0.16, 0, 0))],
}
FOOT_BOX = ((0.085, 0.03, 0.01), (0.035, 0, -0.025))  # half size, centre: sole at z = -0.035
ARMATURE = {"hip_pitch": 0.0101775, "hip_roll": 0.0251019, "hip_yaw": 0.0101775, "knee": 0.0251019,
            "ankle_pitch": 0.0072195, "ankle_roll": 0.0072195, "waist_yaw": 0.0101775}
ARM_ARMATURE = 0.0036097
JOINT_DAMPING = 0.1


def _chain(parent, side: str, links, geoms, joints, armature) -> mujoco.MjsBody:
    body = parent
    left = side == "left"
    for name, pos, rpy, axis, mass, com, inertia in links:
        if not left:
            pos, com, inertia = p.mirror_y(pos), p.mirror_y(com), p.mirror_inertia_y(inertia)
            rpy = (-rpy[0], rpy[1], -rpy[2])
        body = p.link(body, f"{side}_{name}_link", pos, mass, com, inertia, quat=p.rpy_quat(*rpy))
        p.hinge(body, joints[f"{side}_{name}_joint"], axis, JOINT_DAMPING, armature(name))
        for kind, size, ft in geoms.get(name, []):
            p.geom(body, kind, size, BODY_RGBA, fromto=ft if left else p.mirror_y(ft[:3]) + p.mirror_y(ft[3:]))
    return body


def build(robot: RobotSpec) -> mujoco.MjSpec:
    s = p.new_model(robot.name)
    joints = p.joint_map(robot)
    pelvis = p.link(s.worldbody, robot.base_body, (0, 0, robot.base_height),
                    3.813, (0, 0, -0.07605), (0.010549, 0.0093089, 0.0079184, 0, 2.1e-6, 0))
    pelvis.add_freejoint(name="root")
    p.geom(pelvis, "sphere", (0.07,), DARK_RGBA, pos=(0, 0, -0.07))
    pelvis.add_site(name=robot.imu_site, pos=[0.04525, 0, -0.08339])

    for side in ("left", "right"):
        ankle = _chain(pelvis, side, LEG, LEG_GEOMS, joints, lambda n: ARMATURE[n])
        size, centre = FOOT_BOX
        p.geom(ankle, "box", size, DARK_RGBA, pos=centre, friction=(1.0, 0.005, 0.0001))
        ankle.add_site(name=f"{side}_foot", pos=[centre[0], 0, centre[2] - size[2]], size=[0.02, 0, 0])

    torso = p.link(pelvis, "torso_link", (-0.0039635, 0, 0.054), 8.562, (0.002601, 0.000257, 0.153719),
                   (0.065674966, 0.053535188, 0.030808125, -8.597e-5, -0.001737252, 8.6899e-5))
    p.hinge(torso, joints["waist_yaw_joint"], (0, 0, 1), JOINT_DAMPING, ARMATURE["waist_yaw"])
    p.geom(torso, "capsule", (0.09,), BODY_RGBA, fromto=(0.0, 0, 0.07, 0.0, 0, 0.2))
    waist = p.link(torso, "waist_housing", (0.0039635, 0, -0.054), 0.244, (0.003964, 0, 0.018769),
                   (9.9587e-5, 0.00012411, 0.00015586, -1.833e-6, -1.2617e-5, -1.18e-7))
    p.geom(waist, "cylinder", (0.05, 0.02), DARK_RGBA, pos=(0, 0, 0.02))
    head = p.link(torso, "head_link", (0.0039635, 0, -0.054), 1.036, (0.005267, 0.000299, 0.449869),
                  (0.004085051, 0.004185212, 0.001807911, -2.543e-6, -6.9455e-05, -3.726e-6))
    p.geom(head, "sphere", (0.065,), DARK_RGBA, pos=(0.0, 0, 0.44))
    for side in ("left", "right"):
        _chain(torso, side, ARM, ARM_GEOMS, joints, lambda n: ARM_ARMATURE)
    return s
