"""The page at ``/`` in a real headless Chromium: upload a clip, talk through a fake microphone,
download the SRT. A screenshot goes into the test's folder when something fails."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import srt

from tests.support.audio_files import espeak, silence, write_wav
from tests.support.server import RunningServer, run_server

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402 - after the skip

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("page-home")
    (home / "models").mkdir()
    shutil.copyfile(micro_model, home / "models" / "ggml-micro.bin")
    with run_server(home, "--model", "micro", "--no-auth", env={"WHISPER_API_THREADS": "2"}) as running:
        yield running


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page-audio")
    spoken = espeak("Hello from the browser test. This is a short recording.", folder / "raw.wav")
    if spoken is None:
        return write_wav(folder / "clip.wav", [silence(1.0)])
    from tests.support.audio_files import convert

    return convert(spoken, folder / "clip.wav", "-ar", "16000", "-ac", "1")


@pytest.fixture
def browser(tmp_path: Path, speech: Path, request: pytest.FixtureRequest) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={speech}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=str(DRIVER)))
    try:
        yield driver
    finally:
        if getattr(request.node, "failed", False):
            driver.save_screenshot(str(tmp_path / "failure.png"))
        driver.quit()


def wait_for(condition: Callable[[], object], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_page_is_served_with_its_assets_and_no_key_field_without_auth(server: RunningServer) -> None:
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and 'data-auth="none"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert httpx.get(server.url + asset).status_code == 200
    assert httpx.get(server.url + "/static/../settings.py").status_code == 404
    assert "http" not in page.text.replace('"/static/', "")  # nothing from a CDN


def test_upload_shows_the_transcript_and_downloads_srt(server: RunningServer, browser: webdriver.Chrome,
                                                        speech: Path, tmp_path: Path) -> None:
    browser.get(server.url + "/")
    assert not browser.find_element(By.ID, "key-section").is_displayed()
    browser.find_element(By.ID, "utterances").click()
    browser.find_element(By.ID, "file").send_keys(str(speech))
    browser.find_element(By.ID, "transcribe").click()
    wait_for(lambda: "Done" in browser.find_element(By.ID, "status").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#words tbody tr")
    assert browser.find_element(By.CSS_SELECTOR, "#transcript .speaker").text.startswith("[")  # utterance times
    browser.find_element(By.CSS_SELECTOR, "#downloads [data-format=srt]").click()
    downloaded = tmp_path / "downloads" / "clip.srt"
    wait_for(downloaded.exists)
    assert list(srt.parse(downloaded.read_text()))


def test_live_microphone_gets_final_text(server: RunningServer, browser: webdriver.Chrome) -> None:
    browser.get(server.url + "/")
    browser.find_element(By.ID, "start").click()
    wait_for(lambda: "Listening" in browser.find_element(By.ID, "status").text, 20)
    time.sleep(6)  # the fake microphone plays the clip (looping)
    browser.find_element(By.ID, "stop").click()
    wait_for(lambda: "ended" in browser.find_element(By.ID, "status").text, 60)
    final_text = browser.execute_script(  # finals are plain text nodes; interims are grey spans
        "return [...document.getElementById('transcript').childNodes]"
        ".filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('')")
    assert final_text.strip()
