"""`hrobot train`: PPO through rsl_rl's OnPolicyRunner on a task's batched environment.

A run folder holds `run.json` (what was run, on what, for how long, final metrics),
`env_cfg.json`, `train_cfg.json`, rsl_rl checkpoints `model_<it>.pt` and TensorBoard logs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import platform
import re
import subprocess
import time
import types
import typing
from pathlib import Path

import numpy as np
import torch
import yaml
from rsl_rl.runners import OnPolicyRunner
from rsl_rl.utils import check_nan

from hrobot.errors import HRobotError
from hrobot.robots import load_robot
from hrobot import distributed as dist
from hrobot.spec import RobotSpec
from hrobot.tasks import load_task
from hrobot.tasks.velocity.env import for_robot


class HRobotRunner(OnPolicyRunner):
    """rsl_rl's OnPolicyRunner with a progress callback instead of the per-iteration console dump.

    The rollout / update loop is OnPolicyRunner.learn's; TensorBoard logging is rsl_rl's Logger.
    """

    def __init__(self, *args, dist_ctx: dist.Context | None = None, **kwargs):
        self.dist = dist_ctx or dist.Context(device=kwargs.get("device", "cpu"))
        with contextlib.redirect_stdout(io.StringIO()):  # rsl_rl prints the model structure
            super().__init__(*args, **kwargs)
        self.hold_actor_for = 0  # iterations left in which only the critic learns (a warm start without a critic)

    def _configure_multi_gpu(self) -> None:
        """rsl_rl's multi-GPU set-up for any device: the process group is hrobot.distributed's (NCCL on GPUs,
        Gloo on CPUs), already joined."""
        d = self.dist
        self.gpu_world_size, self.gpu_global_rank, self.gpu_local_rank = d.world_size, d.rank, d.local_rank
        self.is_distributed = d.enabled
        self.cfg["multi_gpu"] = {"global_rank": d.rank, "local_rank": d.local_rank,
                                 "world_size": d.world_size} if d.enabled else None

    def learn(self, num_learning_iterations: int, init_at_random_ep_len: bool = False, on_iteration=None) -> None:
        if init_at_random_ep_len:
            self.env.episode_length_buf = torch.randint_like(
                self.env.episode_length_buf, high=int(self.env.max_episode_length))
        obs = self.env.get_observations().to(self.device)
        self.alg.train_mode()
        if self.is_distributed:  # every rank starts from rank 0's weights (its initialisation or checkpoint)
            self.alg.broadcast_parameters()
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger.init_logging_writer()
        start_it = self.current_learning_iteration + (1 if self.current_learning_iteration else 0)
        total_it = start_it + num_learning_iterations
        self.iterations_done = 0
        try:
            self._iterations(start_it, total_it, num_learning_iterations, obs, on_iteration)
        except KeyboardInterrupt:
            self.interrupted = True  # Ctrl-C: keep what was learned, stop cleanly
        if self.logger.writer is not None:
            self.save(os.path.join(self.logger.log_dir, f"model_{self.current_learning_iteration}.pt"))
            self.logger.stop_logging_writer()

    def _iterations(self, start_it: int, total_it: int, num_learning_iterations: int, obs, on_iteration) -> None:
        for it in range(start_it, total_it):
            start = time.time()
            metrics: dict[str, list[float]] = {}
            with torch.inference_mode():
                for _ in range(self.cfg["num_steps_per_env"]):
                    actions = self.alg.act(obs)
                    obs, rewards, dones, extras = self.env.step(actions.to(self.env.device))
                    check_nan(obs, rewards, dones)
                    obs, rewards, dones = obs.to(self.device), rewards.to(self.device), dones.to(self.device)
                    self.alg.process_env_step(obs, rewards, dones, extras)
                    self.logger.process_env_step(rewards, dones, extras, None)
                    for k, v in extras.get("log", {}).items():
                        if k.startswith(("Metrics/", "Nav/")):
                            metrics.setdefault(k, []).append(float(v))
                collect_time = time.time() - start
                start = time.time()
                self.alg.compute_returns(obs)
            loss_dict = self._update()
            dist.check_in_sync((self.alg.get_policy(), self.alg.critic), self.dist)
            learn_time = time.time() - start
            self.current_learning_iteration = it
            with contextlib.redirect_stdout(io.StringIO()):  # keep rsl_rl's TensorBoard scalars, drop its printout
                self.logger.log(it=it, start_it=start_it, total_it=total_it, collect_time=collect_time,
                                learn_time=learn_time, loss_dict=loss_dict, learning_rate=self.alg.learning_rate,
                                action_std=self.alg.get_policy().output_std, rnd_weight=None)
            if self.logger.writer is not None and it % self.cfg["save_interval"] == 0:
                self.save(os.path.join(self.logger.log_dir, f"model_{it}.pt"))
            self.iterations_done += 1
            if on_iteration is not None:
                rew = list(self.logger.rewbuffer)
                on_iteration(it - start_it + 1, num_learning_iterations, {
                    "iteration": it,
                    "steps_per_s": self.cfg["num_steps_per_env"] * self.env.num_envs / (collect_time + learn_time),
                    "mean_reward": float(np.mean(rew)) if rew else float("nan"),
                    **{k.split("/")[1]: float(np.mean(v)) for k, v in metrics.items()},
                })

    def save(self, path: str, infos: dict | None = None) -> None:
        """The checkpoint, with what the env's curricula reached (a resumed run goes on from there instead of
        climbing the terrain levels again: ~250 iterations of go2's rough fine-tune)."""
        state = getattr(self.env, "curriculum_state", None)
        super().save(path, {**(infos or {}), **({"curriculum": state()} if state else {})})

    def load(self, path: str, load_cfg: dict | None = None, strict: bool = True, map_location: str | None = None) -> dict:
        """Everything for a resume (load_cfg None: the curricula too); only the named parts otherwise."""
        infos = super().load(path, load_cfg, strict, map_location) or {}
        if load_cfg is None and "curriculum" in infos and hasattr(self.env, "load_curriculum_state"):
            self.env.load_curriculum_state(infos["curriculum"])
        return infos

    def _update(self) -> dict:
        """PPO's update; while the actor is held, its parameters take no step (the critic's do) and the adaptive
        learning rate, which a still actor's zero KL would drive up, starts again from the configured one."""
        if self.hold_actor_for <= 0:
            return self.alg.update()
        actor = list(self.alg.get_policy().parameters())
        for p in actor:
            p.requires_grad_(False)
        try:
            return self.alg.update()
        finally:
            for p in actor:
                p.requires_grad_(True)
            self.hold_actor_for -= 1
            self.alg.learning_rate = self.cfg["algorithm"]["learning_rate"]
            for group in self.alg.optimizer.param_groups:
                group["lr"] = self.alg.learning_rate


def latest_checkpoint(run_dir: Path) -> Path | None:
    ckpts = sorted(run_dir.glob("model_*.pt"), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    return ckpts[-1] if ckpts else None


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} CPU threads ({cpu}){gpu}"


def git_commit() -> str:
    """Short HEAD commit, with '+dirty' when tracked files differ from it (the run's git/ folder holds the diff)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent,
                              timeout=5).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        return (head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")) if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


ROBOT_FILE = "robot.yaml"  # the spec a run trained on, as it was then (export and eval read this one)
HEALTH_CHECK_ITERATIONS = 5  # reward terms that are 0 on every step of these first iterations are reported


def make_env_and_cfg(task: str, num_envs: int | None, terrain: str | None, skills: list[str] | None = None,
                     robot: str | None = None):
    """The task's config with the command line's overrides; returns (module, cfg, notes on adaptations)."""
    mod = load_task(task)
    notes: list[str] = []
    if mod.KIND == "locomotion":
        cfg = mod.env_cfg(terrain) if terrain else mod.env_cfg()
        if robot:
            cfg, notes = for_robot(cfg, load_robot(robot), task)
    else:
        if terrain:
            raise HRobotError(f"task {task}: --terrain applies to locomotion tasks only")
        cfg = mod.env_cfg()
        if skills:
            cfg.skills = tuple(skills)
        if robot:
            cfg.robot = load_robot(robot).source
    if skills and mod.KIND == "locomotion":
        raise HRobotError(f"task {task}: --skills applies to high-level tasks only")
    if num_envs:
        cfg.num_envs = num_envs
    return mod, cfg, notes


def write_robot(run_dir: Path, robot: RobotSpec) -> None:
    (Path(run_dir) / ROBOT_FILE).write_text(f"# the robot spec this run trained on ({robot.source})\n"
                                            + yaml.safe_dump(robot.to_dict(), sort_keys=False))


def run_robot(run_dir: Path) -> str | None:
    """The run's own copy of its robot spec (None for runs made before runs recorded it)."""
    path = Path(run_dir) / ROBOT_FILE
    return str(path) if path.is_file() else None


def train(task: str, out: Path, backend: str = "mujoco", num_envs: int | None = None, iterations: int = 500,
          seed: int = 0, resume: bool = False, terrain: str | None = None, device: str = "cpu",
          on_iteration=None, command: str = "", init_from: Path | None = None, skills: list[str] | None = None,
          robot: str | None = None, distributed: bool = False, threads: int | None = None) -> dict:
    """Train a task (on its own robot, or on `robot`: a built-in name or spec YAML); returns the run summary
    also written to out/run.json.

    `distributed`: this process is one rank of a torchrun job (hrobot.distributed): it steps its share of
    `num_envs` with seed + rank; rank 0 alone writes the run folder and calls `on_iteration`.
    `threads`: CPU threads for the simulation and torch (default: the cores, shared among a machine's ranks);
    fewer where other jobs share the machine (more threads than free cores stall each other's waits)."""
    if device.startswith("cuda") and (backend != "warp" or not torch.cuda.is_available()):
        raise HRobotError(f"--device {device}: needs --backend warp (MuJoCo Warp simulates on the GPU) and a GPU "
                          f"visible to torch ({'none' if not torch.cuda.is_available() else 'found'})")
    ctx = dist.init(device) if distributed else dist.Context(device=device)
    device = ctx.device
    torch.manual_seed(seed + ctx.rank)
    np.random.seed(seed + ctx.rank)
    threads = threads or max(1, (os.cpu_count() or 1) // ctx.local_world_size)
    torch.set_num_threads(threads)
    out = Path(out)
    if resume and run_robot(out):  # a resumed run stays on the robot it started on
        if robot and load_robot(robot).to_dict() != load_robot(run_robot(out)).to_dict():
            raise HRobotError(f"{out}: --robot {robot} differs from the robot this run started on ({ROBOT_FILE})")
        robot = run_robot(out)
    mod, cfg, notes = make_env_and_cfg(task, num_envs, terrain, skills, robot)
    ckpt = latest_checkpoint(out) if resume else None
    if resume and ckpt is None:
        raise HRobotError(f"{out}: --resume given but the folder has no checkpoint (model_*.pt)")
    if not resume and out.exists() and latest_checkpoint(out) is not None:
        raise HRobotError(f"{out}: already holds a run; use --resume to continue it or choose another --out")
    previous = json.loads((out / "run.json").read_text()) if resume and (out / "run.json").exists() else {}
    if resume and previous.get("world_size", 1) != ctx.world_size:
        raise HRobotError(f"{out}: the run was trained by {previous.get('world_size', 1)} process(es); resume it with "
                          f"the same number (this job has {ctx.world_size})")
    total_envs = cfg.num_envs
    cfg.num_envs = dist.share(total_envs, ctx)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier(ctx)
    env = mod.make_env(cfg, backend=backend, device=device, seed=seed + ctx.rank, nthread=threads)
    if ctx.is_main and not (resume and run_robot(out)):
        write_robot(out, env.robot)
    saved_train_cfg = out / "train_cfg.json"
    if resume and saved_train_cfg.is_file():  # a resumed run keeps its own network and hyperparameters
        train_cfg = json.loads(saved_train_cfg.read_text())
    else:
        train_cfg = mod.train_cfg()
        if init_from is not None:  # fine-tuning keeps the source's network, whatever the task's default is now
            for part, hidden in _source_hidden_dims(Path(init_from)).items():
                train_cfg[part]["hidden_dims"] = hidden
            if (Path(init_from) / "policy.onnx").is_file():  # a bundle has no exploration noise: a trained one's
                dist_cfg = train_cfg["actor"]["distribution_cfg"]
                dist_cfg["init_std"] = min(dist_cfg["init_std"], WARM_START_STD)
    train_cfg["seed"] = seed
    runner = HRobotRunner(env, train_cfg, log_dir=str(out) if ctx.is_main else None, device=device, dist_ctx=ctx)
    init_note = None
    if ckpt is not None:
        runner.load(str(ckpt))
    elif init_from is not None:  # warm start: weights only (fresh optimizer and iteration count)
        init_note = _warm_start(runner, Path(init_from), task, device)
    if ctx.is_main:
        saved_cfg = dataclasses.replace(cfg, num_envs=total_envs)
        (out / "env_cfg.json").write_text(json.dumps(dataclasses.asdict(saved_cfg), indent=2, default=str))
        (out / "train_cfg.json").write_text(json.dumps(train_cfg, indent=2))

    last: dict = {}
    progress_log = (out / "progress.jsonl").open("a") if ctx.is_main else None

    commit = git_commit()  # the tree at launch (edits made while it trains do not change the run)

    def summary(status: str) -> dict:
        """run.json: rewritten at every checkpoint (status running) and at the end, so a killed run stays usable."""
        steps = runner.iterations_done * train_cfg["num_steps_per_env"] * total_envs
        info = {
            "task": task,
            "kind": mod.KIND,
            "robot": env.robot.name,
            "robot_spec": ROBOT_FILE,
            "adapted": previous.get("adapted") or notes,
            "warnings": warnings,
            "terrain": getattr(cfg, "terrain", "arena"),
            "skills": list(getattr(cfg, "skills", [])),
            "init_from": previous.get("init_from") or (init_note if init_from else None),
            "backend": backend,
            "num_envs": total_envs,
            "world_size": ctx.world_size,
            **({"distributed_backend": ctx.backend} if ctx.enabled else {}),
            "seed": seed,
            "iterations": previous.get("iterations", 0) + runner.iterations_done,
            "env_steps": previous.get("env_steps", 0) + steps,
            "wall_time_s": previous.get("wall_time_s", 0.0) + time.time() - t0,
            "hardware": hardware(),
            "torch": torch.__version__,
            "git_commit": commit,
            "commands": previous.get("commands", []) + ([command] if command else []),
            "final": dict(last),
            "status": status,
            "checkpoint": str(latest_checkpoint(out).name) if latest_checkpoint(out) else None,
        }
        if ctx.is_main:
            (out / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        return info

    warnings: list[str] = list(previous.get("warnings", []))

    def record(done, total, info):
        info = dist.mean_metrics(info, ctx)  # every rank takes part; rank 0 writes
        last.update(info)
        if not ctx.is_main:
            return
        if done == min(HEALTH_CHECK_ITERATIONS, total) and hasattr(env, "reward_health"):
            found = [f"after {done} iterations: {w}" for w in env.reward_health()]
            warnings.extend(found)
            info = {**info, "warnings": found} if found else info
        progress_log.write(json.dumps({"t": round(time.time() - t0, 2), **info}) + "\n")
        progress_log.flush()
        if info["iteration"] % train_cfg["save_interval"] == 0:
            summary("running")
        if on_iteration:
            on_iteration(done, total, info)

    t0 = time.time()
    try:
        runner.learn(iterations, init_at_random_ep_len=True, on_iteration=record)
        dist.barrier(ctx)  # rank 0's last checkpoint is written before any rank reports the run done
        return summary("interrupted" if getattr(runner, "interrupted", False) else "done")
    finally:
        if progress_log is not None:
            progress_log.close()
        dist.close(ctx)


WARM_START_STD = 0.5  # exploration noise a bundle's actor starts from (a fresh run's 1.0 would undo its gait)
CRITIC_WARMUP_ITERATIONS = 25  # a bundle brings no critic: the actor is held while a fresh one learns its values


def _bundle_actor_weights(src: Path) -> dict[str, np.ndarray]:
    """A bundle's actor weights by the actor's own parameter names (`mlp.<i>.weight`, ...): the graph's initializers,
    with the prefix of a wrapper the export put around the actor (bundles before format 2: `inner.`) removed."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(src / "policy.onnx")).graph
    except Exception as e:  # noqa: BLE001 - protobuf's decode errors have no common public base
        raise HRobotError(f"{src / 'policy.onnx'}: not a readable ONNX model ({type(e).__name__})") from None
    weights = {}
    for init in graph.initializer:
        at = init.name.find("mlp.")
        if at >= 0 and (at == 0 or init.name[at - 1] == "."):
            weights[init.name[at:]] = numpy_helper.to_array(init).copy()
    return weights


def _source_hidden_dims(src: Path) -> dict[str, list[int]]:
    """The hidden layer sizes of a warm start's source: a run's actor and critic (its train_cfg.json), or a bundle's
    actor (its graph's `mlp.<i>.weight` initializers, in layer order; the fresh critic gets the same sizes)."""
    if (src / "policy.onnx").is_file():
        layers = sorted((int(k.split(".")[1]), v.shape) for k, v in _bundle_actor_weights(src).items()
                        if k.endswith(".weight") and v.ndim == 2)
        hidden = [int(shape[0]) for _, shape in layers[:-1]]
        return {"actor": hidden, "critic": hidden} if hidden else {}
    saved = src / "train_cfg.json"
    if not saved.is_file():
        return {}
    try:
        cfg = json.loads(saved.read_text())
    except json.JSONDecodeError as e:
        raise HRobotError(f"{saved}: not valid JSON ({e.msg}, line {e.lineno})") from None
    return {part: list(cfg[part]["hidden_dims"]) for part in ("actor", "critic") if "hidden_dims" in cfg.get(part, {})}


def _warm_start(runner: HRobotRunner, src: Path, task: str, device: str) -> str:
    """Load another run's weights (actor, and critic where its observation matches), or a bundle's actor.

    A bundle (policy.onnx) carries the actor's weights as named initializers (the graph's `mlp.*` are the
    actor's own parameter names); its critic is not shipped, so the actor is held for the first
    CRITIC_WARMUP_ITERATIONS while a fresh critic fits the returns of the bundle's policy."""
    if (src / "policy.onnx").is_file():
        weights = {k: torch.from_numpy(v) for k, v in _bundle_actor_weights(src).items()}
        actor = runner.alg.get_policy()
        mine = {k: v for k, v in actor.state_dict().items() if k.startswith("mlp.")}
        bad = [k for k, v in mine.items() if k not in weights or tuple(weights[k].shape) != tuple(v.shape)]
        if bad or not mine or getattr(actor, "is_recurrent", False):
            raise HRobotError(f"{src}: its policy does not fit task {task} (the actor's layer '{bad[0] if bad else 'rnn'}'"
                              f" differs in name or shape: another observation, action or network size)")
        actor.load_state_dict({k: weights[k].to(device) for k in mine}, strict=False)
        runner.hold_actor_for = CRITIC_WARMUP_ITERATIONS
        return f"{src}/policy.onnx: actor (critic fresh, actor held for {CRITIC_WARMUP_ITERATIONS} iterations)"
    ckpt = latest_checkpoint(src)
    if ckpt is None:
        raise HRobotError(f"{src}: --init-from needs a run folder with a checkpoint (model_*.pt) or a bundle "
                          f"(policy.onnx)")
    saved = torch.load(str(ckpt), map_location=device, weights_only=False)
    mine = runner.alg.get_policy().state_dict()
    actor = saved["actor_state_dict"]
    grown = _grown_inputs(src, runner.env.cfg, actor, mine)
    if grown:
        actor[FIRST_LAYER] = torch.cat([actor[FIRST_LAYER], actor[FIRST_LAYER].new_zeros(len(mine[FIRST_LAYER]), grown)], 1)
    if any(actor[k].shape != v.shape for k, v in mine.items()):
        raise HRobotError(f"{src}: its actor does not fit task {task} (different observation or action size)")
    critic = {k: v.shape for k, v in runner.alg._raw_critic.state_dict().items()}
    same_critic = all(saved["critic_state_dict"][k].shape == s for k, s in critic.items())
    runner.alg.get_policy().load_state_dict(actor, strict=True)
    if same_critic:
        runner.alg._raw_critic.load_state_dict(saved["critic_state_dict"], strict=True)
    return f"{src}/{ckpt.name}: actor" + (f" ({grown} new observation inputs, their weights zero)" if grown else "") + \
        (" and critic" if same_critic else " (critic re-initialised: its observation differs)")


FIRST_LAYER = "mlp.0.weight"


def _grown_inputs(src: Path, cfg, saved: dict, mine: dict) -> int:
    """How many observation inputs this task's actor adds after the source run's (0: none): where the source's policy
    terms are the first of this task's, its actor starts this one with the new inputs' weights at zero, so the warm
    started policy acts exactly as the source's until it learns to use them (a sensor added to a trained skill)."""
    if FIRST_LAYER not in saved or FIRST_LAYER not in mine or not hasattr(cfg, "policy_obs"):
        return 0
    extra = mine[FIRST_LAYER].shape[1] - saved[FIRST_LAYER].shape[1]
    saved_cfg = src / "env_cfg.json"
    if extra <= 0 or saved[FIRST_LAYER].shape[0] != mine[FIRST_LAYER].shape[0] or not saved_cfg.is_file():
        return 0
    theirs = [t["name"] for t in json.loads(saved_cfg.read_text()).get("policy_obs", [])]
    ours = [t.name for t in cfg.policy_obs]
    return extra if theirs and ours[: len(theirs)] == theirs and len(ours) > len(theirs) else 0


def run_info(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise HRobotError(f"{run_dir}: not a training run (no run.json)")
    if latest_checkpoint(run_dir) is None:
        raise HRobotError(f"{run_dir}: no checkpoint (model_*.pt)")
    info = json.loads((run_dir / "run.json").read_text())
    saved = run_dir / "env_cfg.json"  # the policy's interface as trained, whatever the task's config is now
    if saved.is_file() and "skill_prior" in (env_cfg := json.loads(saved.read_text())):
        info["skill_prior"] = env_cfg["skill_prior"]
    return info


def saved_env_cfg(run_dir: Path):
    """The run's environment config as trained (env_cfg.json), rebuilt as the task's config dataclass.

    Export and evaluation of a run read this, not the task's config of today: a config changed after
    training cannot change what the exported bundle says the policy needs.
    """
    run_dir = Path(run_dir)
    info = run_info(run_dir)
    path = run_dir / "env_cfg.json"
    if not path.is_file():
        raise HRobotError(f"{run_dir}: no env_cfg.json (the run's environment config)")
    cls = type(load_task(info["task"]).env_cfg())
    cfg = dataclass_from_dict(cls, json.loads(path.read_text()), str(path))
    if run_robot(run_dir):
        cfg.robot = run_robot(run_dir)
    return cfg


def dataclass_from_dict(cls, data: dict, where: str):
    """Rebuild a (nested) config dataclass from its `dataclasses.asdict` JSON; absent fields keep their defaults."""
    if not isinstance(data, dict):
        raise HRobotError(f"{where}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise HRobotError(f"{where}: unknown field '{unknown[0]}' for {cls.__name__}")
    return cls(**{k: _typed(hints[k], v, f"{where}: {k}") for k, v in data.items()})


def _typed(tp, v, where: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return dataclass_from_dict(tp, v, where)
    if origin in (typing.Union, types.UnionType):
        if v is None:
            return None
        options = [a for a in args if a is not type(None)]
        if isinstance(v, list):  # tuples were written as lists
            options = [a for a in options if typing.get_origin(a) is tuple] or options
        return _typed(options[0], v, where)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], x, where) for x in v)
        return tuple(_typed(a, x, where) for a, x in zip(args, v))
    return v


def load_actor(run_dir: Path, env, device: str = "cpu", checkpoint: str | None = None):
    """The run's trained actor (deterministic output), built for `env`'s observation groups."""
    run_dir = Path(run_dir)
    train_cfg = json.loads((run_dir / "train_cfg.json").read_text())
    runner = HRobotRunner(env, train_cfg, log_dir=None, device=device)
    ckpt = run_dir / checkpoint if checkpoint else latest_checkpoint(run_dir)
    if not ckpt.is_file():
        raise HRobotError(f"{ckpt}: checkpoint not found")
    runner.load(str(ckpt), load_cfg={"actor": True}, strict=True)
    return runner.get_inference_policy(device)
