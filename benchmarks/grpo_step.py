"""Video GRPO step time with each distinct video encoded once per forward pass vs once per completion.

    OMP_NUM_THREADS=1 python benchmarks/grpo_step.py          # CPU: tiny LM, heavy vision tower (about 90 s)
    python benchmarks/grpo_step.py --gpu                     # GPU: Qwen2.5-VL-7B architecture, random weights, bf16

Both modes run the same ``VideoGRPOTrainer`` steps on the same weights and videos (the HMD samples); only
``share_video_encoding`` differs. ``per-completion`` is what feeding every row its own pixel values costs (TRL's
image path): the vision tower sees G copies of each video in every forward pass. Each step is a full GRPO step:
generation, reward, reference forward (when beta > 0), policy forward and backward, optimizer step.

CPU setting: the random tiny Qwen2.5-VL's language model (hidden 64, 2 layers) with a vision tower made heavy on
purpose (hidden 256, 6 blocks, MLP 1024, 4 heads: 7.7 M parameters against the LM's 0.24 M), so that the effect
is visible on a CPU (this overstates the vision share of a 7B step; the GPU setting measures that); 8 frames per
video of at most 224x224 pixels (aspect kept: 240 video tokens per clip), G=4, 2 videos per step, 16-token
completions, beta 0.04. The GPU setting is the real proportion: Qwen2.5-VL-7B's architecture with random weights
in bf16, G=8, one video of 16 frames within the paper's 3584*28*28 pixels per step, 128-token completions,
gradient checkpointing, beta 0 (no reference copy) and plain SGD, so that full training fits one 80 GB GPU.

Step time is the median over ``--steps`` steps after ``--warmup``; the vision share is the vision tower's forward
and backward time (measured with hooks and autograd stamps, synchronised on GPU) over the step time. The last line
printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

HEAVY_VISION = {"depth": 6, "hidden_size": 256, "intermediate_size": 1024, "num_heads": 4, "fullatt_block_indexes": [5]}


def build_model(base_dir: Path, gpu: bool, device: str):
    """Random weights on the tiny model's tokenizer/processor: heavy-vision tiny (CPU) or Qwen2.5-VL-7B (GPU)."""
    from owlcap.models.tiny import build_random_model, random_model_config

    if gpu:  # the 7B's own dimensions; only the special token ids come from the tiny tokenizer
        config = random_model_config(base_dir, "qwen2.5-vl-7b")
    else:
        config = random_model_config(base_dir, vision=HEAVY_VISION)
    return build_random_model(config, base_dir, device=device, dtype=torch.bfloat16 if gpu else torch.float32)


class VisionTimer:
    """Forward and backward time of the vision tower: forward hooks, and identity autograd stamps around it."""

    def __init__(self, visual, sync: bool):
        self.sync = sync
        self.seconds = 0.0
        self.videos = 0
        self._start = 0.0
        self.watch(visual)

    def watch(self, visual) -> None:
        visual.register_forward_pre_hook(self._before, with_kwargs=True)
        visual.register_forward_hook(self._after, with_kwargs=True)

    def _now(self) -> float:
        if self.sync:
            torch.cuda.synchronize()
        return time.perf_counter()

    def _before(self, module, args, kwargs):
        self._start = self._now()
        self.videos += int(kwargs.get("grid_thw", args[1] if len(args) > 1 else None).shape[0])
        if torch.is_grad_enabled():  # the backward reaches this input last: stamp the end of the vision backward
            pixels = args[0].detach().requires_grad_()
            return (_Stamp.apply(pixels, self, "end"), *args[1:]), kwargs
        return None

    def _after(self, module, args, kwargs, output):
        self.seconds += self._now() - self._start
        if torch.is_grad_enabled():  # and this output first: stamp the start of the vision backward
            output.pooler_output = _Stamp.apply(output.pooler_output, self, "start")
        return output


def clock_steps(trainer, timer: VisionTimer, *, sync: bool) -> list[dict]:
    """Time every optimizer step of ``trainer`` (and the vision time and videos in it); the returned list fills as
    it trains: ``{"s", "cpu_s", "vision_s", "videos"}`` per step (``cpu_s``: this process's CPU time, which other
    jobs on a shared machine move less than the wall time)."""
    from transformers import TrainerCallback

    steps: list[dict] = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            if sync:
                torch.cuda.synchronize()
            self.start, self.cpu = time.perf_counter(), time.process_time()
            self.vision, self.videos = timer.seconds, timer.videos

        def on_step_end(self, *a, **k):
            if sync:
                torch.cuda.synchronize()
            steps.append({"s": time.perf_counter() - self.start, "cpu_s": time.process_time() - self.cpu,
                          "vision_s": timer.seconds - self.vision, "videos": timer.videos - self.videos})  # fmt: skip

    trainer.add_callback(StepClock())
    return steps


class _Stamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, timer, which):
        ctx.timer, ctx.which = timer, which
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):
        timer = ctx.timer
        if ctx.which == "start":
            timer._backward_start = timer._now()
        else:
            timer.seconds += timer._now() - timer._backward_start
        return grad, None, None


def run_mode(args, base_dir: Path, videos, share: bool, device: str) -> dict:
    from transformers import AutoProcessor
    from trl import GRPOConfig

    from owlcap.train.grpo_trainer import VideoGRPOTrainer
    from owlcap.video import PAPER_TOTAL_PIXELS, SamplingConfig

    gpu = args.gpu
    model = build_model(base_dir, gpu, device)
    processor = AutoProcessor.from_pretrained(base_dir)
    sampling = (
        SamplingConfig(nframes=args.frames, total_pixels=PAPER_TOTAL_PIXELS, max_pixels=PAPER_TOTAL_PIXELS, factor=28)
        if gpu
        else SamplingConfig(nframes=args.frames, min_pixels=224 * 224, max_pixels=224 * 224, factor=28)
    )
    from datasets import Dataset

    rows = [
        {"prompt": "Describe this video in detail.", "video": str(v), "caption": "x", "system": None} for v in videos
    ]
    config = GRPOConfig(
        output_dir=str(base_dir / ("shared" if share else "per-completion")),
        per_device_train_batch_size=args.generations * args.videos, num_generations=args.generations,
        max_completion_length=args.completion, max_steps=args.warmup + args.steps, learning_rate=1e-6,
        beta=args.beta, bf16=False, use_cpu=not gpu, report_to=[], save_strategy="no", logging_steps=1,
        gradient_checkpointing=gpu, optim="sgd" if gpu else "adamw_torch", seed=0, disable_tqdm=True,
        remove_unused_columns=False, shuffle_dataset=False,
    )  # fmt: skip

    def reward(completions, **kwargs):
        return [float(len(set(text))) for text in completions]

    dataset = Dataset.from_list(rows * (args.warmup + args.steps))
    trainer = VideoGRPOTrainer(
        model, [reward], config, dataset, processing_class=processor, video_sampler=sampling, share_video_encoding=share
    )
    timer = VisionTimer(trainer.model.model.visual, sync=gpu)
    if trainer.ref_model is not None:  # the reference forward's vision time counts too
        timer.watch(trainer.ref_model.model.visual)
    steps = clock_steps(trainer, timer, sync=gpu)
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    measured = steps[args.warmup :]
    step_s = statistics.median(s["s"] for s in measured)
    result = {
        "step_s": step_s,
        "vision_share": statistics.median(s["vision_s"] / s["s"] for s in measured),
        "vision_videos_per_step": statistics.median(s["videos"] for s in measured),
        "vision_tokens_per_video": _tokens(trainer, videos[0]),
    }
    if gpu:
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    result["params"] = {"vision": count(trainer.model.model.visual), "total": count(trainer.model)}
    del trainer, model
    return result


def _tokens(trainer, video) -> int:
    batch = trainer.video_prompts.build([{"prompt": None, "video": str(video), "system": None}])
    grid = batch.videos[0].video_grid_thw[0]
    return int(grid.prod()) // 4


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="Qwen2.5-VL-7B architecture on CUDA, bf16, G=8, 16 frames")
    parser.add_argument("--steps", type=int, default=5, help="measured steps per mode")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured steps first")
    parser.add_argument("--generations", type=int, default=None, help="G (default 4 on CPU, 8 on GPU)")
    parser.add_argument("--videos", type=int, default=None, help="videos per step (default 2 on CPU, 1 on GPU)")
    parser.add_argument("--frames", type=int, default=None, help="frames per video (default 8 on CPU, 16 on GPU)")
    parser.add_argument("--completion", type=int, default=None, help="max completion tokens (16 CPU, 128 GPU)")
    parser.add_argument("--beta", type=float, default=None, help="KL coefficient (0.04 CPU; 0 GPU: no reference copy)")
    args = parser.parse_args()
    gpu_defaults = {"generations": 8, "videos": 1, "frames": 16, "completion": 128, "beta": 0.0}
    cpu_defaults = {"generations": 4, "videos": 2, "frames": 8, "completion": 16, "beta": 0.04}
    for key, value in (gpu_defaults if args.gpu else cpu_defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.gpu and not torch.cuda.is_available():
        sys.exit("--gpu needs a CUDA device")
    device = "cuda" if args.gpu else "cpu"

    from owlcap import envs
    from owlcap.models import build_tiny_model

    videos = sorted((envs.samples_dir() / "hmd" / "videos").glob("*.mp4"))[: args.videos]
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny_model(Path(tmp) / "base", "qwen2_5_vl")
        if args.beta > 0:  # TRL loads the reference model from the policy's path: give it these random weights
            build_model(base, args.gpu, "cpu").save_pretrained(base)
        modes = {name: run_mode(args, base, videos, share, device) for name, share in
                 (("shared", True), ("per-completion", False))}  # fmt: skip
    _report(args, modes, device)


def _report(args, modes: dict, device: str) -> None:
    shared, per = modes["shared"], modes["per-completion"]
    print(f"{'':24}{'shared':>14}{'per-completion':>16}")
    print(f"{'step time (median, s)':24}{shared['step_s']:>14.3f}{per['step_s']:>16.3f}")
    print(f"{'vision share of step':24}{shared['vision_share']:>14.1%}{per['vision_share']:>16.1%}")
    print(
        f"{'videos encoded / step':24}{shared['vision_videos_per_step']:>14.0f}{per['vision_videos_per_step']:>16.0f}"
    )
    if "peak_memory_gib" in shared:
        print(f"{'peak memory (GiB)':24}{shared['peak_memory_gib']:>14.1f}{per['peak_memory_gib']:>16.1f}")
    headline = {
        "benchmark": "grpo_step",
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "arch": "qwen2_5_vl_7b (random weights, bf16)" if args.gpu else "tiny LM + heavy vision tower",
        "G": args.generations, "videos_per_step": args.videos, "frames": args.frames,
        "vision_tokens_per_video": shared["vision_tokens_per_video"], "completion_tokens": args.completion,
        "beta": args.beta, "steps": args.steps,
        "step_s_shared": round(shared["step_s"], 4), "step_s_per_completion": round(per["step_s"], 4),
        "speedup": round(per["step_s"] / shared["step_s"], 3),
        "vision_share_shared": round(shared["vision_share"], 3),
        "vision_share_per_completion": round(per["vision_share"], 3),
        "params_vision": shared["params"]["vision"], "params_total": shared["params"]["total"],
    }  # fmt: skip
    if "peak_memory_gib" in shared:
        headline |= {"peak_gib_shared": round(shared["peak_memory_gib"], 2),
                     "peak_gib_per_completion": round(per["peak_memory_gib"], 2)}  # fmt: skip
    print(json.dumps(headline))


if __name__ == "__main__":
    main()
