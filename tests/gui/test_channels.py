"""Channel axis and bands: a 4-band image and a channels-first stack read as the user says."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.errors import SegRefineError
from napari_segrefine.widgets._channels import AUTO, NO_AXIS, Reading, parse_bands, read_layer
from napari_segrefine.widgets._state import state_for

from .conftest import open_widget, wait_for

pytestmark = pytest.mark.gui


def _bands(shape: tuple[int, ...], axis: int) -> np.ndarray:
    """uint8 pixels whose band k holds the value 10 * k, on ``axis``."""
    pixels = np.zeros(shape, np.uint8)
    for band in range(shape[axis]):
        index = [slice(None)] * len(shape)
        index[axis] = band
        pixels[tuple(index)] = 10 * band
    return pixels


def test_rgba_reads_with_alpha_dropped_and_says_so():
    read = read_layer(_bands((32, 32, 4), 2), True, Reading())
    assert read.rgb and read.image.shape == (32, 32, 4)  # the model step drops alpha
    assert "band 3 is read as alpha" in read.text and "bands 0, 1, 2" in read.text
    assert "e.g. 1, 2, 3" in read.warning


def test_plain_rgb_reads_in_few_words():
    assert read_layer(np.zeros((32, 40, 3), np.uint8), True, Reading()).text == "RGB, 32 x 40"
    stack = read_layer(np.zeros((2, 32, 40, 3), np.uint8), False, Reading())
    assert stack.text == "a stack of RGB slices, 2 x 32 x 40" and stack.image.ndim == 4


def test_picked_bands_feed_the_model_in_their_order():
    read = read_layer(_bands((32, 32, 4), 2), True, Reading(AUTO, (3, 1, 2)))
    assert read.image.shape == (32, 32, 3)
    assert [int(read.image[0, 0, k]) for k in range(3)] == [30, 10, 20]
    assert "band(s) 0 left out" in read.warning


def test_a_short_first_axis_is_a_guessed_stack_unless_told_it_holds_channels():
    pixels = _bands((4, 32, 32), 0)
    guessed = read_layer(pixels, False, Reading())
    assert not guessed.rgb and guessed.image is pixels
    assert "stack of 4 gray slices" in guessed.warning and "axis 0" in guessed.warning
    assert read_layer(pixels, False, Reading(NO_AXIS)).warning is None
    told = read_layer(pixels, False, Reading(0, (0, 1, 2)))
    assert told.rgb and told.axis == 0 and told.image.shape == (32, 32, 3)
    assert int(told.image[5, 5, 2]) == 20


@pytest.mark.parametrize(
    ("shape", "reading", "expected"),
    [
        ((32, 32), Reading(AUTO, (0,)), "bands need a channel axis"),
        ((4, 32, 32), Reading(0, (0, 4)), "from 0 to 3"),
        ((4, 32, 32), Reading(5), "channel axis 5 does not fit"),
        ((2, 4, 32, 32), Reading(NO_AXIS), "needs a channel axis"),
    ],
)
def test_impossible_readings_say_what_to_change(shape, reading, expected):
    with pytest.raises(SegRefineError, match=expected):
        read_layer(np.zeros(shape, np.uint8), False, reading)


def test_bands_text():
    assert parse_bands(" 2, 0 ,1") == (2, 0, 1) and parse_bands("") is None
    with pytest.raises(SegRefineError, match="separated by commas"):
        parse_bands("red, green")


def _run(qtbot, widget):
    worker = widget.run()
    assert worker is not None
    wait_for(qtbot, widget.runner)
    return worker


def test_segment_announces_the_dropped_band_and_uses_the_picked_ones(qtbot, viewer, notifications):
    pixels = _bands((64, 64, 4), 2)
    layer = viewer.add_image(pixels, name="four")
    widget = open_widget(viewer, "Segment")
    widget.image.value, widget.device.value = layer, "cpu"
    assert "band 3 is read as alpha" in widget.reads_as.value

    _run(qtbot, widget)
    assert any("band 3 is read as alpha" in m for m in notifications.messages())
    assert viewer.layers["four mask"].data.shape == (64, 64)

    widget.bands.value = "1, 2, 3"
    assert "bands 1, 2, 3" in widget.reads_as.value
    _run(qtbot, widget)
    session = state_for(viewer).existing("four")
    assert session.image.shape == (64, 64, 3) and int(session.image[0, 0, 0]) == 10
    assert viewer.layers["four mask"].data.shape == (64, 64)


def test_a_channels_first_image_segments_as_one_image_when_told(qtbot, viewer, notifications):
    layer = viewer.add_image(_bands((4, 64, 64), 0), name="bands", scale=(1, 0.5, 0.5))
    widget = open_widget(viewer, "Segment")
    widget.image.value, widget.device.value = layer, "cpu"
    assert "stack of 4 gray slices" in widget.reads_as.value
    _run(qtbot, widget)
    assert any("stack of 4 gray slices" in m for m in notifications.messages())
    assert viewer.layers["bands mask"].data.shape == (4, 64, 64)

    widget.channel_axis.value = 0
    widget.bands.value = "0, 1, 2"
    _run(qtbot, widget)

    mask = viewer.layers["bands mask"]
    assert mask.data.shape == (64, 64) and tuple(mask.scale) == (0.5, 0.5)
    assert state_for(viewer).existing("bands").image.shape == (64, 64, 3)
    assert not notifications.errors


def test_a_bad_bands_text_stops_run_with_one_message(viewer, notifications):
    layer = viewer.add_image(_bands((64, 64, 4), 2), name="four")
    widget = open_widget(viewer, "Segment")
    widget.image.value = layer
    widget.bands.value = "0, 9"
    assert "from 0 to 3" in widget.reads_as.value
    assert widget.run() is None
    assert any("from 0 to 3" in m for m in notifications.errors)
    assert "four mask" not in viewer.layers
