"""The upload page in headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from localdev.stack import Stack
from tests.images import encode, photo_like

CHROMIUM = Path("/usr/bin/chromium")
# As root Chromium needs --no-sandbox; the rest stop its background calls to Google,
# which this machine's closed network refuses.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium), so the page was not tested")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    assert stack.web is not None
    context = browser.new_context()
    opened = context.new_page()
    opened.goto(stack.web.url)
    yield opened
    context.close()


def test_upload_with_the_file_picker_shows_the_thumbnail(page: Page, tmp_path: Path, unique: str) -> None:
    photo = tmp_path / f"picked-{unique}.jpg"
    photo.write_bytes(encode(photo_like(1600, 900), "JPEG"))
    page.set_input_files("#file", str(photo))
    card = page.locator(f'article[data-object="picked-{unique}.jpg"]')
    expect(card).to_have_attribute("data-status", "done", timeout=30_000)
    image = card.locator("img")
    expect(image).to_have_count(1)
    expect(image).to_have_attribute("alt", f"picked-{unique}.jpg_200x200.jpg")
    # Loaded and decoded by the browser, at the thumbnail's size.
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [200, 200]
    # The local Vision API's answer: labels with their scores, and the SafeSearch verdict.
    expect(card.locator(".labels")).to_contain_text("%", timeout=30_000)
    expect(card.locator(".verdict")).to_contain_text("adult")
    # The dashboard, drawn from the function's log lines: this upload is a created event.
    expect(page.locator('#events-chart rect[data-outcome="created"]').first).to_be_attached(timeout=10_000)
    expect(page.locator("#p50")).to_contain_text("ms")


def test_drag_and_drop_of_a_bad_file_shows_its_reason(page: Page, unique: str) -> None:
    name = f"dropped-{unique}.png"
    payload = base64.b64encode(b"this is text, not a PNG").decode()
    # What the browser does on a real drop: a DataTransfer holding the file.
    page.evaluate(
        """([name, payload]) => {
            const bytes = Uint8Array.from(atob(payload), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: "image/png" }));
            const zone = document.getElementById("drop");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""",
        [name, payload],
    )
    card = page.locator(f'article[data-object="{name}"]')
    expect(card).to_have_attribute("data-status", "failed", timeout=30_000)
    expect(card.locator(".reason")).to_contain_text("not_an_image")
    expect(card.locator("img")).to_have_count(0)


def test_several_files_at_once(page: Page, tmp_path: Path, unique: str) -> None:
    paths = []
    for index, size in enumerate([(800, 600), (600, 800), (300, 300)]):
        path = tmp_path / f"batch-{unique}-{index}.jpg"
        path.write_bytes(encode(photo_like(*size), "JPEG"))
        paths.append(str(path))
    page.set_input_files("#file", paths)
    for uploaded in paths:
        card = page.locator(f'article[data-object="{Path(uploaded).name}"]')
        expect(card).to_have_attribute("data-status", "done", timeout=30_000)
