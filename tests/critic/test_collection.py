"""`asemllm critique SOURCE --engine ray --out DIR`: the Ray Data pipeline for collections, on real
photos with the real (teacher) critic and a local Ray of 2 CPUs.

The sources and shards are tested without Ray (seconds); the pipeline, its fault tolerance (an
actor killed mid-run) and its resume are `slow` (a local Ray starts in seconds, the run takes a
minute or so on 2 cores)."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray engine needs the `scale` extra: pip install -e '.[scale]'")

from asemllm.cli import main  # noqa: E402
from asemllm.critic.collection import (  # noqa: E402
    RECORD_KEYS, Photo, Settings, ShardWriter, critique_collection, done_images, list_photos, read_records,
    shards, to_records, to_table)

NUS = "saliency/nus_scene/data/stimuli"
ACTOR = "ray::MapWorker(MapBatches(Critiquer))"  # the title Ray gives a critic actor's process


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray of 2 CPUs with a small object store, shared by the module's pipeline tests."""
    import ray

    ray.init(num_cpus=2, object_store_memory=300 * 1024 ** 2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _folder(tmp_path, shared_data, n: int, corrupt: bool = True) -> Path:
    """`n` NUS photos (links) and, with `corrupt`, one JPEG cut to a third plus one text file named .jpg."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in sorted((shared_data / NUS).glob("*.jpg"))[:n]:
        (folder / photo.name).symlink_to(photo)
    if corrupt:
        data = (shared_data / "photos" / "misc" / "grace_hopper.jpg").read_bytes()
        (folder / "zz_truncated.jpg").write_bytes(data[: len(data) // 3])
        (folder / "zz_not_a_photo.jpg").write_text("this is not a JPEG\n")
    return folder


# ---------------------------------------------------------------- sources and shards (no Ray)


def test_sources_folder_list_and_manifests(tmp_path, shared_data):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _folder(tmp_path, shared_data, 3, corrupt=False)
    names = sorted(p.name for p in folder.iterdir())
    (folder / "notes.md").write_text("not a photo: not listed\n")
    assert [p.image for p in list_photos([str(folder)])] == [f"{folder}/{n}" for n in names]
    listing = tmp_path / "photos.txt"
    listing.write_text(f"# a comment\nphotos/{names[0]}\n\n{folder / names[1]}\n")
    assert list_photos([str(listing)]) == [Photo(f"{tmp_path}/photos/{names[0]}", str(folder / names[0])),
                                           Photo(str(folder / names[1]), str(folder / names[1]))]
    (tmp_path / "m.csv").write_text("path,title\n" + "".join(f"photos/{n},x\n" for n in names))
    pq.write_table(pa.table({"path": [f"photos/{n}" for n in names], "score": [1, 2, 3]}), tmp_path / "m.parquet")
    from_csv, from_parquet = list_photos([str(tmp_path / "m.csv")]), list_photos([str(tmp_path / "m.parquet")])
    assert from_csv == from_parquet and [p.uri for p in from_csv] == [str(folder / n) for n in names]
    listing.write_text(f"photos/{names[0]}\n./photos/{names[0]}\n")
    assert list_photos([str(folder), str(tmp_path / "m.csv"), str(listing)]) == list_photos([str(folder)])  # once


def test_source_errors_name_the_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"file": ["a.jpg"]}), tmp_path / "m.parquet")
    with pytest.raises(ValueError, match=r"m\.parquet: no `path` column \(its columns: file\)"):
        list_photos([str(tmp_path / "m.parquet")])
    with pytest.raises(ValueError, match="nowhere: no such file or folder"):
        list_photos([str(tmp_path / "nowhere")])
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ValueError, match=r"notes\.md: not a photo, a folder, a list"):
        list_photos([str(tmp_path / "notes.md")])


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_shards_are_whole_or_not_read(tmp_path, fmt):
    """Shards round-trip the records; a temporary file and a damaged shard (a job that died while
    writing) are not read, and their photos are not counted as done."""
    record = {"image": "a.jpg", "critique": {"composition": "Centred."}, "overall": "Centred.",
              "claims": {"composition": []}, "attributes": {"noise": {"value": 1.5, "unit": "", "level": "low"}},
              "content": {"label": "cat"}, "saliency": {"overlay": None, "peak": [1, 2]}, "model": "m",
              "timings": {"total": 0.4}}
    error = {"image": "b.jpg", "error": "b.jpg: not an image"}
    out = str(tmp_path / "out")
    with ShardWriter(out, fmt, rows=1, seconds=60) as writer:
        writer.add(to_table([record]))
        writer.add(to_table([error]))
    assert len(shards(out)) == 2
    (tmp_path / "out" / f"_tmp-part-x.{fmt}").write_text("half a shard")
    (tmp_path / "out" / f"part-damaged.{fmt}").write_bytes(b"PAR1\x00\x01" if fmt == "parquet" else b"{\"ima")
    logged = []
    assert read_records(out, logged.append) == [record, error]
    assert list(read_records(out)[0]) == list(RECORD_KEYS)  # the JSON-lines record, key for key
    assert done_images(out, logged.append) == {"a.jpg", "b.jpg"}
    assert logged and all("part-damaged" in line for line in logged)


def test_the_stages_read_uris_and_make_bad_photos_error_rows(tmp_path, shared_data):
    """The two stages as Ray runs them, here called directly: photos read through pyarrow's
    filesystems (file:// as s3:// would be), decoded, critiqued by the real teacher; the bad ones
    become one error row each, naming the file."""
    import pyarrow as pa

    from asemllm.critic.collection import Critiquer, read_photos

    folder = _folder(tmp_path, shared_data, 2)
    photos = list_photos([f"file://{folder}"]) + [Photo("gone.jpg", str(tmp_path / "gone.jpg"))]
    decoded = read_photos(pa.table({"image": [p.image for p in photos], "uri": [p.uri for p in photos]}))
    assert decoded.column("error").null_count == 2 and decoded.column("height").to_pylist()[:2] == [256, 256]
    records = {r["image"]: r for r in to_records(Critiquer(model="teacher", aspects=["composition"])(decoded))}
    assert [list(r["critique"]) for r in records.values() if "error" not in r] == [["composition"]] * 2
    errors = {name.rpartition("/")[2]: r["error"] for name, r in records.items() if "error" in r}
    assert errors == {"zz_not_a_photo.jpg": f"file://{folder}/zz_not_a_photo.jpg: not an image (or a format Pillow "
                                            "cannot read)",
                      "zz_truncated.jpg": errors["zz_truncated.jpg"], "gone.jpg": "gone.jpg: no such file"}
    assert errors["zz_truncated.jpg"].startswith(f"file://{folder}/zz_truncated.jpg: ")


def test_cli_flags_of_the_ray_engine(tmp_path, capsys):
    assert main(["critique", str(tmp_path), "--engine", "ray"]) == 2
    assert "--engine ray needs --out DIR" in capsys.readouterr().err
    assert main(["critique", str(tmp_path), "--workers", "2"]) == 2
    assert capsys.readouterr().err.strip() == "asemllm: error: --workers: only with --engine ray"
    assert main(["critique", str(tmp_path), "--engine", "ray", "--out", str(tmp_path / "o"), "--overlay", "x"]) == 2
    assert "--overlay x: not with --engine ray" in capsys.readouterr().err


# ---------------------------------------------------------------- the pipeline on a local Ray


class _KillOneActor:
    """`on_rows` for the run: when the first rows reach the driver, SIGKILL one critic actor's
    process (as an out-of-memory kill would), noting the rows written by then; at each arrival,
    note the actor processes alive (the one Ray restarts in the killed one's place among them)."""

    def __init__(self):
        self.rows, self.rows_then, self.killed, self.seen = 0, None, None, set()

    def __call__(self, n: int) -> None:
        pids = _actor_pids()
        self.seen |= set(pids)
        if self.killed is None and pids:
            self.killed, self.rows_then = pids[0], self.rows
            os.kill(pids[0], signal.SIGKILL)
        self.rows += n


def _actor_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(ACTOR.encode()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return sorted(pids)


@pytest.mark.slow
def test_an_actor_killed_mid_run_loses_nothing_and_writes_nothing_twice(ray_local, tmp_path, shared_data):
    folder = _folder(tmp_path, shared_data, 44)
    out = tmp_path / "out"
    kill = _KillOneActor()
    settings = Settings(model="teacher", workers=2, batch_size=4, shard_rows=4)
    summary = critique_collection([str(folder)], str(out), settings, on_rows=kill)
    assert kill.killed and kill.rows_then < 46 // 2, vars(kill)  # killed early in the run
    assert len(kill.seen) >= 3, vars(kill)  # the 2 actors, and the one Ray started in the killed one's place
    assert summary | {"seconds": 0} == {"listed": 46, "skipped": 0, "critiqued": 44, "errors": 2, "not_written": 0,
                                        "shards": summary["shards"], "out": str(out), "workers": 2, "seconds": 0}
    _assert_each_photo_once(out, folder)

    # a job that died while writing: one shard lost, one half-written under its final name, a temporary file
    parts = shards(str(out))
    os.remove(parts[0])
    Path(parts[1]).write_bytes(Path(parts[1]).read_bytes()[:100])
    (out / "_tmp-part-died.parquet").write_bytes(b"PAR1")
    again = critique_collection([str(folder)], str(out), settings)
    assert again["skipped"] == 46 - again["critiqued"] - again["errors"] and again["critiqued"] > 0, again
    records = _assert_each_photo_once(out, folder)
    assert {r["image"] for r in records if "error" in r} == {f"{folder}/zz_not_a_photo.jpg",
                                                              f"{folder}/zz_truncated.jpg"}
    assert critique_collection([str(folder)], str(out), settings)["skipped"] == 46  # nothing left to do


def _assert_each_photo_once(out: Path, folder: Path) -> list[dict]:
    """Every photo of `folder` is in `out`'s readable shards exactly once, as a critique or an error row."""
    import pyarrow.parquet as pq

    rows = []
    for path in shards(str(out)):
        try:
            rows += pq.read_table(path, columns=["image"]).column("image").to_pylist()
        except Exception:  # the shard the test damaged: not read, as the pipeline does not read it
            continue
    assert sorted(rows) == sorted(str(p) for p in folder.iterdir())
    records = read_records(str(out))
    for r in records:
        if "error" in r:
            assert set(r) == {"image", "error"} and r["error"].startswith(r["image"] + ": ") and "\n" not in r["error"]
        else:
            assert list(r) == list(RECORD_KEYS) and len(r["critique"]) == 7
    return records


@pytest.mark.slow
def test_cli_engine_ray_writes_the_records_of_the_default_engine(ray_local, tmp_path, shared_data, capsys):
    """The same record schema as `asemllm critique --out FILE.jsonl`, from a manifest, in JSON-lines shards."""
    folder = _folder(tmp_path, shared_data, 3)
    listing = tmp_path / "photos.txt"
    listing.write_text("".join(f"photos/{p.name}\n" for p in sorted(folder.iterdir())))
    out = tmp_path / "shards"
    argv = ["critique", str(listing), "--engine", "ray", "--model", "teacher", "--workers", "2",
            "--format", "jsonl", "--out", str(out), "--json", "--aspects", "composition", "focus"]
    assert main(argv) == 1  # two photos could not be critiqued
    summary = json.loads(capsys.readouterr().out)
    assert (summary["critiqued"], summary["errors"], summary["skipped"]) == (3, 2, 0)
    lines = [json.loads(x) for p in sorted(out.glob("part-*.jsonl")) for x in p.read_text().splitlines()]
    default = tmp_path / "default.jsonl"
    main(["critique", str(folder), "--model", "teacher", "--out", str(default), "--aspects", "composition", "focus"])
    capsys.readouterr()
    expected = [json.loads(x) for x in default.read_text().splitlines()]
    critiques = [r for r in lines if "error" not in r]
    assert [list(r) for r in critiques] == [list(r) for r in expected]
    assert sorted(Path(r["image"]).name for r in critiques) == sorted(Path(r["image"]).name for r in expected)
    assert all(list(r["critique"]) == ["composition", "focus"] for r in critiques)
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["skipped"] == 5  # resumed: all done
