"""Names the simulator, the tasks and the bringups share (core layer): scene kinds and the arena's layout.

The simulator builds them (hrobot.sim.scene); a bringup names them, and the launcher checks
a bringup against them without importing the simulator.
"""

SCENES = ("flat", "rough", "arena", "hand_object")
ARENA_OBSTACLES = 6  # box obstacles (mocap bodies) an arena scene holds
ARENA_HALF_SIZE = 4.0  # m: the arena's walls stand at +-this
OBSTACLE_SIZES = ((0.25, 0.25, 0.4), (0.4, 0.2, 0.4), (0.2, 0.5, 0.4))  # box half sizes (m), obstacle i: i % 3
