"""The main job with rule policies: a statewide run under the statute, the decisions
dataset and its trails, `clearance explain` and `clearance policy check`."""

from __future__ import annotations

import datetime
import io
import random
import shutil
from pathlib import Path

import fastparquet
import pytest

from cluster.cli import EXIT_OK, EXIT_USAGE, main
from cluster.merge import RunOutcome
from cluster.report import print_report
from cluster.run import run_job
from cluster.settings import ConfigError, RunConfig
from engine.decide import decode_trail
from engine.explain import HistoryRecord, decode_history, describe_history
from engine.generate import write_research_file
from engine.history import TRIM, Person
from engine.reader import ReadStats, iter_rows, split_lines
from engine.rules import DETERMINATIONS
from tests.conftest import SAMPLE_POLICY, read_json

ROOT = Path(__file__).resolve().parents[1]
STATUTE = ROOT / "policies/ca/statute.toml"
LOS_ANGELES = ROOT / "policies/ca/los-angeles-2019.toml"
COMPUTE_AT = datetime.date(2024, 7, 1)
COUNTIES = ["ALPINE", "FRESNO", "LOS ANGELES", "SAN JOAQUIN", "YOLO"]


def run(inputs, out, scheduler, **options):
    config = RunConfig(inputs=[str(p) for p in inputs], out=str(out), compute_at=COMPUTE_AT,
                       scheduler=scheduler, progress=False, **options)
    return run_job(config)


def read_decisions(out: Path):
    return fastparquet.ParquetFile(str(out / "decisions")).to_pandas()


def prop64_convictions(path: Path) -> set[tuple[str, str]]:
    """Return (SUBJECT_ID, CNT_ORDER) of every Prop 64 conviction in a research file."""
    persons: dict[bytes, Person] = {}
    rows = iter_rows(split_lines(path.read_bytes()), 0, ReadStats(), [], True)
    for index, (_, _, cells) in enumerate(rows):
        subject = cells[2].strip(TRIM)
        person = persons.setdefault(subject, Person(subject, index, cells))
        person.add_row(index, cells)
    return {(p.subject.decode(), c.cnt_order.decode())
            for p in persons.values() for c in p.convictions if c.prop64 is not None}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("statute") / "statewide.csv"
    write_research_file(str(path), rows=20000, counties=COUNTIES, seed=11)
    return path


@pytest.fixture(scope="module")
def statute_run(generated, scheduler_address, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("statute-run") / "out"
    run([generated], out, scheduler_address, policy=str(STATUTE), shard_size=256 * 1024)
    return out


def test_statute_run_decides_every_prop64_conviction(generated, statute_run):
    decisions = read_decisions(statute_run)
    prop64 = decisions[decisions["section"] != ""]
    decided = set(zip(prop64["subject"], prop64["cnt_order"]))

    assert decided == prop64_convictions(generated)
    assert len(prop64) == len(decided)
    assert (prop64["determination"] != "").all()
    assert set(decisions["determination"]) <= set(DETERMINATIONS)
    assert (decisions["citation"] != "").all()
    assert (decisions["policy_name"] == "California HS 11361.8, the statute alone").all()


def test_statute_run_summary_counts_each_determination(statute_run):
    decisions = read_decisions(statute_run)
    summary = read_json(statute_run / "summary.json")
    statewide = summary["statewide"]
    counts = statewide["convictionCountByDetermination"]

    assert set(counts) == set(DETERMINATIONS) | {"No determination"}
    assert counts["No determination"] == 0
    for determination in DETERMINATIONS:
        assert counts[determination] == int((decisions["determination"] == determination).sum()), determination
    assert sum(counts.values()) == len(decisions)
    assert statewide["possiblePleaBargainConvictionCount"] == int((decisions["section"] == "").sum())
    assert counts["Maybe Eligible - Flag for Review"] > 0
    assert counts["Not eligible"] > 0

    for county, entry in summary["counties"].items():
        county_counts = entry["convictionCountByDetermination"]
        in_county = decisions[decisions["county_name"] == county]
        assert sum(county_counts.values()) == len(in_county), county
        folder_summary = read_json(statute_run / entry["folder"] / "summary.json")
        assert folder_summary["convictionCountByDetermination"] == county_counts, county


def test_statute_run_summary_by_section(statute_run):
    decisions = read_decisions(statute_run)
    entry = read_json(statute_run / "summary.json")["counties"]["FRESNO"]
    fresno = decisions[decisions["county_name"] == "FRESNO"]

    dismissed = fresno[fresno["rule_name"] == "possession dismissed"]
    reduced = fresno[fresno["rule_name"] == "felony reduced"]
    assert entry["convictionDismissalCountByCodeSection"] == {"11357": len(dismissed)}
    assert sum(entry["convictionReductionCountByCodeSection"].values()) == len(reduced)
    assert list(entry["convictionReductionCountByCodeSection"]) == ["11358", "11359", "11360"]
    assert entry["convictionDismissalCountByAdditionalRelief"] == {}


def test_statute_run_trails_end_at_deciding_rule(statute_run):
    decisions = read_decisions(statute_run)
    for _, row in decisions.head(200).iterrows():
        trail = decode_trail(row["trail"])
        assert trail[-1].outcome == "decided"
        assert trail[-1].rule == row["check"]
        assert trail[-1].name == row["rule_name"]
        assert [step.rule for step in trail] == list(range(1, row["check"] + 1))
        history = decode_history(row["history"])
        assert row["cnt_order"] in [c.cnt_order for c in history.convictions]


def test_bundle_columns_unchanged_under_statute(statute_run):
    header = (statute_run / "fresno/Prop64_Results.csv").read_bytes().split(b"\n", 1)[0]
    assert header.endswith(b",Deceased,Eligibility Determination,Eligibility Reason")


def test_statute_same_decisions_when_shuffled(generated, statute_run, scheduler_address, tmp_path):
    header, *rows = generated.read_bytes().splitlines(keepends=True)
    random.Random(5).shuffle(rows)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_bytes(header + b"".join(rows))
    run([shuffled], tmp_path / "out", scheduler_address, policy=str(STATUTE), shard_size=128 * 1024)

    def by_conviction(frame):
        return {(s, c): (d, r) for s, c, d, r in zip(frame["subject"], frame["cnt_order"],
                                                    frame["determination"], frame["reason"])}

    assert by_conviction(read_decisions(tmp_path / "out")) == by_conviction(read_decisions(statute_run))


def test_explain_prints_history_and_trail(statute_run, capsys):
    decisions = read_decisions(statute_run)
    row = decisions[decisions["rule_name"] == "felony reduced"].iloc[0]
    subject = row["subject"]
    count = int((decisions["subject"] == subject).sum())

    code = main(["explain", str(statute_run), "--person", subject])
    output = capsys.readouterr().out

    assert code == EXIT_OK
    assert output.startswith(f"Person {subject}\n")
    assert "  Convictions, every county" in output
    assert output.count("\nConviction CNT_ORDER ") == count
    assert f"Conviction CNT_ORDER {row['cnt_order']}: " in output
    assert 'Rule 1 "judged under the new law" did not apply: it requires that the disposition date ' \
           "is after 2016-11-08, but the disposition date is " in output
    assert f'Rule {row["check"]} "felony reduced" decided: Eligible for Reduction.' in output
    assert "Citation: HS 11361.8(e); HS 11358(c), 11359(b), 11360(a)(2) as amended by Prop 64" in output


def test_explain_names_prop64_arrest_cycles():
    history = HistoryRecord(birth_date=None, deceased=False, registrations=[],
                            prop64_arrest_cycles=["102", "215"], convictions=[])
    lines = describe_history("1", history)
    assert "  Numbers of the cycles whose arrest charged a Prop 64 section: 102, 215" in lines


def test_explain_unknown_person(statute_run, capsys):
    code = main(["explain", str(statute_run), "--person", "00000000"])
    assert code == 1
    assert "no decision for person 00000000" in capsys.readouterr().err


def test_explain_folder_without_run(tmp_path, capsys):
    code = main(["explain", str(tmp_path), "--person", "1"])
    assert code == EXIT_USAGE
    assert "has no decisions/ folder" in capsys.readouterr().err


def test_county_form_run_keeps_trails(samples, scheduler_address, tmp_path):
    run([samples / "no_headers.csv"], tmp_path / "out", scheduler_address, policy=str(SAMPLE_POLICY),
        counties=["SAN JOAQUIN"])
    decisions = read_decisions(tmp_path / "out")
    manifest = read_json(tmp_path / "out/manifest.json")

    assert (decisions["policy_name"] == "county policy eligibility_options.json").all()
    assert set(decisions["rule_name"]) <= {"not a felony", "dismiss by section", "under 21 at conviction",
                                           "age threshold", "years since conviction",
                                           "only Prop 64 convictions", "deceased", "reduce by section"}
    for _, row in decisions.iterrows():
        assert decode_trail(row["trail"])[-1].rule == row["check"]
    recorded = manifest["policies"]["SAN JOAQUIN"]
    assert recorded["policy"]["baselineEligibility"] == {"dismiss": ["11357", "11358"],
                                                        "reduce": ["11359", "11360"]}
    assert recorded["name"] == "county policy eligibility_options.json"


def test_policy_dir_mixes_json_and_toml(generated, scheduler_address, tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    shutil.copy(LOS_ANGELES, folder / "los-angeles.toml")
    (folder / "fresno.json").write_text('{"baselineEligibility": {"dismiss": ["11357", "11358"]}}')
    shutil.copy(STATUTE, folder / "default.toml")
    run([generated], tmp_path / "out", scheduler_address, policy_dir=str(folder))
    decisions = read_decisions(tmp_path / "out")
    manifest = read_json(tmp_path / "out/manifest.json")

    names = dict(zip(decisions["county_name"], decisions["policy_name"]))
    assert names["LOS ANGELES"] == "Los Angeles County, 2019 form"
    assert names["FRESNO"] == "county policy fresno.json"
    assert names["YOLO"] == "California HS 11361.8, the statute alone"
    fresno = decisions[decisions["county_name"] == "FRESNO"]
    assert set(fresno["determination"]) <= {"Eligible for Dismissal", ""}
    assert manifest["policies"]["LOS ANGELES"]["source"] == str(folder / "los-angeles.toml")
    assert manifest["policies"]["YOLO"]["source"] == str(folder / "default.toml")
    los_angeles = decisions[decisions["county_name"] == "LOS ANGELES"]
    assert (los_angeles["section"] != "").all()


def test_policy_dir_rejects_two_files_for_county(tmp_path):
    folder = tmp_path / "policies"
    folder.mkdir()
    shutil.copy(STATUTE, folder / "fresno.toml")
    (folder / "fresno.json").write_text("{}")
    data = tmp_path / "input.csv"
    data.write_bytes(b"")
    config = RunConfig(inputs=[str(data)], out=str(tmp_path / "out"), policy_dir=str(folder))
    with pytest.raises(ConfigError, match="are for the same county"):
        run_job(config)


def test_policy_dir_without_policies_rejected(tmp_path):
    folder = tmp_path / "policies"
    (folder / "ca").mkdir(parents=True)
    shutil.copy(STATUTE, folder / "ca" / "default.toml")
    (folder / "notes.txt").write_text("the policies are in ca/")
    data = tmp_path / "input.csv"
    data.write_bytes(b"")
    config = RunConfig(inputs=[str(data)], out=str(tmp_path / "out"), policy_dir=str(folder))
    with pytest.raises(ConfigError) as raised:
        run_job(config)
    assert str(raised.value) == (f"policy folder {folder} contains no .json or .toml policy files; "
                                 "give the folder that contains them, or drop --policy-dir for the "
                                 "built-in default")
    assert not (tmp_path / "out").exists()


def test_policy_check_prints_rules(capsys):
    code = main(["policy", "check", str(STATUTE)])
    output = capsys.readouterr().out

    assert code == EXIT_OK
    assert output.startswith("Policy: California HS 11361.8, the statute alone\n")
    assert "  1. judged under the new law\n" in output
    assert "       when the disposition date is after 2016-11-08\n" in output
    assert "       -> Not eligible\n" in output
    assert " 14. anything left\n       always\n       -> Hand Review\n" in output
    assert output.rstrip().endswith(f"{STATUTE}: valid, 14 rules")


def test_policy_check_county_form(tmp_path, capsys):
    path = tmp_path / "county.json"
    path.write_text('{"baselineEligibility": {"dismiss": ["11357", "11358"]}, '
                    '"additionalRelief": {"subjectAgeThreshold": 57}}')
    code = main(["policy", "check", str(path)])
    output = capsys.readouterr().out

    assert code == EXIT_OK
    assert "  6. years crime free  (turned off)\n       never applies\n" in output
    assert "  4. age threshold\n       when the person is 57 or older on compute-at\n" in output
    assert "       when the section is one of 11357, 11358\n" in output
    assert output.rstrip().endswith(f"{path}: valid, 9 rules")


def test_policy_check_invalid_names_file_and_field(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(STATUTE.read_text().replace('count = 2 }', 'count = 0 }', 1))
    code = main(["policy", "check", str(path)])
    error = capsys.readouterr().err

    assert code == EXIT_USAGE
    assert f"policy {path} is invalid" in error
    assert "`count` must be 1-100, got 0 - at `$.rules[6].when[2]`" in error


def test_policy_check_unknown_suffix(tmp_path, capsys):
    path = tmp_path / "policy.yaml"
    path.write_text("name: x")
    assert main(["policy", "check", str(path)]) == EXIT_USAGE
    assert "neither .json (the county form) nor .toml" in capsys.readouterr().err


def test_run_rejects_invalid_toml_before_work(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('name = "x"\n[[rules]]\nname = "a"\ndetermination = "Dismissed"\n')
    data = tmp_path / "input.csv"
    data.write_bytes(b"")
    code = main(["run", str(data), "--out", str(tmp_path / "out"), "--policy", str(path)])

    assert code == EXIT_USAGE
    assert "at `$.rules[0].determination`" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_report_names_other_determinations(tmp_path):
    outcome = RunOutcome(tmp_path, "run")
    outcome.statewide.by_determination = {"Eligible for Dismissal": 4, "Hand Review": 2, "Not eligible": 1}
    outcome.statewide.dismissed, outcome.statewide.no_relief = 4, 3
    stream = io.StringIO()
    print_report(outcome, stream)

    assert "no relief by determination: Not eligible 1, Hand Review 2\n" in stream.getvalue()


def test_report_silent_for_county_form(tmp_path):
    outcome = RunOutcome(tmp_path, "run")
    outcome.statewide.by_determination = {"Eligible for Dismissal": 4, "": 2}
    stream = io.StringIO()
    print_report(outcome, stream)

    assert "no relief by determination" not in stream.getvalue()
