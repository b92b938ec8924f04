"""Measured task accuracy: evaluation data (`data`), the statistics of a metric and of its change
against the fp32 model (`stats`), and a cell's evaluation phase (`run`).

`data` and `stats` import no torch, so a suite's `evaluation:` block is checked at plan time and
the statistics are tested without a model.
"""
