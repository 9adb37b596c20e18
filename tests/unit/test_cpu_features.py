"""Which ggml features a whisper.cpp build lacks that would speed it up here (what `engine info` points out)."""

from __future__ import annotations

from whisper_api.engine.info import missing_features


def test_missing_features_are_the_cpus_the_build_lacks_and_the_matrix_kernels() -> None:
    generic = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | OPENMP = 1 |"
    native = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | LLAMAFILE = 1 | OPENMP = 1 |"
    flags = {"avx2", "avx512f", "avx512_vnni"}
    assert missing_features(generic, flags) == ["AVX512", "AVX512_VNNI", "LLAMAFILE"]
    assert missing_features(native, flags) == []
    assert missing_features(generic, {"avx2"}) == ["LLAMAFILE"]
    assert missing_features(generic.replace("FMA = 1 |", "FMA = 1 | LLAMAFILE = 1 |"), {"avx2"}) == []
