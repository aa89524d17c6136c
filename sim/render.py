"""Offscreen rendering of simulated robots to images and videos."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

from hrobot.errors import HRobotError
from hrobot.sim.model import SimModel

CAMERA_DISTANCE = {"quadruped": 1.6, "humanoid": 3.0, "hand": 0.55}


class Renderer:
    """An offscreen renderer with a camera that follows the robot's base."""

    def __init__(self, sm: SimModel, width: int = 640, height: int = 480):
        try:
            self._r = mujoco.Renderer(sm.model, height=height, width=width)
        except Exception as e:
            raise HRobotError(
                f"offscreen rendering is unavailable ({str(e).splitlines()[0]}); "
                "set MUJOCO_GL=egl (or osmesa) and make sure the library is installed"
            ) from None
        self.sm = sm
        self.cam = mujoco.MjvCamera()
        self.cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.cam.distance = CAMERA_DISTANCE[sm.robot.robot_class]
        self.cam.azimuth, self.cam.elevation = 135.0, -20.0

    def render(self, data: mujoco.MjData) -> np.ndarray:
        self.cam.lookat[:] = data.xpos[self.sm.base_body]
        self._r.update_scene(data, self.cam)
        return self._r.render()

    def close(self) -> None:
        self._r.close()


def save_png(path: str | Path, image: np.ndarray) -> None:
    import imageio.v3 as iio

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, image)


def save_video(path: str | Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as iio

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with iio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=8) as w:
        for f in frames:
            w.append_data(f)


def render_robot(robot, scene_kind: str | None, out: str | Path, width: int = 960, height: int = 640,
                 settle_s: float = 0.5) -> np.ndarray:
    """Render the robot holding its default pose (after settling) in a scene; write a PNG."""
    from hrobot.errors import HRobotError
    from hrobot.sim.model import build_sim_model
    from hrobot.sim.scene import SceneConfig
    from hrobot.sim.stability import StabilityWatch, numerics_advice, quiet_mujoco_warnings
    from hrobot.sim.terrain import TerrainConfig

    kind = scene_kind or ("hand_object" if robot.robot_class == "hand" else "flat")
    scene = SceneConfig(kind=kind, terrain=TerrainConfig(single_level=0.5, tile_size=6.0, border=1.0))
    sm = build_sim_model(robot, scene)
    m = sm.model
    m.vis.global_.offwidth, m.vis.global_.offheight = max(width, 640), max(height, 480)
    d = mujoco.MjData(m)
    d.qpos[:] = sm.default_qpos()
    if sm.terrain is not None and sm.base_qpos_adr is not None:
        d.qpos[sm.base_qpos_adr + 2] += float(sm.terrain.height_at(np.zeros(2)))
    if kind == "arena":  # a few obstacles in view
        for i in range(m.nmocap):
            angle = 2 * np.pi * i / max(m.nmocap, 1)
            d.mocap_pos[i] = [1.8 * np.cos(angle), 1.8 * np.sin(angle), 0.0]
    d.ctrl[:] = robot.default_pose
    watch = StabilityWatch(sm)
    with quiet_mujoco_warnings():
        for _ in range(int(settle_s / m.opt.timestep)):
            mujoco.mj_step(m, d)
            if not watch.check(d):
                raise HRobotError(f"{robot.source}: refusing to render an unstable simulation: {watch.problem} "
                                  f"({numerics_advice(robot)}; `hrobot robots check` says more)")
    r = Renderer(sm, width, height)
    if kind == "arena":
        r.cam.distance, r.cam.elevation = 7.0, -45.0
    img = r.render(d)
    r.close()
    save_png(out, img)
    return img
