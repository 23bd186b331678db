"""The pipeline's stages, in the order they run.

To add a stage: write its ``resolve`` and ``run`` (see ``base``), add its section to
``owlcap.run.config.PipelineConfig``, and insert it here.
"""

from owlcap.run.stages.base import Layout, ResolvedStage, RunContext, Stage
from owlcap.run.stages.caption import CAPTION
from owlcap.run.stages.data import DATA
from owlcap.run.stages.dpo import DPO
from owlcap.run.stages.evaluate import EVAL
from owlcap.run.stages.report import REPORT
from owlcap.run.stages.train import GRPO, SFT

STAGES: tuple[Stage, ...] = (DATA, SFT, DPO, GRPO, CAPTION, EVAL, REPORT)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)

__all__ = ["STAGES", "STAGE_NAMES", "Layout", "ResolvedStage", "RunContext", "Stage"]
