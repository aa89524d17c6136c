"""Unitree's DDS message types, written from the published IDL (unitree_sdk2 `unitree_go`, `unitree_hg`,
`unitree_api`), for the CycloneDDS 0.10.2 Python binding.

Type names, field order and types are the wire format: a peer running Unitree's own SDK (or the
robot) reads what these write. unitree_go's LowState_ carries `temperature_ntc1/2` after
`adc_reel`, as the robot's IDL and the SDK's CRC packing have it (the PyPI wheel's generated
Python class leaves them out, which would shift every later field).
"""


from dataclasses import dataclass, field

import cyclonedds.idl as idl
import cyclonedds.idl.annotations as annotate
import cyclonedds.idl.types as t


def _zeros(n: int, value=0):
    return field(default_factory=lambda: [value] * n)


# ---------------------------------------------------------------- unitree_go (Go2)
@dataclass
@annotate.final
@annotate.autoid("sequential")
class GoMotorCmd(idl.IdlStruct, typename="unitree_go.msg.dds_.MotorCmd_"):
    mode: t.uint8 = 0
    q: t.float32 = 0.0
    dq: t.float32 = 0.0
    tau: t.float32 = 0.0
    kp: t.float32 = 0.0
    kd: t.float32 = 0.0
    reserve: t.array[t.uint32, 3] = _zeros(3)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class GoBmsCmd(idl.IdlStruct, typename="unitree_go.msg.dds_.BmsCmd_"):
    off: t.uint8 = 0
    reserve: t.array[t.uint8, 3] = _zeros(3)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class GoLowCmd(idl.IdlStruct, typename="unitree_go.msg.dds_.LowCmd_"):
    head: t.array[t.uint8, 2] = _zeros(2)
    level_flag: t.uint8 = 0
    frame_reserve: t.uint8 = 0
    sn: t.array[t.uint32, 2] = _zeros(2)
    version: t.array[t.uint32, 2] = _zeros(2)
    bandwidth: t.uint16 = 0
    motor_cmd: t.array[GoMotorCmd, 20] = field(default_factory=lambda: [GoMotorCmd() for _ in range(20)])
    bms_cmd: GoBmsCmd = field(default_factory=GoBmsCmd)
    wireless_remote: t.array[t.uint8, 40] = _zeros(40)
    led: t.array[t.uint8, 12] = _zeros(12)
    fan: t.array[t.uint8, 2] = _zeros(2)
    gpio: t.uint8 = 0
    reserve: t.uint32 = 0
    crc: t.uint32 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class GoIMUState(idl.IdlStruct, typename="unitree_go.msg.dds_.IMUState_"):
    quaternion: t.array[t.float32, 4] = _zeros(4, 0.0)
    gyroscope: t.array[t.float32, 3] = _zeros(3, 0.0)
    accelerometer: t.array[t.float32, 3] = _zeros(3, 0.0)
    rpy: t.array[t.float32, 3] = _zeros(3, 0.0)
    temperature: t.uint8 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class GoMotorState(idl.IdlStruct, typename="unitree_go.msg.dds_.MotorState_"):
    mode: t.uint8 = 0
    q: t.float32 = 0.0
    dq: t.float32 = 0.0
    ddq: t.float32 = 0.0
    tau_est: t.float32 = 0.0
    q_raw: t.float32 = 0.0
    dq_raw: t.float32 = 0.0
    ddq_raw: t.float32 = 0.0
    temperature: t.uint8 = 0
    lost: t.uint32 = 0
    reserve: t.array[t.uint32, 2] = _zeros(2)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class GoBmsState(idl.IdlStruct, typename="unitree_go.msg.dds_.BmsState_"):
    version_high: t.uint8 = 0
    version_low: t.uint8 = 0
    status: t.uint8 = 0
    soc: t.uint8 = 0
    current: t.int32 = 0
    cycle: t.uint16 = 0
    bq_ntc: t.array[t.uint8, 2] = _zeros(2)
    mcu_ntc: t.array[t.uint8, 2] = _zeros(2)
    cell_vol: t.array[t.uint16, 15] = _zeros(15)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class GoLowState(idl.IdlStruct, typename="unitree_go.msg.dds_.LowState_"):
    head: t.array[t.uint8, 2] = _zeros(2)
    level_flag: t.uint8 = 0
    frame_reserve: t.uint8 = 0
    sn: t.array[t.uint32, 2] = _zeros(2)
    version: t.array[t.uint32, 2] = _zeros(2)
    bandwidth: t.uint16 = 0
    imu_state: GoIMUState = field(default_factory=GoIMUState)
    motor_state: t.array[GoMotorState, 20] = field(default_factory=lambda: [GoMotorState() for _ in range(20)])
    bms_state: GoBmsState = field(default_factory=GoBmsState)
    foot_force: t.array[t.int16, 4] = _zeros(4)
    foot_force_est: t.array[t.int16, 4] = _zeros(4)
    tick: t.uint32 = 0
    wireless_remote: t.array[t.uint8, 40] = _zeros(40)
    bit_flag: t.uint8 = 0
    adc_reel: t.float32 = 0.0
    temperature_ntc1: t.uint8 = 0
    temperature_ntc2: t.uint8 = 0
    power_v: t.float32 = 0.0
    power_a: t.float32 = 0.0
    fan_frequency: t.array[t.uint16, 4] = _zeros(4)
    reserve: t.uint32 = 0
    crc: t.uint32 = 0


# ---------------------------------------------------------------- unitree_hg (G1, H1-2)
@dataclass
@annotate.final
@annotate.autoid("sequential")
class HgMotorCmd(idl.IdlStruct, typename="unitree_hg.msg.dds_.MotorCmd_"):
    mode: t.uint8 = 0
    q: t.float32 = 0.0
    dq: t.float32 = 0.0
    tau: t.float32 = 0.0
    kp: t.float32 = 0.0
    kd: t.float32 = 0.0
    reserve: t.uint32 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class HgLowCmd(idl.IdlStruct, typename="unitree_hg.msg.dds_.LowCmd_"):
    mode_pr: t.uint8 = 0
    mode_machine: t.uint8 = 0
    motor_cmd: t.array[HgMotorCmd, 35] = field(default_factory=lambda: [HgMotorCmd() for _ in range(35)])
    reserve: t.array[t.uint32, 4] = _zeros(4)
    crc: t.uint32 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class HgIMUState(idl.IdlStruct, typename="unitree_hg.msg.dds_.IMUState_"):
    quaternion: t.array[t.float32, 4] = _zeros(4, 0.0)
    gyroscope: t.array[t.float32, 3] = _zeros(3, 0.0)
    accelerometer: t.array[t.float32, 3] = _zeros(3, 0.0)
    rpy: t.array[t.float32, 3] = _zeros(3, 0.0)
    temperature: t.int16 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class HgMotorState(idl.IdlStruct, typename="unitree_hg.msg.dds_.MotorState_"):
    mode: t.uint8 = 0
    q: t.float32 = 0.0
    dq: t.float32 = 0.0
    ddq: t.float32 = 0.0
    tau_est: t.float32 = 0.0
    temperature: t.array[t.int16, 2] = _zeros(2)
    vol: t.float32 = 0.0
    sensor: t.array[t.uint32, 2] = _zeros(2)
    motorstate: t.uint32 = 0
    reserve: t.array[t.uint32, 4] = _zeros(4)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class HgLowState(idl.IdlStruct, typename="unitree_hg.msg.dds_.LowState_"):
    version: t.array[t.uint32, 2] = _zeros(2)
    mode_pr: t.uint8 = 0
    mode_machine: t.uint8 = 0
    tick: t.uint32 = 0
    imu_state: HgIMUState = field(default_factory=HgIMUState)
    motor_state: t.array[HgMotorState, 35] = field(default_factory=lambda: [HgMotorState() for _ in range(35)])
    wireless_remote: t.array[t.uint8, 40] = _zeros(40)
    reserve: t.array[t.uint32, 4] = _zeros(4)
    crc: t.uint32 = 0


# ---------------------------------------------------------------- unitree_api (RPC: the motion switcher)
@dataclass
@annotate.final
@annotate.autoid("sequential")
class RequestIdentity(idl.IdlStruct, typename="unitree_api.msg.dds_.RequestIdentity_"):
    id: t.int64 = 0
    api_id: t.int64 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class RequestLease(idl.IdlStruct, typename="unitree_api.msg.dds_.RequestLease_"):
    id: t.int64 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class RequestPolicy(idl.IdlStruct, typename="unitree_api.msg.dds_.RequestPolicy_"):
    priority: t.int32 = 0
    noreply: bool = False


@dataclass
@annotate.final
@annotate.autoid("sequential")
class RequestHeader(idl.IdlStruct, typename="unitree_api.msg.dds_.RequestHeader_"):
    identity: RequestIdentity = field(default_factory=RequestIdentity)
    lease: RequestLease = field(default_factory=RequestLease)
    policy: RequestPolicy = field(default_factory=RequestPolicy)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class Request(idl.IdlStruct, typename="unitree_api.msg.dds_.Request_"):
    header: RequestHeader = field(default_factory=RequestHeader)
    parameter: str = ""
    binary: t.sequence[t.uint8] = field(default_factory=list)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class ResponseStatus(idl.IdlStruct, typename="unitree_api.msg.dds_.ResponseStatus_"):
    code: t.int32 = 0


@dataclass
@annotate.final
@annotate.autoid("sequential")
class ResponseHeader(idl.IdlStruct, typename="unitree_api.msg.dds_.ResponseHeader_"):
    identity: RequestIdentity = field(default_factory=RequestIdentity)
    status: ResponseStatus = field(default_factory=ResponseStatus)


@dataclass
@annotate.final
@annotate.autoid("sequential")
class Response(idl.IdlStruct, typename="unitree_api.msg.dds_.Response_"):
    header: ResponseHeader = field(default_factory=ResponseHeader)
    data: str = ""
    binary: t.sequence[t.uint8] = field(default_factory=list)


# ---------------------------------------------------------------- hrobot's own (not a Unitree message)
@dataclass
@annotate.final
@annotate.autoid("sequential")
class RangeScan(idl.IdlStruct, typename="hrobot.msg.dds_.RangeScan_"):
    """Horizontal range rays in layers (hrobot.nav_io.RayScanLayout): the simulated device's stand-in for
    a lidar pipeline, so a navigation high level runs against it with nothing but DDS between."""

    tick: t.uint32 = 0
    num_rays: t.uint16 = 0
    angle_increment: t.float32 = 0.0
    range_max: t.float32 = 0.0
    heights: t.sequence[t.float32] = field(default_factory=list)
    ranges: t.sequence[t.float32] = field(default_factory=list)  # layer-major; inf: nothing within range


# The low-level messages go out and come in at 500 Hz: (de)serialized by one struct each (cdr.py),
# byte-equal to the binding's own field-by-field path, about a fifth of its cost.
from hrobot.hardware.unitree.cdr import fast_cdr  # noqa: E402

for _cls in (GoLowCmd, GoLowState, HgLowCmd, HgLowState):
    fast_cdr(_cls)
