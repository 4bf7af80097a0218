"""Coverage-guided fuzzing of the reader and the decision engine with atheris.

Each input is read as a block of research-file lines and decided in full. The
target fails when anything raises, when rows read differ from rows decided, passed
through and set aside, or when an output line does not split into its columns.

    .venv/bin/python tests/fuzz/fuzz_reader.py -runs=100000 CORPUS_FOLDER
"""

import datetime
import sys

import atheris

with atheris.instrument_imports():
    from engine import layout
    from engine.batch import Settings, evaluate
    from engine.county_rules import DEFAULT_RULES
    from engine.reader import ReadStats, iter_rows, split_lines

SETTINGS = Settings(datetime.date(2020, 1, 1), DEFAULT_RULES, {}, None, True)
OUTPUT_FIELDS = layout.FIELD_COUNT + 18


def test_one_input(data: bytes) -> None:
    stats = ReadStats()
    rejected = []
    batch = evaluate(iter_rows(split_lines(data), 0, stats, rejected, True), SETTINGS)
    accounted = sum(batch.decided_by_shard.values()) + sum(batch.passed_by_shard.values())
    if stats.rows != accounted + len(rejected):
        raise AssertionError(f"{stats.rows} rows read, {accounted + len(rejected)} accounted")
    for _, line in batch.all_lines:
        if len(layout.split_fields(line)) != OUTPUT_FIELDS:
            raise AssertionError("an All_Results line does not split into its columns")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
