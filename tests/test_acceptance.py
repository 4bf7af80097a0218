"""The main job against the sample files and the expected bundles of the earlier tool."""

from __future__ import annotations

import datetime
import os
import stat
from pathlib import Path

import pytest

from cluster.cli import EXIT_ROWS_SET_ASIDE, EXIT_USAGE, main
from cluster.run import run_job
from cluster.settings import ConfigError, RunConfig
from tests.conftest import SAMPLE_POLICY, read_csv_cells, read_json

COMPUTE_AT = datetime.date(2019, 11, 11)
BUNDLE_FILES = ("All_Results.csv", "All_Results_Condensed.csv", "Prop64_Results.csv")

CASES = [
    ("no_headers.csv", "SAN JOAQUIN", "expected/no_headers-san-joaquin-2019-11-11"),
    ("extra_comma.csv", "SAN JOAQUIN", "expected/extra_comma-san-joaquin-2019-11-11"),
    ("more/cadoj_contra_costa.csv", "CONTRA COSTA", "more/expected/cadoj_contra_costa-contra-costa-2019-11-11"),
    ("more/cadoj_los_angeles.csv", "LOS ANGELES", "more/expected/cadoj_los_angeles-los-angeles-2019-11-11"),
    ("more/cadoj_sacramento.csv", "SACRAMENTO", "more/expected/cadoj_sacramento-sacramento-2019-11-11"),
    ("more/cadoj_san_joaquin.csv", "SAN JOAQUIN", "more/expected/cadoj_san_joaquin-san-joaquin-2019-11-11"),
    ("more/sacramento_sample.dat", "SACRAMENTO", "more/expected/sacramento_sample-sacramento-2019-11-11"),
]


def run_county(inputs, county, out, scheduler, **options):
    config = RunConfig(inputs=[str(p) for p in inputs], out=str(out), counties=[county],
                       policy=str(SAMPLE_POLICY), compute_at=COMPUTE_AT, scheduler=scheduler,
                       progress=False, **options)
    return run_job(config)


@pytest.mark.parametrize("name,county,expected", CASES, ids=[c[0] for c in CASES])
def test_bundle_matches_expected(samples, scheduler_address, tmp_path, name, county, expected):
    run_county([samples / name], county, tmp_path / "out", scheduler_address)
    folder = tmp_path / "out" / county.lower().replace(" ", "-")

    for file_name in BUNDLE_FILES:
        got = read_csv_cells(folder / file_name)
        want = read_csv_cells(samples / expected / file_name)
        assert len(got) == len(want), file_name
        for line, (got_row, want_row) in enumerate(zip(got, want), 1):
            assert got_row == want_row, f"{file_name} line {line}"

    summary = read_json(folder / "summary.json")
    for key, value in read_json(samples / expected / "summary.json").items():
        assert summary[key] == value, key


def test_small_shards_give_same_bundle(samples, scheduler_address, tmp_path):
    expected = samples / "expected/extra_comma-san-joaquin-2019-11-11"
    run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", tmp_path / "out", scheduler_address,
               shard_size=1024)
    folder = tmp_path / "out" / "san-joaquin"
    for file_name in BUNDLE_FILES:
        assert read_csv_cells(folder / file_name) == read_csv_cells(expected / file_name), file_name


def test_bad_file_sets_every_row_aside(samples, tmp_path):
    out = tmp_path / "out"
    code = main(["run", str(samples / "bad.csv"), "--out", str(out), "--compute-at", "2019-11-11",
                 "--policy", str(SAMPLE_POLICY), "--workers", "1", "--no-progress"])
    assert code == EXIT_ROWS_SET_ASIDE

    rejected = read_csv_cells(out / "rejected.csv")
    assert rejected[0] == ["file", "line", "reason", "raw_line"]
    assert len(rejected) == 1 + 37
    assert {row[2] for row in rejected[1:]} == {"row has 94 fields; expected 95"}
    assert [int(row[1]) for row in rejected[1:]] == list(range(2, 39))

    account = read_json(out / "manifest.json")["rowAccount"]
    assert account["rowsRead"] == 37
    assert account["rowsSetAside"] == 37
    assert account["rowsDecided"] + account["rowsPassedThrough"] == 0


def test_one_short_row_set_aside(samples, scheduler_address, tmp_path):
    outcome = run_county([samples / "more/sacramento_one_short_row.dat"], "SACRAMENTO",
                         tmp_path / "out", scheduler_address)
    assert outcome.rows_read == 36
    assert outcome.rows_set_aside == 1
    decided = read_csv_cells(tmp_path / "out/sacramento/Prop64_Results.csv")
    assert len(decided) > 1


def test_rejected_line_numbers_across_shards(samples, scheduler_address, tmp_path):
    source = (samples / "no_headers.csv").read_bytes().splitlines(keepends=True)
    broken = source[:20] + [b"only,three,fields\n"] + source[20:]
    path = tmp_path / "input.csv"
    path.write_bytes(b"".join(broken))
    run_county([path], "SAN JOAQUIN", tmp_path / "out", scheduler_address, shard_size=1024)
    rejected = read_csv_cells(tmp_path / "out/rejected.csv")
    assert [row[1] for row in rejected[1:]] == ["21"]
    assert rejected[1][2] == "row has 3 fields; expected 95"


def test_outputs_are_owner_only(samples, scheduler_address, tmp_path):
    out = tmp_path / "out"
    run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", out, scheduler_address)
    for root, folders, files in os.walk(out):
        assert stat.S_IMODE(os.stat(root).st_mode) == 0o700, root
        for name in files:
            path = Path(root) / name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_manifest_lists_every_output(samples, scheduler_address, tmp_path):
    out = tmp_path / "out"
    run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", out, scheduler_address)
    manifest = read_json(out / "manifest.json")
    listed = {entry["path"] for entry in manifest["outputs"]}
    written = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == written
    assert manifest["inputs"][0]["bytes"] == (samples / "extra_comma.csv").stat().st_size
    assert manifest["computeAt"] == "2019-11-11"
    assert manifest["policies"]["SAN JOAQUIN"]["source"] == str(SAMPLE_POLICY)
    assert manifest["resumed"] is False
    started = datetime.datetime.fromisoformat(manifest["started"])
    age = datetime.datetime.now(datetime.timezone.utc) - started
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=10)


def test_every_county_without_county_option(samples, scheduler_address, tmp_path):
    out = tmp_path / "out"
    config = RunConfig(inputs=[str(samples / "no_headers.csv")], out=str(out),
                       policy=str(SAMPLE_POLICY), compute_at=COMPUTE_AT,
                       scheduler=scheduler_address, progress=False)
    run_job(config)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["decisions", "san-joaquin", "yolo"]
    assert not (out / "san-joaquin/All_Results.csv").exists()
    summary = read_json(out / "summary.json")
    assert sorted(summary["counties"]) == ["SAN JOAQUIN", "YOLO"]
    assert summary["counties"]["SAN JOAQUIN"]["subjectsWithSomeReliefCount"] == 9


def test_invalid_policy_rejected_before_work(tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text('{"additionalRelief": {"subjectAgeThreshhold": 50}}')
    data = tmp_path / "input.csv"
    data.write_bytes(b"")
    code = main(["run", str(data), "--out", str(tmp_path / "out"), "--policy", str(policy)])
    assert code == EXIT_USAGE
    assert not (tmp_path / "out").exists()


def test_missing_input_is_usage_error(tmp_path, capsys):
    code = main(["run", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "out")])
    assert code == EXIT_USAGE
    assert "absent.csv" in capsys.readouterr().err


def test_misspelt_county_rejected(samples, tmp_path, capsys):
    code = main(["run", str(samples / "extra_comma.csv"), "--out", str(tmp_path / "out"),
                 "--county", "SAN JOAQUN"])
    assert code == EXIT_USAGE
    assert "did you mean 'SAN JOAQUIN'?" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_compute_at_before_prop64_rejected(samples, tmp_path, capsys):
    code = main(["run", str(samples / "extra_comma.csv"), "--out", str(tmp_path / "out"),
                 "--compute-at", "2016-11-08"])
    assert code == EXIT_USAGE
    assert "before Prop 64 took effect" in capsys.readouterr().err


def test_malformed_scheduler_is_usage_error(samples, tmp_path, capsys):
    code = main(["run", str(samples / "extra_comma.csv"), "--out", str(tmp_path / "out"),
                 "--scheduler", "http://127.0.0.1:1"])
    assert code == EXIT_USAGE
    assert "cannot be reached" in capsys.readouterr().err


def test_incomplete_run_needs_overwrite(samples, scheduler_address, tmp_path):
    out = tmp_path / "out"
    (out / ".parts").mkdir(parents=True)
    (out / "INCOMPLETE").write_text("")
    with pytest.raises(ConfigError, match="unfinished run"):
        run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", out, scheduler_address)
    run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", out, scheduler_address, overwrite=True)
    assert (out / "manifest.json").exists()


def test_relative_input_path_made_absolute(samples, scheduler_address, tmp_path, monkeypatch):
    (tmp_path / "input.csv").write_bytes((samples / "extra_comma.csv").read_bytes())
    monkeypatch.chdir(tmp_path)
    outcome = run_county(["input.csv"], "SAN JOAQUIN", "out", scheduler_address)
    assert outcome.accounts[0].path == str(tmp_path / "input.csv")
    assert outcome.accounts[0].sha256 != ""


def test_generate_unknown_county_is_usage_error(tmp_path, capsys):
    code = main(["generate", "--rows", "10", "--out", str(tmp_path / "x.csv"), "--counties", "ATLANTIS"])
    assert code == EXIT_USAGE
    assert "58 California counties" in capsys.readouterr().err


def test_per_person_needs_documents(samples, tmp_path):
    code = main(["run", str(samples / "extra_comma.csv"), "--out", str(tmp_path / "out"), "--per-person"])
    assert code == EXIT_USAGE


def test_overwrite_keeps_foreign_folder(samples, scheduler_address, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": "web app"}')
    (folder / "keep.py").write_text("print(1)\n")
    with pytest.raises(ConfigError, match="contains no earlier run"):
        run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", folder, scheduler_address,
                   overwrite=True)
    assert (folder / "keep.py").read_text() == "print(1)\n"


def test_input_inside_output_rejected(samples, scheduler_address, tmp_path):
    out = tmp_path / "out"
    run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", out, scheduler_address)
    inside = out / "input.csv"
    inside.write_bytes((samples / "extra_comma.csv").read_bytes())
    with pytest.raises(ConfigError, match="inside the output folder"):
        run_county([inside], "SAN JOAQUIN", out, scheduler_address, overwrite=True)
    assert inside.exists()


@pytest.mark.parametrize("linked", ["output", "input"])
def test_symlinked_input_inside_output_rejected(samples, scheduler_address, tmp_path, linked):
    out = tmp_path / "out"
    run_county([samples / "extra_comma.csv"], "SAN JOAQUIN", out, scheduler_address)
    inside = out / "input.csv"
    inside.write_bytes((samples / "extra_comma.csv").read_bytes())
    link = tmp_path / "link"
    link.symlink_to(out)
    given_input, given_out = (inside, link) if linked == "output" else (link / "input.csv", out)
    with pytest.raises(ConfigError, match="inside the output folder"):
        run_county([given_input], "SAN JOAQUIN", given_out, scheduler_address, overwrite=True)
    assert inside.read_bytes() == (samples / "extra_comma.csv").read_bytes()
    assert (out / "manifest.json").exists()


def test_misnamed_gzip_input_rejected(samples, tmp_path, capsys):
    fake = tmp_path / "plain.csv.gz"
    fake.write_bytes((samples / "extra_comma.csv").read_bytes())
    code = main(["run", str(fake), "--out", str(tmp_path / "out")])
    assert code == EXIT_USAGE
    assert "is not gzip data" in capsys.readouterr().err
