"""The Refine dock checks refinement against the corrections before applying it."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segrefine.engine import Prediction, boundary_map
from napari_segrefine.widgets._models import NO_PRN
from napari_segrefine.widgets._state import state_for

from .conftest import open_widget, wait_for

pytestmark = pytest.mark.gui


def _faint_session(viewer):
    """A session whose map holds a faint object the fallback keeps; the user says no."""
    prob = np.full((64, 64), 0.05, np.float32)
    prob[8:24, 8:24] = 0.4
    prob[40:56, 40:56] = 0.9
    layer = viewer.add_image(prob, name="faint")
    session = state_for(viewer).session(layer)
    plain = (prob > 0.5).astype(np.uint8)
    session.set_prediction(Prediction(prob, plain, boundary_map(prob), 0.5))
    session.paint((slice(0, 16), slice(0, 16)), 0)  # part of the faint object: background
    return layer, session, plain


def test_refine_that_lowers_the_corrections_is_not_applied_unless_asked(qtbot, viewer):
    layer, session, plain = _faint_session(viewer)
    widget = open_widget(viewer, "Refine")
    widget.image.value = layer
    widget.picker.arch.value = NO_PRN
    widget.patch_size.value = 16

    widget.run()
    wait_for(qtbot, widget.runner)

    assert "NOT applied" in widget.status.value and "apply even if" in widget.status.value
    np.testing.assert_array_equal(session.mask, plain)
    assert session.before_refine is None

    widget.force.value = True
    widget.run()
    wait_for(qtbot, widget.runner)

    assert "changed about" in widget.status.value and "NOT applied" in widget.status.value
    assert session.mask[16:24, 8:24].all()  # the faint object, outside the correction
    assert not session.mask[:16, :16].any()  # the correction stays


def test_adapting_prn_reports_its_guard_or_why_it_could_not(viewer):
    from napari_segrefine import create_model
    from napari_segrefine.widgets.refine import adapted_prn

    _, session, _ = _faint_session(viewer)
    prn = create_model("prn_p64_lite", width=4)
    notes: list[str] = []
    assert adapted_prn(prn, session, 16, notes) is prn
    assert notes and notes[0].startswith("PRN not adapted: PRN adaptation needs at least 2")

    session.paint((slice(32, 64), slice(32, 64)), session.mask[32:64, 32:64].copy())
    notes.clear()
    model = adapted_prn(prn, session, 16, notes)
    assert "held-out corrected patch" in notes[0]
    assert (model is not prn) == ("not adopted" not in notes[0])
