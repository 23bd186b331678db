"""Where VDC's official files are on the Hugging Face Hub and how ``owlcap eval fetch vdc`` lays them out.

The repository ``wchai/Video-Detailed-Caption`` (the VDC authors') holds the five question files the VDCscore
judge asks from (``VDCScore_qa/<dimension>.jsonl``) and the 1,027 videos in three archives
(``videos/videos_{1,2,3}.tar.gz``, about 80 GB). They land as ``vdc/<dimension>.jsonl`` and ``vdc/videos/<id>.mp4``:
``owlcap eval vdc --qa-dir DIR/vdc`` reads the first, ``--videos DIR/vdc/videos`` the second.
"""

from __future__ import annotations

from pathlib import Path

from owlcap.eval.fetch import FetchSpec, HubFile
from owlcap.eval.vdc.data import DIMENSIONS, load

# The official question files (AuroraCap's post_eval/*.jsonl, which the official scorer reads), as owlcap's loader
# counts them: videos with questions (a repeated video's last line wins) and questions, per dimension.
OFFICIAL_COUNTS = {
    "camera": (1027, 19112),
    "short": (1027, 19512),
    "background": (1027, 19156),
    "main_object": (1025, 19234),  # 1,029 lines: 4 videos repeat; 2 videos have no main_object questions
    "detailed": (1027, 19811),
}


def counts(folder: Path) -> dict[str, int]:
    data = load(folder)
    found = {"videos": len(data.video_ids())}
    for name, dimension in data.dimensions.items():
        found[f"{name} videos"] = len(dimension.videos)
        found[f"{name} questions"] = dimension.questions
    found["questions"] = sum(dimension.questions for dimension in data.dimensions.values())
    return found


def video_ids(folder: Path) -> set[str]:
    return set(load(folder).video_ids())


def _expected() -> dict[str, int]:
    expected = {"videos": 1027}
    for name, (videos, questions) in OFFICIAL_COUNTS.items():
        expected[f"{name} videos"] = videos
        expected[f"{name} questions"] = questions
    expected["questions"] = sum(questions for _, questions in OFFICIAL_COUNTS.values())  # 96,825
    return expected


SPEC = FetchSpec(
    benchmark="vdc",
    repo_id="wchai/Video-Detailed-Caption",
    files=tuple(HubFile(f"VDCScore_qa/{name}.jsonl", f"{name}.jsonl") for name in DIMENSIONS),
    archives=("videos/videos_1.tar.gz", "videos/videos_2.tar.gz", "videos/videos_3.tar.gz"),
    counts=counts,
    expected=_expected(),
    video_ids=video_ids,
    notes="The hub's question files are the official ones (AuroraCap's post_eval/*.jsonl) without the 'category' "
    "field of each question, by their sizes; no scorer reads that field, and the counts above check the questions. "
    "VDC_1k.jsonl (the reference captions) is not fetched: no scorer reads it.",
    usage="owlcap eval vdc --qa-dir {folder} --captions CAPTIONS.jsonl --judge SPEC "
    "(or --videos {folder}/videos --model M to caption first)",
)
