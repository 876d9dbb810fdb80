"""Run the Support load test headless and summarise it.

    python -m loadtests.run --users 8 --spawn-rate 8 --run-time 30s \
        --host localhost:50051 --out var/loadtest [--scenario mix]

Runs locust as a subprocess (it must not share a process with an already-loaded grpc), writes
locust's CSV (``<out>/locust_stats.csv`` ...) and HTML (``<out>/report.html``) reports, prints
p50/p95/p99 and throughput, and exits non-zero when any request failed (unexpected status code
or broken safety contract) or locust itself failed: the CI smoke relies on that.

Stdlib only, so ``tools.benchmarks.load`` can import ``read_summary`` without locust or grpc.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SCENARIOS = ("mix", "everyday", "crisis", "bad", "stream")


@dataclasses.dataclass(frozen=True)
class Summary:
    """The Aggregated row of locust's stats CSV (times in ms)."""

    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    mean: float


def _number(row: dict[str, str], key: str) -> float:
    value = row.get(key, "") or "0"
    return 0.0 if value == "N/A" else float(value)


def read_summary(stats_csv: Path) -> Summary:
    """Parse ``<prefix>_stats.csv`` and return its Aggregated row."""
    with stats_csv.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("Name") == "Aggregated"]
    if not rows:
        raise ValueError(f"{stats_csv} has no Aggregated row")
    row = rows[-1]
    return Summary(
        requests=int(_number(row, "Request Count")),
        failures=int(_number(row, "Failure Count")),
        rps=_number(row, "Requests/s"),
        p50=_number(row, "50%"),
        p95=_number(row, "95%"),
        p99=_number(row, "99%"),
        mean=_number(row, "Average Response Time"),
    )


def read_failures(failures_csv: Path) -> list[str]:
    """One line per distinct failure: count, request name, error."""
    if not failures_csv.exists():
        return []
    with failures_csv.open(newline="") as handle:
        return [
            f"{row.get('Occurrences', '?'):>6} x {row.get('Name', '?')}: {row.get('Error', '?')}"
            for row in csv.DictReader(handle)
        ]


def run_locust(
    host: str,
    users: int,
    spawn_rate: float,
    run_time: str,
    out: Path,
    scenario: str = "mix",
    stages_file: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> int:
    """Run locust headless; returns its exit status (1 when any request failed)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOLACE_LOAD_SCENARIO": scenario, **(extra_env or {})}
    if stages_file is not None:
        env["SOLACE_LOAD_STAGES_FILE"] = str(stages_file)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        run_time,
        "--stop-timeout",
        "10",
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    # The repository root on the path, so the locustfile finds loadtests.messages and solace.v1.
    root = str(LOCUSTFILE.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return subprocess.run(command, env=env, cwd=root, check=False).returncode


def format_summary(summary: Summary, label: str = "") -> str:
    return (
        f"{label}requests {summary.requests}  failures {summary.failures}  "
        f"throughput {summary.rps:.1f} req/s  "
        f"p50 {summary.p50:.0f} ms  p95 {summary.p95:.0f} ms  p99 {summary.p99:.0f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("SOLACE_TARGET", "localhost:50051"))
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--spawn-rate", type=float, default=8)
    parser.add_argument("--run-time", default="30s", help="locust duration, e.g. 30s, 2m")
    parser.add_argument("--scenario", default="mix", choices=SCENARIOS)
    parser.add_argument("--out", type=Path, default=Path("var/loadtest"))
    args = parser.parse_args(argv)

    status = run_locust(
        args.host,
        args.users,
        args.spawn_rate,
        args.run_time,
        args.out,
        args.scenario,
        stages_file=args.out / "stages.json",
    )
    stats = args.out / "locust_stats.csv"
    if not stats.exists():
        print(f"locust wrote no statistics (exit status {status})", file=sys.stderr)
        return status or 2
    summary = read_summary(stats)
    # A machine-readable copy for tools.benchmarks.load (which runs this module as a subprocess).
    (args.out / "summary.json").write_text(json.dumps(dataclasses.asdict(summary), indent=2))
    print(format_summary(summary, f"{args.scenario}, {args.users} users, {args.run_time}: "))
    print(f"reports: {stats} and {args.out / 'report.html'}")
    failures = read_failures(args.out / "locust_failures.csv")
    for line in failures:
        print("FAILED", line, file=sys.stderr)
    if summary.requests == 0:
        print("no requests were made", file=sys.stderr)
        return 1
    if summary.failures or status:
        return status or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
