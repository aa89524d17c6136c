"""Robot specs, built-in models and `hrobot robots check` (issue: foundation)."""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest

from hrobot.check import check_robot
from hrobot.cli import main
from hrobot.robots import load_robot
from hrobot.sim.model import build_sim_model

# Published joint ranges (rad): unitree_ros go2_description and g1_23dof URDFs, LEAP hand URDF.
GO2_PUBLISHED = {
    "hip": (-1.0472, 1.0472), "front_thigh": (-1.5708, 3.4907), "rear_thigh": (-0.5236, 4.5379),
    "calf": (-2.7227, -0.83776),
}
G1_PUBLISHED = {
    "left_hip_pitch_joint": (-2.5307, 2.8798), "left_hip_roll_joint": (-0.5236, 2.9671),
    "left_hip_yaw_joint": (-2.7576, 2.7576), "left_knee_joint": (-0.087267, 2.8798),
    "left_ankle_pitch_joint": (-0.87267, 0.5236), "left_ankle_roll_joint": (-0.2618, 0.2618),
    "right_hip_pitch_joint": (-2.5307, 2.8798), "right_hip_roll_joint": (-2.9671, 0.5236),
    "right_hip_yaw_joint": (-2.7576, 2.7576), "right_knee_joint": (-0.087267, 2.8798),
    "right_ankle_pitch_joint": (-0.87267, 0.5236), "right_ankle_roll_joint": (-0.2618, 0.2618),
    "waist_yaw_joint": (-2.618, 2.618),
    "left_shoulder_pitch_joint": (-3.0892, 2.6704), "left_shoulder_roll_joint": (-1.5882, 2.2515),
    "left_shoulder_yaw_joint": (-2.618, 2.618), "left_elbow_joint": (-1.0472, 2.0944),
    "left_wrist_roll_joint": (-1.972222054, 1.972222054),
    "right_shoulder_pitch_joint": (-3.0892, 2.6704), "right_shoulder_roll_joint": (-2.2515, 1.5882),
    "right_shoulder_yaw_joint": (-2.618, 2.618), "right_elbow_joint": (-1.0472, 2.0944),
    "right_wrist_roll_joint": (-1.972222054, 1.972222054),
}
LEAP_PUBLISHED = {"mcp": (-0.314, 2.23), "rot": (-1.047, 1.047), "pip": (-0.506, 1.885), "dip": (-0.366, 2.042),
                  "th_cmc": (-0.349, 2.094), "th_axl": (-0.349, 2.094), "th_mcp": (-0.47, 2.443),
                  "th_ipl": (-1.34, 1.88)}


def _model_range(name: str, joint: str) -> tuple[float, float]:
    sm = build_sim_model(load_robot(name))
    lo, hi = sm.model.joint(joint).range
    return float(lo), float(hi)


@pytest.mark.parametrize("name", ["go2", "g1", "leap_hand"])
def test_builtin_check_passes(name):
    rep = check_robot(load_robot(name), hold_s=10.0)
    assert rep.passed, rep.failures
    assert abs(rep.mass_error_pct) <= 5.0
    if name != "leap_hand":
        assert not rep.fell
        assert rep.base_height_drift_m < 0.02
        assert rep.max_tilt_deg < 10.0


def test_go2_joint_order_is_unitree_sdk_order():
    names = load_robot("go2").joint_names
    expected = [f"{leg}_{part}_joint" for leg in ("FR", "FL", "RR", "RL") for part in ("hip", "thigh", "calf")]
    assert names == expected


def test_go2_joint_limits_equal_published():
    for leg in ("FR", "FL", "RR", "RL"):
        thigh = GO2_PUBLISHED["front_thigh" if leg[0] == "F" else "rear_thigh"]
        for joint, published in ((f"{leg}_hip_joint", GO2_PUBLISHED["hip"]), (f"{leg}_thigh_joint", thigh),
                                 (f"{leg}_calf_joint", GO2_PUBLISHED["calf"])):
            np.testing.assert_allclose(_model_range("go2", joint), published, atol=1e-9)


def test_g1_has_23_dof_and_published_limits():
    robot = load_robot("g1")
    assert robot.joint_names == list(G1_PUBLISHED)
    sm = build_sim_model(robot)
    for joint, published in G1_PUBLISHED.items():
        np.testing.assert_allclose(sm.model.joint(joint).range, published, atol=1e-9)


def test_leap_hand_has_16_dof_and_published_limits():
    robot = load_robot("leap_hand")
    assert robot.num_joints == 16
    sm = build_sim_model(robot)
    for joint in robot.joint_names:
        key = joint if joint.startswith("th_") else joint.split("_")[1]
        np.testing.assert_allclose(sm.model.joint(joint).range, LEAP_PUBLISHED[key], atol=1e-9)
    assert sm.object_qpos_adr is not None  # the hand scene has the cube


@pytest.mark.parametrize("name", ["go2", "g1", "leap_hand"])
def test_spec_gains_and_limits_reach_the_simulator(name):
    robot = load_robot(name)
    m = build_sim_model(robot).model
    assert m.nu == robot.num_joints
    assert m.opt.timestep == pytest.approx(robot.sim_dt)
    for i, j in enumerate(robot.joints):
        assert m.actuator(i).name == j.name  # ctrl[i] drives joints[i]
        assert m.actuator_gainprm[i, 0] == pytest.approx(j.kp)
        assert m.actuator_biasprm[i, 1] == pytest.approx(-j.kp)
        assert m.actuator_biasprm[i, 2] == pytest.approx(-j.kd)
        np.testing.assert_allclose(m.actuator_forcerange[i], [-j.torque_limit, j.torque_limit])


def test_pd_holds_a_commanded_offset_on_the_hand():
    """The spec's PD actually tracks: a fixed-base joint reaches a commanded target."""
    robot = load_robot("leap_hand")
    sm = build_sim_model(robot)
    d = mujoco.MjData(sm.model)
    d.qpos[:] = sm.default_qpos()
    target = robot.default_pose.copy()
    target[0] = 0.8
    d.ctrl[:] = target
    for _ in range(1000):
        mujoco.mj_step(sm.model, d)
    assert d.qpos[sm.qpos_adr[0]] == pytest.approx(0.8, abs=0.05)


def test_check_json_and_exit_code(tmp_path, capsys):
    out = tmp_path / "go2.json"
    assert main(["robots", "check", "go2", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["passed"] and data["robot"] == "go2" and data["num_joints"] == 12
    assert "PASS" in capsys.readouterr().out


def test_render_writes_a_picture_of_the_robot(tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "go2.png"
    assert main(["robots", "render", "go2", "--out", str(out), "--width", "320", "--height", "240"]) == 0
    img = iio.imread(out)
    assert img.shape == (240, 320, 3)
    assert img.std() > 10  # a scene, not a blank frame


def test_robots_list_and_show(capsys):
    assert main(["robots", "list"]) == 0
    out = capsys.readouterr().out
    assert "go2" in out and "g1" in out and "leap_hand" in out
    assert main(["robots", "show", "g1", "--json"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert len(spec["joints"]) == 23 and spec["pd_rate_hz"] == 250
