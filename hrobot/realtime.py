"""How a control process asks this machine for timely scheduling (deploy layer).

Two things decide how late a Python control loop runs on a busy machine:
- the interpreter lock: a loop thread that shares it with another thread (a driver's 500 Hz link beside
  its calls, a node's loop beside its executor) waits for the other to let go, by default up to 5 ms
  per hand-over (half a 100 Hz period); SWITCH_INTERVAL_S makes it 0.2 ms;
- the CPU: the control processes (the robot driver, the skill controller) run at CONTROL_NICE, so that
  whatever else runs on the robot's computer (a planner, a recorder, a visualiser, a simulator) waits
  for them, as ros2_control's controller manager raises its update thread's priority. Raising it needs
  root or CAP_SYS_NICE; without, the process runs at its normal priority and says so.
"""

from __future__ import annotations

import os
import sys

SWITCH_INTERVAL_S = 2e-4
CONTROL_NICE = -10


def prepare_control_process(priority: bool = True) -> str:
    """Set the switch interval and, with `priority`, this process's nice value (threads started afterwards
    inherit it: call this first); "" or why the priority could not be raised."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if not priority or os.getpriority(os.PRIO_PROCESS, 0) <= CONTROL_NICE:
        return ""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, CONTROL_NICE)
    except PermissionError:
        return (f"could not raise the control priority to nice {CONTROL_NICE} (needs root or CAP_SYS_NICE); "
                f"running at nice {os.getpriority(os.PRIO_PROCESS, 0)}")
    return ""
