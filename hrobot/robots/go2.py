"""Unitree Go2 class quadruped from primitives.

Link frames, masses, centres of mass and inertias follow the unitree_ros go2_description
URDF (base 6.921 kg; per leg hip 0.678, thigh 1.152, calf 0.154, foot 0.04 kg); thigh and
calf are 0.213 m, the foot a 0.022 m sphere.
"""

from __future__ import annotations

import mujoco

from hrobot.robots import primitives as p
from hrobot.spec import RobotSpec

BODY_RGBA = (0.85, 0.85, 0.87, 1.0)
LEG_RGBA = (0.25, 0.25, 0.28, 1.0)
FOOT_RGBA = (0.1, 0.1, 0.1, 1.0)

HIP_POS = (0.1934, 0.0465, 0.0)  # FL hip in the base frame
THIGH_POS = (0.0, 0.0955, 0.0)  # FL thigh in the hip frame
LINK_LENGTH = 0.213
FOOT_RADIUS = 0.022

# URDF inertials of the left legs: (mass, com, (ixx, iyy, izz, ixy, ixz, iyz)).
HIP = (0.678, (-0.0054, 0.00194, -0.000105), (0.00048, 0.000884, 0.000596, -3.01e-6, 1.11e-6, -1.42e-6))
THIGH = (1.152, (-0.00374, -0.0223, -0.0327), (0.00584, 0.0058, 0.00103, 8.72e-5, -0.000289, 0.000808))
CALF = (0.154, (0.00548, -0.000975, -0.115), (0.00108, 0.0011, 3.29e-5, 3.4e-7, 1.72e-5, 8.28e-6))
FOOT = (0.04, (0.0, 0.0, 0.0), (9.6e-6, 9.6e-6, 9.6e-6, 0.0, 0.0, 0.0))
BASE = (6.921, (0.021112, 0.0, -0.005366), (0.02448, 0.098077, 0.107, 0.00012166, 0.0014849, -3.12e-5))

JOINT_DAMPING = 0.1
JOINT_ARMATURE = 0.01


def build(robot: RobotSpec) -> mujoco.MjSpec:
    s = p.new_model(robot.name)
    joints = p.joint_map(robot)
    base = p.link(s.worldbody, robot.base_body, (0, 0, robot.base_height), *BASE)
    base.add_freejoint(name="root")
    p.geom(base, "box", (0.1881, 0.04675, 0.057), BODY_RGBA, name="base_box")
    p.geom(base, "cylinder", (0.05, 0.045), BODY_RGBA, pos=(0.285, 0, 0.01), name="head_upper")
    p.geom(base, "sphere", (0.047,), LEG_RGBA, pos=(0.293, 0, -0.06), name="head_lower")
    base.add_site(name=robot.imu_site, pos=[-0.02557, 0, 0.04232])

    for leg in ("FR", "FL", "RR", "RL"):
        front, left = leg[0] == "F", leg[1] == "L"
        sx = 1.0 if front else -1.0

        def side(v):
            return v if left else p.mirror_y(v)

        def side_i(i):
            return i if left else p.mirror_inertia_y(i)

        hip_mass, hip_com, hip_i = HIP
        hip_com = [sx * hip_com[0], hip_com[1], hip_com[2]]
        hip_i = [hip_i[0], hip_i[1], hip_i[2], sx * hip_i[3], sx * hip_i[4], hip_i[5]]
        hip = p.link(base, f"{leg}_hip", side([sx * HIP_POS[0], HIP_POS[1], 0]), hip_mass, side(hip_com), side_i(hip_i))
        p.hinge(hip, joints[f"{leg}_hip_joint"], (1, 0, 0), JOINT_DAMPING, JOINT_ARMATURE)
        p.geom(hip, "cylinder", (0.046, 0.02), LEG_RGBA, pos=side((0, 0.08, 0)), quat=(0.7071068, 0.7071068, 0, 0))

        thigh = p.link(hip, f"{leg}_thigh", side(THIGH_POS), THIGH[0], side(THIGH[1]), side_i(THIGH[2]))
        p.hinge(thigh, joints[f"{leg}_thigh_joint"], (0, 1, 0), JOINT_DAMPING, JOINT_ARMATURE)
        p.geom(thigh, "box", (0.017, 0.01225, 0.1065), BODY_RGBA, pos=(0, 0, -0.1065))

        calf = p.link(thigh, f"{leg}_calf", (0, 0, -LINK_LENGTH), CALF[0], side(CALF[1]), side_i(CALF[2]))
        p.hinge(calf, joints[f"{leg}_calf_joint"], (0, 1, 0), JOINT_DAMPING, JOINT_ARMATURE)
        p.geom(calf, "capsule", (0.013,), LEG_RGBA, fromto=(0.004, 0, -0.01, 0.018, 0, -0.17))

        foot = p.link(calf, f"{leg}_foot", (0, 0, -LINK_LENGTH), *FOOT)
        p.geom(foot, "sphere", (FOOT_RADIUS,), FOOT_RGBA, pos=(-0.002, 0, 0), name=f"{leg}_foot", friction=(0.8, 0.02, 0.01))
        foot.add_site(name=f"{leg}_foot", pos=[-0.002, 0, 0], size=[FOOT_RADIUS, 0, 0])
    return s
