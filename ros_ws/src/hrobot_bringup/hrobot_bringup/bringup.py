"""Read a bringup YAML (validated by hrobot.deploy) into the node list the launch files start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrobot.deploy import REPO, load_bringup


@dataclass
class NodeDescription:
    name: str
    executable: str
    parameters: dict


def bringup_path(robot: str, kind: str, explicit: str = "") -> Path:
    """deploy/<robot>/<kind>.yaml unless a bringup file is given explicitly."""
    return Path(explicit) if explicit else REPO / "deploy" / robot / f"{kind}.yaml"


def node_descriptions(path: str | Path, high_level: bool = True, skill_bundle: str = "",
                      planner_bundle: str = "") -> list[NodeDescription]:
    b = load_bringup(path)
    nodes = []
    for name, params in b.nodes.items():
        if name == "goal_planner" and not high_level:
            continue
        params = dict(params)
        if name == "skill_controller" and skill_bundle:
            params["bundle"] = str(Path(skill_bundle).resolve())
        if name == "goal_planner" and planner_bundle:
            params["bundle"] = str(Path(planner_bundle).resolve())
        nodes.append(NodeDescription(name=name, executable=name, parameters=params))
    return nodes
