"""Policy bundles (deploy layer: numpy + onnxruntime): `policy.onnx` with the deployment contract.

The ONNX file carries one metadata entry, `hrobot`, a JSON document that is the one
contract between training and deployment. It holds every value a runtime reads, each
once: the robot spec, the policy's joint order, default pose, gains, action scale and
action clip, the ordered observation layout (terms, sizes, scales, clips and the state
fields each term reads), history length, command names and ranges, policy and PD rates,
the gait clock, level (low / high), and for a high level its sensor layout, skills and
skill prior. Optional: `last_action` ("clipped", the default, or "raw": the policy's output before
the clip, as Isaac Lab observes it), `action_mode` ("absolute", the default: targets = default +
action_scale * action; or "delta": targets = the previous targets + `delta_scale` * action inside the
joint limits, starting from the measured pose, observed through the `joint_target` term) and `trained_limits` (the torque and velocity limits an imported
policy was trained with). The observation normaliser (if any) is part of the graph. Recurrent
policies take their hidden state as extra inputs and return the next one as extra
outputs (`recurrent` names them). Training writes it (hrobot.export) from the run's own
saved configuration.

`load_bundle` checks a bundle against the robot it will drive, and against the state
fields that robot (or driver) provides, and refuses a mismatch with one line naming the
field, what was expected and what was found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrobot.errors import HRobotError
from hrobot.obs import DERIVED_FIELDS, RUNTIME_FIELDS, TERM_REQUIRES, ObservationLayout, ObsTerm
from hrobot.safety import STATE_FIELDS, SafetyConfig
from hrobot.spec import RobotSpec

FORMAT_VERSION = 2
META_KEY = "hrobot"
REQUIRED_KEYS = ("format_version", "level", "name", "robot", "joint_names", "default_joint_pos", "kp", "kd",
                 "action_scale", "action_clip", "gait_period_s", "observation", "obs_dim", "action_dim",
                 "history_length", "command", "policy_rate_hz", "pd_rate_hz", "input_name", "output_name")


@dataclass
class Bundle:
    path: Path
    meta: dict
    robot: RobotSpec  # the robot this bundle was made for (its embedded spec)
    session: object  # onnxruntime.InferenceSession (1 intra-op, 1 inter-op thread)
    layout: ObservationLayout
    policy_to_robot: np.ndarray  # index of each policy joint in the robot's joint order

    @property
    def level(self) -> str:
        return self.meta["level"]

    @property
    def recurrent(self) -> dict | None:
        """For recurrent policies: rnn type, num_layers, hidden_size, state input and output names."""
        return self.meta.get("recurrent")

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        """The zero recurrent state for `batch` robots ([] for feed-forward policies)."""
        r = self.recurrent
        if not r:
            return []
        return [np.zeros((r["num_layers"], batch, r["hidden_size"]), np.float32) for _ in r["state_inputs"]]

    def step(self, obs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Policy output for (N, obs_dim * history) observations and the next recurrent state."""
        r = self.recurrent
        if not r:
            return self.run(obs), state
        feeds = {self.meta["input_name"]: obs.astype(np.float32), **dict(zip(r["state_inputs"], state))}
        out = self.session.run([self.meta["output_name"], *r["state_outputs"]], feeds)
        return out[0], out[1:]

    def run(self, obs: np.ndarray) -> np.ndarray:
        """Raw policy output for observations (N, obs_dim * history) in float32 (feed-forward policies)."""
        if self.recurrent:
            raise HRobotError(f"{self.path}: a recurrent policy needs its state: use step(obs, state)")
        return self.session.run([self.meta["output_name"]], {self.meta["input_name"]: obs.astype(np.float32)})[0]


# ---------------------------------------------------------------- loading and validation


def read_metadata(path: Path) -> dict:
    """The bundle's metadata, checked for the keys and format version this loader reads."""
    return _read(Path(path))[0]


def _read(path: Path):
    onnx_path = path / "policy.onnx" if path.is_dir() else path
    if not onnx_path.is_file():
        raise HRobotError(f"{path}: no policy.onnx (not a policy bundle)")
    try:
        session = _session(onnx_path)
    except Exception as e:  # onnxruntime raises its own exception types for corrupt or truncated files
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise HRobotError(f"{onnx_path}: not a valid ONNX model (truncated or corrupt?): {first}") from None
    props = session.get_modelmeta().custom_metadata_map
    if META_KEY not in props:
        raise HRobotError(f"{onnx_path}: missing metadata key '{META_KEY}' (not exported by hrobot export/import)")
    try:
        meta = json.loads(props[META_KEY])
    except json.JSONDecodeError as e:
        raise HRobotError(f"{onnx_path}: metadata '{META_KEY}' is not valid JSON: {e.msg}") from None
    if not isinstance(meta, dict):
        raise HRobotError(f"{onnx_path}: metadata '{META_KEY}': expected a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise HRobotError(f"{onnx_path}: metadata format_version: expected {FORMAT_VERSION}, found "
                          f"{meta.get('format_version')} (re-export the policy with this version of hrobot)")
    for key in REQUIRED_KEYS:
        if key not in meta:
            raise HRobotError(f"{onnx_path}: missing metadata key '{key}'")
    return meta, session, onnx_path


def _mismatch(where: Path, field: str, expected, found) -> HRobotError:
    return HRobotError(f"{where}: bundle does not match the robot: {field}: expected {expected}, found {found}")


def validate(meta: dict, robot: RobotSpec, where: Path) -> np.ndarray:
    """Check a bundle against the robot it will drive; returns the policy->robot joint index map."""
    if meta["robot"]["name"] != robot.name:
        raise _mismatch(where, "robot", robot.name, meta["robot"]["name"])
    names = list(meta["joint_names"])
    if sorted(names) != sorted(robot.joint_names):
        missing = [j for j in robot.joint_names if j not in names]
        extra = [j for j in names if j not in robot.joint_names]
        raise _mismatch(where, "joint_names", f"the robot's {robot.num_joints} joints",
                        f"missing {missing}, unknown {extra}")
    bundle_joints = {j["name"]: j for j in meta["robot"]["joints"]}
    for j in robot.joints:
        b = bundle_joints.get(j.name)
        if b is None:
            raise _mismatch(where, f"robot.joints[{j.name}]", "present", "absent")
        for field, mine, theirs in (("range", [j.lower, j.upper], b["range"]),
                                    ("velocity", j.velocity_limit, b["velocity"]),
                                    ("torque", j.torque_limit, b["torque"])):
            if not np.allclose(mine, theirs, atol=1e-6):
                raise _mismatch(where, f"joints[{j.name}].{field}", mine, theirs)
    for field in ("policy_rate_hz", "pd_rate_hz"):
        if not np.isclose(meta[field], getattr(robot, field)):
            raise _mismatch(where, field, getattr(robot, field), meta[field])
    n = robot.num_joints
    for field in ("default_joint_pos", "kp", "kd"):
        if len(meta[field]) != n:
            raise _mismatch(where, f"{field} length", n, len(meta[field]))
    if meta["level"] == "low" and meta["action_dim"] != n:
        raise _mismatch(where, "action_dim", n, meta["action_dim"])
    sizes = sum(t["size"] for t in meta["observation"])
    if sizes != meta["obs_dim"]:
        raise HRobotError(f"{where}: metadata observation terms add up to {sizes}, but obs_dim is {meta['obs_dim']}")
    index = np.array([robot.joint_names.index(j) for j in names], dtype=np.int64)
    if meta["level"] == "low":
        _check_control_values(meta, robot, index, where)
    return index


def _check_control_values(meta: dict, robot: RobotSpec, index: np.ndarray, where: Path) -> None:
    """Default pose, gains, action scale and clip, gait clock and per-term state fields against the robot spec.

    A bundle may use its own default pose and gains (an imported policy), but not ones the robot's
    limits and safety envelope refuse; `spec_differences` lists the values that differ from the spec.
    """
    lower, upper = robot.lower[index], robot.upper[index]
    default = np.asarray(meta["default_joint_pos"], dtype=np.float64)
    bad = np.flatnonzero((default < lower - 1e-6) | (default > upper + 1e-6))
    if len(bad):
        j = meta["joint_names"][bad[0]]
        raise _mismatch(where, f"default_joint_pos[{j}]", f"inside [{lower[bad[0]]:g}, {upper[bad[0]]:g}]",
                        f"{default[bad[0]]:g}")
    cap = SafetyConfig().kp_max_factor
    for field, spec in (("kp", robot.kp[index]), ("kd", robot.kd[index])):
        v = np.asarray(meta[field], dtype=np.float64)
        over = np.flatnonzero((v < 0) | (v > spec * cap + 1e-9) | ((v == 0) if field == "kp" else False))
        if len(over):
            j = meta["joint_names"][over[0]]
            low = "(0" if field == "kp" else "[0"  # a joint without stiffness is not position-controlled
            raise _mismatch(where, f"{field}[{j}]", f"within {low}, {cap:g} x the spec's {spec[over[0]]:g}]",
                            f"{v[over[0]]:g}")
    scale = np.asarray(meta["action_scale"], dtype=np.float64)
    if scale.size not in (1, robot.num_joints) or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise _mismatch(where, "action_scale", f"a positive number or {robot.num_joints} positive numbers",
                        meta["action_scale"])
    action_clip_bounds(meta, where)
    limits = meta.get("trained_limits") or {}
    n = len(meta["joint_names"])
    for field in ("torque", "velocity"):
        values = limits.get(field) if isinstance(limits, dict) else limits
        ok = values is None or (isinstance(values, list) and len(values) == n and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0)
            for v in values))
        if not ok:
            raise _mismatch(where, f"trained_limits.{field}", f"null or {n} positive numbers (or nulls)", values)
    if meta.get("last_action", "clipped") not in ("clipped", "raw"):
        raise _mismatch(where, "last_action", "'clipped' or 'raw' (what the last_action term observes)",
                        meta.get("last_action"))
    terms = {t["name"] for t in meta["observation"]}
    mode = meta.get("action_mode", "absolute")
    if mode not in ("absolute", "delta"):
        raise _mismatch(where, "action_mode", "'absolute' or 'delta'", mode)
    step = meta.get("delta_scale")
    if mode == "delta" and (isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step < 1):
        raise _mismatch(where, "delta_scale", "a step in (0, 1) rad per action unit (action_mode delta)", step)
    if "joint_target" in terms and mode != "delta":
        raise _mismatch(where, "action_mode", "'delta' (the policy observes joint_target)", mode)
    period = meta["gait_period_s"]
    if "gait_phase" in terms and (isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0):
        raise _mismatch(where, "gait_period_s", "a positive period in seconds (the policy observes gait_phase)",
                        period)
    scan = next((t for t in meta["observation"] if t["name"] == "height_scan"), None)
    if scan is not None:
        grid = (meta.get("height_scan") or {}).get("grid")
        offset = (meta.get("height_scan") or {}).get("offset_m")
        ok = (isinstance(grid, list) and len(grid) == 3 and all(isinstance(g, int) and g > 0 for g in grid[:2])
              and isinstance(grid[2], (int, float)) and grid[2] > 0 and grid[0] * grid[1] == scan["size"]
              and isinstance(offset, (int, float)) and np.isfinite(offset))
        if not ok:
            raise _mismatch(where, "height_scan", f"{{grid: [nx, ny, spacing m] with nx * ny = {scan['size']}, "
                            "offset_m: m}} (the policy observes height_scan)", meta.get("height_scan"))
    for t in meta["observation"]:
        if t["name"] in TERM_REQUIRES and list(t.get("requires", [])) != list(TERM_REQUIRES[t["name"]]):
            raise _mismatch(where, f"observation term '{t['name']}' requires", list(TERM_REQUIRES[t["name"]]),
                            t.get("requires"))


def action_clip_bounds(meta: dict, where: Path | str = "bundle") -> tuple[np.ndarray, np.ndarray] | None:
    """The action clip as per-action (low, high) arrays, or None (no clip).

    `action_clip` is a positive number c (the clip is [-c, c], hrobot and legged_gym) or
    {"low": [...], "high": [...]} per action in the policy's order (Isaac Lab's per-joint clips, kept exactly).
    """
    clip, n = meta["action_clip"], meta["action_dim"]
    expected = f"a positive number, {{low: [{n} numbers], high: [{n} numbers]}} with low < high, or null (no clip)"
    if clip is None:
        return None
    if isinstance(clip, dict) and set(clip) == {"low", "high"}:
        try:
            low, high = (np.asarray(clip[k], dtype=np.float64) for k in ("low", "high"))
        except (TypeError, ValueError):
            raise _mismatch(where, "action_clip", expected, clip) from None
        if low.shape == high.shape == (n,) and np.all(np.isfinite(low)) and np.all(np.isfinite(high)) \
                and np.all(low < high):
            return low, high
        raise _mismatch(where, "action_clip", expected, clip)
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
        raise _mismatch(where, "action_clip", expected, clip)
    return np.full(n, -float(clip)), np.full(n, float(clip))


def spec_differences(meta: dict, robot: RobotSpec) -> list[str]:
    """Where a (valid) low-level bundle's default pose, gains and action scale differ from the robot spec."""
    index = [robot.joint_names.index(j) for j in meta["joint_names"]]
    out = []
    for field, spec in (("default_joint_pos", robot.default_pose), ("kp", robot.kp), ("kd", robot.kd)):
        v = np.asarray(meta[field], dtype=np.float64)
        for i, (mine, theirs) in enumerate(zip(v, spec[index])):
            if not np.isclose(mine, theirs, atol=1e-6):
                out.append(f"{field}[{meta['joint_names'][i]}]: bundle {mine:g}, spec {theirs:g}")
    scale = np.asarray(meta["action_scale"], dtype=np.float64)
    if not np.allclose(scale, robot.action_scale, atol=1e-9):
        out.append(f"action_scale: bundle {meta['action_scale']}, spec {robot.action_scale:g}")
    trained = meta.get("trained_limits") or {}  # the limits an imported policy was trained with
    for field, spec in (("torque", robot.torque_limits), ("velocity", robot.velocity_limits)):
        for name, theirs, mine in zip(meta["joint_names"], trained.get(field) or [], spec[index]):
            if theirs is not None and not np.isclose(theirs, mine, rtol=1e-3):
                more = "more than the robot allows (the safety layer holds the spec's)" if theirs > mine else "less"
                out.append(f"{field} limit[{name}]: trained with {theirs:g}, spec {mine:g} ({more})")
    return out


ESTIMATED = {"base_lin_vel": "no sensor measures base linear velocity: a real robot needs a state estimator "
                            "(or motion capture) to provide it",
             "height_map": "a perceptive policy needs an elevation map around the robot (e.g. from a LiDAR or depth "
                           "camera through elevation mapping)"}


def required_state(meta: dict) -> list[str]:
    """The state fields the robot (or driver) must provide for this bundle's observation, in term order."""
    out: list[str] = []
    for t in meta["observation"]:
        for f in _provided(t):
            if f not in out:
                out.append(f)
    return out


def _provided(term: dict) -> list[str]:
    """The state fields a robot provides for one observation term (a derived field: those it is derived from)."""
    return [g for f in term.get("requires", []) if f not in RUNTIME_FIELDS for g in DERIVED_FIELDS.get(f, (f,))]


def check_provides(meta: dict, provides: Iterable[str], who: str, where: Path) -> None:
    """Refuse, in one line, a bundle whose observation needs a state field `who` does not provide."""
    provides = set(provides)
    unknown = sorted(provides - set(STATE_FIELDS))
    if unknown:
        raise HRobotError(f"{who} claims to provide '{unknown[0]}', which is not a state field "
                          f"(expected some of {', '.join(STATE_FIELDS)})")
    for t in meta["observation"]:
        missing = [f for f in _provided(t) if f not in provides]
        if missing:
            why = f"; {ESTIMATED[missing[0]]}" if missing[0] in ESTIMATED else ""
            raise HRobotError(f"{where}: observation term '{t['name']}' needs state field '{missing[0]}', which "
                              f"{who} does not provide (it provides {', '.join(sorted(provides))}){why}")


def _session(onnx_path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one thread each: a thread pool per core starves a control loop
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors surface as exceptions; no warnings on stderr
    return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])


def load_bundle(path: str | Path, robot: RobotSpec | None = None, provides: Iterable[str] | None = None,
                who: str = "the robot") -> Bundle:
    """Load and validate a bundle. Without `robot`, it is validated against its own robot's spec.

    With `provides` (the state fields a robot or driver delivers), a bundle that needs any other
    is refused at load time, not on its first control step.
    """
    from hrobot.robots import BUILTIN, load_robot

    path = Path(path)
    meta, session, onnx_path = _read(path)
    if robot is not None:
        target = robot
    elif meta["robot"]["name"] in BUILTIN:
        target = load_robot(meta["robot"]["name"])
    else:  # a user robot: its spec as embedded (the model file must still be where it was at export)
        target = RobotSpec.from_dict(meta["robot"], source=f"{onnx_path} (embedded robot spec)")
    index = validate(meta, target, onnx_path)
    if provides is not None:
        check_provides(meta, provides, who, onnx_path)
    embedded = RobotSpec.from_dict({**meta["robot"], "model": "builtin"} if meta["robot"]["model"] == "builtin"
                                   else {**meta["robot"], "model": target.model}, source=str(onnx_path))
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    expected_in = meta["obs_dim"] * meta["history_length"]
    if inp.name != meta["input_name"] or inp.shape[-1] != expected_in:
        raise _mismatch(onnx_path, "ONNX input", f"{meta['input_name']} with {expected_in} values",
                        f"{inp.name} with {inp.shape[-1]}")
    if out.shape[-1] != meta["action_dim"]:
        raise _mismatch(onnx_path, "ONNX output size", meta["action_dim"], out.shape[-1])
    r = meta.get("recurrent")
    found = ([i.name for i in session.get_inputs()[1:]], [o.name for o in session.get_outputs()[1:]])
    expected = (r["state_inputs"], r["state_outputs"]) if r else ([], [])
    if found != expected:
        raise HRobotError(f"{onnx_path}: recurrent state inputs/outputs: expected {expected} (metadata), "
                          f"found {found} (ONNX graph)")
    terms = [ObsTerm(t["name"], tuple(t["scale"]) if isinstance(t["scale"], list) else t["scale"], 0.0,
                     tuple(t["clip"]) if isinstance(t["clip"], list) else t["clip"]) for t in meta["observation"]]
    sizes = {t["name"]: t["size"] for t in meta["observation"]}
    layout = _layout(terms, embedded, sizes, meta)
    return Bundle(path=path, meta=meta, robot=embedded, session=session, layout=layout, policy_to_robot=index)


def _layout(terms, robot: RobotSpec, sizes: dict, meta: dict) -> ObservationLayout | None:
    """Low-level bundles use the shared observation terms; the high level builds its own vector."""
    if meta["level"] == "high":
        return None
    policy_robot = policy_order_spec(robot, meta)
    return ObservationLayout(terms, policy_robot, sizes)


def policy_order_spec(robot: RobotSpec, meta: dict) -> RobotSpec:
    """The robot spec with joints in the policy's order and the policy's default pose and gains."""
    from dataclasses import replace

    by_name = {j.name: j for j in robot.joints}
    joints = tuple(replace(by_name[n], default=float(d), kp=float(kp), kd=float(kd))
                   for n, d, kp, kd in zip(meta["joint_names"], meta["default_joint_pos"], meta["kp"], meta["kd"]))
    return replace(robot, joints=joints)
