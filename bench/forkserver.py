"""A warm process that imports torch and the zoo once, then forks one fresh child per cell.

Why: a cell child spends seconds importing torch, transformers and timm before it builds anything
(4.4 s on a 2-core CPU VM; the GPU machines, with sandboxed file systems, spent 15-20 s per cell
in total). Forking from a process that already holds those modules keeps every isolation property
of a process per cell (own memory and peak RSS, own CUDA context, a crash or OOM kill takes only
that cell) and drops the import cost to a fork.

Fork safety: the server never initialises CUDA (a CUDA context does not survive a fork; the child
creates its own), runs no torch operator before forking (OpenMP's pool does not exist yet) and
does not import ONNX Runtime (it starts a thread at import; the child imports it in 20 ms).

Protocol (one cell at a time, JSON lines): the parent writes
`{"argv": [...bench.cell args], "env": {...}, "log": path}`; the server answers
`{"pid": N}` once the child runs, then `{"pid": N, "code": C}` when it exits, where C follows
`subprocess.Popen.returncode` (negative for a signal). The child calls `setsid()`, so the parent
kills it (and anything it started) with `killpg(N)` exactly as it kills a spawned cell.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

PRELOAD = ("numpy", "torch", "bench.cell", "bench.zoo", "bench.optimize", "bench.runtime",
           "bench.measure.cell_metrics", "bench.measure.fidelity", "bench.measure.timer",
           "bench.measure.stats", "bench.measure.decode")
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """On Linux, get SIGKILL when the parent dies, so a runner killed even by SIGKILL leaves no cell behind."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


CUDA_ERROR_NOT_INITIALIZED = 3


def mapped_libcuda() -> str | None:
    """The path of the CUDA driver library if this process has it mapped (CUDA builds of torch
    link it at import), else None."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "/libcuda.so" in path or path.startswith("libcuda.so"):
                    return path
    except OSError:
        pass
    return None


def cuda_driver_initialised() -> bool:
    """Whether this process called cuInit: after that, a forked child cannot use CUDA.

    A mapped driver library alone is harmless (torch 2.11's CUDA build maps it at import), and
    torch only tracks its own lazy initialisation, not a library that called the driver. Every
    driver call but cuInit answers CUDA_ERROR_NOT_INITIALIZED before cuInit without initialising
    anything, so one such call tells the two apart. Anything but that answer counts as initialised.
    """
    path = mapped_libcuda()
    if path is None:
        return False
    try:
        lib = ctypes.CDLL(path)  # already mapped: the same handle, nothing new is loaded
        count = ctypes.c_int(0)
        return lib.cuDeviceGetCount(ctypes.byref(count)) != CUDA_ERROR_NOT_INITIALIZED
    except (OSError, AttributeError):
        return True


def _child(request: dict) -> None:
    """In the forked child: become a fresh cell process, run the cell, and never return."""
    code = 1
    try:
        os.setsid()
        die_with_parent()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        import tempfile

        tempfile.tempdir = None  # re-read TMPDIR: the cell's scratch directory
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from bench import cell

        code = cell.main(request["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - report it in the cell's log, exit non-zero
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> int:
    """Main loop of the server process: preload, say ready, fork a child per request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner decides when a run stops
    die_with_parent()
    out = sys.stdout
    for name in PRELOAD:
        importlib.import_module(name)
    import torch

    if torch.cuda.is_initialized() or cuda_driver_initialised():  # a forked child could not use CUDA
        print(json.dumps({"error": "CUDA was initialised while preloading"}), file=out, flush=True)
        return 1
    print(json.dumps({"ready": True, "preloaded": list(PRELOAD)}), file=out, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), file=out, flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "code": os.waitstatus_to_exitcode(status)}), file=out, flush=True)
    return 0


class ServerDied(RuntimeError):
    pass


class _Lines:
    """Line reader on a pipe with a timeout (select), so waits can poll memory and Ctrl-C."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        self.buf = b""

    def read(self, timeout: float | None) -> dict | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise ServerDied("the fork server exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


class ForkedCell:
    """A cell forked by the server, with the part of `subprocess.Popen` the executor uses."""

    def __init__(self, server: ForkServer, pid: int):
        self.server, self.pid, self.returncode = server, pid, None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is not None:
            return self.returncode
        try:
            msg = self.server.lines.read(timeout)
        except ServerDied:
            # The server died, and the cell with it (PR_SET_PDEATHSIG): not the cell's fault. The
            # runner sees `lost_cell` and runs the cell again as a new process.
            self.server.lost_cell = True
            self.server.close()
            self.returncode = 1
            return self.returncode
        if msg is None:
            raise subprocess.TimeoutExpired("bench.cell", timeout)
        self.returncode = int(msg["code"])
        return self.returncode


class ForkServer:
    """The runner's handle on the server: started on first use, restarted if it died."""

    def __init__(self, env: dict, label: str = "", start_timeout_s: float = 300, cmd: list[str] | None = None,
                 log_dir: str | Path | None = None):
        self.env, self.start_timeout_s = env, start_timeout_s
        # The server's own log goes in the run's scratch folder: a runner killed with -9 never
        # removes it, and there it goes with the run's artifacts instead of piling up in TMPDIR.
        self.log_dir = str(log_dir) if log_dir is not None else None
        # The label (the run directory) is in the server's command line, and so in its children's:
        # `ps` shows which run a forked cell belongs to, as it does for a spawned one.
        self.cmd = cmd or [sys.executable, "-m", "bench.forkserver", *([label] if label else [])]
        self.failure: str | None = None  # set when the server could not start: spawn cells instead
        self.lost_cell = False  # set when the server died while a forked cell ran
        self.proc: subprocess.Popen | None = None
        self.lines: _Lines | None = None
        self.log_path: str | None = None

    def _start(self) -> None:
        import tempfile

        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
        log = tempfile.NamedTemporaryFile("w", prefix="bench-forkserver-", suffix=".log", delete=False,
                                          dir=self.log_dir)
        self.log_path = log.name
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=log, env=self.env, start_new_session=True)
        log.close()
        self.lines = _Lines(self.proc.stdout)
        try:
            msg = self.lines.read(self.start_timeout_s)
        except ServerDied:
            msg = None
        if not msg or not msg.get("ready"):
            self.failure = f"the fork server did not start: {msg or self._log_tail()}"
            self.close()
            raise ServerDied(self.failure)

    def _log_tail(self) -> str:
        try:
            with open(self.log_path or "", errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def spawn(self, argv: list[str], env: dict, log_path: str) -> ForkedCell:
        if self.failure:
            raise ServerDied(self.failure)
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        request = {"argv": argv, "env": env, "log": log_path}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            msg = self.lines.read(self.start_timeout_s)
        except (BrokenPipeError, ServerDied):
            msg = None
        if not msg or "pid" not in msg:
            self.close()
            raise ServerDied("the fork server did not fork the cell")
        return ForkedCell(self, int(msg["pid"]))

    def disable(self, reason: str) -> None:
        """Stop forking for the rest of the run (later cells are spawned)."""
        self.failure = reason
        self.close()

    def close(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.proc = None
        if self.log_path:  # what it said that matters is in `failure` already
            Path(self.log_path).unlink(missing_ok=True)
            self.log_path = None


if __name__ == "__main__":  # python -m bench.forkserver [LABEL]; LABEL only names the run in `ps`
    sys.exit(serve())
