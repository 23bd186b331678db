"""``owlcap eval vdc|dream1k|carebench|capability|report|compare``: benchmark evaluation, re-scoring and comparison
(thin layer over ``owlcap.eval``).

A run config can come from YAML (``configs/eval/*.yaml``); the flags below override it, and any field can be set
with ``--dotted.key value`` (e.g. ``--scoring.exclude_zero_videos false``). Exit status: 0 when every item was
judged, 1 when some failed, lacked a caption or were not judged (the report says which), 2 for bad input or a judge
that does not answer, 130 when interrupted (a re-run resumes).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import typer

eval_app = typer.Typer(
    help="Evaluate captions on VDC, DREAM-1K, CaReBench and CAPability with the official scorers' rules; re-score "
    "and compare runs.",
    no_args_is_help=True,
)

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}


@contextlib.contextmanager
def _user_errors(out: Path | None = None):
    """Bad input, a dead judge or Ctrl-C end with one clear message and an exit status, never a traceback."""
    from owlcap.errors import ConfigError, DataError, DownloadError, JudgeError, ModelLoadError, VideoDecodeError

    try:
        yield
    except (ConfigError, DataError, DownloadError, JudgeError, ModelLoadError, VideoDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt as exc:
        where = f" in {out / 'items.jsonl'}" if out is not None else ""
        typer.echo(f"\ninterrupted: the items judged so far are kept{where}; run the same command to resume", err=True)
        raise typer.Exit(130) from exc


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    if value is None:
        return
    *parents, leaf = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[leaf] = value


def _run_config(config: Path | None, flags: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    from owlcap.config import deep_merge, load_yaml, parse_overrides

    if config is not None and str(config).startswith("--"):
        # Without a YAML file the first --dotted.key override lands in the optional CONFIG argument.
        extra, config = [str(config), *extra], None
    data = load_yaml(config) if config is not None else {}
    given: dict[str, Any] = {}
    for dotted, value in flags.items():
        _set(given, dotted, value)
    return deep_merge(deep_merge(data, given), parse_overrides(extra))


def _finish(result: Any) -> None:
    typer.echo((result.out / "report.md").read_text(encoding="utf-8"))
    typer.echo(f"report: {result.out / 'report.json'}")
    if not result.complete:
        for problem in result.problems:
            typer.echo(f"incomplete: {problem}", err=True)
        raise typer.Exit(1)


def _common_flags(
    captions: Path | None,
    id_field: str | None,
    caption_field: str | None,
    videos: Path | None,
    model: str | None,
    judge: str | None,
    out: Path | None,
    preset: str | None,
    prompts: str | None,
    judge_repeats: int | None,
    concurrency: int | None,
    timeout: float | None,
    retries: int | None,
    limit: int | None,
    overwrite: bool,
    no_preflight: bool,
) -> dict[str, Any]:
    return {
        "captions.path": captions,
        "captions.id_field": id_field,
        "captions.caption_field": caption_field,
        "captioning.videos": videos,
        "captioning.model": model,
        "judge.model": judge,
        "judge.repeats": judge_repeats,
        "judge.concurrency": concurrency,
        "judge.request_timeout_s": timeout,
        "judge.max_retries": retries,
        "judge.preflight": False if no_preflight else None,
        "out": out,
        "preset": preset,
        "prompts": prompts,
        "limit": limit,
        "overwrite": True if overwrite else None,
    }


_CAPTIONS = typer.Option(None, "--captions", help="Caption file to judge (owlcap caption output or mapped JSONL).")
_ID_FIELD = typer.Option(None, "--id-field", help="Field of the benchmark id in the caption file (dotted path).")
_CAPTION_FIELD = typer.Option(None, "--caption-field", help="Field of the caption text (dotted path).")
_VIDEOS = typer.Option(None, "--videos", help="Benchmark videos (folder named by id, or JSONL id/video) to caption.")
_MODEL = typer.Option(None, "--model", help="Captioner: HF id/path or openai:<model>@<url> (vLLM).")
_JUDGE = typer.Option(None, "--judge", help="Judge spec, e.g. openai:meta-llama/Llama-3.1-8B-Instruct@http://...")
_OUT = typer.Option(None, "--out", help="Run folder (re-running the same command resumes).")
_PROMPTS = typer.Option(
    None, "--prompts", help="official (default; the texts shipped with owlcap) | owlcap | path of a prompts JSON file."
)
_REPEATS = typer.Option(None, "--judge-repeats", help="Judge every item K times with fresh samples.")
_CONCURRENCY = typer.Option(None, "--concurrency", help="Judge requests in flight (match the server's slots).")
_TIMEOUT = typer.Option(None, "--timeout", help="Seconds one judge request may take.")
_RETRIES = typer.Option(None, "--retries", help="Retries of a judge request on 429/5xx/timeouts.")
_LIMIT = typer.Option(None, "--limit", help="Only the first N benchmark items (videos for VDC).")
_OVERWRITE = typer.Option(False, "--overwrite", help="Start the run folder afresh (old items kept in a backup).")
_NO_PREFLIGHT = typer.Option(False, "--no-preflight", help="Skip the one-request judge check before judging.")
_CONFIG = typer.Argument(None, help="YAML run config (configs/eval/*.yaml); flags override it.")


@eval_app.command("vdc", context_settings=_OVERRIDES)
def vdc(
    ctx: typer.Context,
    config: Path | None = _CONFIG,
    qa_dir: Path | None = typer.Option(None, "--qa-dir", help="Folder of camera.jsonl ... detailed.jsonl."),
    dimensions: str | None = typer.Option(None, "--dimensions", help="Comma-separated subset, e.g. camera,short."),
    captions: Path | None = typer.Option(
        None,
        "--captions",
        help="Captions to judge, one per video and dimension: JSONL lines {id, caption} whose id "
        "is <dimension>/<video_id> (what owlcap's VDC captioning writes), or lines with a 'dimension' field, or a "
        "folder of <dimension>.jsonl files; --id-field, --caption-field, --dimension-field map other layouts.",
    ),
    id_field: str | None = _ID_FIELD,
    caption_field: str | None = _CAPTION_FIELD,
    dimension_field: str | None = typer.Option(None, "--dimension-field", help="Field naming the dimension."),
    videos: Path | None = _VIDEOS,
    model: str | None = _MODEL,
    judge: str | None = _JUDGE,
    out: Path | None = _OUT,
    preset: str | None = typer.Option(None, "--preset", help="auroracap (default) | lmms | lmms_gpt."),
    prompts: str | None = _PROMPTS,
    judge_repeats: int | None = _REPEATS,
    concurrency: int | None = _CONCURRENCY,
    timeout: float | None = _TIMEOUT,
    retries: int | None = _RETRIES,
    limit: int | None = _LIMIT,
    overwrite: bool = _OVERWRITE,
    no_preflight: bool = _NO_PREFLIGHT,
) -> None:
    """VDC (VDCscore): two judge calls per question, Acc and Score per dimension."""
    from owlcap.eval.vdc.config import VDCEvalConfig
    from owlcap.eval.vdc.runner import evaluate_vdc

    flags = _common_flags(
        captions, id_field, caption_field, videos, model, judge, out, preset, prompts, judge_repeats,
        concurrency, timeout, retries, limit, overwrite, no_preflight,
    )  # fmt: skip
    flags |= {"qa_dir": qa_dir, "captions.dimension_field": dimension_field}
    flags["dimensions"] = [d.strip() for d in dimensions.split(",") if d.strip()] if dimensions else None
    _evaluate(ctx, config, flags, VDCEvalConfig, evaluate_vdc)


@eval_app.command("dream1k", context_settings=_OVERRIDES)
def dream1k(
    ctx: typer.Context,
    config: Path | None = _CONFIG,
    annotations: Path | None = typer.Option(None, "--annotations", help="DREAM-1k.jsonl (Tarsier's annotations)."),
    captions: Path | None = _CAPTIONS,
    id_field: str | None = _ID_FIELD,
    caption_field: str | None = _CAPTION_FIELD,
    videos: Path | None = _VIDEOS,
    model: str | None = _MODEL,
    judge: str | None = _JUDGE,
    out: Path | None = _OUT,
    preset: str | None = typer.Option(None, "--preset", help="tarsier (default)."),
    prompts: str | None = _PROMPTS,
    judge_repeats: int | None = _REPEATS,
    concurrency: int | None = _CONCURRENCY,
    timeout: float | None = _TIMEOUT,
    retries: int | None = _RETRIES,
    limit: int | None = _LIMIT,
    overwrite: bool = _OVERWRITE,
    no_preflight: bool = _NO_PREFLIGHT,
) -> None:
    """DREAM-1K (AutoDQ): events extracted and judged both ways, F1 / recall / precision per category."""
    from owlcap.eval.dream1k.config import DreamEvalConfig
    from owlcap.eval.dream1k.runner import evaluate_dream1k

    flags = _common_flags(
        captions, id_field, caption_field, videos, model, judge, out, preset, prompts, judge_repeats,
        concurrency, timeout, retries, limit, overwrite, no_preflight,
    )  # fmt: skip
    flags["annotations"] = annotations
    _evaluate(ctx, config, flags, DreamEvalConfig, evaluate_dream1k)


@eval_app.command("carebench", context_settings=_OVERRIDES)
def carebench(
    ctx: typer.Context,
    config: Path | None = _CONFIG,
    annotations: Path | None = typer.Option(None, "--annotations", help="CaReBench's json/metadata.json."),
    captions: Path | None = _CAPTIONS,
    id_field: str | None = _ID_FIELD,
    caption_field: str | None = _CAPTION_FIELD,
    videos: Path | None = _VIDEOS,
    model: str | None = _MODEL,
    judge: str | None = _JUDGE,
    out: Path | None = _OUT,
    preset: str | None = typer.Option(None, "--preset", help="care (default)."),
    prompts: str | None = _PROMPTS,
    judge_repeats: int | None = _REPEATS,
    concurrency: int | None = _CONCURRENCY,
    timeout: float | None = _TIMEOUT,
    retries: int | None = _RETRIES,
    limit: int | None = _LIMIT,
    overwrite: bool = _OVERWRITE,
    no_preflight: bool = _NO_PREFLIGHT,
) -> None:
    """CaReBench (CapST): events and objects extracted and judged both ways, action and object F1."""
    from owlcap.eval.carebench.config import CareEvalConfig
    from owlcap.eval.carebench.runner import evaluate_carebench

    flags = _common_flags(
        captions, id_field, caption_field, videos, model, judge, out, preset, prompts, judge_repeats,
        concurrency, timeout, retries, limit, overwrite, no_preflight,
    )  # fmt: skip
    flags["annotations"] = annotations
    _evaluate(ctx, config, flags, CareEvalConfig, evaluate_carebench)


@eval_app.command("capability", context_settings=_OVERRIDES)
def capability(
    ctx: typer.Context,
    config: Path | None = _CONFIG,
    annotations: Path | None = typer.Option(
        None, "--annotations", help="Folder of CAPability's <dimension>.jsonl annotation files."
    ),
    dimensions: str | None = typer.Option(
        None, "--dimensions", help="Comma-separated: all (default), video, image, or dimension names (event,action)."
    ),
    captions: Path | None = _CAPTIONS,
    id_field: str | None = _ID_FIELD,
    caption_field: str | None = _CAPTION_FIELD,
    videos: Path | None = _VIDEOS,
    model: str | None = _MODEL,
    judge: str | None = _JUDGE,
    out: Path | None = _OUT,
    preset: str | None = typer.Option(None, "--preset", help="capability (default) | lmms."),
    prompts: str | None = _PROMPTS,
    judge_repeats: int | None = _REPEATS,
    concurrency: int | None = _CONCURRENCY,
    timeout: float | None = _TIMEOUT,
    retries: int | None = _RETRIES,
    limit: int | None = typer.Option(None, "--limit", help="Only the first N files of each dimension."),
    overwrite: bool = _OVERWRITE,
    no_preflight: bool = _NO_PREFLIGHT,
) -> None:
    """CAPability: one judge call per annotated file; precision, recall, F1 and hit rate per dimension."""
    from owlcap.eval.capability.config import CapEvalConfig
    from owlcap.eval.capability.runner import evaluate_capability

    flags = _common_flags(
        captions, id_field, caption_field, videos, model, judge, out, preset, prompts, judge_repeats,
        concurrency, timeout, retries, limit, overwrite, no_preflight,
    )  # fmt: skip
    flags["annotations"] = annotations
    flags["dimensions"] = [d.strip() for d in dimensions.split(",") if d.strip()] if dimensions else None
    _evaluate(ctx, config, flags, CapEvalConfig, evaluate_capability)


def _evaluate(ctx: typer.Context, config: Path | None, flags: dict[str, Any], config_model, evaluate) -> None:
    """Merge the YAML, the flags and the --dotted.key overrides, validate, run one benchmark and end its way."""
    from owlcap.config import validate_config

    with _user_errors(flags.get("out")):
        data = _run_config(config, flags, list(ctx.args))
        run_config = validate_config(config_model, data, source=str(config) if config else "options")
        with _user_errors(run_config.out):
            result = evaluate(run_config)
    _finish(result)


@eval_app.command("report", context_settings=_OVERRIDES)
def report(
    ctx: typer.Context,
    run: Path = typer.Argument(..., help="A run folder (items.jsonl, run.json)."),
    preset: str | None = typer.Option(None, "--preset", help="Score under this preset's rules (default: the run's)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Where to write (default: the run itself, or, when the rules differ, <run>/rescored-P[-"
        "switch=value...], a folder per set of rules).",
    ),
    bootstrap: int | None = typer.Option(None, "--bootstrap", help="Bootstrap resamples for the intervals."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Skip the PNG plots."),
) -> None:
    """Rebuild a run's report from items.jsonl, no judge: --preset P, --switch value (--exclude_zero_videos false)."""
    from owlcap.config import parse_overrides
    from owlcap.eval.rescore import reaggregate

    with _user_errors():
        overrides = parse_overrides(list(ctx.args))
        scoring = overrides.pop("scoring", {}) | overrides
        settings: dict[str, Any] = {}
        _set(settings, "bootstrap_samples", bootstrap)
        _set(settings, "plots", False if no_plots else None)
        result = reaggregate(run, preset, scoring=scoring or None, out=out, report=settings)
    _finish(result)


@eval_app.command("compare")
def compare(
    runs: list[Path] = typer.Argument(..., help="Run folders (or report.json files) of one benchmark."),
    out: Path | None = typer.Option(None, "--out", help="Also write compare.md, compare.json and compare.png here."),
) -> None:
    """Runs side by side in one table (and a plot with --out); a run judged or scored differently is flagged."""
    from owlcap.eval.compare import compare_runs

    with _user_errors():
        comparison = compare_runs(runs, out)
    typer.echo(comparison["markdown"])
    if out is not None:
        typer.echo(f"written: {out / 'compare.md'}, {out / 'compare.png'}")


@eval_app.command("fetch")
def fetch(
    benchmark: str = typer.Argument(
        ..., help="vdc | dream1k | carebench (every benchmark with an owlcap/eval/<name>/fetch.py)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder of the benchmarks: files land in OUT/<benchmark>/."),
    videos: bool = typer.Option(False, "--videos", help="Also the videos (VDC about 80 GB, DREAM-1K 3.9 GB)."),
    revision: str | None = typer.Option(
        None,
        "--revision",
        help="Branch, tag or commit of the dataset repository (default main; the commit used is "
        "recorded in OUT/<benchmark>/fetch.json).",
    ),
) -> None:
    """Download a benchmark's official annotation files (and, with --videos, its videos) from its Hugging Face dataset
    repository, lay them out as `owlcap eval` reads them and check them against the official counts. Re-running
    resumes; exit 1 when a count differs from the official one, 2 when the download fails."""
    from owlcap.eval.fetch import fetch as fetch_benchmark
    from owlcap.eval.fetch import spec_for

    spec = spec_for(benchmark)  # errors and Ctrl-C: one line from the owlcap command group (a re-run resumes)
    result = fetch_benchmark(spec, out, videos=videos, revision=revision)
    fetched = ", ".join(result.downloaded) or "nothing (already complete)"
    typer.echo(f"{spec.benchmark}: {spec.repo_id}@{result.commit or '?'} -> {result.folder}; fetched {fetched}")
    typer.echo("counts: " + ", ".join(f"{name} {value:,}" for name, value in result.counts.items()))
    if result.videos_missing is not None:
        expected = len(spec.video_ids(result.folder))
        typer.echo(f"videos: {expected - len(result.videos_missing):,} of {expected:,} in {result.folder / 'videos'}")
    typer.echo(f"note: {spec.notes}")
    typer.echo("evaluate: " + spec.usage.format(folder=result.folder))
    if result.differences:
        for difference in result.differences:
            typer.echo(f"differs from the official files: {difference}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
