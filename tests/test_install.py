"""A wheel install (not editable) deploys: `pip wheel .`, installed into a fresh venv, validates a bundle and
runs sim2sim from a folder outside the checkout. The fresh venv finds its dependencies in this one's
site-packages (a .pth line: nothing downloaded), but hrobot only in the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_install_validates_and_runs_sim2sim(tmp_path):
    def run(*cmd, cwd=tmp_path, timeout=600):
        r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                           env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")})
        assert r.returncode == 0, f"{cmd}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        return r.stdout

    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", REPO)
    wheel = next((tmp_path / "dist").glob("hrobot-*.whl"))
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    py = venv / "bin" / "python"
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # numpy, onnxruntime, mujoco, torch
    run(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel)
    where = run(py, "-c", "import hrobot; print(hrobot.__file__)").strip()
    assert where.startswith(str(site)), where  # the wheel's copy, not the checkout
    out = run(venv / "bin" / "hrobot", "validate", REPO / "policies" / "go2_walk", "--robot", "go2")
    assert "valid low-level bundle for go2" in out
    run(venv / "bin" / "hrobot", "sim2sim", REPO / "policies" / "go2_walk", "--episodes", "2", "--json", "s2s.json")
    res = json.loads((tmp_path / "s2s.json").read_text())
    assert res["episodes"] == 2 and res["fall_rate"] == 0.0 and res["lin_vel_error"] < 0.3
