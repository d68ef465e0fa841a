"""Milvus backend: the index lives in a Milvus collection, shared by every process and machine that uses it.

The collection is derived from the database like any index, and named by its content: a digest of the
vectors (with the dimension and the index parameters), so every process that builds the same catalogue finds
the same collection and reuses it instead of inserting the vectors again. A build inserts into a staging
collection, waits for its index and for a Strong count to see every row, and only then renames it to its
content name: no search ever sees half an index. ``save`` writes a small pointer (URI, database, collection,
row count, dimension); ``load`` reconnects and checks it, and any mismatch is an error, which the caller
(``hutong.match.index``) answers by rebuilding from the database.

Following the catalogue: the caller (``hutong.match.index``) gives every row an id that names its work and
its place in the work's fingerprint, so adding a work (an upsert) and removing one (a delete by id) can be
applied twice, or by two processes, with the same result. A collection keeps the name of the content it was
built with; after changes it holds a later state of the same catalogue.

Consistency: every write (a build, or a change) ends with a Strong count that must see exactly the rows the
writer expects, and only then does the writer publish its checkpoint. A Strong read at time T makes the query
nodes serve everything written before T, so searches need no guarantee timestamp and use ``Eventually``
(Strong would make every search wait for the server's next time tick: about 1.5 s per search on this
machine; Bounded would hide rows younger than its 5 s bound just after a change).

Index: IVF_SQ8 over inner product: 1 byte per dimension (a quarter of float32) plus the id, with
``nlist = √n`` (16 to 1,024) and ``nprobe = min(nlist, 32)``. Quantisation to 8 bits moves a similarity
by well under 0.02, declared as ``similarity_slack``. Segments under 1,024 rows are searched exactly.

pymilvus is imported only when a Milvus index is used: ``hutong --help`` and the FAISS backends never load it.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hutong.errors import HutongError, Unavailable
from hutong.index.base import IndexBackend

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from pymilvus import MilvusClient

    from hutong.config import Settings

POINTER_FORMAT = 1
INDEX_TYPE = "IVF_SQ8"
INSERT_BATCH = 10_000  # rows per insert request: ~2.5 MB of float32 at 63 dimensions, far below gRPC's 64 MB
SEARCH_BATCH = 1024  # queries per search request (the server refuses more than 16,384)
STAGING = "_building_"
FOLLOWED = "_followed"  # alias of a collection changed since its build (see MilvusIndex._mark_followed)
STALE_STAGING_SECONDS = 24 * 3600.0  # a staging collection this old was left by a build that died
#: loading waits this long per million rows on top of the request timeout (7.2 million rows took longer
#: than the 10 s request timeout on the 2-core test machine: loading is not a small request)
LOAD_SECONDS_PER_MILLION = 60.0
#: a build of this many rows or more merges the segments Milvus sealed while rows streamed in, before it
#: builds the index: else Milvus merges them after the first load, in rounds (2 million rows: 4 segments,
#: then 2, then 1, over 3 minutes), indexing each merged segment again, and searches on the same cores took
#: 1 to 23 s instead of 0.4 s meanwhile. Milvus merges unindexed segments only with
#: ``dataCoord.compaction.indexBasedCompaction: false`` (docs/deploy.md); the bundled server is set so.
#: Smaller builds fit in one segment.
COMPACT_ROWS = 100_000
#: ...but not past this many: a merge writes every row once more before Milvus deletes the merged-away files
#: (72 M rows of 63 dimensions: 18 GB written in 4 minutes, which filled the test machine's disk), and
#: segments sealed while so many rows stream in are already large (~2.4 M rows with ``milvus_local``'s
#: bulk-build settings), so each is indexed as it stands (a cluster's automatic compaction may merge them later)
MERGE_MAX_ROWS = 20_000_000


class MilvusUnavailable(Unavailable):
    """Milvus cannot be reached or refused a request; retry once it is back."""


def _index_params(n: int, nprobe: int = 0) -> tuple[int, int]:
    """(nlist, nprobe) for a collection of ``n`` rows; ``nprobe`` is the installation's choice (0: ours)."""
    # Milvus trains each segment's clusters on up to 256 rows per cluster, 25 rounds over all of them: the
    # cost grows with rows × nlist, so nlist stays at √n (at most 1,024: a segment holds ~2 million rows)
    nlist = int(min(1024, max(16, math.sqrt(max(n, 1)))))
    # every segment is searched on its own, so nprobe/nlist is the share of all rows a query scans: a fixed
    # nprobe keeps it small (nlist/16 scanned 6 % of 7.2 M rows: 2.1 s per 120-vector query at 1,000 h)
    return nlist, min(nlist, nprobe or 32)


_clients: dict[tuple[str, str, str], MilvusClient] = {}
_clients_lock = threading.Lock()


def client(settings: Settings) -> MilvusClient:
    """One client per (URI, database, token) per process; a clear error when pymilvus or Milvus is missing."""
    uri = settings.milvus_uri
    if not uri:
        raise HutongError("index backend 'milvus' needs HUTONG_MILVUS_URI (e.g. http://127.0.0.1:19530)")
    token = settings.milvus_token.get_secret_value()
    key = (uri, settings.milvus_db, token)
    with _clients_lock:
        c = _clients.get(key)
        if c is None:
            try:
                from pymilvus import MilvusClient
            except ImportError:
                raise HutongError(
                    "index backend 'milvus' needs pymilvus: pip install 'hutong[milvus]'"
                ) from None
            try:
                c = MilvusClient(
                    uri=uri, token=token, db_name=settings.milvus_db, timeout=settings.milvus_timeout
                )
            except (
                Exception
            ) as exc:  # pymilvus raises its own exceptions and gRPC's: all mean "not reachable"
                raise MilvusUnavailable(
                    f"cannot reach Milvus at {uri}: start it or unset HUTONG_MILVUS_URI ({_reason(exc)})"
                ) from None
            _clients[key] = c
        return c


def _forget_client(settings: Settings) -> None:
    key = (settings.milvus_uri, settings.milvus_db, settings.milvus_token.get_secret_value())
    with _clients_lock:  # not closed: other threads may still be using it; it goes with its last user
        _clients.pop(key, None)


def _wait_until(what: str, done: Callable[[], bool], rows: int) -> None:
    """Poll ``done`` until it holds; the server's background work gets longer the more rows it covers."""
    deadline = time.monotonic() + max(600.0, rows / 2000)
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.5)
    raise MilvusUnavailable(f"Milvus did not finish {what} in time; retry the rebuild")


def _reason(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc).splitlines()[0] or type(exc).__name__


class MilvusIndex(IndexBackend):
    """A Milvus collection per catalogue content (see the module docstring)."""

    name = "milvus"
    similarity_slack: ClassVar[float] = 0.02
    incremental: ClassVar[bool] = True
    stores_ids: ClassVar[bool] = True  # the keys it was given come back from search
    builds_from_batches: ClassVar[bool] = True
    takes_settings: ClassVar[bool] = True
    #: collections of this prefix that no pointer names are dropped, but none started less than this ago:
    #: another process may be building it, or still searching the one its checkpoint named until it reloads
    grace_seconds: float = 600.0

    def __init__(self, dim: int, settings: Settings | None = None) -> None:
        super().__init__(dim)
        if settings is None:  # the registry builds backends from the dimension alone: read the environment
            from hutong.config import Settings

            settings = Settings()
        self.settings = settings
        self.collection: str | None = None
        self._rows = 0
        self._nprobe = 16
        self._followed = False  # whether this collection is marked as changed since its build

    # -- talking to the server -------------------------------------------------------------------------
    def _call(self, what: str, fn, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        c = client(self.settings)
        try:
            return getattr(c, fn)(*args, timeout=timeout or self.settings.milvus_timeout, **kwargs)
        except HutongError:
            raise
        except Exception as exc:
            _forget_client(self.settings)  # the next request connects afresh (Milvus may have restarted)
            raise MilvusUnavailable(
                f"Milvus at {self.settings.milvus_uri} failed to {what}: {_reason(exc)}; retry when it is back"
            ) from None

    # -- the interface ---------------------------------------------------------------------------------
    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        """Index ``vectors`` under ``ids`` (default: row i gets id i)."""
        x = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        x, ids = self._checked_batch(x, np.arange(len(x)) if ids is None else ids)
        self.build_from(lambda: [(x, ids)], len(x))

    def build_from(
        self, batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]], n: int | None = None
    ) -> None:
        """Index the rows given as (vectors, ids) batches, never all in memory at once: ``batches()`` is
        read once to count and name the content, and once more to insert it unless a collection already
        holds it (built by another process or machine). ``n``, where the caller knows it, is checked."""
        # vectors and ids digested apart: the name depends on the rows, not on how they were cut into batches
        # (a rebuild streamed from the database finds the collection an in-memory build made, and back)
        vectors, keys = hashlib.blake2b(digest_size=16), hashlib.blake2b(digest_size=16)
        rows = 0
        for x, ids in self._checked(batches()):
            vectors.update(x.data)
            keys.update(ids.data)
            rows += len(x)
        if n is not None and rows != n:
            raise ValueError(f"{rows} vectors given for a build of {n}")
        n = rows
        nlist, self._nprobe = _index_params(n, self.settings.milvus_nprobe)
        if n == 0:  # no collection at all: every search answers "no neighbour"
            self.collection, self._rows = None, 0
            return
        digest = hashlib.blake2b(f"{self.dim}:{n}:{INDEX_TYPE}:{nlist}:".encode(), digest_size=12)
        digest.update(vectors.digest() + keys.digest())
        name = f"{self.settings.milvus_collection_prefix}_{digest.hexdigest()}"
        if self._call("look up a collection", "has_collection", name) and self._was_followed(name):
            # built with this content, then changed by following the catalogue: not this content any more
            name = f"{name}_{secrets.token_hex(4)}"
        if not self._call("look up a collection", "has_collection", name):
            self._create(name, self._checked(batches()), n, nlist)
        self._load(name, n)
        self.collection, self._rows, self._followed = name, n, False

    def _checked(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]):
        for vectors, ids in batches:
            yield self._checked_batch(vectors, ids)

    def _checked_batch(self, vectors: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.shape != (len(x),):
            raise ValueError(f"{len(ids)} ids for {len(x)} vectors")
        return x, ids

    def _send(self, what: str, method: str, collection: str, x: np.ndarray, ids: np.ndarray) -> None:
        """Rows to Milvus in requests of ``INSERT_BATCH``."""
        for start in range(0, len(x), INSERT_BATCH):
            rows = [
                {"id": int(i), "vector": v}
                for i, v in zip(
                    ids[start : start + INSERT_BATCH], x[start : start + INSERT_BATCH], strict=True
                )
            ]
            self._call(what, method, collection, rows)

    def _load(self, collection: str, rows: int) -> None:
        """Load a collection onto the query nodes, waiting as long as its size needs."""
        wait = self.settings.milvus_timeout + LOAD_SECONDS_PER_MILLION * rows / 1e6
        self._call("load a collection", "load_collection", collection, timeout=wait)

    def _was_followed(self, name: str) -> bool:
        desc = self._call("describe a collection", "describe_collection", name)
        return f"{name}{FOLLOWED}" in (desc.get("aliases") or [])

    def _mark_followed(self) -> None:
        """Before the first change to a collection: an alias says it no longer holds the content its name
        was derived from, so no build reuses it for that content (searches by its name are unaffected)."""
        if self._followed or self.collection is None:
            return
        if not self._was_followed(self.collection):
            try:
                self._call(
                    "mark a collection", "create_alias", self.collection, f"{self.collection}{FOLLOWED}"
                )
            except MilvusUnavailable:
                if not self._was_followed(self.collection):  # another process marked it first
                    raise
        self._followed = True

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        x, ids = self._checked_batch(vectors, ids)
        if self.collection is None:  # the first rows of an empty catalogue: a collection of their own
            self.build(x, ids)
            return
        self._mark_followed()
        # upsert, not insert: a row added twice (a retried change, two processes) is held once
        self._send("add vectors", "upsert", self.collection, x, ids)

    def remove(self, ids: np.ndarray) -> None:
        if self.collection is None:
            return
        self._mark_followed()
        ids = np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), INSERT_BATCH):
            batch = [int(i) for i in ids[start : start + INSERT_BATCH]]
            self._call("remove vectors", "delete", self.collection, ids=batch)

    def confirm(self, rows: int) -> None:
        if self.collection is None:
            if rows:
                raise ValueError(f"no Milvus collection for {rows} rows")
            return
        held = self._count()
        if held != rows:
            raise ValueError(f"Milvus collection {self.collection} holds {held} rows, not {rows}")
        self._rows = rows

    def _count(self, collection: str | None = None) -> int:
        """Rows a Strong read sees (deletes included), which also makes later Eventually searches see them."""
        seen = self._call(
            "count rows",
            "query",
            collection or self.collection,
            filter="",
            output_fields=["count(*)"],
            consistency_level="Strong",
        )
        return int(seen[0]["count(*)"])

    def _create(
        self, name: str, batches: Iterable[tuple[np.ndarray, np.ndarray]], n: int, nlist: int
    ) -> None:
        from pymilvus import DataType, MilvusClient

        staging = f"{name}{STAGING}{secrets.token_hex(4)}"
        schema = MilvusClient.create_schema(
            auto_id=False,
            description=json.dumps({"rows": n, "dim": self.dim, "started": time.time()}),
        )
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        self._call(
            "create a collection", "create_collection", staging, schema=schema, consistency_level="Strong"
        )
        try:
            inserted = 0
            for x, ids in batches:
                self._send("insert vectors", "insert", staging, x, ids)
                inserted += len(x)
            if inserted != n:  # the batches changed between reading and inserting them
                raise ValueError(f"{inserted} vectors inserted for a build of {n}")
            self._call("flush a collection", "flush", staging)
            if COMPACT_ROWS <= n <= MERGE_MAX_ROWS:
                self._merge_segments(staging, n)
            params = client(self.settings).prepare_index_params()
            params.add_index(
                field_name="vector", index_type=INDEX_TYPE, metric_type="IP", params={"nlist": nlist}
            )
            self._call("build an index", "create_index", staging, params)
            self._wait_indexed(staging, n)
            self._load(staging, n)
            seen = self._count(staging)
            if seen != n:
                raise MilvusUnavailable(f"Milvus collection {staging} holds {seen} of {n} rows")
            try:
                self._call("rename a collection", "rename_collection", staging, name)
            except MilvusUnavailable:
                if not self._call("look up a collection", "has_collection", name):
                    raise
                self._call("drop a collection", "drop_collection", staging)  # another process built it first
        except BaseException:
            with suppress(Exception):  # the first error is the one worth reporting
                client(self.settings).drop_collection(staging)
            raise

    def _merge_segments(self, collection: str, n: int) -> None:
        """Compact until a compaction finds nothing to merge (see ``COMPACT_ROWS``)."""
        for _ in range(16):  # each round merges what Milvus's policy allows; it converges in a few
            if not self._compact(collection, n):
                return
        raise MilvusUnavailable(f"Milvus kept merging the segments of {collection}; retry the rebuild")

    def _compact(self, collection: str, n: int) -> bool:
        """Ask Milvus to merge segments and wait until it has; whether it merged any."""
        job = self._call("compact a collection", "compact", collection)
        _wait_until(
            f"compacting {collection}",
            lambda: self._call("check a compaction", "get_compaction_state", job) == "Completed",
            n,
        )
        plans = self._call("read a compaction's plans", "get_compaction_plans", job)
        return any(len(plan.sources) > 1 for plan in plans.plans)

    def _wait_indexed(self, collection: str, n: int) -> None:
        """Wait until the index covers every sealed row, so searches do not fall back to brute force."""

        def indexed() -> bool:
            info = self._call("describe an index", "describe_index", collection, "vector")
            if info.get("state") == "Failed":
                raise MilvusUnavailable(
                    f"Milvus failed to index {collection}: {info.get('index_state_fail_reason')}"
                )
            pending = info.get("pending_index_rows")
            if pending is not None:  # indexed_rows still counts segments a merge replaces: not enough
                return pending == 0
            return info.get("indexed_rows", 0) >= info.get("total_rows", n)

        _wait_until(f"indexing {collection}", indexed, n)

    def set_nprobe(self, nprobe: int) -> None:
        """How many lists of each segment a query vector scans (``bench.scale --compare --nprobe``); the
        next build sets it back to the default for its size."""
        if nprobe < 1:
            raise ValueError(f"nprobe must be at least 1, got {nprobe}")
        self._nprobe = nprobe

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self.dim)
        sims = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        if self.collection is None or len(q) == 0 or k <= 0:
            return sims, ids
        params = {"metric_type": "IP", "params": {"nprobe": self._nprobe}}
        for start in range(0, len(q), SEARCH_BATCH):
            batch = list(q[start : start + SEARCH_BATCH])
            hits = self._search(batch, k, params)
            for row, found in enumerate(hits, start):
                for j, hit in enumerate(found[:k]):
                    ids[row, j] = hit["id"]
                    sims[row, j] = hit["distance"]
        return sims, ids

    def _search(self, batch: list[np.ndarray], k: int, params: dict) -> Any:
        def once() -> Any:
            return self._call(
                "search",
                "search",
                self.collection,
                data=batch,
                limit=k,
                anns_field="vector",
                search_params=params,
                consistency_level="Eventually",
            )

        try:
            return once()
        except MilvusUnavailable:
            # a restarted server may come back with the collection released: load it and try once more
            # (if Milvus is still down, loading fails and that error goes to the caller)
            if not self._call("look up a collection", "has_collection", self.collection):
                raise
            self._load(self.collection, self._rows)
            return once()

    def __len__(self) -> int:
        return self._rows

    def nbytes(self) -> int:
        """What the query nodes report holding for the loaded segments; estimated if they do not say."""
        if self.collection is None:
            return 0
        nlist, _ = _index_params(self._rows)
        estimate = self._rows * (self.dim + 8) + nlist * self.dim * 4  # 8-bit codes, int64 ids, centroids
        try:
            segments = client(self.settings).get_query_segment_info(self.collection)
            held = sum(int(getattr(s, "mem_size", 0) or 0) for s in segments)
        except Exception:
            return estimate
        return held or estimate

    def save(self, path: Path) -> None:
        pointer = {
            "format": POINTER_FORMAT,
            "backend": self.name,
            "uri": self.settings.milvus_uri,
            "db": self.settings.milvus_db,
            "collection": self.collection,
            "rows": self._rows,
            "dim": self.dim,
        }
        Path(path).write_text(json.dumps(pointer), encoding="utf-8")
        self.forget_unnamed(Path(path).parent)

    @classmethod
    def load(cls, path: Path, dim: int, settings: Settings | None = None) -> MilvusIndex:
        """Reconnect to the collection a pointer names; ValueError when it does not fit, so it gets rebuilt."""
        idx = cls(dim, settings)
        p = json.loads(Path(path).read_text(encoding="utf-8"))
        s = idx.settings
        expected = {
            "format": POINTER_FORMAT,
            "backend": cls.name,
            "uri": s.milvus_uri,
            "db": s.milvus_db,
            "dim": dim,
        }
        wrong = {k: p.get(k) for k, v in expected.items() if p.get(k) != v}
        if wrong:
            raise ValueError(f"Milvus pointer {path} does not fit these settings: {wrong}")
        idx._rows = int(p["rows"])
        idx._nprobe = _index_params(idx._rows, s.milvus_nprobe)[1]
        idx.collection = p["collection"]
        if idx.collection is None:
            if idx._rows:
                raise ValueError(f"Milvus pointer {path} names no collection for {idx._rows} rows")
            return idx
        if not idx._call("look up a collection", "has_collection", idx.collection):
            raise ValueError(f"Milvus collection {idx.collection} is gone")
        idx._load(idx.collection, idx._rows)
        held = idx._count()  # not the statistics' row count: that one ignores deletes
        if held != idx._rows:
            raise ValueError(f"Milvus collection {idx.collection} holds {held} rows, not {idx._rows}")
        return idx

    # -- collections nobody names any more -------------------------------------------------------------
    def forget_unnamed(self, folder: Path) -> list[str]:
        """Drop this prefix's collections that no pointer in ``folder`` names (older than the grace period).

        The pointer being replaced still names its collection until the next save, so a process that has
        not yet reloaded keeps searching it meanwhile.
        """
        named = {self.collection}
        for f in [*folder.glob("*.idx"), *folder.glob(".*.tmp")]:
            try:
                if (
                    f.stat().st_size > 65536
                ):  # another backend's index file (a pointer is a few hundred bytes)
                    continue
                p = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError):
                continue  # another backend's file, or one being written
            if isinstance(p, dict) and p.get("backend") == self.name:
                named.add(p.get("collection"))
        prefix = f"{self.settings.milvus_collection_prefix}_"
        dropped = []
        now = time.time()
        for name in self._call("list collections", "list_collections"):
            if not name.startswith(prefix) or name in named:
                continue
            desc = self._call("describe a collection", "describe_collection", name)
            try:
                started = float(json.loads(desc.get("description") or "{}").get("started", 0))
            except (ValueError, AttributeError):
                continue  # not one of ours
            wait = STALE_STAGING_SECONDS if STAGING in name else self.grace_seconds
            if now - started >= wait:
                for alias in desc.get("aliases") or []:  # Milvus keeps a collection that has aliases
                    self._call("drop an alias", "drop_alias", alias)
                self._call("drop a collection", "drop_collection", name)
                dropped.append(name)
        return dropped


__all__ = ["MilvusIndex", "MilvusUnavailable", "client"]
