"""Scenarios beyond one call after another: throughput at the best batch (offline) and latency under
open-loop load with a dynamic batcher (server), after MLPerf LoadGen's scenarios (docs/scenarios.md)."""
