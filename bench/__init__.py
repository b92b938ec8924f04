"""Hardware-aware benchmarking of transformer inference optimizations."""

__version__ = "0.1.0"
