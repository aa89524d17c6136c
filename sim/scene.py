"""Scenes: the robot placed in a world (flat ground, rough terrain, obstacle arena, hand + object).

`add_scene` edits the robot's MjSpec in place: it replaces the model's actuators with PD
position actuators taken from the robot spec (so gains, torque limits and joint order
come from one place), adds the sensors hrobot reads, and adds the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np

from hrobot.spec import RobotSpec
from hrobot.world import ARENA_HALF_SIZE, ARENA_OBSTACLES, OBSTACLE_SIZES
from hrobot.sim.terrain import Terrain, TerrainConfig

WORLD_CONTYPE, WORLD_CONAFFINITY = 0, 1  # collides with robots and objects, not with itself
WORLD_GROUP = 2  # world geoms' group: range sensors (mj_ray) see this group only, never the robot
BAR_HALF_THICKNESS = (0.06, 0.05)  # a low bar across the arena (x, z half sizes): only a crouched robot passes
# m, the bar's underside: a walking Go2 (trunk ~0.24-0.36 m) hits it; crouched (trunk top ~0.25 m) passes. At
# 0.29 m the two-skill high level never learned to pass under it (0-3 % on bar layouts); at 0.31 m it does.
BAR_BOTTOM = 0.31
SKIRT_WIDTH = 40.0  # m of flat ground around a rough-terrain grid


@dataclass(frozen=True)
class SceneConfig:
    kind: str = "flat"
    terrain: TerrainConfig = field(default_factory=TerrainConfig)  # used by "rough"
    num_obstacles: int = ARENA_OBSTACLES  # "arena": boxes placed per episode (mocap bodies)
    arena_half_size: float = ARENA_HALF_SIZE  # "arena": walls at +-this (m)
    object_size: float = 0.035  # "hand_object": cube half size (m): a 7 cm cube
    object_mass: float = 0.108  # kg: the LEAP / MuJoCo Playground reorientation cube
    load_half_size: tuple[float, float, float] = (0.5, 0.2, 0.015)  # "carry": a 1 m x 0.4 m board (m)
    load_mass: float = 1.5  # kg (training randomises it)
    seed: int = 0
    visual: bool = True  # textures and materials (2 MB per model); training copies skip them


def add_scene(s: mujoco.MjSpec, robot: RobotSpec, scene: SceneConfig) -> Terrain | None:
    """Add actuators, sensors and the world to the robot's MjSpec; returns the terrain if any."""
    s.option.timestep = robot.sim_dt
    _set_actuators(s, robot)
    _add_sensors(s, robot)
    if scene.visual:
        _add_visuals(s)
    terrain = None
    if scene.kind == "flat":
        _floor(s)
    elif scene.kind == "rough":
        terrain = Terrain(scene.terrain, seed=scene.seed)
        _heightfield(s, terrain)
    elif scene.kind == "arena":
        _floor(s)
        _arena(s, robot, scene)
    elif scene.kind == "hand_object":
        _floor(s)
        _object(s, robot, scene)
    elif scene.kind == "carry":
        _floor(s)
        _carried_load(s, robot, scene)
    else:
        raise ValueError(f"unknown scene '{scene.kind}'")
    return terrain


def _set_actuators(s: mujoco.MjSpec, robot: RobotSpec) -> None:
    """One position actuator per spec joint, in spec order: ctrl[i] is the target of joints[i]."""
    for act in list(s.actuators):
        s.delete(act)
    for j in robot.joints:
        a = s.add_actuator(name=j.name, target=j.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=j.kp, kv=j.kd)
        a.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        a.forcerange = [-j.torque_limit, j.torque_limit]
        a.ctrllimited = mujoco.mjtLimited.mjLIMITED_FALSE


def _add_sensors(s: mujoco.MjSpec, robot: RobotSpec) -> None:
    site = mujoco.mjtObj.mjOBJ_SITE
    if robot.imu_site:
        s.add_sensor(name="imu_quat", type=mujoco.mjtSensor.mjSENS_FRAMEQUAT, objtype=site, objname=robot.imu_site)
        s.add_sensor(name="imu_gyro", type=mujoco.mjtSensor.mjSENS_GYRO, objtype=site, objname=robot.imu_site)
        s.add_sensor(name="imu_acc", type=mujoco.mjtSensor.mjSENS_ACCELEROMETER, objtype=site, objname=robot.imu_site)
    for foot in robot.feet:
        s.add_sensor(name=f"foot_pos:{foot}", type=mujoco.mjtSensor.mjSENS_FRAMEPOS, objtype=site, objname=foot)
    sites = {st.name: st for st in s.sites}
    for foot in robot.feet:
        if foot in sites:  # a missing site is reported by the model validation, by name
            _contact_sensor(s, f"foot_contact:{foot}", sites[foot].parent.name)
    for body in robot.contact_bodies:
        _contact_sensor(s, f"contact:{body}", body)


def _contact_sensor(s: mujoco.MjSpec, name: str, body: str) -> None:
    """1.0 while the body touches anything (MuJoCo contact sensor, data=found)."""
    sen = s.add_sensor(name=name, type=mujoco.mjtSensor.mjSENS_CONTACT, objtype=mujoco.mjtObj.mjOBJ_BODY, objname=body)
    sen.intprm = [1, 0, 1]  # data: found; reduce: none; num: 1


def _add_visuals(s: mujoco.MjSpec) -> None:
    for site in s.sites:  # sites are frames for sensors, not geometry: keep them out of pictures
        site.group = 5
    s.visual.global_.offwidth = 1280
    s.visual.global_.offheight = 720
    s.visual.headlight.ambient = [0.35, 0.35, 0.35]
    s.visual.headlight.diffuse = [0.6, 0.6, 0.6]
    s.add_texture(
        name="skybox", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX, builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        rgb1=[0.55, 0.7, 0.85], rgb2=[0.1, 0.12, 0.15], width=256, height=256,
    )
    s.add_texture(
        name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        rgb1=[0.22, 0.26, 0.3], rgb2=[0.32, 0.36, 0.4], width=512, height=512, mark=mujoco.mjtMark.mjMARK_EDGE,
        markrgb=[0.5, 0.55, 0.6],
    )
    mat = s.add_material(name="grid", texrepeat=[1, 1], texuniform=True, reflectance=0.05)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    s.worldbody.add_light(name="sun", pos=[0, 0, 6], dir=[0.2, 0.3, -1], diffuse=[0.7, 0.7, 0.7], castshadow=True)


def _world_geom(g: mujoco.MjsGeom) -> mujoco.MjsGeom:
    g.contype, g.conaffinity = WORLD_CONTYPE, WORLD_CONAFFINITY
    g.group = WORLD_GROUP
    g.friction = [1.0, 0.005, 0.0001]
    return g


def _material(s: mujoco.MjSpec) -> str:
    return "grid" if any(m.name == "grid" for m in s.materials) else ""


def _floor(s: mujoco.MjSpec) -> None:
    _world_geom(s.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05],
                                     material=_material(s)))


def _heightfield(s: mujoco.MjSpec, terrain: Terrain) -> None:
    h = terrain.heights
    lo, hi = float(h.min()), float(h.max())
    span = max(hi - lo, 1e-3)
    # MuJoCo height fields are row-major with rows along y: transpose our [x, y] array.
    s.add_hfield(
        name="terrain", nrow=h.shape[1], ncol=h.shape[0],
        size=[terrain.size_x / 2, terrain.size_y / 2, span, 0.5],
        userdata=((h.T - lo) / span).astype(np.float32).ravel().tolist(),
    )
    g = s.worldbody.add_geom(
        name="floor", type=mujoco.mjtGeom.mjGEOM_HFIELD, hfieldname="terrain", pos=[0, 0, lo], material=_material(s),
        rgba=[0.6, 0.6, 0.6, 1],
    )
    _world_geom(g)
    # Flat ground at the border's height (0) all around the grid, as `Terrain.height_at` has it: without it a
    # robot that walks off the grid falls into the void (the evaluation's 20 s episodes reach the edge).
    # (Domain randomisation varies the grid's friction, not the skirt's.)
    hx, hy, w = terrain.size_x / 2, terrain.size_y / 2, SKIRT_WIDTH
    for k, (cx, cy, sx, sy) in enumerate(((hx + w / 2, 0, w / 2, hy + w), (-hx - w / 2, 0, w / 2, hy + w),
                                          (0, hy + w / 2, hx, w / 2), (0, -hy - w / 2, hx, w / 2))):
        _world_geom(s.worldbody.add_geom(name=f"skirt_{k}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=[cx, cy, -0.5],
                                         size=[sx, sy, 0.5], material=_material(s), rgba=[0.6, 0.6, 0.6, 1]))


def _arena(s: mujoco.MjSpec, robot: RobotSpec, scene: SceneConfig) -> None:
    """Walls, box obstacles and a low bar; obstacles and bar are mocap bodies placed per episode.

    Contact sensors `collide:<body>` report whether any part of the robot touches them.
    """
    half, t, height = scene.arena_half_size, 0.1, 0.5
    walls = s.worldbody.add_body(name="walls")
    for i, (pos, size) in enumerate(
        [((half + t, 0, height), (t, half + 2 * t, height)), ((-half - t, 0, height), (t, half + 2 * t, height)),
         ((0, half + t, height), (half, t, height)), ((0, -half - t, height), (half, t, height))]
    ):
        _world_geom(walls.add_geom(name=f"wall{i}", type=mujoco.mjtGeom.mjGEOM_BOX, pos=list(pos), size=list(size),
                                   rgba=[0.45, 0.45, 0.5, 1]))
    bodies = ["walls"]
    for i in range(scene.num_obstacles):
        size = OBSTACLE_SIZES[i % len(OBSTACLE_SIZES)]
        b = s.worldbody.add_body(name=f"obstacle{i}", mocap=True, pos=[0, 0, -10.0])
        _world_geom(b.add_geom(name=f"obstacle{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=list(size),
                               pos=[0, 0, size[2]], rgba=[0.8, 0.45, 0.2, 1]))
        bodies.append(f"obstacle{i}")
    bar = s.worldbody.add_body(name="bar", mocap=True, pos=[0, 0, -10.0])
    _world_geom(bar.add_geom(name="bar", type=mujoco.mjtGeom.mjGEOM_BOX, rgba=[0.9, 0.8, 0.1, 1],
                             size=[BAR_HALF_THICKNESS[0], half, BAR_HALF_THICKNESS[1]]))
    bodies.append("bar")
    for name in bodies:
        sen = s.add_sensor(name=f"collide:{name}", type=mujoco.mjtSensor.mjSENS_CONTACT,
                           objtype=mujoco.mjtObj.mjOBJ_XBODY, objname=robot.base_body,
                           reftype=mujoco.mjtObj.mjOBJ_BODY, refname=name)
        sen.intprm = [1, 0, 1]


def _object(s: mujoco.MjSpec, robot: RobotSpec, scene: SceneConfig) -> None:
    """A free cube resting on the hand; its start pose comes from the hand model's 'object_start' site."""
    starts = [st for st in s.sites if st.name == "object_start"]
    pos = list(starts[0].pos) if starts else [0.0, 0.0, 0.3]
    b = s.worldbody.add_body(name="object", pos=pos)
    b.add_freejoint(name="object")
    g = b.add_geom(name="object", type=mujoco.mjtGeom.mjGEOM_BOX, size=[scene.object_size] * 3,
                   rgba=[0.9, 0.3, 0.3, 1], mass=scene.object_mass, friction=[0.3, 0.05, 0.0001])  # Playground's cube
    g.contype, g.conaffinity = 1, 1
    b.add_site(name="object_centre")


CARRY_HANDS = {"left": "left_wrist_roll_link", "right": "right_wrist_roll_link"}  # the links the hands end
HAND_OFFSET = (0.17, 0.0, 0.0)  # the hand (and its wrist force/torque sensor) in the last link's frame


def _carried_load(s: mujoco.MjSpec, robot: RobotSpec, scene: SceneConfig) -> None:
    """A rigid board held at its near edge by both hands (weld constraints) and at its far end by a partner.

    Each hand is a small body fixed to the last arm link with a wrist force/torque sensor at its origin (the
    force the hand takes from the load, in the hand frame, as a wrist F/T sensor reads it). The board starts
    where the hands are in the default pose, level, pointing along the robot's heading; the partner's grip (a
    mocap body) pulls the site 'partner_handle' at its far end through a spring-damper tendon, integrated
    with the physics at every step. The board does not collide (the partner's side of the world is not
    modelled).
    """
    bodies = {b.name: b for b in s.bodies}
    missing = [link for link in CARRY_HANDS.values() if link not in bodies]
    if missing:
        raise ValueError(f"the carry scene needs the arm links {', '.join(CARRY_HANDS.values())}; "
                         f"{robot.name} has no {missing[0]}")
    for side, link in CARRY_HANDS.items():
        hand = bodies[link].add_body(name=f"{side}_hand", pos=list(HAND_OFFSET))
        hand.add_site(name=f"{side}_wrist_ft")
        hand.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[0.035, 0, 0], mass=0.05, contype=0, conaffinity=0,
                      rgba=[0.2, 0.2, 0.22, 1])
        s.add_sensor(name=f"wrist_force:{side}", type=mujoco.mjtSensor.mjSENS_FORCE, objtype=mujoco.mjtObj.mjOBJ_SITE,
                     objname=f"{side}_wrist_ft")
        s.add_sensor(name=f"wrist_torque:{side}", type=mujoco.mjtSensor.mjSENS_TORQUE,
                     objtype=mujoco.mjtObj.mjOBJ_SITE, objname=f"{side}_wrist_ft")
        s.add_sensor(name=f"hand_pos:{side}", type=mujoco.mjtSensor.mjSENS_FRAMEPOS, objtype=mujoco.mjtObj.mjOBJ_SITE,
                     objname=f"{side}_wrist_ft")  # where the sensor is, as the arm's kinematics would give it
        s.add_sensor(name=f"hand_quat:{side}", type=mujoco.mjtSensor.mjSENS_FRAMEQUAT,
                     objtype=mujoco.mjtObj.mjOBJ_SITE, objname=f"{side}_wrist_ft")
    m = s.compile()  # where the hands are in the default pose
    d = mujoco.MjData(m)
    base = m.body(robot.base_body)
    q = base.jntadr[0]
    d.qpos[m.jnt_qposadr[q]:m.jnt_qposadr[q] + 7] = [0, 0, robot.base_height, 1, 0, 0, 0]
    for j in robot.joints:
        d.qpos[m.jnt_qposadr[m.joint(j.name).id]] = j.default
    mujoco.mj_kinematics(m, d)
    hands = np.array([d.xpos[m.body(f"{side}_hand").id] for side in CARRY_HANDS])
    hx, hy, hz = scene.load_half_size
    centre = hands.mean(axis=0) + np.array([hx, 0.0, 0.0])
    load = s.worldbody.add_body(name="load", pos=centre.tolist())
    load.add_freejoint(name="load")
    g = load.add_geom(name="load", type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, hz], mass=scene.load_mass,
                      rgba=[0.75, 0.55, 0.3, 1])
    g.contype, g.conaffinity = 0, 0
    load.add_site(name="partner_handle", pos=[hx, 0.0, 0.0])
    # the partner: a kinematic (mocap) grip the environment moves, pulling the handle through a spring-damper
    # tendon of zero rest length (its arm); stiffness and damping are the environment's to set
    partner = s.worldbody.add_body(name="partner", mocap=True, pos=(centre + np.array([hx, 0.0, 0.0])).tolist())
    partner.add_site(name="partner_grip")
    arm = s.add_tendon(name="partner_arm", stiffness=[300.0, 0.0, 0.0], damping=[40.0, 0.0, 0.0], springlength=[0.0, 0.0])
    arm.wrap_site("partner_grip")
    arm.wrap_site("partner_handle")
    for side, pos in zip(CARRY_HANDS, hands):
        rel = (centre - pos).tolist()  # the board's pose in the hand's frame at the default pose
        hand_quat = d.xquat[m.body(f"{side}_hand").id]
        inv = np.zeros(4)
        mujoco.mju_negQuat(inv, hand_quat)
        rel_local = np.zeros(3)
        mujoco.mju_rotVecQuat(rel_local, np.array(rel), inv)
        s.add_equality(name=f"grip:{side}", type=mujoco.mjtEq.mjEQ_WELD, objtype=mujoco.mjtObj.mjOBJ_BODY,
                       name1=f"{side}_hand", name2="load",
                       data=[0, 0, 0, *rel_local.tolist(), *inv.tolist(), 1.0, 0.0])
