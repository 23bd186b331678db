"""owlcap: caption videos, score captions with CSER, train video captioners with SFT and GRPO, evaluate them on VDC
and DREAM-1K (after OwlCap, AAAI 2026, arXiv 2508.18634)."""

__version__ = "0.1.0"
