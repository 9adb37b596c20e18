"""Diarization's parts on audio and vectors the tests make, and the whole on a made conversation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import silence, tone
from tests.support.conversation import agreement, write_conversation
from whisper_api.diarize.assign import label_words
from whisper_api.diarize.clustering import cluster
from whisper_api.diarize.encoder import SpeakerEncoder
from whisper_api.diarize.features import MEL_BANDS, mel_filters, mel_spectrogram
from whisper_api.diarize.turns import absorb_short
from whisper_api.diarize.windows import window_starts
from whisper_api.errors import InvalidOptionError, ModelNotFoundError
from whisper_api.options import DiarizeOptions, SpeakerCount
from whisper_api.transcript import Segment, SpeakerTurn, Transcript, Word
from whisper_api.vad.regions import Region, SpeechRules, speech_regions


def test_mel_bands_rise_with_frequency() -> None:
    peaks = [int(np.argmax(mel_spectrogram(tone(1.0, hz)).mean(axis=0))) for hz in (200, 1000, 4000)]
    assert peaks == sorted(peaks) and len(set(peaks)) == 3
    assert mel_spectrogram(np.zeros(16000, np.float32)).shape == (101, MEL_BANDS)
    assert np.all(mel_filters() >= 0)


def _random_encoder(seed: int = 0) -> SpeakerEncoder:
    rng = np.random.default_rng(seed)
    weights = {}
    for layer, inputs in enumerate((MEL_BANDS, 256, 256)):
        weights[f"lstm.weight_ih_l{layer}"] = rng.standard_normal((1024, inputs)).astype(np.float32) * 0.1
        weights[f"lstm.weight_hh_l{layer}"] = rng.standard_normal((1024, 256)).astype(np.float32) * 0.1
        weights[f"lstm.bias_ih_l{layer}"] = rng.standard_normal(1024).astype(np.float32) * 0.1
        weights[f"lstm.bias_hh_l{layer}"] = rng.standard_normal(1024).astype(np.float32) * 0.1
    weights["linear.weight"] = rng.standard_normal((256, 256)).astype(np.float32) * 0.1
    weights["linear.bias"] = rng.standard_normal(256).astype(np.float32) * 0.1
    return SpeakerEncoder(weights)


def _reference_lstm_embedding(encoder: SpeakerEncoder, window: np.ndarray) -> np.ndarray:
    """One window, one step at a time, gates written out: what the batched code must equal."""
    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    sequence = window.astype(np.float64)
    for layer in encoder.layers:
        hidden, cell, outputs = np.zeros(256), np.zeros(256), []
        for frame in sequence:
            gates = frame @ layer.input_weights + hidden @ layer.hidden_weights + layer.bias
            i, f, g, o = np.split(gates, 4)
            cell = sigmoid(f) * cell + sigmoid(i) * np.tanh(g)
            hidden = sigmoid(o) * np.tanh(cell)
            outputs.append(hidden)
        sequence = np.array(outputs)
    projected = np.maximum(sequence[-1] @ encoder.projection + encoder.projection_bias, 0)
    return projected / np.linalg.norm(projected)


def test_batched_encoder_equals_a_step_by_step_lstm() -> None:
    encoder = _random_encoder()
    windows = np.random.default_rng(1).random((3, 160, MEL_BANDS)).astype(np.float32)
    batched = encoder.embed(windows)
    for window, embedding in zip(windows, batched, strict=True):
        np.testing.assert_allclose(embedding, _reference_lstm_embedding(encoder, window), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-5)
    assert encoder.embed(np.zeros((0, 160, MEL_BANDS), np.float32)).shape == (0, 256)


def test_speech_regions_bridge_short_gaps_and_drop_clicks() -> None:
    frame = 0.032
    probabilities = np.zeros(200, np.float32)
    probabilities[10:60] = 0.9  # speech
    probabilities[65:100] = 0.9  # after a 0.16 s pause: the same region
    probabilities[150:152] = 0.9  # a click
    rules = SpeechRules(min_silence=0.3, pad=0.0, min_speech=0.2)
    regions = speech_regions(probabilities, frame, 200 * frame, rules)
    assert [(round(r.start, 2), round(r.end, 2)) for r in regions] == [(0.32, 3.2)]


def test_windows_cover_every_region() -> None:
    starts = window_starts([Region(1.0, 4.0), Region(10.0, 10.5)], 20.0)
    assert starts[0] == 1.0 and starts[len(starts) - 2] == pytest.approx(2.4)  # flush with the region's end
    assert starts[-1] == pytest.approx(10.25 - 0.8)  # a short region: one window centred on it


def _clustered_vectors(groups: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.standard_normal((256, len(groups))))[0].T  # orthogonal voices
    labels = np.repeat(np.arange(len(groups)), groups)
    vectors = directions[labels] + 0.15 * rng.standard_normal((len(labels), 256)) / np.sqrt(256)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def test_clustering_finds_the_speakers_in_order_of_appearance() -> None:
    vectors, truth = _clustered_vectors([30, 40, 25])
    order = np.random.default_rng(2).permutation(len(truth))
    labels, centres = cluster(vectors[order], 0.35, SpeakerCount())
    assert len(centres) == 3 and labels[0] == 0
    for speaker in range(3):  # one found label per true speaker
        assert len(set(labels[truth[order] == speaker])) == 1


@pytest.mark.parametrize(("count", "expected"), [(SpeakerCount(exact=2), 2), (SpeakerCount(maximum=2), 2),
                                                 (SpeakerCount(minimum=4), 4)])
def test_clustering_obeys_the_speaker_count(count: SpeakerCount, expected: int) -> None:
    vectors, _ = _clustered_vectors([30, 40, 25, 20])
    assert len(cluster(vectors[: 30 + 40 + 25] if expected < 4 else vectors, 0.35, count)[1]) == expected


def test_clustering_long_recordings_uses_a_bounded_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_api.diarize import clustering

    vectors, truth = _clustered_vectors([400, 300])
    full, _ = cluster(vectors, 0.35, SpeakerCount())
    monkeypatch.setattr(clustering, "MAX_LINKAGE", 50)
    sampled, _ = cluster(vectors, 0.35, SpeakerCount())
    np.testing.assert_array_equal(full, sampled)
    assert len(set(full[truth == 0])) == len(set(full[truth == 1])) == 1


def test_bad_speaker_counts_are_refused() -> None:
    with pytest.raises(InvalidOptionError, match="min_speakers"):
        SpeakerCount(minimum=3, maximum=2)
    with pytest.raises(InvalidOptionError):
        SpeakerCount(exact=0)
    with pytest.raises(InvalidOptionError, match="mode"):
        DiarizeOptions(mode="voices")


def test_short_turns_are_absorbed_by_their_neighbours() -> None:
    turns = [SpeakerTurn(0, 3, 0, 0.9), SpeakerTurn(3, 3.2, 1, 0.5), SpeakerTurn(3.2, 5, 0, 0.8),
             SpeakerTurn(5, 8, 1, 0.9)]
    assert [(t.start, t.end, t.speaker) for t in absorb_short(turns, 0.3)] == [(0, 5, 0), (5, 8, 1)]


def test_each_word_gets_the_speaker_it_overlaps_most() -> None:
    words = (Word("hello", 0.5, 1.0, 0.9), Word("there", 2.8, 3.4, 0.9), Word("gap", 6.0, 6.2, 0.9),
             Word("late", 9.0, 9.5, 0.9))
    transcript = Transcript((Segment(0.5, 9.5, words),), 10.0, "en")
    turns = [SpeakerTurn(0, 3.0, 0, 0.8), SpeakerTurn(3.0, 5.5, 1, 0.7), SpeakerTurn(6.5, 8.0, 0, 0.6)]
    labelled = label_words(transcript, turns, 2)
    assert [word.speaker for word in labelled.words()] == [0, 1, 0, 0]  # "gap" and "late": nearest turn
    assert [word.speaker_confidence for word in labelled.words()] == [0.8, 0.7, 0.6, 0.6]
    assert labelled.speakers == 2 and labelled.speaker_turns == tuple(turns)


# The real pipeline, on a two-voice conversation (needs espeak-ng and the real models).

@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    made = write_conversation(tmp_path_factory.mktemp("conversation"))
    if made is None:
        pytest.skip("espeak-ng is not installed")
    return made


def test_two_voices_are_told_apart(speaker_models: Path, conversation: tuple[Path, list]) -> None:
    from whisper_api import Transcriber

    path, truth = conversation
    with Transcriber() as transcriber:
        found = transcriber.diarize(path)
        given = transcriber.diarize(path, DiarizeOptions(speakers=SpeakerCount(exact=2)))
        one = transcriber.diarize(path, DiarizeOptions(speakers=SpeakerCount(exact=1)))
    assert found.speakers == 2 and not found.warnings
    assert agreement(truth, [(t.start, t.end, t.speaker) for t in found.turns]) > 0.95
    assert agreement(truth, [(t.start, t.end, t.speaker) for t in given.turns]) > 0.95
    assert {turn.speaker for turn in one.turns} == {0}


def test_channel_mode_puts_one_speaker_per_channel(home: Path, tmp_path: Path) -> None:
    from whisper_api import Transcriber

    made = write_conversation(tmp_path, stereo=True)
    if made is None:
        pytest.skip("espeak-ng is not installed")
    path, truth = made
    with Transcriber() as transcriber:
        found = transcriber.diarize(path, DiarizeOptions(mode="channel"))
        with pytest.raises(InvalidOptionError, match="one channel"):
            transcriber.diarize(_mono(tmp_path), DiarizeOptions(mode="channel"))
    assert agreement(truth, [(t.start, t.end, t.speaker) for t in found.turns]) > 0.95
    assert [turn.speaker for turn in found.turns[:2]] == [0, 1]
    assert found.warnings  # no VAD model here: speech found by loudness, and said so


def _mono(folder: Path) -> Path:
    from tests.support.audio_files import write_wav

    return write_wav(folder / "mono.wav", [np.concatenate([tone(1.0), silence(1.0)])])


def test_a_missing_speaker_encoder_says_how_to_get_it(home: Path, tmp_path: Path) -> None:
    from whisper_api import Transcriber

    with Transcriber() as transcriber, pytest.raises(ModelNotFoundError, match="models download speaker-encoder"):
        transcriber.diarize(_mono(tmp_path))


def test_silence_has_no_speakers(speaker_models: Path) -> None:
    from whisper_api import Transcriber
    from whisper_api.audio import DecodedAudio

    with Transcriber() as transcriber:
        found = transcriber.diarize(DecodedAudio.from_array(silence(5.0)))
        nothing = transcriber.diarize(DecodedAudio.from_array(np.zeros(0, np.float32)))
    assert found.turns == nothing.turns == () and found.speakers == nothing.speakers == 0


def test_live_tracker_caps_rather_than_forces_the_count(speaker_models: Path) -> None:
    from tests.support.conversation import conversation_audio
    from whisper_api import Transcriber
    from whisper_api.diarize.online import SpeakerTracker

    made = conversation_audio(lines=2)
    if made is None:
        pytest.skip("espeak-ng is not installed")
    (first, second), turns = made
    mix = first + second
    words = [Word("w", start, start + 0.3, 1.0) for start in np.arange(0.5, turns[0].end - 0.5, 0.5)]
    tracker = SpeakerTracker(DiarizeOptions(speakers=SpeakerCount(exact=2)))
    with Transcriber() as transcriber:
        before_any_final = tracker.label(transcriber.diarizer, 0, mix, words, update=False)
        opening = tracker.label(transcriber.diarizer, 0, mix[: int(turns[0].end * 16000)], words)
    assert {word.speaker for word in before_any_final} == {0}
    assert {word.speaker for word in opening} == {0}  # one voice: not split in two to meet the count


def test_mel_blocks_join_seamlessly(monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_api.diarize import features

    samples = np.random.default_rng(3).standard_normal(16000 * 3).astype(np.float32)
    whole = mel_spectrogram(samples)
    monkeypatch.setattr(features, "FFT_BLOCK_FRAMES", 7)
    np.testing.assert_allclose(mel_spectrogram(samples), whole, rtol=1e-6)
