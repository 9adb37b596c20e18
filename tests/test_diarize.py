"""Diarization's parts on audio and vectors the tests make, and the whole on a made conversation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import silence, tone
from tests.support.conversation import agreement, conversation_audio, write_conversation
from whisper_api.diarize.assign import label_words
from whisper_api.diarize.clustering import cluster
from whisper_api.diarize.encoder import BLOCKS, EMBEDDING_SIZE, SpeakerEncoder
from whisper_api.diarize.fbank import log_fbank
from whisper_api.diarize.overlap import overlapped_frames, second_speakers, two_speakers
from whisper_api.diarize.segmentation import FRAME_STEP, FRAMES
from whisper_api.diarize.turns import absorb_short
from whisper_api.diarize.windows import HOP_SECONDS, embed_windows, window_starts
from whisper_api.errors import InvalidOptionError, ModelNotFoundError
from whisper_api.options import DiarizeOptions, SpeakerCount
from whisper_api.transcript import Segment, SpeakerTurn, Transcript, Word
from whisper_api.vad.regions import Region, SpeechRules, speech_regions


def _random_campplus(seed: int = 0) -> SpeakerEncoder:
    """CAM++ with random weights of the real shapes (every BatchNorm an identity plus noise)."""
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}

    def conv(name: str, *shape: int) -> None:
        weights[name] = (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)

    def norm(name: str, channels: int, affine: bool = True) -> None:
        weights[f"{name}.running_mean"] = (0.1 * rng.standard_normal(channels)).astype(np.float32)
        weights[f"{name}.running_var"] = (1 + 0.1 * rng.random(channels)).astype(np.float32)
        if affine:
            weights[f"{name}.weight"] = (1 + 0.1 * rng.standard_normal(channels)).astype(np.float32)
            weights[f"{name}.bias"] = (0.1 * rng.standard_normal(channels)).astype(np.float32)

    conv("head.conv1.weight", 32, 1, 3, 3)
    norm("head.bn1", 32)
    for layer in (1, 2):
        for index in (0, 1):
            prefix = f"head.layer{layer}.{index}"
            for part in (1, 2):
                conv(f"{prefix}.conv{part}.weight", 32, 32, 3, 3)
                norm(f"{prefix}.bn{part}", 32)
            if index == 0:
                conv(f"{prefix}.shortcut.0.weight", 32, 32, 1, 1)
                norm(f"{prefix}.shortcut.1", 32)
    conv("head.conv2.weight", 32, 32, 3, 3)
    norm("head.bn2", 32)
    conv("xvector.tdnn.linear.weight", 128, 320, 5)
    norm("xvector.tdnn.nonlinear.batchnorm", 128)
    channels = 128
    for number, (name, layers, _) in enumerate(BLOCKS, start=1):
        for index in range(1, layers + 1):
            prefix = f"xvector.{name}.tdnnd{index}"
            norm(f"{prefix}.nonlinear1.batchnorm", channels)
            conv(f"{prefix}.linear1.weight", 128, channels, 1)
            norm(f"{prefix}.nonlinear2.batchnorm", 128)
            conv(f"{prefix}.cam_layer.linear_local.weight", 32, 128, 3)
            conv(f"{prefix}.cam_layer.linear1.weight", 64, 128, 1)
            weights[f"{prefix}.cam_layer.linear1.bias"] = np.zeros(64, np.float32)
            conv(f"{prefix}.cam_layer.linear2.weight", 32, 64, 1)
            weights[f"{prefix}.cam_layer.linear2.bias"] = np.zeros(32, np.float32)
            channels += 32
        norm(f"xvector.transit{number}.nonlinear.batchnorm", channels)
        conv(f"xvector.transit{number}.linear.weight", channels // 2, channels, 1)
        channels //= 2
    norm("xvector.out_nonlinear.batchnorm", 512)
    conv("xvector.dense.linear.weight", 192, 1024, 1)
    norm("xvector.dense.nonlinear.batchnorm", 192, affine=False)
    return SpeakerEncoder(weights)


def test_columns_make_the_same_convolutions_as_a_direct_sum() -> None:
    from scipy.signal import correlate

    from whisper_api.diarize.encoder import _image_columns, _time_columns

    rng = np.random.default_rng(4)
    image = rng.standard_normal((2, 1, 6, 5)).astype(np.float32)  # channels, windows, bands, frames
    kernel = rng.standard_normal((2, 3, 3)).astype(np.float32)  # one output channel
    direct = sum(correlate(np.pad(image[c, 0], 1), kernel[c], mode="valid") for c in range(2))
    ours = kernel.reshape(1, -1) @ _image_columns(image, 1).reshape(18, -1)
    np.testing.assert_allclose(ours.reshape(6, 5), direct, atol=1e-5)
    strided = kernel.reshape(1, -1) @ _image_columns(image, 2).reshape(18, -1)
    np.testing.assert_allclose(strided.reshape(3, 5), direct[::2], atol=1e-5)  # stride 2 on the bands only
    sequence = rng.standard_normal((2, 1, 9)).astype(np.float32)
    taps = rng.standard_normal((2, 3)).astype(np.float32)
    padded = np.pad(sequence[:, 0], ((0, 0), (2, 2)))
    expected = [sum(taps[c, k] * padded[c, t + 2 * k] for c in range(2) for k in range(3)) for t in range(9)]
    dilated = taps.reshape(1, -1) @ _time_columns(sequence, 3, dilation=2).reshape(6, -1)
    np.testing.assert_allclose(dilated.reshape(-1), expected, atol=1e-5)


def test_context_averages_whole_windows_and_100_frame_segments() -> None:
    from whisper_api.diarize.encoder import _context

    hidden = np.random.default_rng(5).standard_normal((3, 2, 250)).astype(np.float32)
    context = _context(hidden)
    for segment, (first, last) in enumerate(((0, 100), (100, 200), (200, 250))):
        expected = hidden.mean(axis=2) + hidden[:, :, first:last].mean(axis=2)
        np.testing.assert_allclose(context[:, :, segment], expected, atol=1e-5)


def test_windows_embed_alike_alone_and_in_a_batch() -> None:
    encoder = _random_campplus()
    features = np.random.default_rng(1).standard_normal((3, 148, 80)).astype(np.float32)
    batched = encoder.embed(features)
    alone = np.concatenate([encoder.embed(features[index:index + 1]) for index in range(3)])
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1, atol=1e-5)
    assert encoder.embed(np.zeros((0, 148, 80), np.float32)).shape == (0, EMBEDDING_SIZE)


def test_windows_leave_their_overlapped_frames_out() -> None:
    """A window with overlapped speech is embedded from its other frames; one with under 0.5 s of
    those, and one without overlap, from all of its frames."""
    encoder = _random_campplus()
    samples = np.random.default_rng(3).standard_normal(5 * 16000).astype(np.float32) * 0.1
    starts = np.array([0.0, 1.5, 3.0])
    overlapped = np.zeros(1 + len(samples) // 160, bool)
    overlapped[150 + 40:150 + 100] = True  # 0.6 s of the second window: 0.9 s left
    overlapped[300 + 20:300 + 130] = True  # 1.1 s of the third: 0.4 s left
    whole = embed_windows(samples, starts, encoder)
    masked = embed_windows(samples, starts, encoder, overlapped=overlapped)
    features = log_fbank(samples[24000:48000])[:148]
    features -= features.mean(axis=0)
    clean = np.r_[0:40, 100:148]
    np.testing.assert_allclose(masked[1], encoder.embed(features[clean][None])[0], atol=1e-5)
    np.testing.assert_allclose(masked[[0, 2]], whole[[0, 2]], atol=1e-6)
    assert np.abs(masked[1] - whole[1]).max() > 1e-4  # it did change


def test_overlapped_frames_follow_the_segmentation_frames() -> None:
    counts = np.zeros((2 * FRAMES, 3), np.float32)
    counts[:, 1] = 1.0
    second_window = 12.0  # seconds into the recording: frames of the second 10 s window
    first = FRAMES + round((second_window - 10.0) * 16000 / FRAME_STEP)
    counts[first:first + 60, 2] = 2.0  # about 1 s heard as two speakers
    found = overlapped_frames(counts, 20 * 16000)
    times = np.flatnonzero(found) / 100
    assert len(found) == 2001 and times.min() == pytest.approx(12.0, abs=0.03)
    assert times.max() == pytest.approx(12.0 + 60 * FRAME_STEP / 16000, abs=0.03)
    assert np.all(np.diff(times) < 0.011)


def test_overlap_is_taken_where_the_model_gives_it_over_0_3() -> None:
    """The model under-states overlap: a frame it gives 0.35 is taken for two voices, though one
    voice is its most likely reading; one it gives 0.2 is not."""
    counts = np.array([[0.05, 0.6, 0.35], [0.1, 0.7, 0.2], [0.0, 0.1, 0.9]], np.float32)
    assert two_speakers(counts).tolist() == [True, False, True]


def test_a_second_voice_over_the_only_one_is_a_new_speaker() -> None:
    """Two people at once prove there are two, even when clustering found one voice; unless the
    caller said there is one, or no overlap lasts half a second with two voices more likely than not."""
    turns = [SpeakerTurn(0.0, 8.0, 0, 0.9)]
    starts = np.array([0.0, 2.0, 4.0, 6.0])
    scores = np.ones((4, 1), np.float32)
    regions = [(Region(2.0, 3.0), 0.7), (Region(5.0, 5.3), 0.6)]
    found = second_speakers(regions, turns, starts, scores, SpeakerCount())
    assert [(t.start, t.end, t.speaker) for t in found] == [(2.0, 3.0, 1), (5.0, 5.3, 1)]
    assert second_speakers(regions[1:], turns, starts, scores, SpeakerCount()) == []
    assert second_speakers([(Region(2.0, 3.0), 0.4), regions[1]], turns, starts, scores, SpeakerCount()) == []
    assert second_speakers(regions, turns, starts, scores, SpeakerCount(exact=1)) == []
    assert second_speakers(regions, turns, starts, scores, SpeakerCount(maximum=1)) == []
    assert len(second_speakers(regions, turns, starts, scores, SpeakerCount(exact=2))) == 2


def test_fbank_bands_rise_with_frequency_and_frames_are_whole() -> None:
    peaks = [int(np.argmax(log_fbank(tone(1.0, hz)).mean(axis=0))) for hz in (200, 1000, 4000)]
    assert peaks == sorted(peaks) and len(set(peaks)) == 3
    assert log_fbank(np.zeros(16000, np.float32)).shape == (98, 80)  # 1 + (16000 - 400) // 160
    assert log_fbank(np.zeros(399, np.float32)).shape == (0, 80)


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
    starts = window_starts([Region(1.0, 4.2), Region(10.0, 10.5)], 20.0)
    assert list(starts[:3]) == pytest.approx([1.0, 1.75, 2.5]) and starts[3] == pytest.approx(2.7)  # flush
    assert starts[-1] == pytest.approx(10.25 - 0.75)  # a short region: one window centred on it


def _clustered_vectors(groups: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.standard_normal((256, len(groups))))[0].T  # orthogonal voices
    labels = np.repeat(np.arange(len(groups)), groups)
    vectors = directions[labels] + 0.15 * rng.standard_normal((len(labels), 256)) / np.sqrt(256)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def test_clustering_finds_the_speakers_in_order_of_appearance() -> None:
    vectors, truth = _clustered_vectors([30, 40, 25])
    order = np.random.default_rng(2).permutation(len(truth))
    labels, centres = cluster(vectors[order], SpeakerCount(), HOP_SECONDS)
    assert len(centres) == 3 and labels[0] == 0
    for speaker in range(3):  # one found label per true speaker
        assert len(set(labels[truth[order] == speaker])) == 1


@pytest.mark.parametrize(("count", "expected"), [(SpeakerCount(exact=2), 2), (SpeakerCount(maximum=2), 2),
                                                 (SpeakerCount(minimum=4), 4)])
def test_clustering_obeys_the_speaker_count(count: SpeakerCount, expected: int) -> None:
    vectors, _ = _clustered_vectors([30, 40, 25, 20])
    assert len(cluster(vectors[: 30 + 40 + 25] if expected < 4 else vectors, count, HOP_SECONDS)[1]) == expected


def test_clustering_long_recordings_uses_a_bounded_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_api.diarize import clustering

    vectors, truth = _clustered_vectors([400, 300])
    full, _ = cluster(vectors, SpeakerCount(), HOP_SECONDS)
    monkeypatch.setattr(clustering, "MAX_GRAPH", 50)
    sampled, _ = cluster(vectors, SpeakerCount(), HOP_SECONDS)
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


@pytest.mark.parametrize("voices", [1, 2, 3, 4])
def test_the_number_of_voices_is_found(speaker_models: Path, voices: int) -> None:
    """Each voice speaks two lines (about 8 s), in turn: no count is given."""
    from whisper_api import Transcriber
    from whisper_api.audio import DecodedAudio

    made = conversation_audio(lines=2 * voices, voices=voices)
    if made is None:
        pytest.skip("espeak-ng is not installed")
    tracks, truth = made
    with Transcriber() as transcriber:
        found = transcriber.diarize(DecodedAudio.from_array(sum(tracks)))
    assert found.speakers == voices
    assert agreement(truth, [(t.start, t.end, t.speaker) for t in found.turns]) > 0.9


def test_overlapped_speech_adds_the_second_speaker(speaker_models: Path) -> None:
    """The second voice starts each of its lines 2 s before the first voice has finished: each
    overlap shows as a turn of one voice beside the other's, and nowhere else; words keep one."""
    from whisper_api import Transcriber
    from whisper_api.audio import DecodedAudio

    made = conversation_audio(lines=4)
    if made is None:
        pytest.skip("espeak-ng is not installed")
    (first, second), truth = made
    shift = truth[1].start - truth[0].end + 2.0  # the same gap before every line
    mix = first + np.concatenate([second[round(shift * 16000):], np.zeros(round(shift * 16000), np.float32)])
    overlaps = [(truth[line - 1].end - 2.0, truth[line - 1].end) for line in (1, 3)]
    with Transcriber() as transcriber:
        found = transcriber.diarize(DecodedAudio.from_array(mix))
    assert found.speakers == 2 and found.overlaps
    assert all(any(start - 1.0 <= turn.start < turn.end <= end + 1.0 for start, end in overlaps)
               for turn in found.overlaps)
    for start, end in overlaps:
        middle = (start + end) / 2
        assert {turn.speaker for turn in found.all_turns if turn.start <= middle < turn.end} == {0, 1}
        assert len({turn.speaker for turn in found.turns if turn.start <= middle < turn.end}) == 1


def test_a_voice_heard_only_over_another_is_a_second_speaker(speaker_models: Path) -> None:
    """One voice talks throughout; a second says a few words, always over the first. Clustering
    can find one voice only (the second has no speech of its own), yet the overlap proves two."""
    from whisper_api import Transcriber
    from whisper_api.audio import DecodedAudio

    talk, interjection = conversation_audio(lines=3, voices=1), conversation_audio(lines=2)
    if talk is None or interjection is None:
        pytest.skip("espeak-ng is not installed")
    ([main], lines), ((_, other), said) = talk, interjection
    words = other[round(said[1].start * 16000):][:2 * 16000]  # 2 s of the second voice
    start = lines[1].start + 1.0  # inside the first voice's second line
    mix = main.copy()
    mix[round(start * 16000):round(start * 16000) + len(words)] += words
    with Transcriber() as transcriber:
        found = transcriber.diarize(DecodedAudio.from_array(mix))
        alone = transcriber.diarize(DecodedAudio.from_array(mix), DiarizeOptions(speakers=SpeakerCount(exact=1)))
    assert {turn.speaker for turn in found.turns} == {0} and found.speakers == 2
    assert found.overlaps and {turn.speaker for turn in found.overlaps} == {1}
    heard = sum(max(0.0, min(turn.end, start + 2.0) - max(turn.start, start)) for turn in found.overlaps)
    # most of the second voice's time lies where it speaks (espeak's single voice also draws a
    # short false overlap elsewhere: 0.44 s against the 2 s)
    assert heard >= 1.5 and heard >= 0.7 * sum(turn.end - turn.start for turn in found.overlaps)
    assert alone.speakers == 1 and not alone.overlaps


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


def test_cepstra_blocks_join_seamlessly(monkeypatch: pytest.MonkeyPatch) -> None:
    from whisper_api.diarize import resegment

    samples = np.random.default_rng(3).standard_normal(16000 * 3).astype(np.float32)
    whole = resegment.cepstra(samples)
    monkeypatch.setattr(resegment, "BLOCK_FRAMES", 7)
    np.testing.assert_allclose(resegment.cepstra(samples), whole, rtol=1e-6, atol=1e-6)
    assert len(whole) == 1 + (len(samples) - 400) // 160
