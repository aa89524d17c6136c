"""Shared test helpers: a robot the tests write themselves (not a built-in)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("MUJOCO_GL", "egl")

BOXBOT_MJCF = """<mujoco model="boxbot">
  <compiler angle="radian"/>
  <worldbody>
    <body name="torso" pos="0 0 0.3">
      <freejoint/>
      <geom type="box" size="0.2 0.1 0.05" mass="4"/>
      <site name="imu" pos="0 0 0.05"/>
      {legs}
    </body>
  </worldbody>
  <actuator><motor joint="lf_hip" gear="1"/></actuator>
</mujoco>"""
LEG = """<body name="{n}_thigh" pos="{x} {y} 0">
        <joint name="{n}_hip" axis="0 1 0" range="-1.2 1.2" damping="0.1" armature="0.01"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.12" size="0.02" mass="0.4"/>
        <body name="{n}_shin" pos="0 0 -0.12">
          <joint name="{n}_knee" axis="0 1 0" range="-2.0 0.0" damping="0.1" armature="0.01"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.12" size="0.015" mass="0.2"/>
          <geom type="sphere" pos="0 0 -0.12" size="0.02" mass="0.05"/>
          <site name="{n}_foot" pos="0 0 -0.12" size="0.02"/>
        </body>
      </body>"""
LEGS = {"lf": (0.15, 0.12), "rf": (0.15, -0.12), "lh": (-0.15, 0.12), "rh": (-0.15, -0.12)}


def boxbot_spec_yaml(model_file: str = "boxbot.xml", joint_overrides: dict | None = None) -> str:
    lines = []
    for leg in LEGS:
        for j, (default, lo, hi) in {"hip": (0.3, -1.2, 1.2), "knee": (-0.6, -2.0, 0.0)}.items():
            name = f"{leg}_{j}"
            name = (joint_overrides or {}).get(name, name)
            lines.append(f"  - {{name: {name}, default: {default}, range: [{lo}, {hi}], "
                         f"velocity: 20, torque: 15, kp: 60, kd: 1.5}}")
    return f"""name: boxbot
robot_class: quadruped
model: {model_file}
base_body: torso
floating_base: true
base_height: 0.27
imu_site: imu
feet: [lf_foot, rf_foot, lh_foot, rh_foot]
contact_bodies: [torso]
action_scale: 0.25
pd_rate_hz: 200
policy_rate_hz: 50
published_mass_kg: 6.6
published_mass_source: test model
joints:
""" + "\n".join(lines) + "\n"


@pytest.fixture
def boxbot(tmp_path: Path) -> Path:
    """A user robot (MJCF + spec YAML) written by the test; returns the spec path."""
    legs = "\n      ".join(LEG.format(n=n, x=x, y=y) for n, (x, y) in LEGS.items())
    (tmp_path / "boxbot.xml").write_text(BOXBOT_MJCF.format(legs=legs))
    spec = tmp_path / "boxbot.yaml"
    spec.write_text(boxbot_spec_yaml())
    return spec


@pytest.fixture(scope="session")
def meshbot(tmp_path_factory) -> Path:
    """A meshed vendor-style quadruped (STL meshes written by the test run); returns the spec path."""
    from hrobot.sim.meshbot import write_meshbot

    return write_meshbot(tmp_path_factory.mktemp("meshbot"))


@pytest.fixture(scope="session")
def short_run(tmp_path_factory):
    """A real go2_walk training run, short (shared by the tests that need a trained policy)."""
    from hrobot.train import train

    out = tmp_path_factory.mktemp("runs") / "go2"
    rewards = []
    summary = train("go2_walk", out, num_envs=256, iterations=16, seed=3,
                    on_iteration=lambda d, t, info: rewards.append(info["mean_reward"]))
    return out, summary, rewards


@pytest.fixture(scope="session")
def skill_bundle(short_run, tmp_path_factory):
    """The short run exported as a bundle (policies are used as skills from bundles)."""
    from hrobot.export import export_run

    return export_run(short_run[0], tmp_path_factory.mktemp("bundles") / "go2_walk")


@pytest.fixture(scope="session")
def nav_run(skill_bundle, tmp_path_factory):
    """A (very short) high-level navigation run on top of the exported skill."""
    from hrobot.train import train

    out = tmp_path_factory.mktemp("runs") / "go2_nav"
    successes = []
    summary = train("go2_nav", out, num_envs=64, iterations=2, seed=0, skills=[str(skill_bundle)],
                    on_iteration=lambda d, t, info: successes.append(info.get("success_rate")))
    return out, summary


@pytest.fixture(scope="session")
def hand_bundle(tmp_path_factory):
    """A (very short) leap_rotate run exported: a manipulation bundle that reads the object's pose."""
    from hrobot.export import export_run
    from hrobot.train import train

    out = tmp_path_factory.mktemp("runs") / "leap_rotate"
    train("leap_rotate", out, num_envs=16, iterations=2, seed=0)
    return export_run(out, tmp_path_factory.mktemp("bundles") / "leap_rotate")


# Test tiers. `make test` runs everything (CI); `make test-unit` runs the tests not marked slow, in
# about 2.5 minutes: a test is slow when it starts ROS node processes, needs a training run (the
# fixtures above), or is marked so itself.
TRAINED_FIXTURES = {"short_run", "skill_bundle", "nav_run", "nav_env", "hand_bundle"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name == "test_ros.py" or TRAINED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
