"""Dynamixel XC330-M288-T (the LEAP hand's servo) on Protocol 2.0: what the wire carries.

Control-table addresses and sizes are those of the `xc330_m288.model` file shipped with
dynamixel-sdk 4.1.0; units from the same file and ROBOTIS's e-Manual. The driver
(hardware/dynamixel/leap.py) and the emulated bus (sim/devices/dynamixel_bus.py) both read
this module, so the two sides cannot disagree about a number.
"""

from __future__ import annotations

import math

MODEL_NUMBER = 1200  # XC330-M288
FIRMWARE_VERSION = 52
BAUD_4M = 4_000_000
BAUD_CODES = {9600: 0, 57_600: 1, 115_200: 2, 1_000_000: 3, 2_000_000: 4, 3_000_000: 5, 4_000_000: 6}

# address: (size in bytes, name); EEPROM below TORQUE_ENABLE (writable only with torque off)
CONTROL_TABLE = {
    0: (2, "model_number"), 2: (4, "model_information"), 6: (1, "firmware_version"), 7: (1, "id"),
    8: (1, "baud_rate"), 9: (1, "return_delay_time"), 10: (1, "drive_mode"), 11: (1, "operating_mode"),
    31: (1, "temperature_limit"), 36: (2, "pwm_limit"), 38: (2, "current_limit"), 44: (4, "velocity_limit"),
    48: (4, "max_position_limit"), 52: (4, "min_position_limit"), 63: (1, "shutdown"), 64: (1, "torque_enable"),
    65: (1, "led"), 68: (1, "status_return_level"), 70: (1, "hardware_error_status"), 80: (2, "position_d_gain"),
    82: (2, "position_i_gain"), 84: (2, "position_p_gain"), 102: (2, "goal_current"), 116: (4, "goal_position"),
    122: (1, "moving"), 126: (2, "present_current"), 128: (4, "present_velocity"), 132: (4, "present_position"),
    144: (2, "present_input_voltage"), 146: (1, "present_temperature"),
}
ADDR = {name: addr for addr, (_, name) in CONTROL_TABLE.items()}
SIZE = {name: size for _, (size, name) in CONTROL_TABLE.items()}
READ_ONLY = {"model_number", "model_information", "firmware_version", "hardware_error_status", "moving",
             "present_current", "present_velocity", "present_position", "present_input_voltage",
             "present_temperature"}
EEPROM_END = ADDR["torque_enable"]
SIGNED = {"present_current", "present_velocity", "goal_current", "goal_position", "present_position"}

OPERATING_MODE_CURRENT_POSITION = 5  # current-based position control (what LEAP runs)
STATE_BLOCK = (ADDR["present_current"], 10)  # present current (2), velocity (4), position (4): one sync read

# units
POSITION_RAD = 2.0 * math.pi / 4096  # rad per tick; 2048 ticks is pi
VELOCITY_RAD_S = 0.229 * 2.0 * math.pi / 60.0  # rad/s per unit (0.229 rev/min)
CURRENT_A = 0.001  # A per unit (1 mA)
STALL_TORQUE_NM = 0.93  # at 5 V (datasheet)
STALL_CURRENT_A = 1.8
TORQUE_CONSTANT = STALL_TORQUE_NM / STALL_CURRENT_A  # N m / A, the emulated motor's

# Protocol 2.0 instructions and status errors
PING, READ, WRITE, REBOOT, STATUS, SYNC_READ, SYNC_WRITE = 0x01, 0x02, 0x03, 0x08, 0x55, 0x82, 0x83
BROADCAST_ID = 0xFE
ERR_RESULT, ERR_INSTRUCTION, ERR_CRC, ERR_DATA_RANGE, ERR_DATA_LENGTH, ERR_DATA_LIMIT, ERR_ACCESS = range(1, 8)
ERR_ALERT = 0x80  # status error bit 7: the servo has a hardware error (Hardware Error Status says which)
HARDWARE_ERRORS = {0x01: "input voltage", 0x04: "overheating", 0x08: "motor encoder", 0x10: "electrical shock",
                   0x20: "overload"}

# The LEAP hand's convention (leap_hand_utils.py: LEAPhand = LEAPsim + 3.14159): a servo reads pi where
# the joint is at 0, its straight pose. The one place this offset is defined.
LEAP_OFFSET_RAD = math.pi


def joint_to_ticks(q: float) -> int:
    """A LEAP joint angle (rad, the spec's convention) as the servo's position value."""
    return int(round((q + LEAP_OFFSET_RAD) / POSITION_RAD))


def ticks_to_joint(ticks: int) -> float:
    return ticks * POSITION_RAD - LEAP_OFFSET_RAD


def hardware_error_text(bits: int) -> str:
    return ", ".join(name for bit, name in HARDWARE_ERRORS.items() if bits & bit) or f"code 0x{bits:02x}"
