"""Runs over time: an index of many runs, change points per cell and metric, and the gate.

`index` reads what each run already stores; `analyze` cuts the index into series and runs the
detector in `detect` on each; the trends page is bench/report/trends.py and the command is
bench/commands/history.py. docs/history.md says how the series are grouped and how far the
detector can be trusted.
"""
