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
