"""The caption stage: the same videos captioned by each chosen model (before SFT, after SFT, after GRPO).

Each model writes ``RUN_DIR/caption/<model>.jsonl`` through ``owlcap.eval.captioning.caption_videos`` (the runner
behind ``owlcap caption``), so an interrupted stage continues where it stopped: the ids already written are skipped.
"""

from __future__ import annotations

import logging
from typing import Any

from owlcap.errors import DataError
from owlcap.run.resolve import PipelineSource, stage_source, validate_stage
from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage

logger = logging.getLogger(__name__)


class CaptionFailures(DataError):
    """Some videos could not be captioned (the stage fails unless ``caption.allow_failures``)."""


def resolve_caption(source: PipelineSource, layout: Layout) -> ResolvedStage:
    from owlcap.eval.captioning import CaptionConfig

    section = source.config.caption
    stage = stage_source(source, "caption", section, layout.run_dir)
    config = validate_stage(CaptionConfig, stage)
    upstream = [name for name in section.models if name != "base"]
    extra = {"models": section.models, "allow_failures": section.allow_failures, "base_model": "base" in section.models}
    inputs = {f"caption.videos[{index}]": path for index, path in enumerate(section.videos)}
    return ResolvedStage(
        "caption",
        config,
        stage.describe(),
        inputs=inputs,
        upstream=upstream,
        extra=extra,
        origin=source.origin,  # the videos are a pipeline field, not the caption config's
    )


def model_path(name: str, context: RunContext) -> str:
    """Where captioner ``name`` lives: the base model, or the model the SFT / GRPO stage saved."""
    if name == "base":
        return context.base_model
    return str(context.layout.run_dir / context.records[name].summary["model"])


def run_caption(stage: ResolvedStage, context: RunContext) -> dict[str, Any]:
    from owlcap.data.sources import collect_videos
    from owlcap.eval.captioning import caption_videos
    from owlcap.models import load_mllm

    section = context.pipeline.config.caption
    items, bad_inputs = collect_videos(section.videos)
    if not items:
        raise DataError(", ".join(section.videos), "caption.videos: no videos found")
    problems = [str(error) for error in bad_inputs]
    summary: dict[str, Any] = {"videos": len(items), "bad_inputs": problems, "models": {}}
    for name in section.models:
        engine = load_mllm(model_path(name, context), stage.config.model_options)
        result = caption_videos(items, context.layout.captions(name), engine, stage.config)
        del engine
        summary["models"][name] = {"file": str(context.layout.captions(name)), **result.to_dict()}
        problems += [f"{name}: {item_id}: {cause}" for item_id, cause in result.failures]
    if problems and not section.allow_failures:
        listed = "\n  ".join(problems[:20])
        raise CaptionFailures(
            context.layout.stage_dir("caption"),
            f"{len(problems)} video(s) could not be captioned (a re-run retries only these; "
            f"caption.allow_failures: true goes on without them):\n  {listed}",
        )
    return summary


CAPTION = Stage("caption", resolve_caption, run_caption, "caption the videos with each model")
