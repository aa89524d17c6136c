"""hrobot: hierarchical sim-to-real robot control (MuJoCo -> rsl_rl PPO -> ONNX -> ROS 2)."""

import os

# Offscreen rendering without a display: EGL (Mesa's software renderer on CPU-only machines).
# Must be set before mujoco is imported anywhere.
os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
