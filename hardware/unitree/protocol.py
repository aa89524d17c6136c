"""Unitree low-level protocol facts shared by the driver and the simulated device (unitree_sdk2 examples).

Topics `rt/lowcmd` / `rt/lowstate` at 500 Hz; Go2 (`unitree_go`, 20 motor slots) and G1
(`unitree_hg`, 35 slots); the motion switcher RPC that releases the sport mode before any low-level
command is obeyed; Go2's header and the "hold" values that switch a motor's loops off.
"""

from __future__ import annotations

import json

from hrobot.hardware.unitree import msgs

LOWCMD, LOWSTATE = "rt/lowcmd", "rt/lowstate"
SWITCHER_REQUEST, SWITCHER_RESPONSE = "rt/api/motion_switcher/request", "rt/api/motion_switcher/response"
SCAN = "rt/hrobot/scan"  # hrobot's simulated range scans (msgs.RangeScan); a robot has its own lidar topics
API_CHECK_MODE, API_SELECT_MODE, API_RELEASE_MODE = 1001, 1002, 1003
RATE_HZ = 500.0

GO_HEAD = (0xFE, 0xEF)
GO_LEVEL_LOWLEVEL = 0xFF
POS_STOP_F = 2.146e9  # q: position loop off
VEL_STOP_F = 16000.0  # dq: velocity loop off
MOTOR_ENABLE = 0x01  # Go2: PMSM servo mode; G1: enable
MOTOR_OFF = 0x00

FAMILIES = {
    # robot class: (family, LowCmd, LowState, motor slots)
    "quadruped": ("unitree_go", msgs.GoLowCmd, msgs.GoLowState, 20),
    "humanoid": ("unitree_hg", msgs.HgLowCmd, msgs.HgLowState, 35),
}


def family(robot) -> tuple[str, type, type, int]:
    if robot.robot_class not in FAMILIES:
        raise ValueError(f"robot {robot.name} is a {robot.robot_class}: Unitree's low level drives quadrupeds "
                         "(unitree_go) and humanoids (unitree_hg)")
    return FAMILIES[robot.robot_class]


def mode_data(name: str) -> str:
    """CheckMode's reply: the active sport-mode controller's name, '' once released."""
    return json.dumps({"form": "0", "name": name})


def mode_name(data: str) -> str:
    """The active controller's name from CheckMode's reply; ValueError if the reply is not what the robot sends."""
    try:
        reply = json.loads(data or "{}")
    except json.JSONDecodeError:
        raise ValueError(f"motion switcher CheckMode replied {data[:80]!r}, not JSON") from None
    if not isinstance(reply, dict):
        raise ValueError(f"motion switcher CheckMode replied {data[:80]!r}, expected a JSON object")
    return str(reply.get("name", ""))
