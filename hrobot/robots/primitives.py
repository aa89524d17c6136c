"""Small helpers for building robot models from primitives with MuJoCo's MjSpec API."""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

from hrobot.errors import HRobotError
from hrobot.spec import JointSpec, RobotSpec

Vec = Sequence[float]

GEOM = {
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
    "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
}

# Robot geoms collide with the world and with objects, not with each other
# (contype 1 / conaffinity 0; world geoms are contype 0 / conaffinity 1; objects 1 / 1).
ROBOT_CONTYPE, ROBOT_CONAFFINITY = 1, 0


def new_model(name: str) -> mujoco.MjSpec:
    """An empty model with the options every built-in robot shares."""
    s = mujoco.MjSpec()
    s.modelname = name
    s.compiler.degree = False
    s.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    # Elliptic cone with a high friction-to-normal impedance ratio: without it feet creep
    # outward under a standing robot's sustained tangential load.
    s.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    s.option.impratio = 10.0
    return s


def rpy_quat(roll: float, pitch: float, yaw: float) -> list[float]:
    """URDF fixed-axis roll-pitch-yaw to a MuJoCo (w, x, y, z) quaternion."""
    q = np.zeros(4)
    mujoco.mju_euler2Quat(q, np.array([roll, pitch, yaw]), "XYZ")
    return q.tolist()


def link(
    parent: mujoco.MjsBody,
    name: str,
    pos: Vec,
    mass: float,
    com: Vec,
    inertia: Vec,
    quat: Vec | None = None,
) -> mujoco.MjsBody:
    """A body with an explicit inertial; inertia is (ixx, iyy, izz, ixy, ixz, iyz) about the COM."""
    b = parent.add_body(name=name, pos=list(pos))
    if quat is not None:
        b.quat = list(quat)
    b.mass = mass
    b.ipos = list(com)
    b.fullinertia = list(inertia)
    b.explicitinertial = True
    return b


def hinge(body: mujoco.MjsBody, joint: JointSpec, axis: Vec, damping: float, armature: float,
          frictionloss: float = 0.0) -> None:
    """A hinge joint whose range comes from the robot spec."""
    body.add_joint(
        name=joint.name,
        type=mujoco.mjtJoint.mjJNT_HINGE,
        axis=list(axis),
        range=[joint.lower, joint.upper],
        limited=mujoco.mjtLimited.mjLIMITED_TRUE,
        damping=damping,
        armature=armature,
        frictionloss=frictionloss,
    )


def geom(
    body: mujoco.MjsBody,
    kind: str,
    size: Vec,
    rgba: Vec,
    pos: Vec | None = None,
    quat: Vec | None = None,
    fromto: Vec | None = None,
    name: str = "",
    friction: Vec | None = None,
) -> mujoco.MjsGeom:
    """A massless collision-and-visual primitive (mass comes from the body's inertial)."""
    g = body.add_geom(name=name, type=GEOM[kind], size=list(size) + [0.0] * (3 - len(size)), rgba=list(rgba))
    if fromto is not None:
        g.fromto = list(fromto)
    if pos is not None:
        g.pos = list(pos)
    if quat is not None:
        g.quat = list(quat)
    if friction is not None:
        g.friction = list(friction)
    g.contype, g.conaffinity = ROBOT_CONTYPE, ROBOT_CONAFFINITY
    g.density = 0.0
    return g


class _SpecJoints(dict):
    """The spec's joints by name; a name the built-in model needs but the spec lacks is one clear error."""

    def __init__(self, robot: RobotSpec):
        super().__init__((j.name, j) for j in robot.joints)
        self.robot = robot

    def __missing__(self, name: str) -> JointSpec:
        r = self.robot
        raise HRobotError(f"{r.source}: field 'joints': the built-in {r.name} model needs joint '{name}', which the "
                          f"spec does not name (it names {', '.join(r.joint_names)})")


def joint_map(robot: RobotSpec) -> dict[str, JointSpec]:
    return _SpecJoints(robot)


def mirror_y(v: Vec) -> list[float]:
    """Mirror a position (x, y, z) across the sagittal plane."""
    return [v[0], -v[1], v[2]]


def mirror_inertia_y(i: Vec) -> list[float]:
    """Mirror (ixx, iyy, izz, ixy, ixz, iyz) across the sagittal plane."""
    return [i[0], i[1], i[2], -i[3], i[4], -i[5]]


def principal_to_full(diag: Vec, quat: Vec) -> list[float]:
    """Principal inertia (diag, frame quat) to (ixx, iyy, izz, ixy, ixz, iyz) in the body frame."""
    r = np.zeros(9)
    mujoco.mju_quat2Mat(r, np.asarray(quat, dtype=np.float64))
    r = r.reshape(3, 3)
    full = r @ np.diag(diag) @ r.T
    return [full[0, 0], full[1, 1], full[2, 2], full[0, 1], full[0, 2], full[1, 2]]
