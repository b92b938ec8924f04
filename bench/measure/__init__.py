"""Measurement: timing, statistics, memory, FLOP counting, fidelity and environment capture."""
