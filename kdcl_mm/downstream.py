"""Imported by kdcl_mm's mmdet and mmseg configs (``custom_imports``).

Detectors and segmentors need mmcv's compiled ops (RoIAlign, NMS, ...), which KDCL
pretraining does not. Without them mmdet and mmseg fail deep inside their own imports; this
module stops first, with the fix, and then registers kdcl_mm as usual.
"""

from .utils.compiled_ops import require_compiled_ops

require_compiled_ops('mmdet and mmseg models (detection and segmentation configs)')

import kdcl_mm  # noqa: E402,F401  (registers StrictPretrained and the kdcl_mm:: scope)
