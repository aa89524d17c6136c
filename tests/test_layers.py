"""Layers point one way: core <- deploy <- sim / hardware <- train; deployment runs on numpy + onnxruntime.

Checked twice: statically (every import statement of a layer's modules, lazy ones included) and by
running the deploy layer in a fresh interpreter and looking at what it loaded.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CORE = ("errors", "spec", "files", "geometry", "obs", "nav_io", "world")
DEPLOY = CORE + ("safety", "robot_io", "bundle", "runtime", "deploy", "robots", "estimator", "teleop", "teleop.keyboard",
                  "teleop.gamepad", "teleop.mux", "teleop.hand", "data", "data.bag", "data.msgdefs", "data.recording",
                  "data.collect", "explorer")
TRAINING_AND_SIM = ("torch", "mujoco", "rsl_rl", "tensordict", "warp", "mujoco_warp", "hrobot.sim", "hrobot.tasks",
                    "hrobot.train", "hrobot.export", "hrobot.skills", "hrobot.eval", "hrobot.bench", "onnx")
ROS_DEPLOY_NODES = ("common", "skill_controller", "goal_planner", "explorer", "teleop", "recorder", "foxglove_bridge")  # robot_driver reaches the simulator by interface name "sim"


def _path(module: str) -> Path:
    p = REPO / "hrobot" / (module.replace(".", "/") + ".py")
    return p if p.is_file() else REPO / "hrobot" / module.replace(".", "/") / "__init__.py"


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == b or m.startswith(b + ".") for b in TRAINING_AND_SIM)]


@pytest.mark.parametrize("module", DEPLOY)
def test_deploy_layer_modules_import_no_training_or_simulation_code(module):
    bad = _forbidden(_imports(_path(module)))
    assert not bad, f"hrobot.{module} imports {bad}"


@pytest.mark.parametrize("node", ROS_DEPLOY_NODES)
def test_deployment_nodes_import_no_training_or_simulation_code(node):
    bad = _forbidden(_imports(REPO / "ros_ws" / "src" / "hrobot_ros" / "hrobot_ros" / f"{node}.py"))
    assert not bad, f"{node} imports {bad}"


@pytest.mark.parametrize("module", CORE)
def test_core_imports_only_core(module):
    deploy_only = {f"hrobot.{m}" for m in DEPLOY if m not in CORE}
    bad = [m for m in _imports(_path(module)) if m in deploy_only] + _forbidden(_imports(_path(module)))
    assert not bad, f"hrobot.{module} imports {bad}"


def test_simulation_imports_no_training_code():
    for path in sorted((REPO / "sim").rglob("*.py")):
        bad = [m for m in _imports(path) if m.startswith(("hrobot.tasks", "hrobot.train", "hrobot.export",
                                                          "hrobot.skills", "rsl_rl"))]
        assert not bad, f"sim/{path.name} imports {bad}"


def test_drivers_import_no_simulation_or_training_code():
    for path in sorted((REPO / "hardware").rglob("*.py")):
        bad = _forbidden(_imports(path))
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_simulated_devices_use_only_the_protocol_definitions_of_hardware():
    """A device speaks the protocol the driver speaks (its definitions), but never runs a driver."""
    allowed = ("hrobot.hardware.dynamixel.xc330", "hrobot.hardware.dynamixel.protocol", "hrobot.hardware.unitree.crc",
               "hrobot.hardware.unitree.msgs", "hrobot.hardware.unitree.protocol")
    for path in sorted((REPO / "sim" / "devices").glob("*.py")):
        bad = [m for m in _imports(path) if m.startswith("hrobot.hardware") and m not in allowed]
        assert not bad, f"sim/devices/{path.name} imports {bad}"


PROBE = r"""
import json, sys
import numpy as np
from hrobot.bundle import load_bundle
from hrobot.cli import main
from hrobot.runtime import Controller, HighLevelRuntime, PolicyRuntime
from hrobot.safety import MeasuredState, SafetyLayer

walk = PolicyRuntime(load_bundle(sys.argv[1] + "/go2_walk"))
state = MeasuredState(walk.default_pose(), np.zeros(12), np.array([1.0, 0, 0, 0]), np.zeros(3), 0.0)
ctrl = Controller(walk)
ctrl.run_policy()
cmd = SafetyLayer(walk.robot).filter(ctrl.step(state, [0.5, 0, 0], 0.0), state, 0.0)
hl = HighLevelRuntime(load_bundle(sys.argv[1] + "/go2_nav_skills"))
k, c = hl.step([0, 0], 0.0, [0, 0], 0.0, [2.0, 0.0, 0.0], np.full(32, 3.0), 1.0)
assert main(["validate", sys.argv[1] + "/go2_walk", "--robot", "go2"]) == 0
print(json.dumps({"loaded": sorted(m for m in sys.modules), "skill": k, "finite": bool(np.isfinite(cmd.q).all())}))
"""


def test_the_deploy_layer_runs_without_torch_mujoco_or_rsl_rl():
    """Run a skill, the controller, the safety layer, a two-skill high level and `hrobot validate` in a fresh
    interpreter: none of the training or simulation stack gets imported."""
    r = subprocess.run([sys.executable, "-c", PROBE, str(REPO / "policies")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    loaded = _forbidden(res["loaded"])
    assert not loaded, f"the deploy layer loaded {loaded[:8]}"
    assert res["finite"] and res["skill"] in (0, 1)
