"""Measurement: timing, statistics, noise, memory, energy, roofline, FLOP counting, fidelity and
environment capture. What each metric means and when not to trust it: docs/metrics.md."""
