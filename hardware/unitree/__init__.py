"""Unitree low level over DDS (CycloneDDS 0.10.2, what the robots run): messages, CRC, the Go2 / G1 driver."""
