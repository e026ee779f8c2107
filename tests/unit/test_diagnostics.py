"""What decoders say is collected per image and per thread, bounded, and never printed."""

import logging
import threading
import warnings

import pytest

from tests.images import tiff_with_a_tag_past_the_end, tiff_with_damaged_deflate_data
from thumbnailer import diagnostics, errors
from thumbnailer.config import ImagingSettings
from thumbnailer.imaging import render_thumbnails


def test_messages_are_bounded_and_repeats_counted() -> None:
    with diagnostics.collecting() as collected:
        for index in range(diagnostics.MAX_MESSAGES + 5):
            diagnostics.note(f"message {index}\nover two lines")
        diagnostics.note("message 0 over two lines")
        diagnostics.note("x" * 1000)
    messages = collected.messages()
    assert messages[0] == "message 0 over two lines (x2)"
    assert len(messages) == diagnostics.MAX_MESSAGES + 1
    assert messages[-1] == "... and 6 more"
    assert all(len(message) <= diagnostics.MAX_MESSAGE_CHARACTERS + 10 for message in messages)


def test_pillows_warnings_go_to_the_image_each_time() -> None:
    """Once per image, not once per process ("default" would never show a repeat again)."""
    data = tiff_with_a_tag_past_the_end()
    first, second = (render_thumbnails(data, ImagingSettings()).warnings for _ in range(2))
    assert first == second
    assert any("Truncated File Read" in message for message in first)


def test_routing_survives_a_reset_of_the_warnings_module() -> None:
    with warnings.catch_warnings():  # what test runners and libraries do
        warnings.resetwarnings()
        warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
        rendering = render_thumbnails(tiff_with_a_tag_past_the_end(), ImagingSettings())
    assert rendering.warnings


def test_each_thread_collects_its_own() -> None:
    results: dict[str, tuple[str, ...]] = {}
    barrier = threading.Barrier(2)

    def work(name: str) -> None:
        with diagnostics.collecting() as collected:
            barrier.wait()
            diagnostics.note(f"from {name}")
            barrier.wait()
        results[name] = collected.messages()

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"a": ("from a",), "b": ("from b",)}


def test_a_worker_threads_message_goes_to_the_only_image_being_decoded() -> None:
    with diagnostics.collecting() as collected:
        worker = threading.Thread(target=diagnostics.note, args=("from a decoder's own thread",))
        worker.start()
        worker.join()
    assert collected.messages() == ("from a decoder's own thread",)


def test_a_message_that_belongs_to_no_image_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="thumbnailer.decoders"):
        diagnostics.note("nobody is decoding")
    assert [record.getMessage() for record in caplog.records] == [
        "decoder message outside any image: nobody is decoding"
    ]


def test_concurrent_images_keep_their_own_libtiff_messages() -> None:
    """libtiff's error handler is process-wide; its messages reach the thread that decodes."""
    failures: list[tuple[str, ...]] = []
    successes: list[tuple[str, ...]] = []

    def damaged() -> None:
        for _ in range(20):
            try:
                render_thumbnails(tiff_with_damaged_deflate_data(), ImagingSettings())
            except errors.CorruptImage as error:
                failures.append(error.warnings)

    def intact() -> None:
        from tests.images import encode, photo_like

        for _ in range(20):
            successes.append(render_thumbnails(encode(photo_like(300, 200), "JPEG"), ImagingSettings()).warnings)

    threads = [threading.Thread(target=damaged), threading.Thread(target=intact)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(failures) == 20
    assert all(any(message.startswith("libtiff:") for message in messages) for messages in failures)
    assert successes == [()] * 20
