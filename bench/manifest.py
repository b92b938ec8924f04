"""The run manifest, typed: what a run planned, where it ran, and how far it got.

`results/<run-id>/manifest.json` is written by `bench run` (at the start, after the peak
measurement, at the end), by an interrupted runner and by `bench import`, and read by every
command that takes a run directory. Its fields are declared here once; the store validates the
manifest on every write and every read, so a hand-edited or damaged manifest is refused with the
field that is wrong instead of failing later, deep inside a report.

Readers keep using the manifest as a plain dict (`RunStore.manifest()` returns the validated
dump), which is what older runs and the JSON file are. Keys this schema does not know are kept,
so a manifest written by a newer version still reads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Json = Any


class Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")
    run_id: str | None = None  # readers fall back to the directory name
    suite_name: str = ""
    suite_path: str | None = None
    suite_text: str | None = None
    cells: list[dict[str, Json]] = Field(default_factory=list)  # bench.suite.Cell.to_json, as planned
    excluded: list[str] = Field(default_factory=list)
    environment: dict[str, Json] | None = None  # bench.measure.env.capture() at the start
    environment_after: dict[str, Json] | None = None
    started_at: str | None = None
    finished_at: str | None = None
    status: Literal["running", "complete", "interrupted"] | None = None
    executor: str | None = None
    machine_peaks: dict[str, Json] | None = None  # the CPU's (or the only device's) measured ceilings
    machine_peaks_by_device: dict[str, dict[str, Json]] | None = None
    peaks_s: float | None = None
    wall_s: float | None = None  # of the last part, when the run was resumed
    resumed_at: list[str] = Field(default_factory=list)
    interrupted_at: str | None = None
    imports: list[dict[str, Json]] = Field(default_factory=list)  # edge device runs merged in (bench import)
    # Models the suite brought (bench.zoo.user): where each one's weights came from, with a sha256.
    models: dict[str, dict[str, Json]] = Field(default_factory=dict)
    accuracy_tolerance: float | None = None
    # bench.remeasure.run_summary: cells measured again, still contended or noisy, and whether the
    # machine ever became quiet for them.
    contention: dict[str, Json] | None = None  # the suite's: how far below fp32 a cell may fall in the headline


def validate(manifest: dict) -> dict:
    """The manifest as it is stored: validated, unset defaults left out (as the file had them)."""
    return Manifest.model_validate(manifest).model_dump(exclude_unset=True)
