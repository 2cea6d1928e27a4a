"""The model cache's bookkeeping with fake part packages: verify, atomic writes, reuse, errors."""

from __future__ import annotations

import hashlib
import sys
import types

import pytest

from langgraph_specsearch import model_assets
from langgraph_specsearch.model_assets import ModelAssetsError, ModelSpec


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
