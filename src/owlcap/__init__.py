"""owlcap: train and judge video captioners (OwlCap, AAAI 2026, arXiv 2508.18634)."""

__version__ = "0.1.0"
