"""Video SFT step time, tokens/s and peak memory: full fine-tuning vs LoRA, at several frame counts.

    OMP_NUM_THREADS=1 python benchmarks/sft_step.py                          # CPU: tiny random Qwen2.5-VL (~1 min)
    python benchmarks/sft_step.py --arch qwen2.5-vl-7b --frames 16 64        # GPU: 7B architecture, random weights

Each measurement runs the real recipe pieces: ``VideoSFTTrainer`` (TRL ``SFTTrainer``) with the arguments
``owlcap train sft`` builds (``build_sft_args``), the tuning plan of ``owlcap.train.modeling`` (vision tower frozen,
projector trained; LoRA r=64 on every language-model linear layer), and the video collator on an HMD sample video
sampled to exactly ``--frames`` frames within the paper's 3584*28*28 pixel budget (so 16 and 64 frames cost about
the same number of video tokens: the budget is per video, and more frames means smaller frames).

``--arch qwen2.5-vl-7b`` builds Qwen2.5-VL-7B-Instruct's architecture from its config with random weights (no
download) in bf16, with gradient checkpointing and sdpa attention; the tokenizer and processor come from the tiny
offline model, whose token ids all fit the 7B vocabulary. ``--arch tiny`` is the tiny model itself, in fp32 on CPU.

Step time is the median over ``--steps`` optimizer steps after ``--warmup``, from ``on_step_begin`` to
``on_step_end``: forward, backward and optimizer, without data loading (decoding happens before the step).
tokens/s counts every input token (text and video placeholders) of the batch. Peak memory is
``torch.cuda.max_memory_allocated``. The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def build_model(tiny_dir: Path, arch: str, device: str):
    """The tiny model as saved, or Qwen2.5-VL-7B's architecture with random bf16 weights on ``device``."""
    from transformers import AutoModelForImageTextToText

    from owlcap.models.tiny import build_random_model, random_model_config

    if arch == "tiny":
        return AutoModelForImageTextToText.from_pretrained(tiny_dir, dtype=torch.float32)
    model = build_random_model(random_model_config(tiny_dir, arch), tiny_dir, device=device, dtype=torch.bfloat16)
    model.config.use_cache = False
    return model


def run_case(args, tiny_dir: Path, video: Path, caption: str, tuning: str, frames: int) -> dict:
    from datasets import Dataset
    from transformers import AutoProcessor

    from owlcap.train.data import DataCounters, VideoCaptionCollator
    from owlcap.train.modeling import TrainModelConfig, count_parameters, prepare_model
    from owlcap.train.sft import VideoSFTTrainer, build_sft_args
    from owlcap.train.sft_config import SFTRunConfig

    gpu = args.arch != "tiny"
    model = build_model(tiny_dir, args.arch, "cuda" if gpu else "cpu")
    processor = AutoProcessor.from_pretrained(tiny_dir)
    model_config = TrainModelConfig(name_or_path=str(tiny_dir), tuning=tuning, freeze_vision_tower=True)
    peft_config = prepare_model(model, model_config)
    steps = args.warmup + args.steps
    run = SFTRunConfig(
        model=model_config,
        data={"train_files": ["unused"], "sampling": _sampling(args, frames), "num_workers": 0},
        output_dir=str(tiny_dir.parent / f"out-{tuning}-{frames}"),
        max_steps=steps,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=1,
        learning_rate=1e-4 if tuning == "lora" else 1e-5,
        warmup_steps=0,
        gradient_checkpointing=gpu,
        optim=args.optim,
        save_steps=10_000,
        logging_steps=10_000,
        report_to=[],
        trl_args={"save_strategy": "no", "disable_tqdm": True},
    )
    tokens: list[int] = []

    class Counting(VideoCaptionCollator):
        def __call__(self, examples):
            batch = super().__call__(examples)
            tokens.append(int(batch["attention_mask"].sum()))
            return batch

    sampling = run.data.sampling.model_copy(update={"factor": 28})
    counters = DataCounters()
    row = {"id": "v", "video": str(video), "caption": caption, "prompt": None, "system": None, "source": ""}
    trainer = VideoSFTTrainer(
        model=model,
        args=build_sft_args(run),
        train_dataset=Dataset.from_list([row] * steps),
        processing_class=processor,
        data_collator=Counting(processor, sampling, counters=counters),
        peft_config=peft_config,
        data_counters=counters,
    )
    clock = StepClock(gpu)
    trainer.add_callback(clock)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    measured = clock.seconds[args.warmup :]
    step_s = statistics.median(measured)
    params = count_parameters(trainer.model)
    result = {
        "tuning": tuning,
        "frames": frames,
        "step_s": round(step_s, 4),
        "tokens_per_step": tokens[-1],
        "tokens_per_s": round(tokens[-1] / step_s, 1),
        "videos_decoded": counters.snapshot()["videos_decoded"],
        "trainable_params": params.trainable,
        "total_params": params.total,
    }
    if gpu:
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    del trainer, model
    if gpu:
        torch.cuda.empty_cache()
    return result


class StepClock(TrainerCallback):
    """Seconds of each optimizer step (synchronised on GPU)."""

    def __init__(self, sync: bool):
        self.sync = sync
        self.seconds: list[float] = []
        self._start = 0.0

    def _now(self) -> float:
        if self.sync:
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = self._now()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(self._now() - self._start)


def _sampling(args, frames: int) -> dict:
    from owlcap.video import PAPER_TOTAL_PIXELS

    if args.arch == "tiny":
        return {"nframes": frames, "min_pixels": 16 * 28 * 28, "max_pixels": 64 * 28 * 28}
    return {"nframes": frames, "total_pixels": PAPER_TOTAL_PIXELS, "min_pixels": 16 * 28 * 28}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=["tiny", "qwen2.5-vl-7b"], default="tiny")
    parser.add_argument("--frames", type=int, nargs="+", default=None, help="default: 4 16 (tiny), 16 64 (7B)")
    parser.add_argument("--tuning", nargs="+", choices=["full", "lora"], default=["full", "lora"])
    parser.add_argument("--steps", type=int, default=5, help="measured steps per case")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured steps first")
    parser.add_argument("--optim", default="adamw_torch", help="transformers optimizer name")
    args = parser.parse_args()
    frames = args.frames or ([4, 16] if args.arch == "tiny" else [16, 64])
    if args.arch != "tiny" and not torch.cuda.is_available():
        parser.error("--arch qwen2.5-vl-7b needs a CUDA GPU")

    from owlcap import envs
    from owlcap.models import build_tiny_model

    samples = envs.samples_dir() / "hmd"
    first = json.loads((samples / "captions.jsonl").read_text().splitlines()[0])
    video, caption = samples / first["video"], first["caption"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny_dir = build_tiny_model(Path(tmp) / "tiny", "qwen2_5_vl")
        for tuning in args.tuning:
            for count in frames:
                result = run_case(args, tiny_dir, video, caption, tuning, count)
                print(json.dumps(result), flush=True)
                results.append(result)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu"
    print(json.dumps({"arch": args.arch, "device": device, "steps": args.steps, "results": results}))


if __name__ == "__main__":
    main()
