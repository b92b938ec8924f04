"""Runs cells, one process each, and turns every outcome into a record.

The parent never imports torch for a cell: it writes the cell to JSON, starts
`python -m bench.cell`, waits with a timeout, and reads the record the child wrote. A child that
raised, crashed on a signal, ran out of memory or overran its timeout still yields a record, with
its status, a `failure` kind, the reason and the last lines of its stderr, and the sweep goes on.

Resuming is the same loop: cells that already have a readable record are not run again, so a
run directory left by `kill -9` completes without re-measuring anything or writing duplicates.
Ctrl-C (SIGINT, or SIGTERM from a scheduler) kills the cell in flight, records nothing for it,
marks the manifest `interrupted` and re-raises, so the CLI exits 130.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.forkserver import die_with_parent
from bench.record import base_record, checked
from bench.store import RunStore
from bench.suite import Cell

STDERR_TAIL_LINES = 20
RSS_POLL_S = 0.2
# What a CUDA call in a forked child says when its parent had initialised CUDA after all.
CUDA_FORK_ERRORS = re.compile(r"re-initialize CUDA in forked subprocess|CUDA driver initialization failed|"
                              r"CUDA_ERROR_NOT_INITIALIZED|cudaErrorInitializationError", re.IGNORECASE)
# What an allocation failure looks like in a child's error or stderr, from Python, C++, torch and CUDA.
# What a write on a full disk says, from Python (errno 28) and from C libraries.
DISK_FULL = re.compile(r"No space left on device|Errno 28|ENOSPC|disk full", re.IGNORECASE)
OOM_PATTERNS = re.compile(r"MemoryError|std::bad_alloc|can(no|')t allocate memory|out of memory|OutOfMemoryError",
                          re.IGNORECASE)
BENCH_ROOT = Path(__file__).resolve().parents[1]


def _tail(path: Path, n: int = STDERR_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in a process group (the cell and anything it started)."""
    total, page = 0, os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[2]) == pgid:
            total += int(rest[21]) * page
    return total


def cgroup_oom_kills() -> int | None:
    """The kernel's count of OOM kills in this process's cgroup (v2), or None where unreadable."""
    try:
        rel = next(line.split("::", 1)[1] for line in Path("/proc/self/cgroup").read_text().splitlines()
                   if line.startswith("0::"))
        text = (Path("/sys/fs/cgroup") / rel.strip().lstrip("/") / "memory.events").read_text()
        return int(next(line.split()[1] for line in text.splitlines() if line.startswith("oom_kill ")))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in _files(path))


def _files(path: Path) -> list[Path]:
    out = []
    for root, _, names in os.walk(path):
        for n in names:
            p = Path(root) / n
            if p.is_file() and not p.is_symlink():
                out.append(p)
    return out


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# Set by the SIGINT/SIGTERM handler, which raises nothing itself: a KeyboardInterrupt raised at an
# arbitrary point can land in a fork hook (where Python swallows it) or between starting a cell and
# guarding it. The executor's waits poll this flag every WAIT_SLICE_S and stop there instead.
INTERRUPTED = threading.Event()
WAIT_SLICE_S = 0.5


def check_interrupted() -> None:
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


def _wait(proc: subprocess.Popen, timeout: float, rss_limit: int | None,
          last_rss: list[int] | None = None) -> tuple[int | None, str | None]:
    """Wait for the child: (exit code, None), or (None, "timeout" | "oom") after killing its group.
    With a memory limit, `last_rss[0]` holds the group's resident memory at the last look."""
    deadline = time.monotonic() + timeout
    while True:
        check_interrupted()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _kill_group(proc)
            return None, "timeout"
        try:
            return proc.wait(timeout=min(remaining, RSS_POLL_S if rss_limit else WAIT_SLICE_S)), None
        except subprocess.TimeoutExpired:
            if rss_limit:
                rss = group_rss_bytes(proc.pid)
                if last_rss is not None:
                    last_rss[0] = rss
                if rss > rss_limit:
                    _kill_group(proc)
                    return None, "oom"


def classify(code: int, child: dict, tail: str, killed_by_us: str | None) -> str | None:
    """The failure kind: exception, crash, oom, timeout; None for a cell that finished."""
    if killed_by_us:
        return killed_by_us
    if code < 0:
        if code == -signal.SIGKILL:
            return "killed"  # the OOM killer, or someone else: run_cell_process looks for evidence
        return "oom" if OOM_PATTERNS.search(tail) else "crash"
    if child.get("status") == "ok":
        return None
    if DISK_FULL.search(child.get("error") or "") or DISK_FULL.search(tail):
        return "disk-full"
    if OOM_PATTERNS.search(child.get("error") or "") or OOM_PATTERNS.search(tail):
        return "oom"
    return "exception"


def kernel_oom_killed(pid: int) -> bool | None:
    """Whether the kernel log says the OOM killer took `pid` (None where the log is unreadable)."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    found = False
    try:
        while True:
            try:
                line = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            except OSError:  # EPIPE when a record was overwritten: keep reading
                continue
            if not line:
                break
            if re.search(rf"Killed process {pid}\b|oom-kill:.*\bpid={pid}\b", line):
                found = True
    finally:
        os.close(fd)
    return found


def disk_is_full(path: Path, floor: int = 1 << 20) -> bool:
    try:
        return shutil.disk_usage(path).free < floor
    except OSError:
        return False


def child_env(threads: int, scratch: Path) -> dict:
    """The cell's environment: thread caps, unbuffered output, scratch as TMPDIR, this `bench` importable."""
    env = dict(os.environ)
    # From a source checkout, the child imports this same `bench` wherever it runs (a Ray worker too).
    src = str(BENCH_ROOT) if (BENCH_ROOT / "pyproject.toml").exists() else ""
    pythonpath = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1",
               TMPDIR=str(scratch), PYTHONPATH=pythonpath)
    from bench.measure.nvml import with_pci_order

    return with_pci_order(env)  # so that NVML reads the GPU the cell uses


def _start(argv: list[str], env: dict, err_path: Path, server) -> tuple[object, str]:
    """Fork the cell from the warm server where there is one; otherwise (or if it fails) spawn it."""
    if server is not None:
        from bench.forkserver import ServerDied

        known = server.failure
        try:
            return server.spawn(argv, env, str(err_path)), "forked"
        except ServerDied as e:
            if not known:  # say it once; later cells are spawned quietly
                print(f"warning: {e}; cells start as new processes instead", file=sys.stderr)
    with open(err_path, "a") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bench.cell", *argv], stdout=err, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=die_with_parent)
    return proc, "spawned"


def run_cell_process(cell: Cell, store: RunStore, run_id: str, keep_artifacts: bool = True,
                     server=None) -> dict:
    """Run one cell in a fresh process group; always returns a record, never raises for the cell's faults.

    Per-cell scratch (and TMPDIR) is `<run>/scratch/<cell_id>`; `disk_bytes` is what the cell
    left there plus what it added to the run's shared cache. Without `keep_artifacts` the scratch
    directory is removed once the record is read. KeyboardInterrupt kills the cell and propagates.
    With a `server` (bench.forkserver.ForkServer) the process is forked from a warm parent that
    already imported torch; otherwise it starts from scratch.
    """
    record = base_record(cell, run_id)
    if cell.status == "skipped":
        return checked({**record, "status": "skipped", "error": cell.reason})
    work = store.scratch_dir / cell.cell_id
    shutil.rmtree(work, ignore_errors=True)  # a resumed cell starts clean
    work.mkdir(parents=True, exist_ok=True)
    store.cache_dir.mkdir(parents=True, exist_ok=True)
    cell_path, out_path, err_path = work / "cell.json", work / "record.json", work / "stderr.txt"
    cell_path.write_text(json.dumps(cell.to_json()))
    env = child_env(cell.target.threads, work)
    # The memory limit caps resident memory (RSS) of the cell's process group, polled by the parent.
    # An address-space rlimit would not do: importing torch alone reserves ~4 GB of address space
    # on CPU, and CUDA reserves far more than it uses.
    limit_mb = getattr(cell.measure, "memory_limit_mb", None)
    cache_before = {str(p) for p in _files(store.cache_dir)}
    oom_kills_before = cgroup_oom_kills()
    argv = [str(cell_path), str(out_path),
            "--cache", str(store.cache_dir), "--scratch", str(work)]
    err_path.write_text("")
    t0 = time.perf_counter()
    proc, started = _start(argv, env, err_path, server)
    try:
        last_rss = [0]
        code, killed = _wait(proc, cell.measure.timeout_s, limit_mb * 2**20 if limit_mb else None, last_rss)
    except BaseException:  # Ctrl-C or SIGTERM: the cell in flight dies with the run
        _kill_group(proc)
        if not keep_artifacts:
            shutil.rmtree(work, ignore_errors=True)
        raise
    wall = time.perf_counter() - t0
    tail = _tail(err_path)
    new_cache = [p for p in _files(store.cache_dir) if str(p) not in cache_before]
    seen = {"disk_bytes": dir_bytes(work) + sum(p.stat().st_size for p in new_cache if p.exists()),
            "process_wall_s": wall, "cell_process": started}  # what the runner saw of the cell
    child: dict = {}
    if code is not None and out_path.exists():
        try:
            child = json.loads(out_path.read_text())
        except ValueError:
            child = {}
    if not keep_artifacts:
        shutil.rmtree(work, ignore_errors=True)
    failure = classify(code if code is not None else 0, child, tail, killed)
    if failure not in (None, "timeout", "oom") and disk_is_full(store.dir):  # it could not write: say why
        failure = "disk-full"
    common = {"stderr_tail": tail, "cell_wall_s": wall, "failure": failure, **seen}
    if failure == "disk-full":
        return checked({**record, "status": "failed", **common,
                        "error": "the disk is full: the cell could not write its files"
                                 + (f" ({child.get('error')})" if child.get("error") else "")
                                 + "; free some space, then `bench run --resume` measures it again"})
    if killed == "timeout":
        return checked({**record, "status": "timeout",
                        "error": f"exceeded the cell timeout of {cell.measure.timeout_s:g} s", **common})
    if killed == "oom":
        return checked({**record, "status": "failed", **common,
                        "error": f"out of memory: resident memory passed the cell's limit of {limit_mb} MB; killed"})
    if code < 0:
        why = f"crashed: killed by {_signal_name(code)}"
        if code == -signal.SIGKILL:
            after = cgroup_oom_kills()
            evidence = []
            if None not in (oom_kills_before, after) and after > oom_kills_before:
                evidence.append("the cgroup's oom_kill count rose")
            if kernel_oom_killed(proc.pid):
                evidence.append("the kernel log names it")
            if limit_mb and last_rss[0] > 0.9 * limit_mb * 2**20:
                evidence.append(f"its resident memory was {last_rss[0] / 2**20:.0f} MB of its {limit_mb} MB limit")
            if evidence:
                failure = common["failure"] = "oom"
                why = f"out of memory: killed by the kernel's OOM killer (SIGKILL; {'; '.join(evidence)})"
            else:
                why = ("killed by SIGKILL from outside the harness (not the OOM killer: the cgroup's oom_kill "
                       "count did not rise and the kernel log does not name it)")
        elif failure == "oom":
            why = f"out of memory: killed by {_signal_name(code)}"
        return checked({**record, "status": "failed", "error": why, **common})
    if not child:
        oom = "out of memory: " if failure == "oom" else ""
        return checked({**record, "status": "failed", **common,
                        "error": f"{oom}cell process exited with status {code} and wrote no record"})
    if child.get("status") != "ok":
        child["stderr_tail"] = tail
        if failure == "oom" and not str(child.get("error", "")).startswith("out of memory"):
            limit = f" (limit {limit_mb} MB)" if limit_mb else ""
            child["error"] = f"out of memory{limit}: {child.get('error')}"
    return checked({**record, **child, "failure": failure, "cell_wall_s": child.get("cell_wall_s", wall), **seen})


def forked_cuda_failure(rec: dict) -> bool:
    return (rec.get("cell_process") == "forked" and rec.get("status") != "ok"
            and bool(CUDA_FORK_ERRORS.search(f"{rec.get('error')}\n{rec.get('stderr_tail')}")))


def cells_from_manifest(manifest: dict) -> list[Cell]:
    """The cells a run planned, exactly as it planned them (a resume does not re-expand the suite)."""
    from pydantic import ValidationError

    from bench.errors import UserError

    try:
        return [Cell.from_json(c) for c in manifest["cells"]]
    except (KeyError, TypeError, ValueError, ValidationError) as e:
        raise UserError(f"The manifest's cell list cannot be read ({type(e).__name__}: {e}); "
                        "this run cannot be resumed.") from None


def _stop_on_sigterm() -> Callable[[], None]:
    """SIGINT and SIGTERM (a batch scheduler's stop) both end the run cleanly; SIGINT is armed even
    where a runner started in the background inherited it ignored."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_stop(signum, frame):
        INTERRUPTED.set()

    INTERRUPTED.clear()
    old = signal.signal(signal.SIGTERM, on_stop), signal.signal(signal.SIGINT, on_stop)

    def restore() -> None:
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])

    return restore


@contextmanager
def interruptible(store: RunStore, n_cells: int):
    """Work before the cells (the peak measurement) stops like the cells do: SIGINT or SIGTERM marks
    the manifest interrupted, prints the resume command and exits 130, never with no word."""
    restore = _stop_on_sigterm()
    try:
        yield
    except KeyboardInterrupt:
        mark_interrupted(store)
        print(f"Interrupted while measuring the machine's peaks, before the cells ({n_cells} planned). "
              f"Resume with: bench run --resume {store.dir}", file=sys.stderr)
        raise
    finally:
        restore()


def mark_interrupted(store: RunStore) -> None:
    try:
        manifest = store.manifest()
    except Exception:  # noqa: BLE001 - a run without a readable manifest still stops cleanly
        return
    manifest.update(status="interrupted", interrupted_at=datetime.now(UTC).isoformat())
    store.write_manifest(manifest)


def run_cells(cells: list[Cell], store: RunStore, run_id: str,
              on_record: Callable[[Cell, dict], None] | None = None, *,
              executor: str = "local", address: str | None = None, keep_artifacts: bool = True,
              fork_server: bool = True) -> list[dict]:
    """Run every cell that has no readable record yet; return the records of all `cells`, in order.

    The local executor forks cells from a warm server (bench.forkserver) unless `fork_server` is
    False; each cell still runs in its own process.

    Finished records are kept as they are (resume). On completion, without `keep_artifacts`,
    the run's scratch and cache directories are removed.
    """
    done = store.finished_records()
    by_id: dict[str, dict] = {c.cell_id: done[c.cell_id] for c in cells if c.cell_id in done}
    todo = [c for c in cells if c.cell_id not in done]
    store.remove_partial_writes()

    def emit(cell: Cell, rec: dict) -> None:
        store.write_record(rec)
        by_id[cell.cell_id] = rec
        if on_record:
            on_record(cell, rec)

    restore = _stop_on_sigterm()
    try:
        if executor == "ray":
            from bench.ray_executor import run_on_ray

            run_on_ray(todo, store, run_id, emit, address=address, keep_artifacts=keep_artifacts)
        elif executor == "local":
            server = None
            if fork_server and any(c.status == "planned" for c in todo):
                from bench.forkserver import ForkServer

                server = ForkServer(child_env(1, Path(os.environ.get("TMPDIR", "/tmp"))), label=str(store.dir),
                                    log_dir=store.scratch_dir)
            try:
                for cell in todo:
                    check_interrupted()
                    rec = run_cell_process(cell, store, run_id, keep_artifacts=keep_artifacts, server=server)
                    if server is not None and server.lost_cell:  # the server died under the cell, not the cell
                        server.lost_cell = False
                        print(f"warning: the fork server died while {cell.cell_id} ran; running it again as a "
                              "new process", file=sys.stderr)
                        rec = run_cell_process(cell, store, run_id, keep_artifacts=keep_artifacts, server=None)
                    if forked_cuda_failure(rec):  # the server's guard missed a CUDA init: spawn from now on
                        server.disable(f"a forked cell could not use CUDA ({rec.get('error')})")
                        print(f"warning: {server.failure}; running it again as a new process", file=sys.stderr)
                        rec = run_cell_process(cell, store, run_id, keep_artifacts=keep_artifacts, server=server)
                    emit(cell, rec)
                # Contended or noisy cells, again, once the machine is quiet (bench.remeasure).
                from bench.profile.store import paths as profile_paths
                from bench.remeasure import AttemptFiles, needs_retry, remeasure

                for cell in cells:
                    rec = by_id.get(cell.cell_id)
                    if rec is None or cell.measure.retries == 0 or not needs_retry(rec):
                        continue
                    print(f"measuring {cell.cell_id} again: "
                          f"{'contended' if rec.get('contended') else 'noisy'} on its first attempt", file=sys.stderr)
                    emit(cell, remeasure(cell, rec, lambda c=cell: run_cell_process(
                        c, store, run_id, keep_artifacts=keep_artifacts, server=server), check_interrupted,
                        AttemptFiles(list(profile_paths(store.dir, cell.cell_id)))))
            finally:
                if server is not None:
                    server.close()
        else:
            from bench.errors import UserError

            raise UserError(f"Unknown executor {executor!r}: use local or ray.")
    except KeyboardInterrupt:
        mark_interrupted(store)
        print(f"Interrupted: {len(by_id)} of {len(cells)} cells have records. "
              f"Resume with: bench run --resume {store.dir}", file=sys.stderr)
        raise
    finally:
        restore()
    if not keep_artifacts:
        store.remove_artifacts()
    return [by_id[c.cell_id] for c in cells if c.cell_id in by_id]
