"""Simulated devices that speak real robots' wire protocols: a MuJoCo robot behind the wire."""
