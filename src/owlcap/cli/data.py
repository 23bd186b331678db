"""``owlcap data build|examine|export|report``: the HMD data engine on the command line (a thin layer over
``owlcap.data``).

Exit status: 0 when every input became a kept or rejected record; 1 when a video failed, an input was bad or the
dead-server guard stopped the build (the summary says which); 2 for a bad config, option or output folder; 130
after Ctrl-C (the outputs of what finished are written).
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import typer

logger = logging.getLogger(__name__)

data_app = typer.Typer(
    help="Build HMD data: Motion-Detail Fusion + Fine-Grained Examination, kill-safe, on one box or on Ray.",
    no_args_is_help=True,
)

_OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}
_INPUTS_HELP = "Video files, folders of videos, or JSONL manifests (id, video, optional start/end, caption, ...)."
_OVERRIDE_HELP = "Any config field as --section.field VALUE (e.g. --fge.threshold 0.8 --concurrency.verifier 64)."


@contextlib.contextmanager
def _clear_errors():
    """A bad config, option or data file ends the command with its message, not a traceback."""
    from owlcap.errors import ConfigError, DataError, ModelLoadError

    try:
        yield
    except (ConfigError, DataError, ModelLoadError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def split_overrides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Separate INPUT paths from ``--key value`` / ``--key=value`` overrides that typer left among them."""
    inputs: list[str] = []
    overrides: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.startswith("--") and len(token) > 2:
            overrides.append(token)
            if "=" not in token and index + 1 < len(tokens):
                overrides.append(tokens[index + 1])
                index += 1
        else:
            inputs.append(token)
        index += 1
    return inputs, overrides


def _load(config: Path | None, flags: dict[str, Any], overrides: list[str]):
    from owlcap.config import deep_merge, load_yaml, parse_overrides, validate_config
    from owlcap.data.config import BuildConfig

    data = load_yaml(config) if config is not None else {}
    data = deep_merge(data, {k: v for k, v in flags.items() if v is not None and not isinstance(v, dict)})
    for section, values in flags.items():
        if isinstance(values, dict):
            present = {k: v for k, v in values.items() if v is not None}
            if present:
                data = deep_merge(data, {section: present})
    data = deep_merge(data, parse_overrides(overrides))
    return validate_config(BuildConfig, data, source=str(config) if config else "options")


def _report(summary, *, interrupted: bool = False) -> None:
    typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    totals = summary.totals
    head = "interrupted; " if interrupted else ""
    typer.echo(
        f"{head}{summary.built} built in {summary.seconds:.1f} s ({summary.videos_per_min:.1f} videos/min): "
        f"{summary.kept} kept, {summary.rejected} rejected, {summary.failed} failed; {summary.skipped} already done. "
        f"Folder totals: {totals.get('kept', 0)} kept, {totals.get('rejected', 0)} rejected, "
        f"{totals.get('failed', 0)} failed.",
        err=True,
    )
    for cause, count in summary.failures_by_cause().items():
        # failures land in completion order; the smallest id makes the example the same on every run
        same_cause = (f for f in summary.failures if f"{f['stage']}: {f['kind']}" == cause)
        example = min(same_cause, key=lambda f: str(f["id"]))
        typer.echo(f"  failed  {count:>5}  {cause}  (e.g. {example['id']}: {example['message']})", err=True)
    for error in summary.bad_inputs[:20]:
        typer.echo(f"  bad input: {error}", err=True)
    if len(summary.bad_inputs) > 20:
        typer.echo(f"  ... and {len(summary.bad_inputs) - 20} more bad inputs", err=True)
    if summary.stopped:
        typer.echo(f"  {summary.stopped}", err=True)
    if summary.outputs:
        typer.echo(f"  records: {summary.outputs['records']}  kept: {summary.outputs['hmd']}", err=True)
        if "viewer" in summary.outputs:
            typer.echo(f"  viewer: {summary.outputs['viewer']}", err=True)


def _run(examine_only: bool, tokens: list[str], out: Path, config: Path | None, flags: dict[str, Any]) -> None:
    from owlcap.data.runner import BuildInterrupted, build

    inputs, overrides = split_overrides(tokens)
    if not inputs:
        typer.echo("error: no INPUT given (video files, folders or JSONL manifests)", err=True)
        raise typer.Exit(2)
    with _clear_errors():
        run_config = _load(config, flags, overrides)
        try:
            summary = build(run_config, inputs, out, examine_only=examine_only)
        except BuildInterrupted as stop:
            _report(stop.summary, interrupted=True)
            raise typer.Exit(130) from None
    _report(summary)
    if not summary.ok:
        raise typer.Exit(1)


@data_app.command("build", context_settings=_OVERRIDES)
def build_command(
    inputs: list[str] = typer.Argument(..., help=_INPUTS_HELP + " " + _OVERRIDE_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Build folder; a re-run resumes it."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML BuildConfig (configs/data/*.yaml)."),
    motion_model: str = typer.Option(None, help="MDF motion model spec (openai:<model>@<url>[,<url>...] | hf:<path>)."),
    fusion_model: str = typer.Option(None, help="MDF fusion model spec."),
    splitter: str = typer.Option(None, help="FGE unit splitter spec (default: rules)."),
    verifier: str = typer.Option(None, help="FGE verifier spec (a video MLLM)."),
    threshold: float = typer.Option(None, help="Keep records with unit accuracy >= this (paper: 0.9)."),
    verify_mode: str = typer.Option(None, help="structured (all units in one request) or per_unit."),
    engine: str = typer.Option(None, help="local (default) or ray."),
    ray_address: str = typer.Option(None, help="Ray cluster address for --engine ray (e.g. auto)."),
) -> None:
    """MDF + FGE over videos: records.jsonl (all), hmd.jsonl (kept), stats.json, report/ (plots, viewer)."""
    flags = _flags(motion_model, fusion_model, splitter, verifier, threshold, verify_mode, engine, ray_address)
    _run(False, inputs, out, config, flags)


@data_app.command("examine", context_settings=_OVERRIDES)
def examine_command(
    inputs: list[str] = typer.Argument(..., help="JSONL manifests whose lines carry a caption. " + _OVERRIDE_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder; a re-run resumes it."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML BuildConfig (configs/data/*.yaml)."),
    splitter: str = typer.Option(None, help="FGE unit splitter spec (default: rules)."),
    verifier: str = typer.Option(None, help="FGE verifier spec (a video MLLM)."),
    threshold: float = typer.Option(None, help="Keep records with unit accuracy >= this (paper: 0.9)."),
    verify_mode: str = typer.Option(None, help="structured (all units in one request) or per_unit."),
    engine: str = typer.Option(None, help="local (default) or ray."),
    ray_address: str = typer.Option(None, help="Ray cluster address for --engine ray (e.g. auto)."),
) -> None:
    """FGE only: filter an existing caption set (split, verify against the video, keep at unit accuracy >= t)."""
    flags = _flags(None, None, splitter, verifier, threshold, verify_mode, engine, ray_address)
    _run(True, inputs, out, config, flags)


def _flags(motion, fusion, splitter, verifier, threshold, verify_mode, engine, ray_address) -> dict[str, Any]:
    return {
        "models": {"motion": motion, "fusion": fusion, "splitter": splitter, "verifier": verifier},
        "fge": {"threshold": threshold, "verify_mode": verify_mode},
        "engine": engine,
        "ray": {"address": ray_address},
    }


@data_app.command("export")
def export_command(
    folder: Path = typer.Argument(..., help="A build folder (holds records.jsonl)."),
    to: str = typer.Option(..., "--to", help="sft | grpo | hf | parquet"),
    dest: Path = typer.Option(None, "--dest", help="Output path (default: FOLDER/exports/...)."),
    include_all: bool = typer.Option(False, "--all", help="Export rejected and failed records too (analysis)."),
    prompt: str = typer.Option(None, help="User prompt for records without one (default: the paper's)."),
) -> None:
    """Write the kept records as SFT conversations, GRPO prompt/reference lines, a HF datasets folder or Parquet."""
    from owlcap.data.exports import export
    from owlcap.models.inputs import DEFAULT_CAPTION_PROMPT

    with _clear_errors():
        path, rows = export(
            folder, to, dest, include="all" if include_all else "kept", prompt=prompt or DEFAULT_CAPTION_PROMPT
        )
    typer.echo(json.dumps({"format": to, "path": str(path), "rows": rows}))


@data_app.command("report")
def report_command(folder: Path = typer.Argument(..., help="A build folder (holds records.jsonl).")) -> None:
    """Rewrite hmd.jsonl, stats.json and report/ from records.jsonl (e.g. after a kill, or to refresh the viewer)."""
    from owlcap.data.outputs import write_outputs
    from owlcap.data.store import RECORDS
    from owlcap.errors import DataError

    with _clear_errors():
        if not (folder / RECORDS).exists():
            raise DataError(folder / RECORDS, "no such file; is this a build folder?")
        outputs, totals = write_outputs(folder)
    typer.echo(json.dumps({"outputs": outputs, "counts": totals}))


@data_app.command("pairs", context_settings=_OVERRIDES)
def pairs_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (pairs.jsonl, stats.json); a re-run resumes it."),
    hmd: list[str] = typer.Option(None, "--hmd", help="An HMD build folder (FGE verdicts); repeat for several."),
    grpo: list[str] = typer.Option(None, "--grpo", help="A GRPO output folder with logged completions; repeatable."),
    captions: list[str] = typer.Option(None, "--captions", help="A caption file; give two or more of the same videos."),
    references: str = typer.Option(None, "--references", help="Reference captions the caption files are scored by."),
    model: str = typer.Option(None, "--model", help="Model that re-joins a caption without its unsupported units."),
    judge: str = typer.Option(None, "--judge", help="Text judge: CSER of caption files; motion vs fused coverage."),
    p_yes_cut: float = typer.Option(None, "--p-yes-cut", help="Unit unsupported when its FGE p_yes is below this."),
    max_per_video: int = typer.Option(None, "--max-per-video", help="Most pairs per video clip (default 4)."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML PairsConfig; options and --a.b VALUE override it."),
) -> None:
    """Preference pairs for DPO from HMD builds, GRPO completions and CSER-scored caption files (pairs.jsonl)."""
    from owlcap.config import deep_merge, load_yaml, parse_overrides, validate_config
    from owlcap.data.pairs import PairsConfig, build_pairs

    flags = {
        "hmd": {"builds": hmd or None, "rejoin_model": model, "judge": judge, "p_yes_cut": p_yes_cut},
        "grpo": {"runs": grpo or None},
        "captions": {"files": captions or None, "references": references, "judge": judge},
        "max_pairs_per_video": max_per_video,
    }
    with _clear_errors():
        data = load_yaml(config) if config is not None else {}
        for key, value in flags.items():
            present = {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value
            if present not in (None, {}):
                data = deep_merge(data, {key: present})
        data = deep_merge(data, parse_overrides(list(ctx.args)))
        pairs_config = validate_config(PairsConfig, data, source=str(config) if config else "options")
        summary = build_pairs(pairs_config, out)
    typer.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
    sources = ", ".join(f"{name} {counts['kept']}" for name, counts in summary.by_source.items()) or "none"
    typer.echo(f"{summary.pairs} pair(s) ({sources}) in {summary.pairs_file}", err=True)
    if not summary.ok:
        typer.echo(
            f"{summary.items_failed} item(s) failed (first: {summary.failures[0]}); a re-run retries them", err=True
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
