"""The planner's map app: review wards, run scenarios, agree priorities, export.

Run with ``streamlit run app.py`` (data from ``$PLANNER_DATA``, else the config's data folder;
the ingest cache in ``$PLANNER_CACHE``, else the config's; configuration from
``$PLANNER_CONFIG``, else ``./config``). This file only picks the pages:
:mod:`ui.shell` reads the sidebar into a scenario and asks :mod:`planner.api` for the plan,
and each file of ``ui/pages/`` presents one page.
"""

from __future__ import annotations

import streamlit as st

from planner.errors import PlannerError
from planner.outputs.present import plain
from ui import shell

APP_TITLE = "Ward officer planner"
PAGES = (
    ("ui/pages/map.py", "Map", "map"),
    ("ui/pages/allocation.py", "Allocation", "allocation"),
    ("ui/pages/priorities.py", "Borough priorities", "priorities"),
    ("ui/pages/methodology.py", "Methodology and data quality", "methodology"),
)


def main() -> None:
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


main()
