"""What the console shows during training: transformers' tqdm bar is replaced by owlcap's step bar, drawn on the
console the log lines use (in a terminal, a step's log line prints above the bar, not into it)."""

from __future__ import annotations

from types import SimpleNamespace

from owlcap import progress
from owlcap.train.callbacks import StepBar, close_console


def test_the_step_bar_follows_the_steps_on_the_log_console_and_always_stops(monkeypatch):
    monkeypatch.setenv("OWLCAP_DISABLE_PROGRESS", "")
    bar = StepBar()
    state = SimpleNamespace(is_world_process_zero=True, max_steps=4, global_step=1)  # resumed at step 1
    bar.on_train_begin(None, state, None)
    assert bar.bar.console is progress.console() and bar.bar.live.is_started
    state.global_step = 3
    bar.on_step_end(None, state, None)
    assert bar.bar.tasks[0].completed == 3 and bar.bar.tasks[0].total == 4
    live = bar.bar.live
    close_console(SimpleNamespace(callback_handler=SimpleNamespace(callbacks=[object(), bar])))  # training raised
    assert bar.bar is None and not live.is_started
    bar.on_train_end(None, state, None)  # idempotent
    other_rank = StepBar()
    other_rank.on_train_begin(None, SimpleNamespace(is_world_process_zero=False, max_steps=4, global_step=0), None)
    assert other_rank.bar is None
