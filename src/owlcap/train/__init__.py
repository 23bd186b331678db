"""owlcap.train: SFT and GRPO of video MLLMs on TRL + accelerate/DeepSpeed.

``data`` (datasets, decoding, the video collator, label masking) and ``modeling`` (loading for training, full/LoRA,
freezing, parameter counts) are shared by both recipes; ``sft`` is the supervised recipe. Import the submodules
directly; nothing heavy is imported here.
"""
