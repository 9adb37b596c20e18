"""The hallucination guard: the repetition filter on its own, then silence and noise through the
core, the CLI and a real server on the real whisper.cpp engine, a random-weight model and the real
Silero VAD model."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.audio_files import noise, silence, speechlike, write_wav
from tests.support.cli import run_cli
from tests.support.conversation import conversation_audio
from tests.support.server import RunningServer, run_server
from whisper_api import DecodedAudio, Segment, TranscribeOptions, Transcriber, Word
from whisper_api.engine import Decoding, EngineJob
from whisper_api.engine.native import NativeEngine, _full_params
from whisper_api.engine.whisper_cli import CliEngine, _command, find_whisper_cli
from whisper_api.errors import EngineError
from whisper_api.guard import collapse_repeats, remove_loops
from whisper_api.models import VAD_MODEL
from whisper_api.models.catalogue import BY_NAME
from whisper_api.options import THRESHOLDS_OFF, Thresholds
from whisper_api.settings import load_settings
from whisper_api.vad import FRAME_SECONDS
from whisper_api.vad.gate import JOIN_SECONDS, gate, joined_seconds, pieces, speech_regions_to_decode
from whisper_api.vad.regions import Region

# Exactly 1 s of silence makes the random model write nothing even unguarded, which would prove nothing.
CLIPS = {"silence-2s": lambda: silence(2.0), "noise-3s": lambda: noise(3.0, seed=11)}
OFF = TranscribeOptions(guard=False)
EACH_PART_OFF = ("--no-vad", "--no-repetition-filter", "--no-speech-threshold", "1", "--logprob-threshold", "-inf",
                 "--entropy-threshold", "0")


def segment(text: str, start: float = 0.0) -> Segment:
    """Words 0.5 s apart from ``start``."""
    words = tuple(Word(token, start + index * 0.5, start + index * 0.5 + 0.4, 0.9)
                  for index, token in enumerate(text.split()))
    return Segment(start, words[-1].end if words else start, words)


# The repetition filter.

def test_a_looping_word_collapses_to_its_first_occurrence() -> None:
    looped = segment("I said no no no no no no no today")
    collapsed = collapse_repeats(looped)
    assert collapsed.text == "I said no today"
    assert [word.start for word in collapsed.words] == [0.0, 0.5, 1.0, 4.5]  # the kept words keep their times
    assert collapsed.end == looped.end


def test_a_looping_phrase_keeps_its_first_occurrence_and_ends_with_it() -> None:
    looped = segment("Thank you for watching. thank you for watching! Thank you for watching.")
    collapsed = collapse_repeats(looped)
    assert collapsed.text == "Thank you for watching."
    assert collapsed.words == looped.words[:4]
    assert collapsed.end == looped.words[3].end  # a loop at the end was not speech


def test_emphasis_and_short_repeats_are_speech() -> None:
    for text in ("no, no, no", "very very good", "no no no no", "thank you thank you thank you",
                 "we will we will rock you", "ha ha ha ha"):
        kept = segment(text)
        assert collapse_repeats(kept) is kept, text


def test_a_two_word_loop_needs_four_runs() -> None:
    assert collapse_repeats(segment("go on go on go on go on")).text == "go on"


def test_a_segment_repeating_the_one_just_before_is_dropped() -> None:
    segments = [segment("Thank you.", 0), segment("thank you", 0.9), segment("Thank you!", 1.8), segment("Bye.", 2.7),
                segment("Thank you.", 3.1)]
    assert [s.text for s in remove_loops(segments)] == ["Thank you.", "Bye.", "Thank you."]
    assert remove_loops([]) == ()


def test_a_reply_said_again_after_a_pause_stays() -> None:
    assert [s.text for s in remove_loops([segment("Yes.", 0), segment("Yes.", 2)])] == ["Yes.", "Yes."]


def test_a_repeat_its_own_audio_says_again_stays() -> None:
    """Decoded alone, the audio under a real repeat gives most of its words back; under a loop it holds
    other words, or none."""
    segments = [segment("The red fox has read many books."), segment("the red fox has read many books", 3.4)]
    asked: list[str] = []

    def heard(words: str) -> Callable[[Segment], tuple[Segment, ...]]:
        def decode_alone(echo: Segment) -> tuple[Segment, ...]:
            asked.append(echo.text)
            return (segment(words, echo.start),) if words else ()
        return decode_alone

    assert len(remove_loops(segments, heard("The red fox has um read so many books"))) == 2
    assert len(remove_loops(segments, heard("and then it rained"))) == 1
    assert len(remove_loops(segments, heard(""))) == 1
    assert asked == ["the red fox has read many books"] * 3  # only the echo is decoded again
    assert len(remove_loops([segment("one"), segment("two", 0.6)], heard("anything"))) == 2
    assert len(asked) == 3


def test_a_loop_found_is_not_asked_about_again_and_only_its_own_audio_is_asked() -> None:
    spans: list[tuple[float, float]] = []

    def decode_alone(echo: Segment) -> tuple[Segment, ...]:
        spans.append((echo.start, echo.end))
        return ()

    looped = [segment("Thank you."), segment("Thank you.", 0.5), segment("Thank you.", 1.4), segment("Thank you.", 2.3)]
    assert [s.text for s in remove_loops(looped, decode_alone)] == ["Thank you."]
    assert spans == [(0.9, 1.4)]  # asked once, from where the segment before ended (they overlap)


def test_loops_inside_are_collapsed_before_segments_are_compared() -> None:
    segments = [segment("so so so so so so"), segment("so", 2.9)]  # abuts the looping segment's decoded end
    assert [s.text for s in remove_loops(segments)] == ["so"]


# Which VAD the core uses.

def _install(models: Path, real_models: Path, micro_model: Path) -> None:
    """The micro model as ``micro`` and the real Silero model as the catalogue's ``silero-vad``."""
    models.mkdir(parents=True, exist_ok=True)
    vad = BY_NAME[VAD_MODEL].filename
    (models / vad).symlink_to(real_models / vad)
    shutil.copyfile(micro_model, models / "ggml-micro.bin")


@pytest.fixture
def guarded(home: Path, real_models: Path, micro_model: Path) -> Transcriber:
    """A Transcriber on the micro model with the real Silero VAD installed."""
    _install(home / "models", real_models, micro_model)
    return Transcriber(load_settings({"model": "micro"}))


def test_the_installed_vad_is_used_unless_switched_off(guarded: Transcriber) -> None:
    installed = guarded.models.path_for(VAD_MODEL)
    assert guarded.vad_path(TranscribeOptions()) == installed
    assert guarded.vad_path(TranscribeOptions(vad=True)) == installed
    assert guarded.vad_path(TranscribeOptions(vad=False)) is None
    assert guarded.vad_path(OFF) is None
    assert guarded.vad_path(TranscribeOptions(guard=False, vad=True)) == installed  # asked for by name


def test_without_a_vad_model_the_guard_skips_the_vad(home: Path, micro_model: Path) -> None:
    transcriber = Transcriber(load_settings({"model": "micro"}))
    assert transcriber.vad_path(TranscribeOptions()) is None


# Silence and noise on the real engine.

@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_core_gives_no_text_with_the_guard_and_text_without(guarded: Transcriber, clip: str) -> None:
    audio = DecodedAudio.from_array(CLIPS[clip]())
    assert guarded.transcribe(audio).segments == ()
    assert guarded.transcribe(audio, OFF).text.strip()  # the random model writes something on anything


def test_shared_silence_gives_no_text(guarded: Transcriber, shared: Path) -> None:
    assert guarded.transcribe(shared / "data" / "speech" / "silence-1s.wav").text == ""


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_cli_gives_no_text_with_the_guard_and_text_with_each_part_off(
        home: Path, real_models: Path, micro_model: Path, tmp_path: Path, clip: str) -> None:
    _install(home / "models", real_models, micro_model)
    wav = write_wav(tmp_path / f"{clip}.wav", [CLIPS[clip]()])
    guarded = run_cli("transcribe", str(wav), "--model", "micro")
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout.strip() == b""
    for switches in (("--no-guard",), EACH_PART_OFF):
        unguarded = run_cli("transcribe", str(wav), "--model", "micro", *switches)
        assert unguarded.returncode == 0, unguarded.stderr
        assert unguarded.stdout.strip(), switches
    assert run_cli("transcribe", str(wav), "--model", "micro", "--no-guard", "--vad").stdout.strip() == b""


def test_cli_rejects_thresholds_out_of_range(home: Path) -> None:
    for flag, value in (("--no-speech-threshold", "1.5"), ("--logprob-threshold", "0.5"),
                        ("--entropy-threshold", "-1")):
        result = run_cli("transcribe", "x.wav", flag, value)
        assert result.returncode == 2 and flag in result.stderr.decode(), flag


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, real_models: Path, micro_model: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("guard-home")
    _install(home / "models", real_models, micro_model)
    with run_server(home, "--model", "micro", "--no-auth", env={"WHISPER_API_THREADS": "2"}) as running:
        yield running


def _listen(server: RunningServer, wav: bytes, query: str = "") -> httpx.Response:
    return httpx.post(f"{server.url}/v1/listen?{query}", content=wav, timeout=120)


def _transcript(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["results"]["channels"][0]["alternatives"][0]["transcript"])


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_server_gives_no_text_with_the_guard_and_text_without(server: RunningServer, tmp_path: Path,
                                                              clip: str) -> None:
    wav = write_wav(tmp_path / "clip.wav", [CLIPS[clip]()]).read_bytes()
    assert _transcript(_listen(server, wav)) == ""
    assert _transcript(_listen(server, wav, "hallucination_guard=false"))
    each_off = ("vad_filter=false&repetition_filter=false&no_speech_threshold=1&logprob_threshold=-inf"
                "&entropy_threshold=0")
    assert _transcript(_listen(server, wav, each_off))
    openai = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("clip.wav", io.BytesIO(wav))},
                        data={"model": "whisper-1"}, timeout=120)
    assert openai.status_code == 200 and openai.json()["text"] == ""  # the same default guard


def test_vad_filter_switches_the_vad_alone(server: RunningServer, tmp_path: Path) -> None:
    """With everything else off, the VAD on its own keeps noise out."""
    wav = write_wav(tmp_path / "noise.wav", [CLIPS["noise-3s"]()]).read_bytes()
    assert _transcript(_listen(server, wav, "hallucination_guard=false"))
    assert _transcript(_listen(server, wav, "hallucination_guard=false&vad_filter=true")) == ""


@pytest.mark.parametrize("query", ["vad_filter=maybe", "hallucination_guard=no", "no_speech_threshold=1.5",
                                   "logprob_threshold=0.1", "entropy_threshold=-1", "entropy_threshold=nan",
                                   "logprob_threshold=low"])
def test_server_rejects_bad_guard_values(server: RunningServer, query: str) -> None:
    response = _listen(server, b"", query)
    assert response.status_code == 400
    assert response.json()["err_code"] == "INVALID_QUERY_PARAMETER"
    assert query.partition("=")[0] in response.json()["err_msg"]


# The thresholds reach both engines.

def _job(model: Path, options: TranscribeOptions) -> EngineJob:
    return EngineJob(audio=speechlike(seed=2), model_path=model, decoding=Decoding.of(options), threads=2)


STRICT = TranscribeOptions(language="en", temperature_fallback=False, no_speech_threshold=0.0, logprob_threshold=0.0)
"""Every window has a no-speech probability above 0 and an average log-probability below 0: all dropped."""
LOOSE = TranscribeOptions(language="en", temperature_fallback=False, guard=False)


def test_whisper_cli_gets_each_threshold_and_never_meets_them_off(tmp_path: Path) -> None:
    def flags(options: TranscribeOptions) -> dict[str, str]:
        command = _command(Path("whisper-cli"), _job(tmp_path / "m.bin", options), tmp_path / "a.wav",
                           tmp_path / "out", "en")
        return {flag: command[command.index(flag) + 1] for flag in ("-nth", "-lpt", "-et")}

    assert flags(TranscribeOptions()) == {"-nth": "0.6", "-lpt": "-1.0", "-et": "2.4"}
    assert flags(TranscribeOptions(no_speech_threshold=0.3, entropy_threshold=2.8)) == {
        "-nth": "0.3", "-lpt": "-1.0", "-et": "2.8"}
    assert flags(OFF) == {"-nth": "1.0", "-lpt": "-inf", "-et": "0.0"}


def test_native_params_carry_the_thresholds(tmp_path: Path) -> None:
    for options, expected in ((TranscribeOptions(), Thresholds()), (OFF, THRESHOLDS_OFF),
                              (TranscribeOptions(logprob_threshold=-0.5), Thresholds(logprob=-0.5))):
        params = _full_params(_job(tmp_path / "m.bin", options), "en")
        assert params.no_speech_thold == pytest.approx(expected.no_speech)
        assert params.entropy_thold == pytest.approx(expected.entropy)
        assert params.logprob_thold == pytest.approx(expected.logprob)


def test_both_engines_drop_every_window_at_strict_thresholds(micro_model: Path) -> None:
    try:
        binary = find_whisper_cli(None, Path.home())
    except EngineError:
        pytest.skip("whisper-cli is not built: run `make whisper-cli`")
    for engine in (NativeEngine(), CliEngine(str(binary))):
        assert engine.transcribe(_job(micro_model, LOOSE)).segments, engine.name
        assert engine.transcribe(_job(micro_model, STRICT)).segments == (), engine.name


# Speech gating: decode the speech only, times mapped back to the original audio.

def test_gating_cuts_long_non_speech_only_and_maps_times_back() -> None:
    samples = np.zeros(20 * 16000, np.float32)
    frames = np.zeros(len(samples) // 512, np.float32)  # 32 ms each
    frames[125:157] = frames[313:344] = 0.9  # speech at 4.0-5.024 s and 10.016-11.008 s
    gated = gate(samples, speech_regions_to_decode(frames, 20.0))
    # each region padded by 1 s; the 4 s head, 4 s gap and 9 s tail are cut
    assert [(round(r.start, 3), round(r.end, 3)) for r in gated.regions] == [(3.0, 6.024), (9.016, 12.008)]
    assert gated.samples.size == round((3.024 + 1.0 + 2.992) * 16000)
    assert gated.original_time(0.0) == 3.0
    assert gated.original_time(3.5) == 9.016 and gated.original_time(3.5, start=False) == 6.024  # inside a join
    [pause] = gated.restore([Segment(3.3, 3.6, ())])  # all inside the join: an empty span where speech resumes
    assert (pause.start, pause.end) == (9.016, 9.016)
    word = Word("hi", 4.6, 4.9, 0.9)
    [restored] = gated.restore([Segment(4.5, 5.5, (word,))])
    assert (restored.start, restored.end, restored.words[0].start, restored.words[0].end) == \
        (9.492, 10.492, 9.592, 9.892)
    assert speech_regions_to_decode(np.zeros_like(frames), 20.0) == []


def test_pauses_shorter_than_three_seconds_are_kept_at_the_edges_too() -> None:
    samples = np.zeros(12 * 16000, np.float32)
    frames = np.zeros(len(samples) // 512, np.float32)
    frames[40:100] = frames[150:300] = 0.9  # speech at 1.28-3.2 s and 4.8-9.6 s: pauses of 1.28, 1.6, 2.4 s
    gated = gate(samples, speech_regions_to_decode(frames, 12.0))
    assert [(r.start, r.end) for r in gated.regions] == [(0.0, 12.0)]
    np.testing.assert_array_equal(gated.samples, samples)


def test_long_recordings_are_decoded_in_pieces_cut_where_speech_is_least_likely() -> None:
    frames = np.full(round(100 / FRAME_SECONDS), 0.9, np.float32)  # 100 s of speech with two 4 s pauses
    frames[round(10 / FRAME_SECONDS):round(14 / FRAME_SECONDS)] = 0.0
    frames[round(22 / FRAME_SECONDS):round(26 / FRAME_SECONDS)] = 0.0
    frames[round(51.2 / FRAME_SECONDS)] = 0.3  # the softest moment of the 75 s stretch from 25 s
    plan = pieces(speech_regions_to_decode(frames, 100.0), frames, limit=30.0)
    # 11 s + a 1 s join + 10 s fit in 30 s; the long stretch is cut at its softest frame in the last
    # 15 s (half the limit) before each 30 s, and where all frames are alike at the first of them
    assert [[(round(r.start, 3), round(r.end, 3)) for r in piece] for piece in plan] == [
        [(0.0, 10.984), (13.016, 23.016)], [(24.984, 51.216)], [(51.216, 66.224)], [(66.224, 81.232)],
        [(81.232, 100.0)]]
    assert all(sum(r.duration for r in piece) + JOIN_SECONDS * (len(piece) - 1) <= 30.0 for piece in plan)
    assert joined_seconds(plan[0]) == pytest.approx(10.984 + 1.0 + 10.0)
    assert pieces([], frames, 30.0) == []
    softest_at_the_end = np.full(round(121 / FRAME_SECONDS), 0.9, np.float32)
    softest_at_the_end[round(119.9 / FRAME_SECONDS)] = 0.0  # cutting there would leave 0.15 s on its own
    plan = pieces([Region(0.0, 120.05)], softest_at_the_end, 120.0)
    assert len(plan) == 2 and plan[-1][0].duration >= 30.0


@pytest.fixture(scope="module")
def late_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six seconds of silence, then two spoken lines (espeak-ng)."""
    made = conversation_audio(lines=2)
    if made is None:
        pytest.skip("espeak-ng is not installed")
    speech = made[0][0] + made[0][1]  # the two voices' tracks, each silent while the other talks
    return write_wav(tmp_path_factory.mktemp("gate") / "late.wav", [np.concatenate([silence(6.0), speech])])


def test_gated_words_keep_their_place_in_the_original_audio(guarded: Transcriber, late_speech: Path) -> None:
    words = guarded.transcribe(late_speech, TranscribeOptions(repetition_filter=False)).words()
    assert words and min(word.start for word in words) >= 6.0  # nothing decoded in the silence


def test_a_gated_job_leaves_no_trace_for_the_next(guarded: Transcriber, late_speech: Path, home: Path) -> None:
    """A job without the VAD gives the same result after a gated job as on a fresh engine."""
    plain = TranscribeOptions(vad=False, temperature_fallback=False)
    guarded.transcribe(late_speech)
    after_gated = guarded.transcribe(late_speech, plain)
    fresh = Transcriber(load_settings({"model": "micro"})).transcribe(late_speech, plain)
    assert after_gated.segments == fresh.segments
