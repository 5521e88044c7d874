"""Turn a run's measurements into ``results.json`` and a human ``results.md``."""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTES = Path(__file__).resolve().parent / "notes.md"

# Where a sampled frame's time belongs, checked in order against the frame's file path.
AREAS = [
    ("app (our code)", ("app/",)),
    ("netvalve_sandbox", ("netvalve_sandbox/",)),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("asyncpg", ("asyncpg/",)),
    ("pydantic", ("pydantic",)),
    ("fastapi / starlette", ("fastapi/", "starlette/")),
    ("uvicorn / httptools / uvloop", ("uvicorn/", "httptools/", "uvloop/")),
    ("httpx / httpcore (gateway calls)", ("httpx/", "httpcore/", "anyio/", "h11/")),
    ("logging / json", ("logging/", "json/", "pythonjsonlogger")),
    ("prometheus_client", ("prometheus_client/",)),
    ("asyncio", ("asyncio/",)),
]
PROFILE_SHARE_TEXT = "a quarter"
LOOP_AREA = "event loop itself (uvloop C code: I/O polling, callbacks; or idle)"
IN_LOOP = re.compile(r"^Runner\.run \(|^run_until_complete \(|^asyncio_run \(")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _runs(results: dict[str, Any], scenario: str, target: str) -> list[dict[str, Any]]:
    return [r for r in results["runs"] if r["scenario"] == scenario and r["target"] == target]


def _main_latency(run: dict[str, Any]) -> dict[str, float]:
    latency: dict[str, dict[str, float]] = run["latency"]
    for label in ("request", "status", "pay"):
        if label in latency:
            return latency[label]
    return {}


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Per scenario and round, the service's ratios to the baseline of the same round; the targets."""
    summary: dict[str, Any] = {}
    wanted = {
        "webhook": ["baseline_plain", "baseline_dedup"],
        "checkout": ["baseline_plain"],
        "status": ["baseline_plain"],
    }
    for scenario, baselines in wanted.items():
        service_runs = _runs(results, scenario, "service")
        if not service_runs:
            continue
        rounds = []
        for run in service_runs:
            row: dict[str, Any] = {"rep": run["rep"], "rps": run["requests_per_s"], "errors": run["errors"]}
            service_p99 = _main_latency(run).get("p99_ms", math.nan)
            for name in baselines:
                base = next((b for b in _runs(results, scenario, name) if b["rep"] == run["rep"]), None)
                if base is None:
                    continue
                row[f"rps_ratio_{name}"] = _ratio(run["requests_per_s"], base["requests_per_s"])
                row[f"p99_ratio_{name}"] = _ratio(service_p99, _main_latency(base).get("p99_ms", math.nan))
            rounds.append(row)
        summary[scenario] = {"rounds": rounds}
        for key in rounds[0]:
            if key.startswith(("rps_ratio", "p99_ratio")):
                summary[scenario][f"median_{key}"] = median(r[key] for r in rounds)
    return summary


def targets(results: dict[str, Any], summary: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets ("Close to the floor"), each against this run's own numbers."""
    checks: list[tuple[str, str, bool | None]] = []
    hook = summary.get("webhook")
    if hook:
        rps = hook.get("median_rps_ratio_baseline_dedup", math.nan)
        p99 = hook.get("median_p99_ratio_baseline_dedup", math.nan)
        checks.append(("webhook req/s >= 0.75x baseline_dedup (median)", f"{rps:.2f}x", rps >= 0.75))
        checks.append(("webhook p99 <= 1.5x baseline_dedup (median)", f"{p99:.2f}x", p99 <= 1.5))
    latency = results["settings"]["sandbox_latency_ms"]
    for run in _runs(results, "checkout", "service_serial"):
        for label, over in (("pay", 5), ("hpf_session", 3)):
            p50 = run["latency"].get(label, {}).get("p50_ms", math.nan)
            checks.append(
                (
                    f"checkout one cart at a time: {label} p50 <= sandbox latency + {over} ms"
                    f" (round {run['rep'] + 1})",
                    f"{p50:.1f} ms (latency {latency:g} ms)",
                    p50 <= latency + over,
                )
            )
    for run in _runs(results, "checkout", "service"):
        cpu = run.get("cpu_ms_per_request", {}).get("service", math.nan)
        checks.append(
            (
                f"checkout 32 concurrent: service CPU per request <= 5 ms (round {run['rep'] + 1})",
                f"{cpu:.2f} ms",
                cpu <= 5,
            )
        )
    status = summary.get("status")
    if status:
        ratio = status.get("median_rps_ratio_baseline_plain", math.nan)
        checks.append(("status req/s >= 0.5x baseline (median)", f"{ratio:.2f}x", ratio >= 0.5))
    for run in _runs(results, "status", "service"):
        cpu = run.get("cpu_ms_per_request", {}).get("service", math.nan)
        checks.append(
            (f"status: service CPU per read <= 1 ms (round {run['rep'] + 1})", f"{cpu:.2f} ms", cpu <= 1)
        )
    errors = sum(r["errors"] for r in results["runs"])
    checks.append(("no errors (all runs)", str(errors), errors == 0))
    rows_ok = all(r["rows"].get("ok", False) for r in results["runs"])
    checks.append(("rows afterwards as expected (all runs)", "yes" if rows_ok else "no", rows_ok))
    rss = [v for v in results["peak_rss_mb"]["service"].values() if v is not None]
    peak = max(rss) if rss else math.nan
    checks.append(("service peak RSS per worker <= 150 MB", f"{peak:.0f} MB", peak <= 150))
    timed_out = any(r["timed_out"] for r in results["runs"])
    checks.append(("no run hit its time cap", "hit" if timed_out else "none", not timed_out))
    return checks


def profile_summary(profiles: list[dict[str, Any]], top: int = 15) -> dict[str, Any]:
    """py-spy raw (collapsed) stacks -> share of samples per area and the hottest functions."""
    out: dict[str, Any] = {}
    grouped: dict[str, list[str]] = {}
    for profile in profiles:
        _, scenario, process = profile["scenario"].split("-")[:3]
        grouped.setdefault(f"{scenario}, {process}", []).append(profile["stacks"])
    for scenario, texts in grouped.items():
        total = 0
        areas: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        leaf: Counter[str] = Counter()
        for text in texts:
            for line in text.splitlines():
                stack, _, count_text = line.rpartition(" ")
                # Only the event loop's thread: the others are idle pool threads and uvicorn's pinger.
                if stack.startswith("Thread._bootstrap") or not count_text.isdigit():
                    continue
                count = int(count_text)
                total += count
                frames = [f for f in stack.split(";") if f]
                if not frames:
                    continue
                seen_funcs: set[str] = set()
                for frame in frames:
                    if _file(frame).startswith(("app/", "netvalve_sandbox/")) and frame not in seen_funcs:
                        seen_funcs.add(frame)
                        inclusive[_short(frame)] += count
                leaf[_short(frames[-1])] += count
                areas[_area(frames[-1])] += count
        if not total:
            continue
        out[scenario] = {
            "samples": total,
            "areas_self_pct": {a: round(100 * n / total, 1) for a, n in areas.most_common()},
            "app_functions_inclusive_pct": {
                f: round(100 * n / total, 1) for f, n in inclusive.most_common(top)
            },
            "leaf_functions_pct": {f: round(100 * n / total, 1) for f, n in leaf.most_common(top)},
        }
    return out


def _file(frame: str) -> str:
    match = FRAME.match(frame)
    return match.group("file") if match else frame


def _area(frame: str) -> str:
    """The library a sample's innermost Python frame belongs to (C code shows as its caller)."""
    if IN_LOOP.match(frame):
        return LOOP_AREA
    file = _file(frame)
    for area, needles in AREAS:
        if any(file.startswith(n) or f"/{n}" in file for n in needles):
            return area
    return "other (stdlib, importlib, ...)"


def _short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    file = match.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({file})"


def _fmt(value: float, digits: int = 1) -> str:
    return (
        "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"
    )


def markdown(results: dict[str, Any], summary: dict[str, Any], profile: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["settings"]
    lines = [
        "# Load benchmark results",
        "",
        f"Generated {results['generated_at']} by `{results['command']}`"
        f" (wall time {results['wall_time_s']} s).",
        "Reproduce: `.venv/bin/python -m bench.run` (or `bench/run.sh`);"
        " options in `python -m bench.run --help`.",
        "",
        "## Machine and settings",
        "",
        f"- {m['cores']} cores, {m['cpu_model']}, {m['memory_gb']} GB RAM,"
        f" Linux {m['kernel']}, Python {m['python']}",
        f"- load average at start {results['load_average_start']}, at end {results['load_average_end']}"
        " (other work on the machine makes absolute numbers noisy: compare ratios within this run only)",
        f"- service and baseline: uvicorn, {s['workers']} worker(s) each; {s['uvicorn']}",
        f"- PostgreSQL: {s['postgresql']}",
        f"- sandbox latency during checkout {s['sandbox_latency_ms']:g} ms;"
        f" during status {s['status_latency_ms']:g} ms;"
        f" webhook processing worker {'on' if s['webhook_worker'] else 'off'}",
        f"- scale {s['scale']:g}, {s['repeat']} rounds (A = service, B = baseline, in that order each round),"
        f" hard cap {s['max_seconds_per_load']:g} s per load run; the load generator is a separate process"
        " (raw asyncio HTTP/1.1 keep-alive, one connection per concurrent client)",
        "",
        "## Targets",
        "",
        "| Target | Measured | Met |",
        "|---|---|---|",
    ]
    for name, measured, met in targets(results, summary):
        lines.append(f"| {name} | {measured} | {'yes' if met else 'NO'} |")
    lines += [
        "",
        "## Runs",
        "",
        "Latency is per request, client side, in ms. For checkout the service's requests are"
        " `hpf_session` and `pay` (each makes one sandbox call); `cart` is the whole cart including the"
        " browser's tokenize call at the sandbox. req/s counts service requests only. DB xacts/req: commits"
        " plus rollbacks in the service's database during the run (background work included) per request;"
        " the baseline's plain INSERT is one.",
        "",
        "| Scenario | Target | Round | Requests | req/s | Label | p50 | p95 | p99 | Errors"
        " | DB xacts/req | Rows afterwards |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        labels = [label for label in run["latency"] if label != "sandbox_tokenize"] or ["-"]
        for i, label in enumerate(labels):
            lat = run["latency"].get(label, {})
            first = i == 0
            rows = run["rows"]
            lines.append(
                "| "
                + " | ".join(
                    [
                        run["scenario"] if first else "",
                        run["target"] if first else "",
                        str(run["rep"] + 1) if first else "",
                        str(run["service_requests"]) if first else "",
                        _fmt(run["requests_per_s"]) if first else "",
                        label,
                        _fmt(lat.get("p50_ms", math.nan)),
                        _fmt(lat.get("p95_ms", math.nan)),
                        _fmt(lat.get("p99_ms", math.nan)),
                        str(run["errors"]) if first else "",
                        _fmt(run.get("db_transactions_per_request", math.nan)) if first else "",
                        ", ".join(f"{k} {v}" for k, v in rows.items()) if first else "",
                    ]
                )
                + " |"
            )
    lines += [
        "",
        "## Service versus baseline (same round)",
        "",
        "| Scenario | Round | Baseline | req/s ratio | p99 ratio |",
        "|---|---|---|---|---|",
    ]
    for scenario, data in summary.items():
        for row in data["rounds"]:
            for key in row:
                if key.startswith("rps_ratio_"):
                    name = key.removeprefix("rps_ratio_")
                    lines.append(
                        f"| {scenario} | {row['rep'] + 1} | {name} | {_fmt(row[key], 2)}x"
                        f" | {_fmt(row[f'p99_ratio_{name}'], 2)}x |"
                    )
    lines += [
        "",
        "## CPU per request (ms), by process group",
        "",
        "CPU time (user + system, from /proc) each part of the stack used during the run, divided by the"
        " requests served (the servers' background work included; the load generator only while it drove"
        " load). Cores busy: all of it divided by the load's wall time (the machine has"
        f" {results['machine']['cores']}; other users' work is not counted, the servers' work just before"
        " and after the load is).",
        "",
        "| Scenario | Target | Round | service | baseline | postgresql | sandbox | load generator"
        " | cores busy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        cpu = run.get("cpu_ms_per_request", {})
        cells = [_fmt(cpu.get(k, math.nan), 2) for k in ("service", "baseline", "postgresql", "sandbox")]
        cells.append(_fmt(cpu.get("load generator", math.nan), 2))
        lines.append(
            f"| {run['scenario']} | {run['target']} | {run['rep'] + 1} | "
            + " | ".join(cells)
            + f" | {_fmt(run.get('cpu_cores_busy', math.nan), 2)} |"
        )
    lines += ["", "## Peak memory (VmHWM) per worker process, MB", ""]
    for name, pids in results["peak_rss_mb"].items():
        lines.append(f"- {name}: " + ", ".join(f"pid {pid} {mb} MB" for pid, mb in pids.items()))
    errors = [
        (r["scenario"], r["target"], r["rep"], r["error_samples"]) for r in results["runs"] if r["errors"]
    ]
    if errors:
        lines += ["", "## Error samples", ""]
        for scenario, target, rep, samples in errors:
            lines.append(
                f"- {scenario} {target} round {rep + 1}: " + "; ".join(f"`{s}`" for s in samples[:3])
            )
    if profile:
        lines += ["", "## Profile (py-spy, an extra unmeasured round after the measured ones)", ""]
        lines.append(
            "py-spy at 200 Hz on the event-loop thread of each service worker and of the sandbox, idle"
            f" samples left out, during a round with {PROFILE_SHARE_TEXT} of the requests. Area: the library"
            " of the innermost Python frame (C code such as asyncpg's protocol counts as its Python caller),"
            " so areas add up to 100 %. Our functions: share of samples whose stack passes through them."
        )
        for scenario, data in profile.items():
            lines += ["", f"### {scenario} ({data['samples']} samples)", "", "| Area | % |", "|---|---|"]
            lines += [f"| {a} | {p} |" for a, p in data["areas_self_pct"].items()]
            lines += ["", "| Our function (inclusive) | % |", "|---|---|"]
            lines += [f"| `{f}` | {p} |" for f, p in data["app_functions_inclusive_pct"].items()]
            lines += ["", "| Hottest leaf function (self) | % |", "|---|---|"]
            lines += [f"| `{f}` | {p} |" for f, p in data["leaf_functions_pct"].items()]
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    return "\n".join(lines) + "\n"


def write_reports(results: dict[str, Any], profiles: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(results)
    profile = profile_summary(profiles)
    results = {**results, "summary": summary, "profile": profile}
    results["targets"] = [{"target": n, "measured": v, "met": ok} for n, v, ok in targets(results, summary)]
    json_path = out / "results.json"
    md_path = out / "results.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path.write_text(markdown(results, summary, profile))
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    """Re-render ``results.md`` (and the targets in ``results.json``) from a ``results.json``, e.g. after
    editing bench/notes.md."""
    args = sys.argv[1:] if argv is None else argv
    json_path = Path(args[0]) if args else Path(__file__).resolve().parent / "results.json"
    results = json.loads(json_path.read_text())
    checks = targets(results, results["summary"])
    results["targets"] = [{"target": n, "measured": v, "met": ok} for n, v, ok in checks]
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path = json_path.with_name("results.md")
    md_path.write_text(markdown(results, results["summary"], results["profile"]))
    sys.stdout.write(f"wrote {md_path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
