"""Exploration queries on the embedded store, run where they cannot take the process down.

LadybugDB runs in process: a query that crashes it (``CALL read_csv_serial(...)`` segfaults
while it is bound), overflows its parser's stack (thousands of nested parentheses) or
allocates without bound (``UNWIND range(1, 1000000000) ...``) would kill the CLI or
``kgqa serve``. So :func:`run_isolated` runs each exploration query in a child of the process
that holds the open database:

* ``os.fork()`` per query: the child shares the open database (no second open, no file
  lock to fight over, the same snapshot the parent sees), runs one ``READ ONLY``
  transaction on one thread (the database's worker threads do not survive a fork) and
  leaves with ``os._exit`` without closing or checkpointing anything. Whatever it changes
  in memory (``CALL threads=1``, a projected graph) dies with it. A fork can catch one of the
  database's threads holding its scheduler's lock, which then stays taken in the child: the
  child first runs ``RETURN 1`` and says so, and one that does not within ``start_s`` is
  replaced. Landlock (where the kernel has it) takes away its right to write files and to
  open TCP connections.
* limits: ``RLIMIT_AS`` (the address space at the fork plus the budget) stops allocations
  outside the database's buffer pool at once; the parent watches the child's resident memory
  and kills it past the same budget (the buffer pool is reserved up front, so only the
  resident size shows its growth); past ``timeout_s`` plus a short grace the parent kills the
  child (the database's own timeout cannot be used there, and would not stop parsing anyway).
* the database decides what the statement is: the child prepares it (the database refuses
  several statements there) and plans it with ``EXPLAIN``; the query runs only if every
  operator of the plan is a reading one and every table function one of a few catalogue
  listings (:data:`READ_OPERATORS`, :data:`TABLE_FUNCTIONS`).

The worker costs 14-19 ms a query (p50 of small reads on a 20,000-entity store, 2 cores at load ~4;
26-39 ms at load ~9.7), against under 1 ms in process; ``bench/security_embedded.py`` measures it.

:func:`precheck` refuses up front, in the parent and with a friendly message, what is too big,
too deeply nested or obviously not a reading query; it is a courtesy, not the wall.
"""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import os
import pickle
import re
import resource
import select
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kg.errors import QueryError, ReadOnlyViolation
from kg.models import CypherResult


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one exploration query on the embedded store.

    Args:
        memory_mb: memory the query may add to what the process held when it started (MiB).
        grace_s: seconds past the query's timeout before the worker is killed (the fork and the answer's
            transfer take a few milliseconds of it).
        max_query_chars: longest query text accepted.
        max_nesting: deepest nesting of ``(``, ``[`` and ``{`` accepted (the parser's time grows
            steeply with it: 100 nested lists take ~2.5 s to parse, 200 ~10 s).
        max_result_mb: largest result the worker may send back (MiB).
        start_s: seconds a worker may take to run its probe query (``RETURN 1``) before it is replaced.
        start_attempts: workers started for one query before giving up.
    """

    memory_mb: int = 1024
    grace_s: float = 0.25
    max_query_chars: int = 20_000
    max_nesting: int = 32
    max_result_mb: int = 64
    start_s: float = 1.0
    start_attempts: int = 5


DEFAULT_LIMITS = SandboxLimits()

# Operators of reading plans (collected from EXPLAIN of the project's and the tests' queries:
# scans, joins, paths, aggregation, ordering, UNION, subqueries).
READ_OPERATORS = frozenset(
    """AGGREGATE AGGREGATE_FINALIZE AGGREGATE_SCAN COUNT_REL_TABLE CROSS_PRODUCT DUMMY_SINK DUMMY_SIMPLE_SINK
    EMPTY_RESULT FILTER FLATTEN HASH_JOIN_BUILD HASH_JOIN_PROBE INTERSECT INTERSECT_BUILD LIMIT MULTIPLICITY_REDUCER
    ORDER_BY ORDER_BY_MERGE ORDER_BY_SCAN PATH_PROPERTY_PROBE PRIMARY_KEY_SCAN_NODE_TABLE PROJECTION
    QUERY_PRIMARY_KEY_LOOKUP RECURSIVE_EXTEND RESULT_COLLECTOR SCAN_NODE_TABLE SCAN_REL_TABLE SEMI_MASKER SKIP
    TABLE_FUNCTION_CALL TOP_K TOP_K_SCAN UNION_ALL_SCAN UNWIND""".split()
)
# Table functions a reading plan may call: the planner's own row source and the catalogue listings.
TABLE_FUNCTIONS = frozenset({"READ_FTABLE", "SHOW_TABLES", "TABLE_INFO", "SHOW_CONNECTION"})

_LEXEME = re.compile(
    r"""(?P<comment>//[^\r\n]*|/\*.*?(?:\*/|\Z))
      | (?P<string>'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?)
      | (?P<quoted>`(?:[^`]|``)*`?)
      | (?P<open>[(\[{]) | (?P<close>[)\]}])""",
    re.VERBOSE | re.DOTALL,
)
# Names a reading query never needs: table functions that read files or other databases,
# projected graphs and the algorithms on them, settings (``CALL threads = 1``).
_FILE_FUNCTION = re.compile(r"\b(read_[a-z_]*|load_from|project_graph\w*|drop_projected_graph|sqlite_scan"
                            r"|postgres_scan|duckdb_scan|delta_scan|iceberg_scan)\s*\(", re.IGNORECASE)
_SETTING = re.compile(r"\bcall\s+[a-z_][a-z0-9_]*\s*=", re.IGNORECASE)
_LOAD_FROM = re.compile(r"\bload\s+(with\s+headers\b.*?\s)?from\b", re.IGNORECASE | re.DOTALL)
_OPERATOR = re.compile(r"([A-Z][A-Z_]+)\[\d+\]")
_FUNCTION = re.compile(r"Function: (\S+)")


def precheck(query: str, limits: SandboxLimits = DEFAULT_LIMITS) -> None:
    """Refuse, before anything runs, a query that is too long, too deeply nested, or names a file
    reader, a projected graph or a setting (:class:`ReadOnlyViolation` or :class:`QueryError`)."""
    if len(query) > limits.max_query_chars:
        raise QueryError(f"the query is {len(query):,} characters long, over the limit of "
                         f"{limits.max_query_chars:,}; shorten it (pass long values as parameters)")
    depth = deepest = 0
    kept: list[str] = []  # the query with string literals blanked and backticks dropped
    last = 0
    for m in _LEXEME.finditer(query):
        kept.append(query[last:m.start()])
        last = m.end()
        kind = m.lastgroup
        if kind == "open":
            depth += 1
            deepest = max(deepest, depth)
        elif kind == "close":
            depth -= 1
        if kind == "string":
            kept.append(" '' ")
        elif kind == "quoted":
            kept.append(m.group().strip("`"))
        elif kind != "comment":
            kept.append(m.group())
        else:
            kept.append(" ")
    kept.append(query[last:])
    if deepest > limits.max_nesting:
        raise QueryError(f"the query nests brackets {deepest} deep, over the limit of {limits.max_nesting}; "
                         "flatten it (use WITH to name intermediate values)")
    text = "".join(kept)
    if found := _FILE_FUNCTION.search(text):
        raise ReadOnlyViolation(f"{found.group(1)}() is not allowed: the console only reads the stored graph "
                                "(MATCH ... RETURN ...); load files with `kgqa ingest`")
    if _LOAD_FROM.search(text):
        raise ReadOnlyViolation("LOAD FROM is not allowed: the console only reads the stored graph "
                                "(MATCH ... RETURN ...); load files with `kgqa ingest`")
    if _SETTING.search(text):
        raise ReadOnlyViolation("changing a database setting (CALL name = value) is not allowed on the read-only "
                                "console")


def check_plan(plan: str) -> None:
    """Raise :class:`ReadOnlyViolation` unless the ``EXPLAIN`` text ``plan`` only reads the graph."""
    operators = set(_OPERATOR.findall(plan))
    if not operators:
        raise ReadOnlyViolation("the database gave no query plan for this statement; only reading queries "
                                "(MATCH ... RETURN ...) run on the console")
    if "STANDALONE_CALL" in operators:
        raise ReadOnlyViolation("changing a database setting (CALL name = value) is not allowed on the read-only "
                                "console")
    if bad := sorted(operators - READ_OPERATORS):
        raise ReadOnlyViolation(f"the database plans this statement with {', '.join(bad)}, which does not only read; "
                                "the console runs reading queries (MATCH ... RETURN ...)")
    if bad := sorted(set(_FUNCTION.findall(plan)) - TABLE_FUNCTIONS):
        raise ReadOnlyViolation(f"table function {', '.join(f.lower() for f in bad)} is not allowed on the read-only "
                                "console; it reads the stored graph only (MATCH ... RETURN ...)")


Convert = Callable[[list[Any]], list[Any]]
_READY = b"R"  # what the worker sends once its probe query ran, before its answer


def collect_rows(result: Any, limit: int, convert: Convert) -> tuple[list[str], list[list[Any]], bool]:
    """A LadybugDB result's columns and at most ``limit`` converted rows, and whether more were left."""
    columns = result.get_column_names()
    rows: list[list[Any]] = []
    while result.has_next():
        if len(rows) == limit:
            return columns, rows, True
        rows.append(convert(result.get_next()))
    return columns, rows, False


class WorkerCrashed(QueryError):
    """The worker died of a signal other than SIGKILL (the database crashed in it)."""


def run_isolated(conn: Any, query: str, params: dict[str, Any], *, limit: int, timeout_s: float, convert: Convert,
                 limits: SandboxLimits = DEFAULT_LIMITS) -> CypherResult:
    """Run one reading ``query`` on the LadybugDB connection ``conn`` in a forked worker (see the module
    docstring); rows are passed through ``convert`` there. Every way the worker can fail ends in a
    :class:`QueryError` or :class:`ReadOnlyViolation`; the caller's process and the stored graph are left as
    they were.

    A worker that crashes is tried once more, as a safety net: workers crashed on a plain ``MATCH`` in
    three test runs, most likely from a database another test left unclosed (the worker now collects no
    garbage, see :func:`_child`); a query that crashes the database itself crashes twice and gets the error."""
    precheck(query, limits)
    try:
        return _run_once(conn, query, params, limit=limit, timeout_s=timeout_s, convert=convert, limits=limits)
    except WorkerCrashed:
        return _run_once(conn, query, params, limit=limit, timeout_s=timeout_s, convert=convert, limits=limits)


def _run_once(conn: Any, query: str, params: dict[str, Any], *, limit: int, timeout_s: float, convert: Convert,
              limits: SandboxLimits) -> CypherResult:
    """One worker for ``query`` (see :func:`run_isolated`)."""
    budget = limits.memory_mb << 20
    start_rss = _rss(os.getpid())
    address_space = _vm_size(os.getpid())
    for _ in range(limits.start_attempts):
        pid, read_fd = _fork(conn, query, params, limit, convert, address_space + budget if address_space else 0,
                             limits.memory_mb)
        if _started(read_fd, limits.start_s):
            break
        # A worker thread of the database held its scheduler's lock at the fork: that lock stays taken in
        # the child for ever. It is a race with the threads' wake-ups; a new fork a moment later is free of it.
        os.close(read_fd)
        _reap(pid, kill=True)
    else:
        raise QueryError("the query worker could not start (the database stayed busy); retry in a moment")
    buffer = bytearray()
    expected = -1  # the answer's length, once its 8-byte header has come
    deadline = time.monotonic() + timeout_s + limits.grace_s
    problem: QueryError | None = None
    ended = False  # the worker closed its end without a whole answer: it died
    try:
        while expected < 0 or len(buffer) < expected + 8:
            left = deadline - time.monotonic()
            if left <= 0:
                problem = QueryError(f"the query ran past its {timeout_s:g} s timeout and was stopped; "
                                     "narrow it or add LIMIT")
                break
            ready, _, _ = select.select([read_fd], [], [], min(left, 0.02))
            if ready:
                data = os.read(read_fd, 1 << 20)
                if not data:
                    ended = True
                    break
                buffer += data
                if expected < 0 and len(buffer) >= 8:
                    expected = int.from_bytes(buffer[:8], "big")
                if len(buffer) > (limits.max_result_mb << 20) + 8:
                    problem = QueryError(f"the result is larger than {limits.max_result_mb} MB; return fewer or "
                                         "smaller columns, or add LIMIT")
                    break
            if (rss := _rss(pid)) and rss - start_rss > budget:
                problem = QueryError(_out_of_memory(limits.memory_mb))
                break
    finally:
        os.close(read_fd)
        if ended:
            status = _reap(pid, kill=False)
        else:  # answered, or to be stopped: no need to wait while the worker's memory is torn down
            _reap_later(pid, kill=problem is not None or expected < 0 or len(buffer) < expected + 8)
    if problem is not None:
        raise problem
    if ended:
        crashed = status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL
        raise (WorkerCrashed if crashed else QueryError)(_died(status, limits))
    outcome = pickle.loads(bytes(buffer[8:]))
    if outcome[0] == "ok":
        return CypherResult(columns=outcome[1], rows=outcome[2], truncated=outcome[3])
    kind, message = outcome[1], outcome[2]
    raise (ReadOnlyViolation if kind == "read-only" else QueryError)(message)


def _fork(conn: Any, query: str, params: dict[str, Any], limit: int, convert: Convert,
          address_space: int, memory_mb: int) -> tuple[int, int]:
    """Fork a worker for ``query``; its pid and the end of the pipe it answers on."""
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():  # Python >= 3.12 warns that forking a threaded process may deadlock:
        warnings.simplefilter("ignore", DeprecationWarning)  # the worker checks it can run first (_started)
        pid = os.fork()
    if pid == 0:  # pragma: no cover (the child; coverage does not follow it)
        os.close(read_fd)
        _child(conn, query, params, limit, convert, write_fd, address_space, memory_mb)
    os.close(write_fd)
    return pid, read_fd


def _started(fd: int, wait_s: float) -> bool:
    """Whether the worker on ``fd`` ran its probe query within ``wait_s`` (or has already ended: its
    answer then says why). Reads the worker's one-byte ready signal."""
    ready, _, _ = select.select([fd], [], [], wait_s)
    if not ready:
        return False
    return os.read(fd, 1) in (_READY, b"")


def _child(conn: Any, query: str, params: dict[str, Any], limit: int, convert: Convert,
           fd: int, address_space: int, memory_mb: int) -> None:  # pragma: no cover (runs in the forked worker)
    """The worker: check the plan, run the query, send the outcome down ``fd``, and leave at once."""
    # No garbage collection in the worker: it would run the destructors of the parent's objects that await
    # collection (a database another test left unclosed, whose threads do not exist in the child).
    gc.disable()
    code = 0
    try:
        faulthandler.disable()  # a crash of the worker is answered by the parent, not dumped on stderr
        _die_with_parent()
        _forbid_writes()
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        base = _rss(os.getpid())
        outcome: tuple[Any, ...] = ("ok", *_query(conn, query, params, limit, convert, fd))
        # The parent's watch polls the resident size: a query that grew past the budget inside the buffer
        # pool and finished between two polls would slip through (it did on a quiet machine). The peak
        # says so for certain.
        if base and _peak_rss(os.getpid()) - base > memory_mb << 20:
            outcome = ("error", "query", _out_of_memory(memory_mb))
    except ReadOnlyViolation as exc:
        outcome = ("error", "read-only", str(exc))
    except QueryError as exc:
        outcome = ("error", "query", str(exc))
    except MemoryError:
        outcome = ("error", "query", _out_of_memory(memory_mb))
    except BaseException as exc:  # a bug or a database failure: still one clear answer
        outcome = ("error", "query", f"query failed: {type(exc).__name__}: {exc}")
        code = 1
    try:
        data = pickle.dumps(outcome)
        view = memoryview(len(data).to_bytes(8, "big") + data)
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
    finally:
        os._exit(code)


def _query(conn: Any, query: str, params: dict[str, Any], limit: int, convert: Convert,
           fd: int) -> tuple[list[str], list[list[Any]], bool]:  # pragma: no cover (in the worker)
    warnings.simplefilter("ignore")  # prepare() is deprecated in favour of execute(), which runs ';' lists
    # The database's worker threads stayed in the parent: run on this one. Its query timeout is not set
    # (it hangs the worker: it needs a thread the fork did not copy); the parent kills the worker instead.
    conn.set_max_threads_for_exec(1)
    try:
        conn.execute("BEGIN TRANSACTION READ ONLY")
        conn.execute("RETURN 1")  # the probe: it hangs if the fork caught the database's scheduler lock taken
        os.write(fd, _READY)
        prepared = conn.prepare(query)
        if not prepared.is_success():
            message = prepared.get_error_message().splitlines()[0]
            if "multiple statements" in message:
                raise ReadOnlyViolation("only one statement per query is allowed; remove the ';' between statements")
            raise RuntimeError(message)
        # ``query`` is one statement (prepare refuses more), so "EXPLAIN query" only plans it.
        explained = conn.execute("EXPLAIN " + query, dict(params))
        check_plan("\n".join(str(row[0]) for row in explained.get_all()))
        columns, rows, truncated = collect_rows(conn.execute(prepared, dict(params)), limit, convert)
    except RuntimeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "read-only" in message or "read only" in message.lower():
            raise ReadOnlyViolation(f"the database refused a write: {message}") from exc
        if "bad_alloc" in message or "memory" in message.lower():
            raise MemoryError from exc
        raise QueryError(f"query failed: {message}") from exc
    return columns, rows, truncated


def _out_of_memory(memory_mb: int) -> str:
    return f"the query needed more than {memory_mb} MB of memory and was stopped; narrow it or add LIMIT"


def _died(status: int | None, limits: SandboxLimits) -> str:
    if status is not None and os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL:  # the kernel's OOM killer, or anyone's kill -9
            return (f"the query was killed (out of memory?) before it answered; the graph is unchanged; "
                    f"narrow it or add LIMIT (the console allows {limits.memory_mb} MB)")
        return (f"the database crashed on this query ({signal.Signals(sig).name}) and the query was abandoned; "
                "the graph is unchanged; rewrite it as a plain MATCH ... RETURN ...")
    return "the query worker ended without an answer; the graph is unchanged; rewrite the query or retry"


def _reap(pid: int, kill: bool) -> int | None:
    """Wait for the worker (killing it first if ``kill``); its wait status."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _reap_later(pid: int, kill: bool) -> None:
    """Reap the worker from a short-lived thread: its exit (tearing down a copy of the caller's address
    space) takes a few milliseconds the answer need not wait for."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    threading.Thread(target=_reap, args=(pid, False), name=f"kgqa-reap-{pid}", daemon=True).start()


def _peak_rss(pid: int) -> int:
    """Peak resident memory of ``pid`` in bytes (``VmHWM``; 0 if unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _vm_size(pid: int) -> int:
    """Address space of ``pid`` in bytes (0 if unknown). The database reserves its whole buffer pool as
    address space up front, so a limit relative to this one bounds every allocation made outside it."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _die_with_parent() -> None:  # pragma: no cover (in the worker)
    """Have the kernel kill the worker if the process that forked it dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# Landlock (Linux >= 5.13): file-system rights the worker gives up: writing, creating, removing, renaming,
# truncating files (reading stays), and TCP bind/connect where the kernel can restrict them (ABI >= 4).
# Binding a statement can touch files before its plan is checked (``EXPORT DATABASE 'dir'`` creates the
# folder while it is prepared); this makes that fail. Files the process already holds open stay writable.
_FS_WRITE_RIGHTS = {1: 0b1_1111_1111_0010, 2: 1 << 13, 3: 1 << 14}  # by the ABI version that added them
_NET_TCP = 0b11  # bind, connect (ABI >= 4)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where there is none (the worker then keeps its file rights)."""
    try:
        # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
        return max(0, int(ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1)))
    except (OSError, AttributeError):
        return 0


def _forbid_writes() -> bool:  # pragma: no cover (in the worker)
    """Drop the worker's right to write files and to open TCP connections; whether it took effect."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = landlock_abi()
        if abi < 1:
            return False
        fs = sum(bits for version, bits in _FS_WRITE_RIGHTS.items() if abi >= version)
        attr = (ctypes.c_uint64 * 3)(fs, _NET_TCP if abi >= 4 else 0, 0)
        size = 8 if abi < 4 else 16
        ruleset = libc.syscall(444, ctypes.byref(attr), size, 0)
        if ruleset < 0:
            return False
        try:
            if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS, required to restrict oneself
                return False
            return bool(libc.syscall(446, ruleset, 0) == 0)  # landlock_restrict_self
        finally:
            os.close(ruleset)
    except (OSError, AttributeError):
        return False
