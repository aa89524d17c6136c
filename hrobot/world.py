"""Names the simulator, the tasks and the bringups share (core layer): scene kinds and the arena's capacity.

The simulator builds them (hrobot.sim.scene); a bringup names them, and the launcher checks
a bringup against them without importing the simulator.
"""

SCENES = ("flat", "rough", "arena", "hand_object")
ARENA_OBSTACLES = 6  # box obstacles (mocap bodies) an arena scene holds
