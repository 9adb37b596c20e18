"""Which CPU features a whisper.cpp build leaves unused (what `engine info` points out)."""

from __future__ import annotations

from whisper_api.engine.info import unused_cpu_features


def test_unused_cpu_features_are_the_ones_the_cpu_has_and_the_build_lacks() -> None:
    generic = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | OPENMP = 1 |"
    native = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | OPENMP = 1 |"
    flags = {"avx2", "avx512f", "avx512_vnni"}
    assert unused_cpu_features(generic, flags) == ["AVX512", "AVX512_VNNI"]
    assert unused_cpu_features(native, flags) == []
    assert unused_cpu_features(generic, {"avx2"}) == []
