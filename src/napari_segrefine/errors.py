"""The one error family for user mistakes."""


class SegRefineError(ValueError):
    """A user-facing problem: the message says what was wrong and how to fix it.

    The CLI prints it on one line and exits with code 2; the widgets show it as a
    napari notification.
    """


class Cancelled(Exception):  # noqa: N818 - reads better at the call site
    """Raised inside long work (predict, train) when the user asked it to stop."""
