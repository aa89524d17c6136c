"""Reading user files with one-line errors that name the file and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hrobot.errors import HRobotError


def read_yaml(path: str | Path, loader: type = yaml.SafeLoader, what: str = "file") -> Any:
    path = Path(path)
    if not path.is_file():
        raise HRobotError(f"{path}: {what} not found")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except UnicodeDecodeError as e:
        raise HRobotError(f"{path}: {what} is not UTF-8 text (byte {e.start}: {e.reason}); expected YAML") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise HRobotError(f"{path}: malformed YAML{where}: {problem}") from None
