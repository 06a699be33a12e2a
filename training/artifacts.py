"""Where jobs write and where model versions live on disk, and the zip stream of a version.

Every job has one output folder for all its attempts (``ARTIFACT_DIR/jobs/<id>``): the
engine keeps its checkpoints under ``checkpoints/`` there and resumes from the last one
when a re-queued job runs again; the final model lands in ``model/``.
"""

import zipfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

CHUNK = 64 * 1024


def job_out_dir(job_id: int) -> Path:
    return Path(settings.ARTIFACT_DIR) / "jobs" / str(job_id)


def artifact_relative(path: Path) -> str:
    return str(path.resolve().relative_to(Path(settings.ARTIFACT_DIR).resolve()))


def artifact_absolute(relative: str) -> Path:
    root = Path(settings.ARTIFACT_DIR).resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"artifact path {relative!r} leaves ARTIFACT_DIR")
    return path


class _Pipe:
    """A write-only file object whose writes are collected and handed out as chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        if data:
            self.chunks.append(bytes(data))
            self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None

    def take(self) -> list[bytes]:
        chunks, self.chunks = self.chunks, []
        return chunks


def directory_zip_stream(root: Path, *, prefix: str) -> Iterator[bytes]:
    """Zip every file under ``root`` (names under ``prefix/``) and yield it chunk by chunk,
    never holding more than one chunk of one file in memory (zip data descriptors)."""
    pipe = _Pipe()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for path in files:
            info = zipfile.ZipInfo.from_file(path, arcname=f"{prefix}/{path.relative_to(root)}")
            info.compress_type = zipfile.ZIP_STORED
            with path.open("rb") as source, zf.open(info, mode="w", force_zip64=True) as target:
                while block := source.read(CHUNK):
                    target.write(block)
                    yield from pipe.take()
            yield from pipe.take()
    yield from pipe.take()
