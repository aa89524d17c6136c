"""LEAP hand class 16-DoF right hand from primitives, mounted palm up.

Link frames, masses and inertias follow the LEAP hand URDF (as converted in MuJoCo
Menagerie's leap_hand): palm 0.237 kg; per finger 0.044 + 0.032 + 0.037 + 0.016 kg;
thumb 0.032 + 0.003 + 0.038 + 0.049 kg. All joints turn about -z of their link frame.
"""

from __future__ import annotations

import mujoco

from hrobot.robots import primitives as p
from hrobot.spec import RobotSpec

PALM_RGBA = (0.2, 0.2, 0.22, 1.0)
LINK_RGBA = (0.15, 0.15, 0.17, 1.0)
TIP_RGBA = (0.95, 0.95, 0.95, 1.0)
AXIS = (0, 0, -1)
PALM_POS, PALM_QUAT = (0.0, 0.0, 0.3), (0.0, 1.0, 0.0, 0.0)  # palm faces up
# MuJoCo Playground's sim-to-real LEAP model (leap_rh_mjx.xml): collision geoms 0.2, fingertip pads 0.7 (MuJoCo
# takes the larger of two geoms' friction, so with the cube's 0.3 the palm and links slide at 0.3, pads grip at 0.7)
LINK_FRICTION = (0.2, 0.005, 0.0001)
TIP_FRICTION = (0.7, 0.05, 0.0002)
# reflected rotor inertia of a 288:1 geared Dynamixel, joint damping, and the gearbox's friction loss (N m): the
# armature and friction loss of MuJoCo Playground's sim-to-real LEAP model (leap_rh_mjx.xml)
ARMATURE, DAMPING, FRICTIONLOSS = 0.00149, 0.01, 0.02

Q_BASE = (0.500003, 0.5, 0.5, -0.499997)
Q_PX = (0.500003, -0.5, -0.499997, 0.5)
Q_MD = (0.500003, 0.5, -0.5, 0.499997)
# Inertials: (mass, com, principal diag, principal frame quat).
BS = (0.044, (-0.022516, 0.033882, 0.016359), (1.74972e-05, 1.61504e-05, 7.21342e-06), (0.388092, 0.677951, -0.247713, 0.573067))
PX = (0.032, (0.0075, -0.0002, -0.011), (4.8853e-06, 4.3733e-06, 3.0933e-06), (0, 0.707107, 0, 0.707107))
MD = (0.037, (0.0054215, -0.029148, 0.015), (8.28004e-06, 8.1598e-06, 5.39516e-06), (0.687228, 0.687228, 0.166487, 0.166487))
DS = (0.016, (-0.0008794, -0.027019, 0.014594), (3.71863e-06, 3.02396e-06, 1.6518e-06), (0.702905, 0.710643, -0.0212937, -0.0214203))
TH_BS = (0.003, (0, 0, -0.0070806), (6.1932e-07, 5.351e-07, 2.1516e-07), (0.707107, 0.707107, 0, 0))
TH_PX = (0.038, (-0.0020593, 0.015912, -0.013733), (9.87104e-06, 9.32653e-06, 4.36203e-06), (0.698518, 0.697382, -0.104933, 0.121324))
TH_DS = (0.049, (0.00096191, -0.024203, -0.014419), (2.08591e-05, 2.0402e-05, 4.71335e-06), (0.35287, 0.311272, -0.632839, 0.614904))
PALM = (0.237, (-0.049542, -0.042914, -0.010227), (0.000407345, 0.000304759, 0.000180736), (0.565586, 0.427629, -0.574956, 0.408254))
FINGERS = {"if": (-0.007, 0.023, -0.0187), "mf": (-0.0071, -0.0224, -0.0187), "rf": (-0.00709, -0.0678, -0.0187)}


def _link(parent, name, pos, quat, inertial):
    mass, com, diag, iquat = inertial
    return p.link(parent, name, pos, mass, com, p.principal_to_full(diag, iquat), quat=quat)


def build(robot: RobotSpec) -> mujoco.MjSpec:
    s = p.new_model(robot.name)
    joints = p.joint_map(robot)

    def hinge(body, name):
        p.hinge(body, joints[name], AXIS, DAMPING, ARMATURE, FRICTIONLOSS)

    palm = _link(s.worldbody, robot.base_body, PALM_POS, PALM_QUAT, PALM)
    p.geom(palm, "box", (0.05, 0.055, 0.014), PALM_RGBA, pos=(-0.048, -0.034, -0.012), friction=LINK_FRICTION)
    p.geom(palm, "box", (0.022, 0.027, 0.012), PALM_RGBA, pos=(-0.078, -0.045, -0.012), friction=LINK_FRICTION)

    for f, pos in FINGERS.items():
        bs = _link(palm, f"{f}_bs", pos, Q_BASE, BS)
        hinge(bs, f"{f}_mcp")
        p.geom(bs, "box", (0.014, 0.02, 0.01), LINK_RGBA, pos=(-0.027, 0.042, 0.015), friction=LINK_FRICTION)
        p.geom(bs, "box", (0.01, 0.003, 0.017), LINK_RGBA, pos=(0, 0.018, 0.0147), friction=LINK_FRICTION)
        px = _link(bs, f"{f}_px", (-0.0122, 0.0381, 0.0145), Q_PX, PX)
        hinge(px, f"{f}_rot")
        p.geom(px, "box", (0.017, 0.013, 0.011), LINK_RGBA, pos=(0.0075, -0.0002, -0.011), friction=LINK_FRICTION)
        md = _link(px, f"{f}_md", (0.015, 0.0143, -0.013), Q_MD, MD)
        hinge(md, f"{f}_pip")
        p.geom(md, "box", (0.012, 0.02, 0.013), LINK_RGBA, pos=(0.004, -0.026, 0.015), friction=LINK_FRICTION)
        ds = _link(md, f"{f}_ds", (0, -0.0361, 0.0002), None, DS)
        hinge(ds, f"{f}_dip")
        p.geom(ds, "box", (0.01, 0.012, 0.013), LINK_RGBA, pos=(0, -0.014, 0.0145), friction=LINK_FRICTION)
        p.geom(ds, "capsule", (0.011,), TIP_RGBA, fromto=(0, -0.026, 0.0145, 0, -0.04, 0.0145), friction=TIP_FRICTION,
               name=f"{f}_pad")
        ds.add_site(name=f"{f}_tip", pos=[0, -0.05, 0.0145], size=[0.011, 0, 0])

    mp = _link(palm, "th_mp", (-0.0693, -0.0012, -0.0216), (0.707109, 0, 0.707105, 0), PX)
    hinge(mp, "th_cmc")
    p.geom(mp, "box", (0.017, 0.013, 0.011), LINK_RGBA, pos=(-0.0075, -0.0002, -0.011), friction=LINK_FRICTION)
    tb = _link(mp, "th_bs", (0, 0.0143, -0.013), Q_MD, TH_BS)
    hinge(tb, "th_axl")
    p.geom(tb, "box", (0.009, 0.0165, 0.002), LINK_RGBA, pos=(0, 0, -0.0015), friction=LINK_FRICTION)
    tp = _link(tb, "th_px", (0, 0.0145, -0.017), (0.707109, -0.707105, 0, 0), TH_PX)
    hinge(tp, "th_mcp")
    p.geom(tp, "box", (0.01, 0.02, 0.012), LINK_RGBA, pos=(0, 0.0105, -0.014), friction=LINK_FRICTION)
    td = _link(tp, "th_ds", (0, 0.0466, 0.0002), (0, 0, 0, 1), TH_DS)
    hinge(td, "th_ipl")
    p.geom(td, "box", (0.01, 0.018, 0.012), LINK_RGBA, pos=(0, -0.0085, -0.015), friction=LINK_FRICTION)
    p.geom(td, "capsule", (0.011,), TIP_RGBA, fromto=(0, -0.03, -0.015, 0, -0.045, -0.015), friction=TIP_FRICTION,
           name="th_pad")
    td.add_site(name="th_tip", pos=[0, -0.056, -0.015], size=[0.011, 0, 0])

    # Where the scene places a manipulated object: just above the middle of the palm.
    s.worldbody.add_site(name="object_start", pos=[-0.04, 0.03, 0.39])
    return s
