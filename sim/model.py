"""A compiled robot-in-scene model with the index arrays every simulator path uses."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import mujoco
import numpy as np

from hrobot.errors import HRobotError
from hrobot.robots import BUILTIN
from hrobot.sim.scene import SceneConfig, add_scene
from hrobot.sim.terrain import Terrain
from hrobot.spec import BUILTIN_MODEL, RobotSpec


@dataclass
class SimModel:
    """MjModel plus where the spec's joints, base and sensors live in it."""

    robot: RobotSpec
    scene: SceneConfig
    model: mujoco.MjModel
    terrain: Terrain | None
    qpos_adr: np.ndarray  # qpos index of each spec joint, in spec order
    dof_adr: np.ndarray  # qvel index of each spec joint
    base_body: int
    base_qpos_adr: int | None  # start of the free joint's 7 qpos (floating base only)
    base_dof_adr: int | None
    sensors: dict[str, slice]  # sensor name -> slice of sensordata
    object_qpos_adr: int | None  # free object in the hand scene

    def sensor(self, sensordata: np.ndarray, name: str) -> np.ndarray:
        return sensordata[..., self.sensors[name]]

    def object_pose(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """The manipulated object's position and orientation (w, x, y, z) in the robot's base (palm) frame: what a
        motion-capture or camera tracker registered to the palm reports (here, the simulator's truth)."""
        a, b = self.object_qpos_adr, self.base_body
        pos = data.xmat[b].reshape(3, 3).T @ (data.qpos[a:a + 3] - data.xpos[b])
        base_inv, quat = np.zeros(4), np.zeros(4)
        mujoco.mju_negQuat(base_inv, data.xquat[b])
        mujoco.mju_mulQuat(quat, base_inv, data.qpos[a + 3:a + 7])
        return pos, quat

    def default_qpos(self) -> np.ndarray:
        """Model qpos0 with the base at its nominal height and the joints at the default pose."""
        q = self.model.qpos0.copy()
        if self.base_qpos_adr is not None:
            q[self.base_qpos_adr : self.base_qpos_adr + 3] = [0.0, 0.0, self.robot.base_height]
            q[self.base_qpos_adr + 3 : self.base_qpos_adr + 7] = [1.0, 0.0, 0.0, 0.0]
        q[self.qpos_adr] = self.robot.default_pose
        return q

    def total_mass(self) -> float:
        """Mass of the robot's own bodies (the base body's subtree), excluding the scene."""
        return float(self.model.body_subtreemass[self._robot_root()])

    def _robot_root(self) -> int:
        b = self.base_body
        while self.model.body_parentid[b] != 0:
            b = int(self.model.body_parentid[b])
        return b



def robot_mjspec(robot: RobotSpec) -> mujoco.MjSpec:
    """The robot alone (no scene) as an editable MjSpec: a built-in robot's model builder, or the spec's file."""
    if robot.model == BUILTIN_MODEL:
        if robot.name not in BUILTIN:
            raise HRobotError(f"{robot.source}: model 'builtin' is only for {', '.join(BUILTIN)}, got '{robot.name}'")
        return importlib.import_module(f"hrobot.robots.{robot.name}").build(robot)
    try:
        s = mujoco.MjSpec.from_file(robot.model)
    except Exception as e:  # MuJoCo raises ValueError with the parser's message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HRobotError(f"{robot.model}: MuJoCo cannot load the model: {first}") from None
    s.compiler.fusestatic = False  # keep every named body (URDF import fuses fixed links by default)
    return s

def build_sim_model(robot: RobotSpec, scene: SceneConfig | None = None) -> SimModel:
    """Compile the robot into a scene and check the spec against the compiled model.

    Without visuals (`scene.visual` false: the per-env training copies) the model is reduced to
    its physics (see `physics_only`): same dynamics and contacts, a fraction of the memory.
    """
    scene = scene or SceneConfig(kind="hand_object" if robot.robot_class == "hand" else "flat")
    s = robot_mjspec(robot)
    _check_names(robot, s)
    _apply_dynamics(robot, s)
    terrain = add_scene(s, robot, scene)
    model = _compile(robot, s)
    if not scene.visual:
        model = physics_only(robot, s, model)
    return _index(robot, scene, model, terrain)


def _compile(robot: RobotSpec, s: mujoco.MjSpec) -> mujoco.MjModel:
    try:
        return s.compile()
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise HRobotError(f"{robot.source}: the model does not compile with the spec: {msg}") from None


INTEGRATOR = {"implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST, "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT,
              "euler": mujoco.mjtIntegrator.mjINT_EULER, "rk4": mujoco.mjtIntegrator.mjINT_RK4}


def _apply_dynamics(robot: RobotSpec, s: mujoco.MjSpec) -> None:
    """The spec's integrator and per-joint armature, damping and friction (where given) go into the model."""
    s.option.integrator = INTEGRATOR[robot.integrator]
    joints = {j.name: j for j in s.joints}
    for j in robot.joints:
        mj = joints[j.name]
        if j.armature is not None:
            mj.armature = j.armature
        if j.damping is not None:
            mj.damping = [j.damping] + [0.0] * (len(mj.damping) - 1)  # MuJoCo 4: polynomial coefficients
        if j.friction is not None:
            mj.frictionloss = j.friction


def physics_only(robot: RobotSpec, s: mujoco.MjSpec, full: mujoco.MjModel) -> mujoco.MjModel:
    """The same physics without what only pictures need: for N per-env copies of a meshed model.

    Each body gets its compiled inertial explicitly (so geoms no longer matter for mass), geoms
    that never collide (contype = conaffinity = 0, in no contact pair: vendor visual meshes) are
    removed, and every remaining mesh is replaced by its convex hull, which is all MuJoCo's
    collision detection uses of a mesh. Built-in robots of primitives come out unchanged.
    """
    if not len(s.meshes):
        return full
    paired = {name for p in s.pairs for name in (p.geomname1, p.geomname2)}
    for b in s.bodies[1:]:
        bid = mujoco.mj_name2id(full, mujoco.mjtObj.mjOBJ_BODY, b.name)
        b.explicitinertial = True
        b.mass, b.ipos, b.iquat = float(full.body_mass[bid]), full.body_ipos[bid].tolist(), full.body_iquat[bid].tolist()
        b.inertia = full.body_inertia[bid].tolist()
        b.fullinertia = [np.nan] * 6
    for g in list(s.geoms):
        if g.contype == 0 and g.conaffinity == 0 and g.name not in paired:
            s.delete(g)
    used = {g.meshname for g in s.geoms if g.type == mujoco.mjtGeom.mjGEOM_MESH}
    for mesh in list(s.meshes):
        if mesh.name not in used:
            s.delete(mesh)
            continue
        mid = mujoco.mj_name2id(full, mujoco.mjtObj.mjOBJ_MESH, mesh.name)
        mesh.file = ""
        mesh.uservert = _hull_vertices(full, mid).ravel().tolist()
        mesh.userface = []
        mesh.usernormal = []
        mesh.usertexcoord = []
        mesh.scale = [1.0, 1.0, 1.0]
        mesh.refpos, mesh.refquat = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]
    for g in s.geoms:
        if g.type == mujoco.mjtGeom.mjGEOM_MESH:  # its pose: where the compiled (re-centred) mesh frame sits
            gid = mujoco.mj_name2id(full, mujoco.mjtObj.mjOBJ_GEOM, g.name) if g.name else -1
            if gid < 0:
                raise HRobotError(f"{robot.source}: collision mesh geoms need names to be reduced, one has none")
            g.pos, g.quat = full.geom_pos[gid].tolist(), full.geom_quat[gid].tolist()
    for m in s.materials:
        m.textures = [""] * len(m.textures)
    for t in list(s.textures):
        s.delete(t)
    return _compile(robot, s)


def _hull_vertices(m: mujoco.MjModel, mesh: int) -> np.ndarray:
    """The convex hull's vertices of a compiled mesh (mesh_graph: numvert, numface, vert_edgeadr, vert_globalid, ...)."""
    verts = m.mesh_vert[m.mesh_vertadr[mesh] : m.mesh_vertadr[mesh] + m.mesh_vertnum[mesh]]
    adr = m.mesh_graphadr[mesh]
    if adr < 0:
        return verts
    numvert = int(m.mesh_graph[adr])
    ids = m.mesh_graph[adr + 2 + numvert : adr + 2 + 2 * numvert]
    return verts[ids]


def _model_name(robot: RobotSpec) -> str:
    return robot.model if robot.model != "builtin" else f"builtin model '{robot.name}'"


def _check_names(robot: RobotSpec, s: mujoco.MjSpec) -> None:
    """Every name the spec uses exists in the model (checked before hrobot adds what refers to them)."""
    src, where = robot.source, _model_name(robot)
    joints = [j.name for j in s.joints]
    bodies = {b.name for b in s.bodies}
    sites = {st.name for st in s.sites}
    for i, j in enumerate(robot.joints):
        if j.name not in joints:
            raise HRobotError(f"{src}: joints[{i}] '{j.name}' not found in {where} (model joints: {', '.join(joints)})")
    if robot.base_body not in bodies:
        raise HRobotError(f"{src}: field 'base_body': body '{robot.base_body}' not found in {where}")
    if robot.imu_site and robot.imu_site not in sites:
        raise HRobotError(f"{src}: field 'imu_site': site '{robot.imu_site}' not found in {where}")
    for foot in robot.feet:
        if foot not in sites:
            raise HRobotError(f"{src}: field 'feet': site '{foot}' not found in {where}")
    for body in robot.contact_bodies:
        if body not in bodies:
            raise HRobotError(f"{src}: field 'contact_bodies': body '{body}' not found in {where}")
    foot_body = {st.name: st.parent.name for st in s.sites if st.name in robot.feet}
    for foot in robot.feet:
        if foot_body[foot] in robot.contact_bodies:
            raise HRobotError(
                f"{src}: field 'contact_bodies': body '{foot_body[foot]}' carries foot '{foot}', so every step "
                f"would count as a collision; list only bodies the feet are not part of")
    for name in robot.passive:
        if name not in joints:
            raise HRobotError(f"{src}: field 'passive': joint '{name}' not found in {where}")
    loose = [j.name for j in s.joints if j.type != mujoco.mjtJoint.mjJNT_FREE and j.name not in robot.joint_names
             and j.name not in robot.passive]
    if loose:
        raise HRobotError(
            f"{src}: {where} has joint(s) the spec leaves out, which would be left unpowered: {', '.join(loose)}; "
            f"add them to 'joints' or list them under 'passive'")


def _index(robot: RobotSpec, scene: SceneConfig, m: mujoco.MjModel, terrain: Terrain | None) -> SimModel:
    src, model_name = robot.source, _model_name(robot)

    def find(kind: mujoco.mjtObj, name: str) -> int:
        return mujoco.mj_name2id(m, kind, name)

    qpos_adr, dof_adr = [], []
    for i, j in enumerate(robot.joints):
        jid = find(mujoco.mjtObj.mjOBJ_JOINT, j.name)
        if m.jnt_type[jid] not in (int(mujoco.mjtJoint.mjJNT_HINGE), int(mujoco.mjtJoint.mjJNT_SLIDE)):
            raise HRobotError(f"{src}: joints[{i}] '{j.name}' is not a hinge or slide joint in {model_name}")
        if m.jnt_limited[jid]:
            lo, hi = m.jnt_range[jid]
            if j.lower < lo - 1e-6 or j.upper > hi + 1e-6:
                raise HRobotError(
                    f"{src}: joints[{i}] '{j.name}': range [{j.lower:g}, {j.upper:g}] is outside "
                    f"the model's range [{lo:g}, {hi:g}]"
                )
        qpos_adr.append(m.jnt_qposadr[jid])
        dof_adr.append(m.jnt_dofadr[jid])

    base = find(mujoco.mjtObj.mjOBJ_BODY, robot.base_body)
    free = [jid for jid in range(m.body_jntadr[base], m.body_jntadr[base] + m.body_jntnum[base])
            if m.jnt_type[jid] == int(mujoco.mjtJoint.mjJNT_FREE)]
    if robot.floating_base and not free:
        raise HRobotError(f"{src}: field 'floating_base' is true but body '{robot.base_body}' has no free joint")
    if not robot.floating_base and free:
        raise HRobotError(f"{src}: field 'floating_base' is false but body '{robot.base_body}' has a free joint")


    sensors = {m.sensor(i).name: slice(int(m.sensor_adr[i]), int(m.sensor_adr[i] + m.sensor_dim[i]))
               for i in range(m.nsensor)}
    obj = find(mujoco.mjtObj.mjOBJ_JOINT, "object") if scene.kind == "hand_object" else -1
    return SimModel(
        robot=robot, scene=scene, model=m, terrain=terrain,
        qpos_adr=np.array(qpos_adr, dtype=np.int64), dof_adr=np.array(dof_adr, dtype=np.int64),
        base_body=base,
        base_qpos_adr=int(m.jnt_qposadr[free[0]]) if free else None,
        base_dof_adr=int(m.jnt_dofadr[free[0]]) if free else None,
        sensors=sensors,
        object_qpos_adr=int(m.jnt_qposadr[obj]) if obj >= 0 else None,
    )


def chain_kinematics(sm: SimModel) -> dict:
    """The kinematic chain from the base to each foot site, as plain data for `hrobot.estimator.ChainKinematics`.

    Per foot: the bodies below the base (offset and rotation in their parent, MuJoCo's body_pos /
    body_quat), the hinge joints in each (spec joint index, axis and anchor in the body frame, the
    angle of the model's pose, qpos0), and the site's position in its body. Deployment computes foot
    positions and velocities from it with numpy alone.
    """
    m, robot = sm.model, sm.robot
    spec_index = {int(a): k for k, a in enumerate(sm.qpos_adr)}
    feet = []
    for foot in robot.feet:
        sid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, foot)
        chain, b = [], int(m.site_bodyid[sid])
        while b != sm.base_body:
            if b == 0:
                raise HRobotError(f"{robot.source}: foot '{foot}' is not below the base body '{robot.base_body}'")
            chain.insert(0, b)
            b = int(m.body_parentid[b])
        links = []
        for b in chain:
            joints = []
            for j in range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b]):
                adr = int(m.jnt_qposadr[j])
                if m.jnt_type[j] != int(mujoco.mjtJoint.mjJNT_HINGE) or adr not in spec_index:
                    raise HRobotError(f"{robot.source}: joint '{m.joint(j).name}' between the base and foot '{foot}' is "
                                      "not an actuated hinge of the spec (leg kinematics needs them all)")
                joints.append({"index": spec_index[adr], "axis": m.jnt_axis[j].tolist(), "anchor": m.jnt_pos[j].tolist(),
                               "ref": float(m.qpos0[adr])})
            links.append({"pos": m.body_pos[b].tolist(), "quat": m.body_quat[b].tolist(), "joints": joints})
        feet.append({"name": foot, "links": links, "site": m.site_pos[sid].tolist()})
    return {"base_body": robot.base_body, "feet": feet}
