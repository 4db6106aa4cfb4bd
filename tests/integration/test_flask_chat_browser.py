"""The Flask chat example end to end in headless Chromium: EventSource reads the SSE stream and
the tokens appear on the page in order.

Needs Debian's chromium + chromium-driver (``source ../shared/services/chromium.sh &&
chromium_install``) and selenium.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from support import TrackedStream, require_service

from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.testing import MockOpenAIServer

ROOT = Path(__file__).resolve().parents[2]
APP_PATH = ROOT / "examples" / "flask_chat" / "app.py"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WORDS = re.compile(r"\S+\s*|\s+")

pytestmark = pytest.mark.services


def load_example():
    spec = importlib.util.spec_from_file_location("flask_chat_example", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TrackingProvider:
    """The real provider; remembers the streams it handed out and when they were closed."""

    def __init__(self, provider) -> None:
        self.provider = provider
        self.streams: list[TrackedStream] = []

    def stream(self, messages, **params):
        s = TrackedStream(self.provider.stream(messages, **params))
        self.streams.append(s)
        return s



@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        require_service("selenium is not installed")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        require_service("chromium/chromedriver missing (source ../shared/services/chromium.sh && chromium_install)")
    home = tmp_path_factory.mktemp("chromium-home")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-back-forward-cache",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 f"--user-data-dir={home / 'profile'}"):
        options.add_argument(flag)
    # Chromium writes to $HOME even with --user-data-dir; the explicit driver path keeps
    # Selenium Manager from trying to download one.
    service = Service(CHROMEDRIVER, env={**os.environ, "HOME": str(home)})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def chat(browser):
    from werkzeug.serving import make_server

    example = load_example()
    with MockOpenAIServer() as mock:
        provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=mock.base_url)
        tracking = TrackingProvider(provider)
        server = make_server("127.0.0.1", 0, example.create_app(tracking, heartbeat=0.2), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield mock, tracking, f"http://127.0.0.1:{server.server_port}/"
        finally:
            browser.get("about:blank")  # closes any EventSource before the server goes
            server.shutdown()
            server.server_close()
            thread.join(5)
            provider.close()


def ask(browser, url: str, message: str) -> None:
    from selenium.webdriver.common.by import By

    if browser.current_url != url:
        browser.get(url)
    box = browser.find_element(By.ID, "message")
    box.send_keys(message)
    browser.find_element(By.ID, "send").click()


def token_texts(browser, turn: int) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' .token')).map(s => s.textContent);",
        f"#reply-{turn}")


def test_tokens_appear_on_the_page_in_order(chat, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    mock, tracking, url = chat
    text = ("Tokens arrive one by one through EventSource and are shown in order: "
            + " ".join(f"word{i}" for i in range(60)) + " — ünïcödé 🚀 日本語.")
    mock.add_text(text, chunk_delay=0.01)
    ask(browser, url, "Tell me something")
    snapshots: list[str] = []

    def finished(driver) -> bool:
        content, done = driver.execute_script(
            "const r = document.getElementById('reply-1');"
            "return r ? [r.textContent, r.dataset.done === 'true'] : ['', false];")
        snapshots.append(content)
        return done

    WebDriverWait(browser, 20, poll_frequency=0.05).until(finished)
    assert token_texts(browser, 1) == WORDS.findall(text)
    assert snapshots[-1] == text
    assert all(text.startswith(s) for s in snapshots), "text only ever grows at the end"
    assert len(set(snapshots)) > 2, "the answer was seen while streaming, not only at the end"
    # the page closed its EventSource on "done": no reconnect asked the model again
    assert len([r for r in mock.requests if r.path == "/v1/chat/completions"]) == 1
    assert tracking.streams[0].closed.wait(1.0)
    assert browser.execute_script("return document.body.dataset.state") == "idle"


def test_second_question_gets_its_own_answer(chat, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    mock, tracking, url = chat
    mock.add_text("First answer.")
    mock.add_text("Second answer, also streamed.")
    ask(browser, url, "one")
    wait = WebDriverWait(browser, 20, poll_frequency=0.05)
    wait.until(lambda d: d.execute_script("return document.getElementById('reply-1')?.dataset.done === 'true'"))
    ask(browser, url, "two")
    wait.until(lambda d: d.execute_script("return document.getElementById('reply-2')?.dataset.done === 'true'"))
    assert "".join(token_texts(browser, 1)) == "First answer."
    assert "".join(token_texts(browser, 2)) == "Second answer, also streamed."
    user_texts = browser.execute_script(
        "return Array.from(document.querySelectorAll('.msg.user')).map(m => m.textContent);")
    assert user_texts == ["one", "two"]


def test_leaving_the_page_mid_answer_closes_the_model_stream(chat, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    mock, tracking, url = chat
    mock.add_text(" ".join(f"w{i}" for i in range(3000)), chunk_delay=0.01)
    ask(browser, url, "a long one")
    WebDriverWait(browser, 20, poll_frequency=0.05).until(lambda d: len(token_texts(d, 1)) >= 3)
    browser.get("about:blank")  # pagehide closes the EventSource; the server notices on its next write
    left = time.monotonic()
    assert tracking.streams[0].closed.wait(2.0)
    assert time.monotonic() - left < 2.0
    record = mock.streams[-1]
    assert record.done.wait(2.0) and record.client_disconnected and not record.completed
