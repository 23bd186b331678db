"""Where CaReBench's official files are on the Hugging Face Hub and how ``owlcap eval fetch carebench`` lays them out.

The repository ``MCG-NJU/CaReBench`` (the benchmark's authors', linked from the official README) holds the 1,000
annotations as one JSON list (``json/metadata.json``: ``video`` (a file name), ``caption``, ``spatial_caption``,
``temporal_caption``, ``category``, ``subcategory``) and the videos in ``videos/videos.zip`` (about 3.9 GB, with a
copy of the metadata). The official captioning task reads that JSON list as it is (``data.config`` names it), so it
lands unchanged as ``carebench/metadata.json``; the videos land as ``carebench/videos/<stem>.mp4``, the ids owlcap
keys captions by. This layout was read from a third-party loader of the dataset (mteb's CaReBench retrieval task,
pinned to the hub commit 8cf3e1d2), not from the hub itself, which this project's machines cannot reach: the counts
below are checked on every fetch.
"""

from __future__ import annotations

from pathlib import Path

from owlcap.eval.carebench.data import load
from owlcap.eval.fetch import FetchSpec, HubFile

ANNOTATIONS = "metadata.json"
OFFICIAL_COUNTS = {"records": 1000, "videos": 1000}


def counts(folder: Path) -> dict[str, int]:
    items = load(folder / ANNOTATIONS).items
    return {"records": len(items), "videos": len({item.id for item in items})}


def video_ids(folder: Path) -> set[str]:
    return {item.id for item in load(folder / ANNOTATIONS).items}


SPEC = FetchSpec(
    benchmark="carebench",
    repo_id="MCG-NJU/CaReBench",
    files=(HubFile("json/metadata.json", ANNOTATIONS),),
    archives=("videos/videos.zip",),
    counts=counts,
    expected=dict(OFFICIAL_COUNTS),
    video_ids=video_ids,
    notes="The annotation list is the file the official captioning task reads (its data.config anno_path), unchanged. "
    "Records without 'events'/'objects' lists get them extracted by the judge from the reference caption, as "
    "officially. The hub layout was read from a third-party loader (mteb, hub commit 8cf3e1d2), not the hub itself.",
    usage="owlcap eval carebench --annotations {folder}/metadata.json --captions CAPTIONS.jsonl --judge SPEC "
    "(or --videos {folder}/videos --model M to caption first)",
)
