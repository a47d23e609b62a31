"""Code the scripts under tools/ share (run them as ``python -m tools.<...>`` from the root)."""
