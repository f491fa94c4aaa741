"""The Streamlit app's pages and shell (``app.py`` is the entry point).

Every page only presents: it reads the :class:`ui.shell.Context` that the shell built from the
sidebar and renders tables, maps and forms; actions go through :mod:`planner.api`.
"""

SIDEBAR = "the sidebar (on a small screen, the » button at the top left opens it)"
"""Where the settings are, in words that hold at every width: a phone folds the sidebar away."""
