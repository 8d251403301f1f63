"""The result store: one Parquet file per record, in a folder or any fsspec URL.

Layout: ``<root>/<key>/seed<S>_r<start>-<stop>.parquet``, where ``key`` is
:func:`simlab.sweep.keys.record_key` of the configuration and ``[start, stop)`` the block of
replica ids. A record's table has one row per (metric, checkpoint): ``metric``, ``step``,
``n``, ``mean``, ``m2`` (see :mod:`simlab.sweep.stats`) and, when the sweep keeps them,
``values`` (the block's per-replica values, a fixed-size list). The schema metadata
(``simlab``) holds the record's identity, its status (``ok`` or ``diverged``, with the step and
replica), the configuration in words, the simlab version, the host and the compute time. A
diverged record has no rows: divergence is deterministic, so it is a result like any other.

Safety:

* Writes are atomic. On a local disk the bytes go to a temporary file in the record's folder
  (``.<name>.<host>.<pid>.<random>.tmp``), are flushed to disk, and are then hard-linked to
  the record's name, which fails if a record is already there: two sweeps writing the same
  record never replace each other's file, and a reader never sees half a file. A record being
  *replaced* (``recompute``, or a corrupt one) is renamed over atomically instead. On object
  stores (``s3://``, ``gs://``, ``memory://``...) one ``put`` of the whole file is atomic.
* Reads are checked: Parquet page checksums (written for every page), the footer, the identity
  in the metadata and the shape of the table. Anything wrong raises :class:`CorruptRecord`,
  and :func:`simlab.sweep.run` reports the record and computes it again.
* Temporary files left by a killed writer on this host are removed by the next run.
* A record holds every metric its run produced (the kernel's metrics, and the derived ones the
  key says were tracked); a reader selects the metrics it wants, so two sweeps that differ only
  in ``metrics`` share their records and never call each other's corrupt.
* Leases (:meth:`Store.lease`): before a run computes a record it claims it with an atomic
  lease file ``.<name>.lease`` beside it (``O_CREAT | O_EXCL``) holding the owner's host, pid
  and run id. Another run that finds a live lease leaves the record to its owner and waits for
  it; a stale lease (its process on this host is gone, or it was not refreshed for ``ttl``
  seconds) is taken over. Leases need a local (or shared POSIX) file system; on object stores
  runs do not claim records and the first write wins.
* :meth:`Store.probe` writes, reads back and deletes a probe file, so a store that cannot be
  used fails before any work with one line (:class:`~simlab.sweep.errors.SweepError`).
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import time
import uuid

import numpy as np

from simlab.meta import dumps
from simlab.sweep.errors import SweepError
from simlab.sweep.keys import FORMAT
from simlab.sweep.stats import ReplicaStats
from simlab.sweep.worker import RecordId, Result

#: Default store location (a relative path is relative to the working directory).
DEFAULT_URL = "./.simlab/store"
STATS_COLUMNS = ("metric", "step", "n", "mean", "m2")
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<host>[^.]+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")
#: Seconds after which a lease that was not refreshed is stale (its owner refreshes it every
#: ``LEASE_TTL / 4`` seconds while it computes).
LEASE_TTL = 120.0


class CorruptRecord(Exception):
    """A record file that cannot be read back as what its name says it is."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"corrupt record {path}: {reason}")


def _require_dist():
    try:
        import fsspec  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as e:  # pragma: no cover - the dist extra is installed in CI
        raise ImportError(f"the sweep store needs the 'dist' extra (pyarrow, fsspec): "
                          f"pip install 'simlab[dist]' ({e})") from e


def default_url() -> str:
    """``$SIMLAB_STORE`` if set, else ``./.simlab/store``."""
    return os.environ.get("SIMLAB_STORE") or DEFAULT_URL


class Store:
    """A folder (or fsspec URL) of records.

    Parameters
    ----------
    url : str or os.PathLike, optional
        A local path or any fsspec URL; default :func:`default_url`.
    """

    def __init__(self, url: str | os.PathLike | None = None):
        _require_dist()
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.url = str(url if url is not None else default_url())
        try:
            self.fs, root = fsspec.core.url_to_fs(self.url)
        except (ValueError, ImportError) as e:
            raise SweepError(f"store {self.url!r} cannot be used: {e}; give a folder or an "
                             f"fsspec URL (file://, memory://, s3://... with its package)"
                             ) from None
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = os.path.abspath(root) if self.local else root.rstrip("/")

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- names ------------------------------------------------------------------------------
    def folder(self, key: str) -> str:
        """The folder of a configuration's records."""
        return f"{self.root}/{key}"

    def path(self, rid: RecordId) -> str:
        """The file of a record."""
        return f"{self.folder(rid.key)}/{rid.name}"

    def listing(self, key: str) -> set[str]:
        """Names of the record files (not temporary files) in a key's folder."""
        try:
            entries = self.fs.ls(self.folder(key), detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return set()
        names = {e.rstrip("/").rsplit("/", 1)[-1] for e in entries}
        return {n for n in names if n.endswith(".parquet") and not n.startswith(".")}

    # -- checks -----------------------------------------------------------------------------
    def _fail(self, what: str, e: BaseException) -> SweepError:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return SweepError(f"store {self.url!r} cannot be used: {what} failed ({type(e).__name__}:"
                          f" {reason}); give a folder this process can create and write")

    def check_readable(self) -> None:
        """Raise :class:`SweepError` when the store's root exists but is not a folder.

        A root that does not exist yet is an empty store.
        """
        try:
            if self.fs.exists(self.root) and not self.fs.isdir(self.root):
                raise SweepError(f"store {self.url!r} cannot be used: {self.root} is a file, "
                                 f"not a folder")
        except OSError as e:
            raise self._fail("reading its folder", e) from None

    def probe(self) -> None:
        """Create the store's folder, write, read back and delete a probe file.

        Raises
        ------
        SweepError
            One line naming the store and what failed, before any work.
        """
        self.check_readable()
        name = f"{self.root}/.probe.{_host()}.{os.getpid()}.{uuid.uuid4().hex[:12]}"
        data = b"simlab store probe"
        step = "creating its folder"
        try:
            self.fs.makedirs(self.root, exist_ok=True)
            step = "writing a file"
            if self.local:
                with open(name, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            else:
                self.fs.pipe_file(name, data)
            step = "reading it back"
            back = self.fs.cat_file(name)
            step = "deleting it"
            self.fs.rm_file(name)
        except (OSError, ValueError) as e:
            raise self._fail(step, e) from None
        if back != data:
            raise SweepError(f"store {self.url!r} cannot be used: a probe file read back "
                             f"differs from what was written")

    # -- leases -----------------------------------------------------------------------------
    def lease_path(self, rid: RecordId) -> str:
        """The lease file of a record."""
        return f"{self.folder(rid.key)}/.{rid.name}.lease"

    def lease(self, rid: RecordId, run_id: str, ttl: float = LEASE_TTL) -> Lease | None:
        """Claim a record before computing it.

        Returns
        -------
        Lease or None
            The lease (release it when the record is written or given up), or ``None`` when a
            live lease of another run holds the record. On stores without leases (object
            stores) a lease that claims nothing is returned.
        """
        if not self.local:
            return Lease(None, run_id)
        path = self.lease_path(rid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        body = json.dumps({"host": _host(), "pid": os.getpid(), "run": run_id,
                           "time": time.time()}).encode()
        for _ in range(4):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = _read_lease(path)
                if held is None:  # released meanwhile
                    continue
                if not _stale(held, ttl):
                    return None
                if not _take_over(path, held, run_id):
                    return None
                continue
            try:
                os.write(fd, body)
            finally:
                os.close(fd)
            return Lease(path, run_id)
        return None

    def lease_holder(self, rid: RecordId, ttl: float = LEASE_TTL) -> dict | None:
        """The live lease on a record (``{"host", "pid", "run", ...}``), or ``None``."""
        if not self.local:
            return None
        held = _read_lease(self.lease_path(rid))
        return None if held is None or _stale(held, ttl) else held

    # -- writing ----------------------------------------------------------------------------
    def write(self, result: Result, meta: dict, replace: bool = False) -> bool:
        """Write a computed record atomically.

        Parameters
        ----------
        result : Result
        meta : dict
            Extra metadata (the configuration in words).
        replace : bool
            Replace an existing record (recompute, or a corrupt one); otherwise an existing
            record wins and this write is dropped.

        Returns
        -------
        bool
            Whether this call's bytes became the record.
        """
        data = encode(result, meta)
        path = self.path(result.rid)
        if not self.local:
            if not replace and self.fs.exists(path):
                return False
            self.fs.pipe_file(path, data)
            return True
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{result.rid.name}.{_host()}.{os.getpid()}."
                                   f"{uuid.uuid4().hex[:12]}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if replace:
                os.replace(tmp, path)
                return True
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            except OSError:  # no hard links here: a rename, which replaces a concurrent twin
                if os.path.exists(path):
                    return False
                os.replace(tmp, path)
            return True
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def exists(self, rid: RecordId) -> bool:
        """Whether a file (of any content) is at the record's name."""
        return bool(self.fs.exists(self.path(rid)))

    def clean_temporary(self, keys) -> int:
        """Remove temporary files of dead writers on this host in the keys' folders."""
        if not self.local:
            return 0
        removed = 0
        host = _host()
        for key in keys:
            folder = self.folder(key)
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            for n in names:
                m = _TMP.match(n)
                if m and m["host"] == host and not _alive(int(m["pid"])):
                    try:
                        os.unlink(os.path.join(folder, n))
                        removed += 1
                    except FileNotFoundError:
                        pass
        return removed

    # -- reading ----------------------------------------------------------------------------
    def read(self, rid: RecordId, checkpoints: np.ndarray, metrics: tuple,
             values: bool = True) -> Record:
        """Read and check one record, and select the metrics asked for.

        Parameters
        ----------
        rid : RecordId
        checkpoints : ndarray of int64
            The checkpoints the record must hold.
        metrics : tuple of str
            The metrics to return (the record holds them, and may hold more).
        values : bool
            Also read the per-replica values (when the record has them).

        Raises
        ------
        FileNotFoundError
            No such record.
        CorruptRecord
            Truncated, damaged, or not the record its name says.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path(rid)
        try:
            with self.fs.open(path, "rb") as f:
                pf = pq.ParquetFile(f, page_checksum_verification=True)
                meta = json.loads(pf.schema_arrow.metadata[b"simlab"])
                names = pf.schema_arrow.names
                cols = list(STATS_COLUMNS) + (["values"] if values and "values" in names else [])
                table = pf.read(columns=cols)
        except FileNotFoundError:
            raise
        except (OSError, pa.ArrowException, KeyError, ValueError, TypeError) as e:
            raise CorruptRecord(path, f"{type(e).__name__}: {e}") from None
        try:
            return decode(rid, meta, table, np.asarray(checkpoints, dtype=np.int64),
                          tuple(metrics))
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptRecord(path, str(e)) from None


class Lease:
    """A claim on a record (see :meth:`Store.lease`); :meth:`release` gives it up.

    Attributes
    ----------
    path : str or None
        The lease file (``None`` on stores without leases).
    run_id : str
    """

    __slots__ = ("path", "run_id")

    def __init__(self, path: str | None, run_id: str):
        self.path, self.run_id = path, run_id

    def refresh(self) -> None:
        """Mark the lease alive (its modification time is its heartbeat)."""
        if self.path is not None:
            try:
                os.utime(self.path)
            except OSError:
                pass

    def release(self) -> None:
        """Remove the lease file if it is still this run's."""
        if self.path is None:
            return
        held = _read_lease(self.path)
        if held is not None and held.get("run") == self.run_id:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def _read_lease(path: str) -> dict | None:
    """A lease file's content with its ``mtime``; ``{}`` plus ``mtime`` when unreadable
    (being written); ``None`` when there is none."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return {"mtime": time.time()}
    try:
        out = json.loads(raw)
        if not isinstance(out, dict):
            out = {}
    except ValueError:
        out = {}
    out["mtime"] = mtime
    return out


def _stale(held: dict, ttl: float) -> bool:
    """A lease is stale when its owner on this host is gone or it was not refreshed for
    ``ttl`` seconds."""
    if time.time() - held.get("mtime", 0.0) > ttl:
        return True
    pid = held.get("pid")
    return held.get("host") == _host() and isinstance(pid, int) and not _alive(pid)


def _take_over(path: str, held: dict, run_id: str) -> bool:
    """Move a stale lease aside atomically; False when another run got there first.

    Two runs may judge one lease stale at once: the rename succeeds for one of them. A run
    that finds it moved a *fresh* lease (taken meanwhile by a third run) puts it back.
    """
    aside = f"{path}.{run_id}.{uuid.uuid4().hex[:8]}.stale"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return True  # gone already: try to create it
    moved = _read_lease(aside) or {}
    if moved.get("run") != held.get("run") or moved.get("pid") != held.get("pid"):
        try:
            os.link(aside, path)
        except FileExistsError:
            pass
        os.unlink(aside)
        return False
    os.unlink(aside)
    return True


class Record:
    """A record read back from the store.

    Attributes
    ----------
    rid : RecordId
    status : {"ok", "diverged"}
    stats : ReplicaStats or None
    values : ndarray (K, R, M) or None
    diverged : (int, int) or None
    meta : dict
    """

    __slots__ = ("rid", "status", "stats", "values", "diverged", "meta")

    def __init__(self, rid, status, stats, values, diverged, meta):
        self.rid, self.status, self.stats, self.values = rid, status, stats, values
        self.diverged, self.meta = diverged, meta

    @classmethod
    def from_result(cls, result: Result, metrics=None, meta: dict | None = None) -> Record:
        """A computed result as the record a read would return, with ``metrics`` selected."""
        stats, values = result.stats, result.values
        if stats is not None and metrics is not None and tuple(metrics) != stats.metrics:
            if values is not None:
                values = np.ascontiguousarray(values[:, :, [stats.metrics.index(m)
                                                            for m in metrics]])
            stats = stats.select(metrics)
        return cls(result.rid, result.status, stats, values, result.diverged, meta or {})


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def encode(result: Result, meta: dict) -> bytes:
    """The Parquet bytes of a computed record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import simlab

    rid = result.rid
    info = dict(result.info)
    s = result.stats
    head = {**meta, "format": FORMAT, "key": rid.key, "seed": rid.seed, "start": rid.start,
            "stop": rid.stop, "status": result.status, "diverged": result.diverged,
            "metrics": list(s.metrics) if s is not None else [],
            "simlab": simlab.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "compute": info}
    if s is None:
        cols = {"metric": pa.array([], pa.string()), "step": pa.array([], pa.int64()),
                "n": pa.array([], pa.int64()), "mean": pa.array([], pa.float64()),
                "m2": pa.array([], pa.float64())}
    else:
        K, M = s.means.shape
        cols = {"metric": pa.array(np.repeat(np.array(s.metrics, dtype=object), K),
                                   pa.string()).dictionary_encode(),
                "step": pa.array(np.tile(s.checkpoints, M)),
                "n": pa.array(s.count.T.ravel()), "mean": pa.array(s.means.T.ravel()),
                "m2": pa.array(s.m2.T.ravel())}
        if result.values is not None:
            R = result.values.shape[1]
            flat = np.ascontiguousarray(result.values.transpose(2, 0, 1)).ravel()
            cols["values"] = pa.FixedSizeListArray.from_arrays(pa.array(flat), R)
    table = pa.table(cols).replace_schema_metadata({"simlab": dumps(head)})
    sink = io.BytesIO()
    pq.write_table(table, sink, write_page_checksum=True, compression="zstd",
                   compression_level=1)
    return sink.getvalue()


def decode(rid: RecordId, meta: dict, table, checkpoints: np.ndarray, metrics: tuple) -> Record:
    """Check a record's table against its name and expected shape, unpack it and select
    ``metrics`` (which the record must hold; it may hold more)."""
    import pyarrow as pa

    for field, want in (("key", rid.key), ("seed", rid.seed), ("start", rid.start),
                        ("stop", rid.stop), ("format", FORMAT)):
        if meta.get(field) != want:
            raise ValueError(f"metadata {field} = {meta.get(field)!r}, expected {want!r}")
    status = meta.get("status")
    if status == "diverged":
        if table.num_rows:
            raise ValueError("a diverged record must have no rows")
        return Record(rid, status, None, None, tuple(meta["diverged"]), meta)
    if status != "ok":
        raise ValueError(f"unknown status {status!r}")
    held = meta.get("metrics")
    if not isinstance(held, list) or not held or not all(isinstance(m, str) for m in held):
        raise ValueError(f"metadata metrics = {held!r}, expected a list of names")
    missing = [m for m in metrics if m not in held]
    if missing:
        raise ValueError(f"holds metrics {held}, not {missing}")
    K, M, R = checkpoints.shape[0], len(held), rid.stop - rid.start
    if table.num_rows != K * M:
        raise ValueError(f"{table.num_rows} rows, expected {K * M} ({M} metrics x {K} steps)")
    col = table.column("metric").combine_chunks()
    if not pa.types.is_dictionary(col.type):
        col = col.dictionary_encode()
    names = col.dictionary.to_pylist()
    want = np.repeat([names.index(m) if m in names else -1 for m in held], K)
    if not np.array_equal(col.indices.to_numpy(zero_copy_only=False), want):
        raise ValueError(f"metrics {sorted(names)} in the wrong rows, expected {held}")
    steps = table.column("step").to_numpy().reshape(M, K)
    if not (steps == checkpoints[None, :]).all():
        raise ValueError("checkpoints differ from the configuration's")
    count = table.column("n").to_numpy().reshape(M, K).T
    if not (count == R).all():
        raise ValueError(f"replica counts differ from the block size {R}")
    stats = ReplicaStats(checkpoints, tuple(held), np.ascontiguousarray(count),
                         np.ascontiguousarray(table.column("mean").to_numpy().reshape(M, K).T),
                         np.ascontiguousarray(table.column("m2").to_numpy().reshape(M, K).T))
    values = None
    if "values" in table.column_names:
        col = table.column("values").combine_chunks()
        if col.type.list_size != R:
            raise ValueError(f"{col.type.list_size} values per row, expected {R}")
        flat = col.flatten().to_numpy()
        values = np.ascontiguousarray(flat.reshape(M, K, R).transpose(1, 2, 0))
        if tuple(metrics) != tuple(held):
            values = np.ascontiguousarray(values[:, :, [held.index(m) for m in metrics]])
    return Record(rid, status, stats.select(metrics), values, None, meta)
