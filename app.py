"""The planner's map app: review wards, run scenarios, agree priorities, export.

Run with ``streamlit run app.py`` (data from ``$PLANNER_DATA``, else the config's data folder;
the ingest cache in ``$PLANNER_CACHE``, else the config's; configuration from
``$PLANNER_CONFIG``, else ``./config``). This file only picks the pages:
:mod:`ui.shell` reads the sidebar into a scenario and asks :mod:`planner.api` for the plan,
and each file of ``ui/pages/`` presents one page.

``streamlit run`` finds the ``st.App`` below and serves it: its lifespan hook starts
:mod:`ui.warm` as the server comes up, which loads the app's modules and the first page's data
while the first visitor's browser is still loading Streamlit's page. Each session then runs
this file as the script (``__main__``), which calls :func:`main`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import streamlit as st

from ui import warm

APP_TITLE = "Ward officer planner"
PAGES = (
    ("ui/pages/map.py", "Map", "map"),
    ("ui/pages/allocation.py", "Allocation", "allocation"),
    ("ui/pages/priorities.py", "Borough priorities", "priorities"),
    ("ui/pages/methodology.py", "Methodology and data quality", "methodology"),
)


def main() -> None:
    warm.wait_for_modules()  # a fresh server may be importing them right now
    from planner.errors import PlannerError
    from planner.outputs.present import plain
    from ui import shell

    st.set_page_config(page_title=APP_TITLE, layout="wide")
    shell.page_style()
    try:
        config, missing = shell.data_missing()
        if missing is not None:
            page = st.navigation([st.Page("ui/pages/get_data.py", title="Get the data",
                                          url_path="get-data", default=True)])  # fmt: skip
            st.set_page_config(page_title=f"{page.title} · {APP_TITLE}")
            page.run()
            return
        pages = [
            st.Page(path, title=title, url_path=url, default=i == 0)
            for i, (path, title, url) in enumerate(PAGES)
        ]
        page = st.navigation(pages)
        # the browser tab names the page (WCAG 2.4.2): "Allocation · Ward officer planner"
        st.set_page_config(page_title=f"{page.title} · {APP_TITLE}")
        shell.build(config)
        page.run()
    except PlannerError as exc:
        st.error(plain(exc))
        st.stop()


@contextlib.asynccontextmanager
async def warm_up(_app: Any) -> AsyncIterator[None]:
    """The server's lifespan: warm the app in the background, serve at once."""
    warm.start()
    yield


if __name__ == "__main__":  # a session's script run
    main()
else:  # imported by `streamlit run app.py`, which serves this
    app = st.App(__file__, lifespan=warm_up)
