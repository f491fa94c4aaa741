"""The Streamlit app's pages and shell (``app.py`` is the entry point).

Every page only presents: it reads the :class:`ui.shell.Context` that the shell built from the
sidebar and renders tables, maps and forms; actions go through :mod:`planner.api`.
"""
