"""The suite's scenario settings, checked at plan time (light: no torch).

    scenarios: [single-stream, offline, server]     # single-stream alone is the default
    offline: {batch_sizes: [1, 2, 4, 8, 16]}
    server: {p99_bound_ms: 100, max_batch: 8, max_wait_ms: 5, queries: 500}

single-stream is MLPerf's SingleStream (one query after another: every cell's timing); offline is
Offline (throughput at the best batch); server is Server (Poisson arrivals, a p99 bound).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCENARIOS = ("single-stream", "offline", "server")


class OfflineSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16], min_length=1)

    @field_validator("batch_sizes")
    @classmethod
    def _positive(cls, v):
        if any(b < 1 for b in v) or len(set(v)) != len(v):
            raise ValueError("offline batch sizes are distinct positive integers")
        return sorted(v)


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    p99_bound_ms: float = Field(default=100.0, gt=0)
    max_batch: int = Field(default=8, ge=1, le=1024)
    max_wait_ms: float = Field(default=5.0, ge=0)
    queries: int = Field(default=500, ge=20, le=1_000_000)  # per rate tried; 459 support a p99 (loadgen.min_queries)
    max_seconds_per_rate: float = Field(default=30.0, gt=0)
    start_rate: float | None = None  # queries/s to try first; None: half the closed-loop rate
    rel_tol: float = Field(default=0.1, gt=0, lt=1)  # the search stops when its bracket is this tight
    max_steps: int = Field(default=10, ge=2, le=40)
    # Decoders: request shapes and the two bounds a good request meets.
    prompt_lens: tuple[int, int] = (16, 64)
    new_tokens: tuple[int, int] = (8, 32)
    ttft_bound_ms: float = Field(default=500.0, gt=0)
    tpot_bound_ms: float = Field(default=100.0, gt=0)

    @field_validator("start_rate")
    @classmethod
    def _rate(cls, v):
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise ValueError(f"server.start_rate is a rate in queries per second above 0, not {v}")
        return v

    @model_validator(mode="after")
    def _bound_above_wait(self):
        if self.max_wait_ms >= self.p99_bound_ms:
            raise ValueError(f"server.max_wait_ms ({self.max_wait_ms:g}) must be below server.p99_bound_ms "
                             f"({self.p99_bound_ms:g}): a query may wait that long before it is even served")
        for name in ("prompt_lens", "new_tokens"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ValueError(f"server.{name} is [lo, hi] with 1 <= lo <= hi")
        if self.new_tokens[0] < 2:
            raise ValueError("server.new_tokens starts at 2 at least: the prefill makes the first token")
        return self


Scenario = Literal["single-stream", "offline", "server"]
