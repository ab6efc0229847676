"""Critiques of photo collections that outgrow one process: `asemllm critique SOURCE --engine ray --out DIR`.

A Ray Data pipeline, so the scheduling, retries and back-pressure are Ray's, not ours:

    SOURCE (folder, list or manifest)        listed on the driver; photos already in DIR dropped (resume)
      -> read + decode  (Ray tasks)          bytes through pyarrow's filesystems, so s3://, gs://, ... work
      -> critique       (an actor pool)      the critic loaded once per actor, a batch per call
      -> shards in DIR  (the driver)         part-*.parquet or part-*.jsonl, each written whole

Every listed photo ends as one row: its critique, or an error row `{"image", "error"}` when it
cannot be read, decoded or critiqued; a bad photo never fails the job. An actor that dies (killed,
out of memory, its node lost) is restarted by Ray and its batch run again; only the successful run
of a batch reaches the output, so a photo is written once.

Shards are written by the driver, a temporary name first (`_tmp-part-...`) then moved to its
`part-...` name, so a job that dies leaves complete shards and at most a temporary file that
nothing reads; a rerun reads the complete shards, skips their photos and adds new shards beside
them. (Ray Data's own writers run on the workers and leave a half-written file when a job dies.)

The records are today's JSON-lines records (README "Critique"). In JSON-lines shards they are
exactly that; in Parquet shards the scalars (`image`, `overall`, `model`, `error`) are string
columns and the nested fields (`critique`, `claims`, `attributes`, `content`, `saliency`,
`timings`) JSON strings, one schema for every shard; `read_records(DIR)` gives the records back
as dicts from either.

ray and pyarrow are imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import json
import math
import sys
import time
import uuid
from dataclasses import dataclass

NESTED = ("critique", "claims", "attributes", "content", "saliency", "timings")
RECORD_KEYS = ("image", "critique", "overall", "claims", "attributes", "content", "saliency", "model", "timings")
COLUMNS = ("image", "error", "overall", "model", *NESTED)  # a Parquet shard's columns, all strings
FORMATS = ("parquet", "jsonl")
MANIFESTS = (".csv", ".parquet", ".pq")  # a table with a `path` column
LISTS = (".txt", ".lst", ".list")  # one path per line
READ_BLOCK_MAX = 64  # photos per read task at most: small blocks spread the reading over the cluster


@dataclass
class Settings:
    """How a collection is critiqued: the critic, the actor pool, the shards."""

    model: str | None = None  # as asemllm.load: None (the bundled critic), "teacher", or a model folder
    precision: str = "fp32"
    aspects: list[str] | None = None
    batch_size: int = 8  # photos per critique call of an actor
    workers: int | None = None  # actors; None: as many as the cluster's CPUs (or GPUs) hold
    num_cpus_per_worker: float = 1.0
    num_gpus_per_worker: float = 0.0
    readers: int | None = None  # read tasks at once; None: one per worker
    fmt: str = "parquet"
    shard_rows: int = 1000  # a shard is written every shard_rows rows ...
    shard_seconds: float = 60.0  # ... or every shard_seconds, whichever comes first
    address: str | None = None  # None: a local Ray (or the one this process already joined); "auto", "ray://..."


@dataclass(frozen=True)
class Photo:
    image: str  # the name its record carries (the path as listed)
    uri: str  # where the readers open it: an absolute local path or a filesystem URI


# ---------------------------------------------------------------------------------------------------
# The run.


def critique_collection(sources: list[str], out: str, settings: Settings | None = None, log=None,
                        progress: bool = False, on_rows=None) -> dict:
    """Critique every photo of `sources` not yet in `out`, writing shards there -> a summary:
    listed, skipped (already in `out`), critiqued, errors, not_written (photos of a batch whose
    task raised past the critic's own error handling; a rerun tries them again), shards written,
    workers, seconds. `on_rows(n)` is called as each n rows arrive (the benchmark times them)."""
    s = settings or Settings()
    _check(s)
    t0 = time.perf_counter()
    photos = list_photos(sources)
    done = done_images(out, log)
    todo = [p for p in photos if p.image not in done]
    summary = {"listed": len(photos), "skipped": len(photos) - len(todo), "critiqued": 0, "errors": 0,
               "not_written": 0, "shards": 0, "out": out}
    if todo:
        summary |= _run(todo, out, s, log, progress, on_rows)
    return summary | {"seconds": round(time.perf_counter() - t0, 1)}


def _check(s: Settings) -> None:
    if s.fmt not in FORMATS:
        raise ValueError(f"format {s.fmt!r}: choose one of {', '.join(FORMATS)}")
    for name in ("batch_size", "workers", "readers", "shard_rows"):
        value = getattr(s, name)
        if value is not None and value < 1:
            raise ValueError(f"{name.replace('_', '-')} {value}: must be at least 1")
    if s.num_cpus_per_worker < 0 or s.num_gpus_per_worker < 0:
        raise ValueError("num-cpus-per-worker and num-gpus-per-worker must not be negative")
    from .api import _check as check_precision

    check_precision(s.precision)  # here, not in each actor, where it would only fail the pool
    if s.model == "teacher" and s.precision != "fp32":
        raise ValueError(f"precision {s.precision!r}: the teacher has no language model to run in it")


def _run(todo: list[Photo], out: str, s: Settings, log, progress: bool, on_rows) -> dict:
    from tqdm import tqdm

    with _ray(s.address) as ray, _data_context(ray):
        workers = s.workers or _default_workers(ray, s)
        ds = _pipeline(ray, todo, s, workers)
        written = {"critiqued": 0, "errors": 0}
        bar = tqdm(total=len(todo), desc="critique", file=sys.stderr, disable=not progress)
        with ShardWriter(out, s.fmt, s.shard_rows, s.shard_seconds) as writer:
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                writer.add(batch)
                critiqued = batch.column("error").null_count  # a critique's row has no error
                written["critiqued"] += critiqued
                written["errors"] += batch.num_rows - critiqued
                bar.update(batch.num_rows)
                if on_rows:
                    on_rows(batch.num_rows)
        bar.close()
    missing = len(todo) - written["critiqued"] - written["errors"]
    if missing and log:
        log(f"{missing} photos not written: their batch failed (see Ray's log above); a rerun tries them again")
    return written | {"not_written": missing, "shards": writer.shards, "workers": workers}


class _ray:
    """Ray, joined for the run: the cluster at `address`, the one this process already joined, or a
    new local one (stopped again at the end)."""

    def __init__(self, address: str | None):
        self.address, self.started = address, False

    def __enter__(self):
        import logging

        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, logging_level=logging.WARNING, include_dashboard=False)
            self.started = True
        return ray

    def __exit__(self, *exc):
        import ray

        if self.started:
            ray.shutdown()


class _data_context:
    """Ray Data's settings for the run, put back afterwards: a batch whose task raised (past the
    critic's own handling of bad photos) is reported as not written instead of failing the job, and
    our progress bar shows instead of Ray's."""

    SETTINGS = {"max_errored_blocks": -1, "enable_progress_bars": False}

    def __init__(self, ray):
        self.ctx = ray.data.DataContext.get_current()
        self.saved = {}

    def __enter__(self):
        for name, value in self.SETTINGS.items():
            self.saved[name] = getattr(self.ctx, name)
            setattr(self.ctx, name, value)
        return self.ctx

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            setattr(self.ctx, name, value)


def _default_workers(ray, s: Settings) -> int:
    """As many actors as the cluster's GPUs (GPU actors) or CPUs hold."""
    resources = ray.cluster_resources()
    if s.num_gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) // s.num_gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // max(s.num_cpus_per_worker, 1e-9)))


def _pipeline(ray, todo: list[Photo], s: Settings, workers: int):
    """Photos -> read and decoded by Ray tasks -> critiqued by an actor pool; rows as pyarrow tables.

    The read tasks reserve no CPU, so that the actor pool may hold every core (decoding is short
    beside a critique); `readers` caps how many run at once. An actor that dies is restarted and its
    batch run again: Ray Data's defaults for actor pools (max_restarts=-1, max_task_retries=-1),
    which it configures itself (passing them is deprecated)."""
    import pyarrow as pa

    table = pa.table({"image": [p.image for p in todo], "uri": [p.uri for p in todo]})
    per_block = max(1, min(READ_BLOCK_MAX, math.ceil(len(todo) / (4 * workers))))
    blocks = [table.slice(i, per_block) for i in range(0, len(todo), per_block)]
    ds = ray.data.from_arrow(blocks)
    ds = ds.map_batches(read_photos, batch_size=s.batch_size, batch_format="pyarrow", num_cpus=0,
                        compute=ray.data.TaskPoolStrategy(size=s.readers or max(1, workers)))
    return ds.map_batches(Critiquer, batch_size=s.batch_size, batch_format="pyarrow",
                          fn_constructor_kwargs={"model": s.model, "precision": s.precision, "aspects": s.aspects,
                                                 "threads": max(1, round(s.num_cpus_per_worker))},
                          compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=s.num_cpus_per_worker,
                          num_gpus=s.num_gpus_per_worker or None)


# ---------------------------------------------------------------------------------------------------
# The stages: reading (Ray tasks) and critiquing (an actor).


def read_photos(batch):
    """Ray task: (image, uri) rows -> (image, error, pixels, height, width) rows, each photo read and
    decoded as the critic loads it (RGB, turned upright, at least 32 px a side). A photo that cannot
    be read or decoded gets its error and no pixels."""
    import pyarrow as pa

    out = {"image": [], "error": [], "pixels": [], "height": [], "width": []}
    for image, uri in zip(batch.column("image").to_pylist(), batch.column("uri").to_pylist()):
        try:
            rgb = _decode(image, _read(uri))
            error, pixels, (height, width) = None, rgb.tobytes(), rgb.shape[:2]
        except Exception as e:  # noqa: BLE001 - any unreadable photo is its own error row
            error, pixels, height, width = _message(image, e), b"", 0, 0
        for key, value in zip(out, (image, error, pixels, height, width)):
            out[key].append(value)
    return pa.table({"image": pa.array(out["image"], pa.string()), "error": pa.array(out["error"], pa.string()),
                     "pixels": pa.array(out["pixels"], pa.large_binary()),
                     "height": pa.array(out["height"], pa.int32()), "width": pa.array(out["width"], pa.int32())})


_SYSTEMS: dict = {}  # in a reading process: scheme://bucket -> (pyarrow filesystem, where its paths start)


def _read(uri: str) -> bytes:
    """The bytes of a local path or a filesystem URI. One pyarrow filesystem per bucket or host, kept
    across the process's tasks: making one can cost a round trip (finding an S3 bucket's region)."""
    if "://" not in uri:
        with open(uri, "rb") as f:
            return f.read()
    from pyarrow import fs

    key, rest = "/".join(uri.split("/", 3)[:3]), uri.split("://", 1)[1]
    if key not in _SYSTEMS:
        system, path = fs.FileSystem.from_uri(uri)
        _SYSTEMS[key] = system, len(rest) - len(path)  # s3: "bucket/key" is the path; hdfs: "/key"
    system, cut = _SYSTEMS[key]
    with system.open_input_file(rest[cut:]) as f:
        return f.read()


def _decode(image: str, data: bytes):
    import numpy as np

    from ..images import MIN_SIDE, load_image

    if not data:
        raise ValueError("empty file")
    return np.asarray(load_image(data, min_side=MIN_SIDE))


def _message(image: str, e: Exception) -> str:
    """One line naming the photo: 'photos/x.jpg: not an image (...)'."""
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, FileNotFoundError):
        text = "no such file"
    elif not isinstance(e, ValueError):
        text = f"{type(e).__name__}: {text}"
    for prefix in ("image: ", f"{image}: "):
        text = text.removeprefix(prefix)
    return f"{image}: {text[:300]}"


class Critiquer:
    """Ray actor: the critic, loaded once, critiquing a batch of decoded photos per call as one
    stream (their aspects decode in a pool that is refilled as critiques end). Rows that
    came with an error pass through; a batch that raises is critiqued photo by photo, so one bad
    photo becomes one error row."""

    def __init__(self, model=None, precision: str = "fp32", aspects=None, threads: int = 1):
        import torch

        from .api import load

        torch.set_num_threads(threads)
        self.critic, self.aspects = load(model, precision), aspects

    def __call__(self, batch):
        import numpy as np

        images, errors = batch.column("image").to_pylist(), batch.column("error").to_pylist()
        heights, widths = batch.column("height").to_pylist(), batch.column("width").to_pylist()
        pixels = batch.column("pixels")
        good = [i for i, e in enumerate(errors) if e is None]
        photos = [np.frombuffer(pixels[i].as_buffer(), np.uint8).reshape(heights[i], widths[i], 3) for i in good]
        records = dict(zip(good, self._critique(photos, [images[i] for i in good])))
        return to_table([records.get(i) or {"image": image, "error": errors[i]} for i, image in enumerate(images)])

    def _critique(self, photos, names) -> list[dict]:
        if not photos:
            return []
        try:
            # one decoding stream over the batch: a photo's aspects take the rows the ended ones
            # left, instead of the batch waiting for its longest critique (Critic.critique_stream)
            return list(self.critic.critique_stream(photos, aspects=self.aspects, names=names, chunk=len(photos)))
        except Exception as e:  # noqa: BLE001 - find the photo that raised, keep the others
            if len(photos) == 1:
                return [{"image": names[0], "error": _message(names[0], e)}]
            return [r for p, n in zip(photos, names) for r in self._critique([p], [n])]


# ---------------------------------------------------------------------------------------------------
# The records as shard rows and back.


def to_table(records: list[dict]):
    """Records (critiques or error rows) -> a pyarrow table of COLUMNS, nested fields as JSON."""
    import pyarrow as pa

    def column(key):
        if key in NESTED:
            return [None if key not in r else json.dumps(r[key]) for r in records]
        return [r.get(key) for r in records]

    return pa.table({key: pa.array(column(key), pa.string()) for key in COLUMNS})


def to_records(table) -> list[dict]:
    """A shard's rows -> records as the JSON lines have them: a critique's keys in their order, or
    {"image", "error"} for a photo that could not be critiqued."""
    out = []
    for row in table.to_pylist():
        if row.get("error") is not None:
            out.append({"image": row["image"], "error": row["error"]})
        else:
            out.append({k: json.loads(row[k]) if k in NESTED else row[k] for k in RECORD_KEYS})
    return out


class ShardWriter:
    """Rows collected into shards of `out`, each written under a temporary name and then moved to
    `part-<run>-<n>.<fmt>`: a reader sees a shard whole or not at all."""

    def __init__(self, out: str, fmt: str, rows: int, seconds: float):
        self.fs, self.root = _filesystem(out)
        self.fmt, self.rows, self.seconds = fmt, rows, seconds
        self.run = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.pending, self.shards, self.since = [], 0, time.monotonic()
        self.fs.create_dir(self.root, recursive=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.flush()  # what arrived before a failure is kept: those photos are done

    def add(self, table) -> None:
        if table.num_rows:
            self.pending.append(table.select(list(COLUMNS)))
        if sum(t.num_rows for t in self.pending) >= self.rows or time.monotonic() - self.since >= self.seconds:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        self.since = time.monotonic()
        if not self.pending:
            return
        table, self.pending = pa.concat_tables(self.pending), []
        name = f"part-{self.run}-{self.shards:05d}.{self.fmt}"
        tmp, final = f"{self.root}/_tmp-{name}", f"{self.root}/{name}"
        self._write(table, tmp)
        self.fs.move(tmp, final)
        self.shards += 1

    def _write(self, table, path: str) -> None:
        import pyarrow.parquet as pq

        if self.fmt == "parquet":
            pq.write_table(table, path, filesystem=self.fs)
            return
        lines = "".join(json.dumps(r) + "\n" for r in to_records(table))
        with self.fs.open_output_stream(path) as f:
            f.write(lines.encode("utf-8"))


def shards(out: str) -> list[str]:
    """The complete shards in `out` (part-*.parquet and part-*.jsonl), sorted; [] when `out` is not there."""
    from pyarrow import fs

    system, root = _filesystem(out)
    infos = system.get_file_info(fs.FileSelector(root, allow_not_found=True))
    return sorted(i.path for i in infos if i.type == fs.FileType.File and i.base_name.startswith("part-")
                  and i.base_name.endswith(tuple(f".{f}" for f in FORMATS)))


def read_records(out: str, log=None) -> list[dict]:
    """Every record in `out`'s complete shards, once per photo (the first shard's, should a photo
    ever be in two). A shard that cannot be read is skipped, saying so."""
    seen, records = set(), []
    for path in shards(out):
        for r in _shard_records(out, path, log):
            if r["image"] not in seen:
                seen.add(r["image"])
                records.append(r)
    return records


def done_images(out: str, log=None) -> set[str]:
    """The photos that `out`'s complete shards already hold (critiqued or given an error row)."""
    import pyarrow.parquet as pq

    system, _ = _filesystem(out)
    done = set()
    for path in shards(out):
        try:
            if path.endswith(".parquet"):
                done |= set(pq.read_table(path, columns=["image"], filesystem=system).column("image").to_pylist())
            else:
                done |= {r["image"] for r in _shard_records(out, path, log)}
        except Exception as e:  # noqa: BLE001 - a damaged shard: its photos are simply done again
            _skip(log, path, e)
    return done


def _shard_records(out: str, path: str, log) -> list[dict]:
    import pyarrow.parquet as pq

    system, _ = _filesystem(out)
    try:
        if path.endswith(".parquet"):
            return to_records(pq.read_table(path, filesystem=system))
        with system.open_input_stream(path) as f:
            return [json.loads(line) for line in f.read().decode("utf-8").splitlines() if line.strip()]
    except Exception as e:  # noqa: BLE001
        _skip(log, path, e)
        return []


def _skip(log, path: str, e: Exception) -> None:
    if log:
        log(f"skip shard {path}: {' '.join(str(e).split())[:200]}")


# ---------------------------------------------------------------------------------------------------
# Sources: folders, lists and manifests, local or on any filesystem pyarrow reads.


def list_photos(sources: list[str]) -> list[Photo]:
    """The photos of each source, in order, each once however often listed: a photo, a folder (its photos, not its
    subfolders'), a list (.txt/.lst/.list: one path per line, '#' comments) or a manifest
    (.csv/.parquet with a `path` column). Relative paths in a list or manifest are relative to its
    folder. Local paths or URIs (s3://bucket/key, gs://..., file:///...)."""
    seen, photos = set(), []
    for source in sources:
        for photo in _listed(source):
            if photo.uri not in seen:  # one photo under two names ("a.jpg", "./a.jpg"): its first
                seen.add(photo.uri)
                photos.append(photo)
    return photos


def _listed(source: str) -> list[Photo]:
    from pyarrow import fs

    from ..saliency.predict import IMAGE_SUFFIXES

    system, path = _filesystem(source)
    info = system.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        raise ValueError(f"{source}: no such file or folder")
    if info.type == fs.FileType.Directory:
        found = system.get_file_info(fs.FileSelector(path))
        names = sorted(i.base_name for i in found if i.type == fs.FileType.File
                       and _suffix(i.base_name) in IMAGE_SUFFIXES)
        return [_photo(_join(source, n)) for n in names]
    suffix = _suffix(source)
    if suffix in MANIFESTS or suffix in LISTS:
        base = source.rstrip("/").rpartition("/")[0] if "/" in source else ""
        return [_photo(p if _absolute(p) or not base else _join(base, p)) for p in _paths_in(source, suffix)]
    if suffix in IMAGE_SUFFIXES:
        return [_photo(source)]
    raise ValueError(f"{source}: not a photo, a folder, a list ({', '.join(LISTS)}) or a manifest "
                     f"({', '.join(MANIFESTS)} with a `path` column)")


def _paths_in(source: str, suffix: str) -> list[str]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    system, path = _filesystem(source)
    if suffix in LISTS:
        with system.open_input_stream(path) as f:
            lines = f.read().decode("utf-8").splitlines()
        return [x.strip() for x in lines if x.strip() and not x.lstrip().startswith("#")]
    if suffix == ".csv":
        with system.open_input_stream(path) as f:
            table = pcsv.read_csv(f)
    else:
        schema = pq.read_schema(path, filesystem=system)
        table = pq.read_table(path, columns=["path"] if "path" in schema.names else [], filesystem=system)
        table = table if "path" in schema.names else schema.empty_table()
    if "path" not in table.column_names:
        raise ValueError(f"{source}: no `path` column (its columns: {', '.join(table.column_names) or 'none'})")
    return [str(p).strip() for p in table.column("path").to_pylist() if p is not None and str(p).strip()]


def _photo(name: str) -> Photo:
    import os

    return Photo(name, name if "://" in name else os.path.abspath(name))


def _filesystem(where: str):
    """(pyarrow filesystem, path within it) for a local path or a URI."""
    import os

    from pyarrow import fs

    if "://" in where:
        return fs.FileSystem.from_uri(where)
    return fs.LocalFileSystem(), os.path.abspath(where)


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}" if base not in ("", ".") else name


def _absolute(path: str) -> bool:
    return "://" in path or path.startswith("/")


def _suffix(name: str) -> str:
    base = name.rstrip("/").rpartition("/")[2]
    return "." + base.rpartition(".")[2].lower() if "." in base else ""
