"""Bring your own robot: a spec YAML pointing at any MJCF or URDF, and bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hrobot.cli import main
from hrobot.robots import load_robot

from conftest import boxbot_spec_yaml


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_user_mjcf_robot_checks(boxbot, capsys):
    code, out, err = _run(["robots", "check", str(boxbot)], capsys)
    assert code == 0, out + err
    assert "boxbot" in out and "PASS" in out


def test_user_robot_actuators_are_replaced_by_spec_pd(boxbot):
    from hrobot.sim.model import build_sim_model

    sm = build_sim_model(load_robot(str(boxbot)))
    assert sm.model.nu == 8  # the model's own motor is replaced by one PD actuator per spec joint
    assert sm.model.actuator_gainprm[0, 0] == 60


URDF = """<robot name="pincher">
  <link name="palm"><inertial><mass value="0.3"/><inertia ixx="1e-4" iyy="1e-4" izz="1e-4" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><geometry><box size="0.08 0.06 0.02"/></geometry></collision></link>
  {fingers}
</robot>"""
FINGER = """<link name="{n}"><inertial><origin xyz="0 0 0.03"/><mass value="0.05"/>
    <inertia ixx="1e-5" iyy="1e-5" izz="1e-5" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.03"/><geometry><box size="0.01 0.01 0.06"/></geometry></collision></link>
  <joint name="{n}_joint" type="revolute"><parent link="palm"/><child link="{n}"/>
    <origin xyz="{x} 0 0.01"/><axis xyz="0 1 0"/><limit lower="-0.5" upper="1.5" effort="1" velocity="5"/></joint>"""


def test_user_urdf_hand_checks(tmp_path, capsys):
    fingers = "\n  ".join(FINGER.format(n=n, x=x) for n, x in (("left", 0.03), ("right", -0.03)))
    (tmp_path / "pincher.urdf").write_text(URDF.format(fingers=fingers))
    (tmp_path / "pincher.yaml").write_text("""name: pincher
robot_class: hand
model: pincher.urdf
base_body: palm
floating_base: false
action_scale: 0.1
pd_rate_hz: 500
policy_rate_hz: 20
joints:
  - {name: left_joint, default: 0.2, range: [-0.5, 1.5], velocity: 5, torque: 1, kp: 2, kd: 0.05}
  - {name: right_joint, default: 0.2, range: [-0.5, 1.5], velocity: 5, torque: 1, kp: 2, kd: 0.05}
""")
    code, out, err = _run(["robots", "check", str(tmp_path / "pincher.yaml")], capsys)
    assert code == 0, out + err
    assert "PASS" in out


# ---------------------------------------------------------------- bad input: one line, exit 2


def _error_line(argv, capsys) -> str:
    code, out, err = _run(argv, capsys)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_misspelled_joint(boxbot, capsys):
    boxbot.write_text(boxbot_spec_yaml(joint_overrides={"lf_knee": "lf_kneee"}))
    line = _error_line(["robots", "check", str(boxbot)], capsys)
    assert "lf_kneee" in line and "not found" in line and str(boxbot) in line


def test_missing_mjcf_file(boxbot, capsys):
    boxbot.write_text(boxbot_spec_yaml(model_file="nowhere.xml"))
    line = _error_line(["robots", "check", str(boxbot)], capsys)
    assert "nowhere.xml" in line and "not found" in line and "model" in line


def test_malformed_yaml(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\njoints: [a, b\nmodel: m.xml\n")
    line = _error_line(["robots", "check", str(bad)], capsys)
    assert "malformed YAML" in line and "line" in line and str(bad) in line


def test_unknown_robot_name(capsys):
    line = _error_line(["robots", "check", "go3"], capsys)
    assert "unknown robot 'go3'" in line and "go2" in line


def test_limit_outside_model_range(boxbot, capsys):
    boxbot.write_text(boxbot_spec_yaml().replace("range: [-1.2, 1.2]", "range: [-1.5, 1.2]", 1))
    line = _error_line(["robots", "check", str(boxbot)], capsys)
    assert "outside the model's range" in line and "lf_hip" in line


@pytest.mark.parametrize(
    "edit, expected",
    [
        (("kp: 60", "kp: fast"), "expected a finite number"),
        (("default: 0.3", "default: 3.0"), "outside range"),
        (("policy_rate_hz: 50", "policy_rate_hz: 60"), "whole number"),
        (("robot_class: quadruped", "robot_class: snake"), "robot_class"),
        (("imu_site: imu", "imu_site: imu\nfooo: 1"), "unknown field 'fooo'"),
        (("imu_site: imu", "imu_site: gyro"), "site 'gyro' not found"),
    ],
)
def test_bad_fields_name_the_field(boxbot, capsys, edit, expected):
    boxbot.write_text(boxbot_spec_yaml().replace(*edit, 1))
    line = _error_line(["robots", "check", str(boxbot)], capsys)
    assert expected in line


def test_console_script_reports_one_line(tmp_path):
    """The installed `hrobot` entry point, as a user runs it."""
    exe = Path(sys.executable).parent / "hrobot"
    r = subprocess.run([str(exe), "robots", "show", str(tmp_path / "missing.yaml")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"hrobot: error: {tmp_path / 'missing.yaml'}: spec file not found"


# ---------------------------------------------------------------- what sim-to-real needs from a user model


def test_spec_sets_joint_dynamics_and_the_integrator(boxbot):
    """Armature, damping and friction from the spec reach the model; a user model gets implicitfast."""
    import mujoco

    from hrobot.sim.model import build_sim_model

    text = boxbot_spec_yaml().replace("kd: 1.5}", "kd: 1.5, armature: 0.05, damping: 0.3, friction: 0.2}", 1)
    boxbot.write_text(text)
    sm = build_sim_model(load_robot(str(boxbot)))
    m = sm.model
    j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "lf_hip")
    k = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, "lf_knee")
    dof = m.jnt_dofadr[j]
    assert (m.dof_armature[dof], m.dof_damping[dof], m.dof_frictionloss[dof]) == (0.05, 0.3, 0.2)
    assert m.dof_armature[m.jnt_dofadr[k]] == 0.01  # not given: the model's own value
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    boxbot.write_text(text.replace("policy_rate_hz: 50", "policy_rate_hz: 50\nintegrator: euler"))
    assert build_sim_model(load_robot(str(boxbot))).model.opt.integrator == mujoco.mjtIntegrator.mjINT_EULER


def test_motor_index_table(boxbot, capsys):
    lines = boxbot_spec_yaml().splitlines()
    rows = [i for i, ln in enumerate(lines) if ln.startswith("  - {name:")]
    for slot, i in enumerate(rows):
        lines[i] = lines[i].replace("kd: 1.5}", f"kd: 1.5, motor_index: {7 - slot}}}")
    boxbot.write_text("\n".join(lines) + "\n")
    assert [j.motor_index for j in load_robot(str(boxbot)).joints] == list(range(7, -1, -1))
    boxbot.write_text("\n".join(lines).replace("motor_index: 7", "motor_index: 6") + "\n")
    assert "motor 6 is given to two joints" in _error_line(["robots", "check", str(boxbot)], capsys)


def test_a_joint_left_out_of_the_spec_is_named_unless_passive(boxbot, capsys):
    """On e18d371 the model's lh_knee was silently left unpowered."""
    text = "\n".join(ln for ln in boxbot_spec_yaml().splitlines() if "lh_knee" not in ln) + "\n"
    boxbot.write_text(text)
    line = _error_line(["robots", "check", str(boxbot)], capsys)
    assert "lh_knee" in line and "unpowered" in line and "passive" in line
    boxbot.write_text(text.replace("imu_site: imu", "imu_site: imu\npassive: [lh_knee]"))
    from hrobot.sim.model import build_sim_model

    assert build_sim_model(load_robot(str(boxbot))).model.nu == 7


def test_a_contact_body_that_carries_a_foot_is_refused(boxbot, capsys):
    """On e18d371 this trained with reward 0.000 on every iteration: each step of that foot was a collision."""
    boxbot.write_text(boxbot_spec_yaml().replace("contact_bodies: [torso]", "contact_bodies: [torso, lf_shin]"))
    line = _error_line(["robots", "check", str(boxbot)], capsys)
    assert "lf_shin" in line and "lf_foot" in line and "contact_bodies" in line


def _stiff(spec: Path, integrator: str | None) -> Path:
    """The meshed robot with stiff, unsaturated PD on bare links (no armature)."""
    import re

    text = re.sub(r"torque: [0-9.]+, kp: 20.0, kd: 0.5}", "torque: 1000, kp: 400.0, kd: 20.0, armature: 0.0}",
                  spec.read_text())
    if integrator:
        text = text.replace("policy_rate_hz: 50", f"policy_rate_hz: 50\nintegrator: {integrator}")
    out = spec.with_name(f"stiff_{integrator or 'default'}.yaml")
    out.write_text(text)
    return out


def test_check_names_a_numerical_blowup_and_render_refuses_it(meshbot, tmp_path, capsys):
    """On e18d371 an exploding model was 'the robot fell' with finite: true, and render drew it (exit 0)."""
    import json

    bad = _stiff(meshbot, "euler")
    code, out, err = _run(["robots", "check", str(bad), "--seconds", "1", "--json", str(tmp_path / "r.json")], capsys)
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 1 and not report["stable"] and not report["fell"]
    assert "numerical blow-up, not a fall" in out and "euler" in out and "fell" not in out
    line = _error_line(["robots", "render", str(bad), "--out", str(tmp_path / "x.png")], capsys)
    assert "refusing to render an unstable simulation" in line
    assert not (tmp_path / "x.png").exists()
    code, out, err = _run(["robots", "check", str(_stiff(meshbot, None)), "--seconds", "1", "--json",
                           str(tmp_path / "ok.json")], capsys)  # the same gains under implicitfast: sound
    assert json.loads((tmp_path / "ok.json").read_text())["stable"]


def test_meshed_model_physics_copy_is_small_and_exact(meshbot):
    """Per-env copies of a meshed model keep its physics bit for bit at a fraction of the memory."""
    import mujoco
    import numpy as np

    from hrobot.sim.model import build_sim_model
    from hrobot.sim.scene import SceneConfig

    robot = load_robot(str(meshbot))
    full = build_sim_model(robot, SceneConfig(visual=True))
    small = build_sim_model(robot, SceneConfig(visual=False))
    assert small.model.nbuffer * 40 < full.model.nbuffer
    assert small.model.nmesh == 1 and small.model.ngeom < full.model.ngeom
    traces = []
    for sm in (full, small):
        m, d = sm.model, mujoco.MjData(sm.model)
        d.qpos[:] = sm.default_qpos()
        d.qvel[sm.base_dof_adr + 3] = 2.0  # roll it over onto the trunk's collision mesh
        d.ctrl[:] = robot.default_pose
        for _ in range(600):
            mujoco.mj_step(m, d)
        traces.append((d.qpos.copy(), d.ncon))
    np.testing.assert_array_equal(traces[0][0], traces[1][0])
    assert traces[0][1] == traces[1][1] > 0


def test_reward_terms_that_never_fire_are_reported(boxbot):
    from hrobot.tasks.velocity.env import LocomotionEnv
    from hrobot.tasks.velocity import go2_walk

    cfg = go2_walk.env_cfg()
    cfg.robot, cfg.num_envs = str(boxbot), 8  # boxbot tracks contacts of its torso only: 'collision' never fires
    env = LocomotionEnv(cfg)
    for _ in range(20):
        env.step(env.actions)
    warnings = env.reward_health()
    assert any("'collision'" in w for w in warnings) and not any("'tracking_lin_vel'" in w for w in warnings)
    cfg.rewards = {"collision": -1.0, "torques": -1.0}  # penalties only: the clipped total is always 0
    env = LocomotionEnv(cfg)
    for _ in range(5):
        env.step(env.actions)
    assert any("total reward has been 0" in w for w in env.reward_health())


@pytest.mark.slow
def test_training_log_reports_silent_reward_terms(boxbot, tmp_path):
    import json

    from hrobot.train import train

    summary = train("go2_walk", tmp_path / "run", num_envs=16, iterations=2, robot=str(boxbot))
    assert any("'collision' has been 0 on every step" in w for w in summary["warnings"])
    logged = [json.loads(ln) for ln in (tmp_path / "run" / "progress.jsonl").read_text().splitlines()]
    assert any("'collision'" in w for rec in logged for w in rec.get("warnings", []))


@pytest.mark.slow
def test_user_robot_trains_evaluates_exports_and_sim2sims(meshbot, tmp_path, capsys):
    """Only an MJCF with meshes and a spec YAML: no code change, and every artefact names the robot."""
    import json

    from hrobot.bundle import load_bundle

    run, bundle = tmp_path / "run", tmp_path / "bundle"
    code, out, err = _run(["train", "go2_walk", "--robot", str(meshbot), "--num-envs", "32", "--iterations", "3",
                           "--out", str(run)], capsys)
    assert code == 0, err
    info = json.loads((run / "run.json").read_text())
    assert info["robot"] == "meshbot" and load_robot(str(run / "robot.yaml")).name == "meshbot"
    assert _run(["export", str(run), "--out", str(bundle)], capsys)[0] == 0
    b = load_bundle(bundle)
    assert b.meta["robot"]["name"] == "meshbot" and json.loads((bundle / "card.json").read_text())["robot"] == "meshbot"
    for target in (run, bundle):
        code, out, err = _run(["eval", str(target), "--episodes", "4", "--rough-levels", "0", "--json",
                               str(tmp_path / "e.json")], capsys)
        assert code == 0, err
        assert json.loads((tmp_path / "e.json").read_text())["robot"] == "meshbot"
    code, out, err = _run(["sim2sim", str(bundle), "--episodes", "2", "--pd-rate", "400", "--json",
                           str(tmp_path / "s.json")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "s.json").read_text())["robot"] == "meshbot"
    line = _error_line(["train", "go2_walk", "--robot", "leap_hand", "--out", str(tmp_path / "x")], capsys)
    assert "quadruped locomotion task" in line and "leap_hand is a hand" in line
    # a high level over the user robot's skill, and the same skill refused under the task's own robot
    nav = tmp_path / "nav"
    assert _run(["train", "go2_nav", "--robot", str(meshbot), "--skills", str(bundle), "--num-envs", "8",
                 "--iterations", "1", "--out", str(nav)], capsys)[0] == 0
    assert _run(["export", str(nav), "--out", str(tmp_path / "nav_bundle")], capsys)[0] == 0
    assert load_bundle(tmp_path / "nav_bundle").meta["robot"]["name"] == "meshbot"
    line = _error_line(["train", "go2_nav", "--skills", str(bundle), "--num-envs", "8", "--iterations", "1",
                        "--out", str(tmp_path / "nav2")], capsys)
    assert "is for robot meshbot, not go2" in line and "--robot" in line
