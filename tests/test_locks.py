"""``owlcap.locks``: one writer per output folder."""

from __future__ import annotations

import os

import pytest

from owlcap.errors import ConfigError
from owlcap.locks import lock_folder, unlock


def test_a_folder_lock_is_refused_to_a_second_holder_and_names_the_first(tmp_path):
    first = lock_folder(tmp_path, busy="busy", advice="wait")
    with pytest.raises(ConfigError, match=rf"^busy \(pid {os.getpid()}\); wait$"):
        lock_folder(tmp_path, busy="busy", advice="wait")
    unlock(first)
    unlock(lock_folder(tmp_path, busy="busy", advice="wait"))  # free again once released
