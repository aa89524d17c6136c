"""Dynamixel Protocol 2.0 robots: the LEAP hand (`leap.py`) and the servo's definitions (`xc330.py`)."""
