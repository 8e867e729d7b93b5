"""``process_exit.exit_now`` in real subprocesses: what was printed (unflushed, to a pipe) still
arrives, the exit status is the one given, and a running non-daemon thread is waited for."""

from __future__ import annotations

import subprocess
import sys

from inference_backend.cli import ENDS_AT_ONCE, command_of

SCRIPT = """
import logging, sys, threading, time
from inference_backend.process_exit import exit_now
logging.basicConfig(stream=sys.stderr, format="%(message)s")
sys.stdout.write("event-1\\nevent-2")          # no newline, no flush: still buffered
logging.getLogger("x").warning("logged")
if sys.argv[1] == "thread":
    def late():
        time.sleep(0.3)
        print("thread done", flush=True)
    threading.Thread(target=late).start()
exit_now(int(sys.argv[2]))
print("never")
"""


def _run(mode: str, code: int, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode, str(code)], capture_output=True,
                          text=True, env=env, timeout=60)


def test_buffered_output_arrives_and_the_status_is_kept(backend_env) -> None:
    proc = _run("plain", 7, backend_env)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "event-1\nevent-2"
    assert "logged" in proc.stderr


def test_a_running_thread_is_waited_for(backend_env) -> None:
    proc = _run("thread", 3, backend_env)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "event-1\nevent-2thread done\n"


def test_only_capture_ends_at_once() -> None:
    assert command_of(["capture", "v.mp4", "-o", "o.npz", "--progress", "jsonl"]) == "capture"
    assert command_of(["--help"]) is None
    assert ENDS_AT_ONCE == {"capture"}      # batch runs Ray, which has exit handlers
