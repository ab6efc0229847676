"""Photos per minute of `asemllm critique` over a folder: the default engine and `--engine ray`.

    python scripts/bench_collection.py --model teacher --limit 48 > runs/bench-collection-teacher.json
    python scripts/bench_collection.py --model bundled --limit 48

The numbers in docs/SCALING.md come from this script (asemllm.bench.bench_collection); it prints
one line of JSON. Default photos: the first 48 NUS scene photos in ../shared/data (real photos at
their own sizes, most 256x256, some up to 2736x3648).
"""

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> int:
    shared = Path(os.environ.get("ASEMLLM_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--photos", default=str(shared / "saliency" / "nus_scene" / "data" / "stimuli"), metavar="DIR",
                   help="a folder of photos (default: the NUS scene photos)")
    p.add_argument("--limit", type=int, default=48, metavar="N", help="its first N photos (default 48)")
    p.add_argument("--model", default="teacher", metavar="M",
                   help="'teacher' (default), 'bundled' (the bundled critic) or a trained model folder")
    p.add_argument("--engines", nargs="+", default=["default", "ray"], choices=["default", "ray"])
    p.add_argument("--workers", type=int, metavar="N", help="Ray actors (default: one per CPU)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="photos per critique call (default 8)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="torch threads of the default engine (default: torch's choice, as `asemllm critique`)")
    args = p.parse_args()
    from asemllm.bench import bench_collection
    from asemllm.cli import _quiet

    _quiet()
    print(json.dumps(bench_collection(args.photos, args.engines, None if args.model == "bundled" else args.model,
                                      args.limit, args.workers, args.batch_size, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
