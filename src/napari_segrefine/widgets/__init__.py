"""The napari plugin: dock widgets, sample data and a labels writer (see napari.yaml).

Every widget is thin: it reads layers and settings, runs one library function in a
worker, and writes layers on the main thread. This package is the only one that
imports napari and Qt; nothing in the core imports it.
"""

from ..openmp import prefer_passive_waiting

prefer_passive_waiting()  # the plugin shares the CPU with the viewer
