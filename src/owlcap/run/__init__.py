"""owlcap.run: the pipeline orchestrator behind ``owlcap run`` and ``owlcap quickstart``.

```python
from owlcap.run import run_pipeline
result = run_pipeline("configs/quickstart.yaml", ["--sft.overrides.max_steps", "10"], from_stage="grpo")
print(result.report)            # RUN_DIR/report/index.html
```

``config`` (the pipeline config), ``resolve`` (stage configs and their errors), ``state`` (markers, fingerprints),
``pipeline`` (the loop), ``stages`` (one module per stage), ``launch`` (training under a distributed launcher),
``report`` (figures, plots, pages). Nothing heavy is
imported here; the stages import the training and captioning code when they run.
"""

from importlib import resources
from pathlib import Path

from owlcap.run.config import PipelineConfig
from owlcap.run.pipeline import PipelineResult, StageError, StageOutcome, run_pipeline, run_source
from owlcap.run.resolve import load_pipeline
from owlcap.run.stages import STAGE_NAMES


def quickstart_config() -> Path:
    """The embedded quickstart pipeline config shipped inside the package (the same file as configs/quickstart.yaml)."""
    return Path(str(resources.files("owlcap.run").joinpath("quickstart.yaml")))


__all__ = [
    "STAGE_NAMES",
    "PipelineConfig",
    "PipelineResult",
    "StageError",
    "StageOutcome",
    "load_pipeline",
    "quickstart_config",
    "run_pipeline",
    "run_source",
]
