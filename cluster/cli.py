"""The `clearance` command line."""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
from pathlib import Path

from cluster.interrupt import Interrupted, signals_interrupt
from cluster.plan import DEFAULT_SHARD_SIZE, parse_size

logger = logging.getLogger("clearance")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ROWS_SET_ASIDE = 3
EXIT_INTERRUPTED = 130


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}; expected YYYY-MM-DD") from None


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


#: Below this a worker process cannot even hold its imports.
MIN_MEMORY_LIMIT = 128 * 1024 * 1024


def _memory(text: str) -> int:
    try:
        value = parse_size(text)
    except ValueError:
        value = 0
    if value < MIN_MEMORY_LIMIT:
        raise argparse.ArgumentTypeError(f"invalid memory limit {text!r}; expected a size of "
                                         "128MiB or more, e.g. 1GB")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}; expected a whole number of 1 or more")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}; expected a number from 0 to 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clearance",
        description="Decide Prop 64 record relief for every conviction in California DOJ research files.")
    parser.add_argument("--debug", action="store_true",
                        help="log debug detail and show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="decide every Prop 64 conviction of the input files")
    run.add_argument("inputs", nargs="*", metavar="INPUT",
                     help="research files, plain or compressed (.gz, .bz2, .xz), with or without "
                          "a header line")
    run.add_argument("--out", metavar="DIR", help="output folder (new or empty)")
    run.add_argument("--resume", metavar="DIR",
                     help="finish the unfinished run in DIR with its own inputs and settings, "
                          "deciding only the shards whose results are missing")
    run.add_argument("--county", action="append", dest="counties", metavar="NAME",
                     help="county to decide, as in the input (SAN JOAQUIN) or as a folder "
                          "name (san-joaquin); repeat for several; default every county")
    run.add_argument("--policy", metavar="FILE",
                     help="one policy for all counties: a JSON county policy or a TOML rule "
                          "policy such as policies/ca/statute.toml")
    run.add_argument("--policy-dir", metavar="DIR",
                     help="per-county policies named <county-folder>.json or .toml, with "
                          "default.json or default.toml for the other counties")
    run.add_argument("--compute-at", type=_date, metavar="YYYY-MM-DD",
                     help="the day eligibility is judged (default today)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="join a running Dask scheduler (tcp://host:8786); default a "
                          "LocalCluster on this machine")
    run.add_argument("--workers", type=_positive, metavar="N",
                     help="worker processes of the LocalCluster (default one per core)")
    run.add_argument("--memory-limit", type=_memory, metavar="SIZE",
                     help="memory per LocalCluster worker, e.g. 1GB; a worker past 95%% of it "
                          "is restarted (default the machine's memory shared among the workers)")
    run.add_argument("--shard-size", type=_size, metavar="SIZE",
                     help="bytes of input per task, e.g. 64MB (default 64MiB); compressed "
                          "files are unpacked into pieces of this size")
    run.add_argument("--overwrite", action="store_true",
                     help="replace the outputs of an earlier run in --out")
    run.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    run.add_argument("--tls", metavar="DIR",
                     help="run every cluster connection over TLS with the certificates that "
                          "`clearance certs DIR` made")
    run.add_argument("--dashboard-host", default="127.0.0.1", metavar="HOST",
                     help="interface the LocalCluster's dashboards and /metrics listen on "
                          "(default 127.0.0.1; 0.0.0.0 is every interface)")
    run.add_argument("--metrics-port", type=_port, metavar="PORT",
                     help="serve the run's progress figures for Prometheus on this port at "
                          "/metrics while the run lasts (0 picks a free port); default off")
    run.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                     help="address the --metrics-port server binds to (default 127.0.0.1; "
                          "0.0.0.0 lets other machines scrape it)")
    run.add_argument("--documents", action="store_true",
                     help="also write the review workbook, court filing, DOJ update file and "
                          "reports (as `clearance documents` does)")
    _add_document_options(run)

    documents = commands.add_parser(
        "documents", help="write review workbooks, court filings, DOJ update files and reports "
                          "of a finished run")
    documents.add_argument("run_folder", metavar="DIR", help="output folder of a finished run")
    _add_document_options(documents)

    certs = commands.add_parser("certs", help="make a private CA and TLS certificates for "
                                              "scheduler, workers and client")
    certs.add_argument("folder", metavar="DIR", help="folder to write (new, or without certificates)")
    certs.add_argument("--host", action="append", dest="hosts", metavar="NAME",
                       help="host name or IP address the certificates name; repeat for "
                            "several (default localhost and 127.0.0.1)")
    certs.add_argument("--days", type=_positive, default=365, metavar="N",
                       help="days the certificates stay valid (default 365)")

    deidentify = commands.add_parser(
        "deidentify", help="write a research copy of a run's decisions without identities")
    deidentify.add_argument("run_folder", metavar="RUN", help="output folder of a finished run")
    deidentify.add_argument("--out", required=True, metavar="DIR", help="folder to write (new or empty)")
    deidentify.add_argument("--key-file", metavar="FILE",
                            help="file holding the secret key of the person hashes (at least 32 "
                                 "bytes); default the environment variable CLEARANCE_DEIDENTIFY_KEY")

    generate = commands.add_parser("generate", help="write a fabricated research file")
    generate.add_argument("--rows", type=_positive, required=True, metavar="N", help="data rows to write")
    generate.add_argument("--out", required=True, metavar="FILE", help="file to write; .gz compresses")
    generate.add_argument("--counties", nargs="+", metavar="NAME",
                          help="counties to use (default all 58 California counties)")
    generate.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    generate.add_argument("--filler", action="store_true",
                          help="fill unused fields with '  -  ' as the earlier tool's generator did")
    generate.add_argument("--no-header", action="store_true", help="write no header line")

    explain = commands.add_parser(
        "explain", help="print one person's history and how each of their convictions was decided")
    explain.add_argument("out", metavar="DIR", help="the output folder of a run (its --out)")
    explain.add_argument("--person", required=True, metavar="KEY", help="the person's SUBJECT_ID")

    policy = commands.add_parser("policy", help="work with policy files")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_commands.add_parser(
        "check", help="validate a policy file (JSON county form or TOML rules) and print its rules")
    check.add_argument("file", metavar="FILE", help="the policy file")
    return parser


def _add_document_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--per-person", action="store_true",
                        help="write one court filing per person (court-filings/) instead of one "
                             "per county")
    parser.add_argument("--filing-template", metavar="FILE",
                        help="court filing layout (TOML); default the built-in template")


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _quiet_libraries(debug: bool) -> None:
    # distributed sets its own levels when it is imported, so this runs after that.
    if not debug:
        for noisy in ("distributed", "tornado", "asyncio", "fsspec"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    # Every file this process writes is sensitive; the code sets owner-only modes
    # itself, and the umask covers whatever a library creates.
    umask = os.umask(0o077)
    commands = {"run": _run, "generate": _generate, "certs": _certs, "deidentify": _deidentify,
                "documents": _documents, "explain": _explain, "policy": _check_policy}
    try:
        with signals_interrupt():
            return commands[args.command](args)
    except KeyboardInterrupt as stop:
        try:
            _report_interrupt(args, stop)
        except Exception:  # noqa: BLE001 - an interrupted import leaves modules half-loaded
            name = stop.name if isinstance(stop, Interrupted) else "SIGINT"
            print(f"clearance: interrupted by {name}", file=sys.stderr)
        return stop.exit_code if isinstance(stop, Interrupted) else EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the last line of defence prints one clear line
        from cluster.errors import describe_failure
        from cluster.settings import ConfigError
        from documents.filing_template import FilingTemplateError
        from documents.source import RunOutputError
        if args.debug:
            logger.exception("clearance %s failed", args.command)
        if isinstance(error, (FilingTemplateError, RunOutputError)):
            # These name a file and a field of our own outputs, never a row's value.
            print(f"clearance: {error}", file=sys.stderr)
            return EXIT_USAGE
        print(f"clearance: {describe_failure(error, _run_folder(args), args.debug)}", file=sys.stderr)
        return EXIT_USAGE if isinstance(error, ConfigError) else EXIT_FAILED
    finally:
        os.umask(umask)


def _run_folder(args) -> str | None:
    if args.command != "run":
        return None
    return args.resume or args.out


def _report_interrupt(args, stop: KeyboardInterrupt) -> None:
    from cluster.errors import resume_command
    from cluster.lifecycle import finish, finished_here, has_saved_plan, is_finished, is_resumable

    name = stop.name if isinstance(stop, Interrupted) else "SIGINT"
    folder = _run_folder(args)
    if folder and is_resumable(folder):
        print(f"clearance: interrupted by {name}; {folder} is unfinished and contains no results; "
              f"finish it with `{resume_command(folder)}`", file=sys.stderr)
    elif folder and finished_here(folder):
        # The signal came after the manifest was written: while the parts folder was
        # being removed, or while the documents were written.
        finish(Path(folder))
        if args.documents:
            print(f"clearance: interrupted by {name} while the documents were written; the run in "
                  f"{folder} is finished, but its documents may be partial; make them again with "
                  f"`clearance documents {folder}`", file=sys.stderr)
        else:
            print(f"clearance: interrupted by {name} as the run finished; the run in {folder} is "
                  "finished and its outputs are whole", file=sys.stderr)
    elif folder and is_finished(folder):
        print(f"clearance: interrupted by {name} before the run started; {folder} still contains "
              "the earlier run, unchanged", file=sys.stderr)
    elif folder and has_saved_plan(folder):
        print(f"clearance: interrupted by {name} before the inputs were hashed, so the run in "
              f"{folder} cannot be resumed; start it again with --overwrite", file=sys.stderr)
    elif folder and Path(folder).is_dir() and any(Path(folder).iterdir()):
        print(f"clearance: interrupted by {name} before the run was planned; start it again "
              "with --overwrite", file=sys.stderr)
    elif folder and Path(folder).is_dir():
        # Planning was cut short, after --overwrite may have cleared an earlier run.
        print(f"clearance: interrupted by {name} before the run was planned; {folder} is empty; "
              "start it again", file=sys.stderr)
    elif folder:
        print(f"clearance: interrupted by {name} before the run started; start it again",
              file=sys.stderr)
    else:
        print(f"clearance: interrupted by {name}", file=sys.stderr)


#: Options that fix what a run decides; a resume keeps the ones the run started with.
_FIXED_BY_RUN = ("counties", "policy", "policy_dir", "compute_at", "shard_size", "overwrite", "out")


def _run(args) -> int:
    from cluster.report import print_report
    from cluster.run import resume_job, run_job
    from cluster.settings import ConfigError, RunConfig

    _quiet_libraries(args.debug)
    if args.resume:
        fixed_options = [name for name in _FIXED_BY_RUN if getattr(args, name)]
        if args.inputs or fixed_options:
            options = ", ".join(["INPUT"] * bool(args.inputs) +
                                [f"--{name.replace('_', '-')}" for name in fixed_options])
            raise ConfigError(f"--resume continues a run with its own inputs and settings; "
                              f"drop {options}")
    elif not args.inputs or not args.out:
        raise ConfigError("give the input files and --out DIR, or --resume DIR")
    if (args.per_person or args.filing_template) and not args.documents:
        raise ConfigError("--per-person and --filing-template apply to --documents; "
                          "add --documents or drop them")
    if args.documents:
        # A template error is reported before the run rather than after it.
        from documents.filing_template import load_template
        load_template(args.filing_template)
    config = RunConfig(
        inputs=args.inputs, out=args.resume or args.out, counties=args.counties,
        policy=args.policy, policy_dir=args.policy_dir, compute_at=args.compute_at,
        scheduler=args.scheduler, workers=args.workers,
        shard_size=args.shard_size or DEFAULT_SHARD_SIZE, overwrite=args.overwrite,
        progress=not args.no_progress, tls=args.tls, dashboard_host=args.dashboard_host,
        memory_limit=args.memory_limit, debug=args.debug, metrics_port=args.metrics_port,
        metrics_host=args.metrics_host)
    outcome = resume_job(config) if args.resume else run_job(config)
    print_report(outcome, sys.stdout)
    if args.documents:
        _write_documents(outcome.out, args)
    if outcome.rows_set_aside:
        rows = "row" if outcome.rows_set_aside == 1 else "rows"
        print(f"clearance: {outcome.rows_set_aside:,} {rows} set aside; see "
              f"{outcome.out / 'rejected.csv'} for the file, line and reason of each", file=sys.stderr)
        return EXIT_ROWS_SET_ASIDE
    return EXIT_OK


def _generate(args) -> int:
    from cluster.settings import ConfigError
    from engine.generate import write_research_file

    try:
        stats = write_research_file(args.out, rows=args.rows, counties=args.counties, seed=args.seed,
                                    filler=args.filler, header=not args.no_header)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    except OSError as error:
        raise ConfigError(f"cannot write {args.out}: {error.strerror}") from None
    print(f"wrote {stats.rows:,} rows of {stats.subjects:,} subjects ({stats.bytes:,} bytes) to {args.out}")
    return EXIT_OK


def _write_documents(out, args) -> None:
    from documents.build import write_documents

    written = write_documents(out, per_person=args.per_person, filing_template=args.filing_template)
    print(f"wrote {len(written):,} documents into {out}/ (review.xlsx, doj-update.csv, "
          "court filings and report.html in each county folder; report.html at the top)")


def _documents(args) -> int:
    _write_documents(args.run_folder, args)
    return EXIT_OK


def _explain(args) -> int:
    from cluster.review import explain_person

    if not explain_person(args.out, args.person, sys.stdout):
        print(f"clearance: no decision for person {args.person} in {args.out}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _check_policy(args) -> int:
    from cluster.review import check_policy

    check_policy(args.file, sys.stdout)
    return EXIT_OK


def _certs(args) -> int:
    from cluster.tls import DEFAULT_HOSTS, make_certificates

    hosts = args.hosts or list(DEFAULT_HOSTS)
    written = make_certificates(Path(args.folder), hosts, args.days)
    print(f"wrote a private CA and certificates for scheduler, worker and client to {args.folder} "
          f"({len(written)} files, valid {args.days} days, for {', '.join(hosts)}); keep ca-key.pem "
          "with the operator and give each machine only its own role's files and ca.pem")
    return EXIT_OK


def _deidentify(args) -> int:
    from cluster.deidentify import deidentify_run, read_key

    key = read_key(args.key_file)
    written = deidentify_run(Path(args.run_folder), Path(args.out), key)
    print(f"wrote a research copy of {written.rows:,} decisions in {written.counties} counties "
          f"to {args.out}, with person keys replaced by keyed hashes")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
