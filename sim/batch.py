"""Batched simulation: N environments of one robot-in-scene model stepped together.

Two backends behind one interface, both exposing the state as torch tensors:

- `mujoco` (default): native MuJoCo; `mujoco.rollout` steps all environments in C++
  worker threads, one MjModel per environment (so domain randomisation is per env).
- `warp`: MuJoCo Warp; on a GPU the state stays on the GPU and torch reads it through
  zero-copy views. It also runs on the CPU (that is how the tests check it).

`step(ctrl)` holds the joint targets for `decimation` physics steps (the PD runs inside
MuJoCo at the physics rate) and records the sensors of every sub-step.
"""

from __future__ import annotations

import copy
import os
from abc import ABC, abstractmethod

import mujoco
import numpy as np
import torch

from hrobot.errors import HRobotError
from hrobot.sim.model import SimModel

BACKENDS = ("mujoco", "warp")
_DIVERGENCE = (mujoco.mjtWarning.mjWARN_BADQACC, mujoco.mjtWarning.mjWARN_BADQPOS, mujoco.mjtWarning.mjWARN_BADQVEL)


class SimulationDiverged(HRobotError):
    """The physics produced NaN / inf or MuJoCo reported a divergence."""


class BatchedSim(ABC):
    """Common interface. Tensors: qpos (N, nq), qvel (N, nv), sensordata (N, decimation, nsensordata)."""

    backend: str
    qpos: torch.Tensor
    qvel: torch.Tensor
    sensordata: torch.Tensor

    def __init__(self, sm: SimModel, num_envs: int, decimation: int):
        self.sm, self.num_envs, self.decimation = sm, num_envs, decimation
        self.nmocap = sm.model.nmocap

    @abstractmethod
    def step(self, ctrl: torch.Tensor, mocap_pos: torch.Tensor | None = None) -> None:
        """Advance every env by `decimation` physics steps holding ctrl (N, nu); mocap_pos (N, nmocap, 3)."""

    @abstractmethod
    def bare_step(self, ctrl: torch.Tensor) -> None:
        """Only the physics: `decimation` steps holding ctrl, no checks (the backend's speed limit)."""

    @abstractmethod
    def get_state(self):
        """A snapshot of the full physics state of every env."""

    @abstractmethod
    def set_state(self, snapshot) -> None:
        """Restore a snapshot from get_state."""

    @abstractmethod
    def reset(self, env_ids: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """Set the state of some envs (time, actuator state and solver warm start are cleared)."""

    @abstractmethod
    def set_model_field(self, name: str, env_ids: torch.Tensor, index, values: torch.Tensor) -> None:
        """Write per-env model parameters: model.<name>[index] = values[k] for env env_ids[k]."""

    @abstractmethod
    def model_field(self, name: str, env_id: int) -> np.ndarray:
        """A copy of one env's model.<name>."""

    def set_constants(self, env_ids: torch.Tensor) -> None:
        """Recompute the constants MuJoCo derives from masses at compile time (mj_setConst: the inverse weights that
        scale constraint softness, subtree masses) after set_model_field changed masses or inertias of bodies
        held by equality constraints; without it such a body's constraints are mis-scaled and can diverge."""
        raise HRobotError(f"backend '{self.backend}' cannot recompute model constants (mj_setConst) per env")

    def check_finite(self) -> None:
        bad = ~(torch.isfinite(self.qpos).all(dim=1) & torch.isfinite(self.qvel).all(dim=1))
        if bool(bad.any()):
            env = int(torch.nonzero(bad)[0, 0])
            raise SimulationDiverged(f"simulation produced NaN/inf in env {env} (backend {self.backend}); stopping")


class MujocoBatchedSim(BatchedSim):
    backend = "mujoco"

    def __init__(self, sm: SimModel, num_envs: int, decimation: int, nthread: int | None = None):
        super().__init__(sm, num_envs, decimation)
        from mujoco import rollout

        m = sm.model
        self.nthread = nthread or os.cpu_count() or 1
        self.models = [copy.copy(m) for _ in range(num_envs)]  # per-env parameters (domain randomisation)
        self._datas = [mujoco.MjData(m) for _ in range(self.nthread)]
        self._rollout = rollout.Rollout(nthread=self.nthread)
        self._spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
        nstate = mujoco.mj_stateSize(m, self._spec.value)
        self._ctrl_spec = mujoco.mjtState.mjSTATE_CTRL.value
        if self.nmocap:
            self._ctrl_spec |= mujoco.mjtState.mjSTATE_MOCAP_POS.value
        ncontrol = mujoco.mj_stateSize(m, self._ctrl_spec)

        d = mujoco.MjData(m)
        d.qpos[:] = sm.default_qpos()
        mujoco.mj_forward(m, d)
        s0 = np.empty(nstate)
        mujoco.mj_getState(m, d, s0, self._spec.value)
        self._state = np.tile(s0, (num_envs, 1))
        self._control = np.zeros((num_envs, decimation, ncontrol))
        self._state_out = np.empty((num_envs, decimation, nstate))
        self._sensor_out = np.zeros((num_envs, decimation, m.nsensordata))

        # FULLPHYSICS state layout: time, qpos, qvel, act, ...
        state_t = torch.from_numpy(self._state)
        self.qpos = state_t[:, 1 : 1 + m.nq]
        self.qvel = state_t[:, 1 + m.nq : 1 + m.nq + m.nv]
        self._time = state_t[:, 0]
        self._act = state_t[:, 1 + m.nq + m.nv : 1 + m.nq + m.nv + m.na]
        self.sensordata = torch.from_numpy(self._sensor_out)
        self._control_t = torch.from_numpy(self._control)

    def step(self, ctrl: torch.Tensor, mocap_pos: torch.Tensor | None = None) -> None:
        nu = self.sm.model.nu
        self._control_t[:, :, :nu] = ctrl.to(torch.float64).unsqueeze(1)
        if self.nmocap:
            if mocap_pos is not None:
                self._control_t[:, :, nu:] = mocap_pos.reshape(self.num_envs, 1, -1).to(torch.float64)
        before = self._divergence_count()
        self._rollout.rollout(
            self.models, self._datas, self._state, self._control, control_spec=self._ctrl_spec,
            nstep=self.decimation, state=self._state_out, sensordata=self._sensor_out, skip_checks=True,
        )
        self._state[:] = self._state_out[:, -1]
        if self._divergence_count() != before:
            raise SimulationDiverged("MuJoCo reported a diverging simulation (bad qacc/qpos/qvel); stopping")
        self.check_finite()

    def bare_step(self, ctrl: torch.Tensor) -> None:
        self._control_t[:, :, : self.sm.model.nu] = ctrl.to(torch.float64).unsqueeze(1)
        self._rollout.rollout(
            self.models, self._datas, self._state, self._control, control_spec=self._ctrl_spec,
            nstep=self.decimation, state=self._state_out, sensordata=self._sensor_out, skip_checks=True,
        )
        self._state[:] = self._state_out[:, -1]

    def get_state(self) -> np.ndarray:
        return self._state.copy()

    def set_state(self, snapshot: np.ndarray) -> None:
        self._state[:] = snapshot

    def _divergence_count(self) -> int:
        return sum(d.warning[w].number for d in self._datas for w in _DIVERGENCE)

    def reset(self, env_ids: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        ids = env_ids.cpu()
        self.qpos[ids] = qpos.to(torch.float64).cpu()
        self.qvel[ids] = qvel.to(torch.float64).cpu()
        self._time[ids] = 0.0
        if self._act.shape[1]:
            self._act[ids] = 0.0

    def set_model_field(self, name: str, env_ids: torch.Tensor, index, values: torch.Tensor) -> None:
        vals = values.detach().cpu().numpy()
        for k, i in enumerate(env_ids.cpu().tolist()):  # only the envs being (re)randomised
            getattr(self.models[i], name)[index] = vals[k]

    def model_field(self, name: str, env_id: int) -> np.ndarray:
        return np.array(getattr(self.models[env_id], name))

    def set_constants(self, env_ids: torch.Tensor) -> None:
        d = self._datas[0]
        for i in env_ids.cpu().tolist():
            mujoco.mj_setConst(self.models[i], d)


class WarpBatchedSim(BatchedSim):
    backend = "warp"

    def __init__(self, sm: SimModel, num_envs: int, decimation: int, device: str | None = None):
        super().__init__(sm, num_envs, decimation)
        try:
            import warp as wp
            import mujoco_warp as mjw
        except ImportError:
            raise HRobotError("backend 'warp' needs mujoco-warp and warp-lang: pip install -e '.[warp]'") from None
        wp.config.quiet = True
        self.wp, self.mjw = wp, mjw
        self.device = device or ("cuda:0" if wp.is_cuda_available() else "cpu")
        m = sm.model
        d = mujoco.MjData(m)
        d.qpos[:] = sm.default_qpos()
        mujoco.mj_forward(m, d)
        with wp.ScopedDevice(self.device):
            self.mw = mjw.put_model(m)
            self.dw = mjw.put_data(m, d, nworld=num_envs)
        t = wp.to_torch
        self.qpos, self.qvel = t(self.dw.qpos), t(self.dw.qvel)
        self._ctrl, self._time = t(self.dw.ctrl), t(self.dw.time)
        self._warm, self._act = t(self.dw.qacc_warmstart), t(self.dw.act)
        self._mocap = t(self.dw.mocap_pos) if self.nmocap else None
        self._sd = t(self.dw.sensordata)
        self.sensordata = torch.zeros((num_envs, decimation, m.nsensordata), device=self._sd.device)

    def step(self, ctrl: torch.Tensor, mocap_pos: torch.Tensor | None = None) -> None:
        self._ctrl.copy_(ctrl.to(self._ctrl.dtype))
        if self._mocap is not None and mocap_pos is not None:
            self._mocap.copy_(mocap_pos.to(self._mocap.dtype))
        with self.wp.ScopedDevice(self.device):
            for k in range(self.decimation):
                self.mjw.step(self.mw, self.dw)
                self.sensordata[:, k] = self._sd
        self.check_finite()

    def bare_step(self, ctrl: torch.Tensor) -> None:
        self._ctrl.copy_(ctrl.to(self._ctrl.dtype))
        with self.wp.ScopedDevice(self.device):
            for _ in range(self.decimation):
                self.mjw.step(self.mw, self.dw)

    def get_state(self) -> list[torch.Tensor]:
        return [t.clone() for t in (self.qpos, self.qvel, self._time, self._warm, self._act)]

    def set_state(self, snapshot: list[torch.Tensor]) -> None:
        for dst, src in zip((self.qpos, self.qvel, self._time, self._warm, self._act), snapshot):
            dst.copy_(src)

    def reset(self, env_ids: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        ids = env_ids.to(self.qpos.device)
        self.qpos[ids] = qpos.to(self.qpos)
        self.qvel[ids] = qvel.to(self.qvel)
        self._time[ids] = 0.0
        self._warm[ids] = 0.0
        if self._act.shape[1]:
            self._act[ids] = 0.0

    def _batched(self, name: str) -> torch.Tensor:
        """Expand a model field to one entry per world (MuJoCo Warp indexes batched fields by world)."""
        arr = getattr(self.mw, name)
        if arr.shape[0] != self.num_envs:
            expanded = np.repeat(arr.numpy(), self.num_envs, axis=0)
            arr = self.wp.array(expanded, dtype=arr.dtype, device=self.device)
            setattr(self.mw, name, arr)
        return self.wp.to_torch(arr)

    def set_model_field(self, name: str, env_ids: torch.Tensor, index, values: torch.Tensor) -> None:
        field = self._batched(name)
        ids = env_ids.to(field.device)
        idx = index if isinstance(index, tuple) else (index,)
        field[(ids, *idx)] = values.to(field)

    def model_field(self, name: str, env_id: int) -> np.ndarray:
        arr = getattr(self.mw, name).numpy()
        return np.array(arr[env_id % arr.shape[0]])

    def set_constants(self, env_ids: torch.Tensor) -> None:
        for name in ("body_invweight0", "dof_invweight0", "body_subtreemass"):  # outputs one per world too
            self._batched(name)
        with self.wp.ScopedDevice(self.device):
            self.mjw.set_const(self.mw, self.dw)  # every world at once (MuJoCo Warp's mj_setConst)


def make_batched_sim(backend: str, sm: SimModel, num_envs: int, decimation: int, nthread: int | None = None,
                     device: str | None = None) -> BatchedSim:
    if backend == "mujoco":
        return MujocoBatchedSim(sm, num_envs, decimation, nthread=nthread)
    if backend == "warp":
        return WarpBatchedSim(sm, num_envs, decimation, device=device)
    raise HRobotError(f"unknown backend '{backend}': expected one of {', '.join(BACKENDS)}")
