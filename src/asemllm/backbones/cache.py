"""Where converted backbones are cached: $ASEMLLM_CACHE, else ~/.cache/asemllm."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("ASEMLLM_CACHE") or Path.home() / ".cache" / "asemllm"
    return Path(root)


@contextmanager
def atomic_dir(final: Path):
    """Yield a temporary folder that becomes `final` only if the block succeeds.

    A conversion killed half-way must not leave a folder that looks complete.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp makes it owner-only; a cache may be shared by several users
    try:
        yield tmp
        if final.exists():  # another process finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
