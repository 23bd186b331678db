"""Run a training stage under a distributed launcher (accelerate, torchrun, srun) as a subprocess.

With ``launch:`` in a training section, the stage does not train in the pipeline's process: it runs

    <launch.command> -m owlcap.cli.main train <recipe> RUN_DIR/<stage>/config.yaml

(the resolved stage config the pipeline writes before the stage runs; ``{args}`` in the command marks where that
tail goes when the launcher wraps a shell) and waits for it. The launched command is ``owlcap train`` itself, so
it resumes from its newest checkpoint on a re-run and leaves ``<recipe>_result.json`` in ``output_dir`` when it
finished, which the stage reads back. The output goes to the terminal and to ``RUN_DIR/<stage>/launch.log``.

Ctrl-C (or SIGTERM) is passed on to the launcher and waited for; if the pipeline itself dies (``kill -9``), the
kernel sends the launcher SIGTERM (Linux), so no training is left running into a folder the next run resumes.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

from owlcap.errors import OwlcapError
from owlcap.run.config import LaunchSection

logger = logging.getLogger(__name__)

LOG_FILE = "launch.log"
STOP_GRACE_S = 60.0


class LaunchFailed(OwlcapError):
    """The launched training command failed."""


def launch_command(launch: LaunchSection, recipe: str, config_path: Path) -> list[str]:
    """The argument list that runs ``owlcap train RECIPE CONFIG`` under ``launch.command``."""
    tail = ["-m", "owlcap.cli.main", "train", recipe, str(config_path)]
    if "{args}" in launch.command:
        return shlex.split(launch.command.replace("{args}", shlex.join(tail)))
    return [*shlex.split(launch.command), *tail]


def launch_env(launch: LaunchSection, cpu_threads: int | None) -> dict[str, str]:
    """The launched command's environment: this process's, ``launch.env`` on top; ``cpu_threads`` becomes
    ``OMP_NUM_THREADS`` unless set."""
    env = {**os.environ, **launch.env}
    if cpu_threads is not None and "OMP_NUM_THREADS" not in launch.env:
        env["OMP_NUM_THREADS"] = str(cpu_threads)
    return env


def run_launched(
    launch: LaunchSection, recipe: str, config_path: Path, output_dir: Path, *, cpu_threads: int | None = None
) -> dict[str, Any]:
    """Run the stage under the launcher; returns the run's ``<recipe>_result.json``. ``LaunchFailed`` when the
    command fails or leaves no result; ``KeyboardInterrupt`` after the launcher stopped."""
    from owlcap.train.run_dir import result_path

    command = launch_command(launch, recipe, config_path)
    log = config_path.parent / LOG_FILE
    logger.info("%s: launching %s (output in %s)", recipe, shlex.join(command), log)
    tail = _run(command, launch_env(launch, cpu_threads), log)
    status, last_lines = tail
    if status != 0:
        shown = "\n    ".join(last_lines)
        raise LaunchFailed(
            f"`{shlex.join(command)}` exited with status {status}; its output is in {log}. Last lines:\n    {shown}"
        )
    result = result_path(output_dir, recipe)
    if not result.is_file():
        raise LaunchFailed(f"`{shlex.join(command)}` ended without writing {result}; see {log}")
    return json.loads(result.read_text(encoding="utf-8"))


def _run(command: list[str], env: dict[str, str], log: Path) -> tuple[int, list[str]]:
    """Run ``command``, copying its output to stderr and ``log``; returns its status and last lines."""
    last: deque[str] = deque(maxlen=15)
    try:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,  # noqa: PLW1509
        )
    except OSError as exc:
        raise LaunchFailed(f"cannot start `{shlex.join(command)}`: {exc.strerror or exc}") from exc
    try:
        with log.open("ab") as handle:
            for line in process.stdout:
                handle.write(line)
                handle.flush()
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
                last.append(line.decode("utf-8", "replace").rstrip())
        return process.wait(), list(last)
    except BaseException:
        _stop(process)
        raise


def _stop(process: subprocess.Popen) -> None:
    """Pass an interrupt on to the launcher (it stops its workers) and wait; terminate, then kill, if it lingers."""
    if process.poll() is not None:
        return
    logger.warning("stopping the launched training (pid %d)", process.pid)
    for sig, wait_s in ((signal.SIGINT, STOP_GRACE_S), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        process.send_signal(sig)
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to SIGTERM the launcher when the pipeline's process dies, however it dies."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
