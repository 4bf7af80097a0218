"""The small sorted run that the fault and compressed-input tests compare against."""

from __future__ import annotations

import datetime

from cluster.settings import RunConfig

COMPUTE_AT = datetime.date(2020, 1, 1)
#: Small shards, so an 8,000-row file is cut into about 40 of them.
SHARD_SIZE = 48 * 1024
COUNTIES = ["ALPINE", "FRESNO", "SAN JOAQUIN", "YOLO"]
ROWS = 8_000


def job(inputs, out, scheduler, **options) -> RunConfig:
    """Return the run configuration of these tests for `inputs` on `scheduler`."""
    return RunConfig(inputs=[str(p) for p in inputs], out=str(out), compute_at=COMPUTE_AT,
                     scheduler=scheduler, shard_size=SHARD_SIZE, progress=False, **options)
