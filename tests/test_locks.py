"""``owlcap.locks``: one writer per output folder."""

from __future__ import annotations

import os

import pytest

from owlcap.errors import ConfigError
from owlcap.locks import claim_folder, lock_folder, unlock


def test_a_folder_lock_is_refused_to_a_second_holder_and_names_the_first(tmp_path):
    first = lock_folder(tmp_path, busy="busy", advice="wait")
    with pytest.raises(ConfigError, match=rf"^busy \(pid {os.getpid()}\); wait$"):
        lock_folder(tmp_path, busy="busy", advice="wait")
    unlock(first)
    unlock(lock_folder(tmp_path, busy="busy", advice="wait"))  # free again once released


def test_a_claimed_folder_that_got_nothing_is_removed_and_one_that_existed_or_got_files_stays(tmp_path):
    made = tmp_path / "made" / "out"
    unlock(claim_folder(made, name="--out", busy="busy", advice="wait"))
    assert not made.exists()  # owlcap made it and wrote nothing: no empty folder with a lock file left behind

    used = tmp_path / "used"
    handle = claim_folder(used, name="--out", busy="busy", advice="wait")
    (used / "records.jsonl").write_text("{}\n")
    unlock(handle)
    assert sorted(p.name for p in used.iterdir()) == [".lock", "records.jsonl"]

    given = tmp_path / "given"
    given.mkdir()
    unlock(claim_folder(given, name="--out", busy="busy", advice="wait"))
    assert given.is_dir()  # the user's folder is never removed, even empty


def test_a_second_claim_of_a_folder_made_by_the_first_keeps_it(tmp_path):
    out = tmp_path / "out"
    first = claim_folder(out, name="--out", busy="busy", advice="wait")
    with pytest.raises(ConfigError, match="busy"):
        claim_folder(out, name="--out", busy="busy", advice="wait")
    assert out.is_dir()  # the refused claim did not take the first holder's folder away
    unlock(first)
