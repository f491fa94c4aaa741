"""The page shown when the data are not there yet: where the app looked, how to get them."""

from __future__ import annotations

import streamlit as st

from planner.outputs import present
from ui.shell import missing

data_dir, message = missing()
st.title("The ward data are not here yet")
intro, steps = present.get_data_text(data_dir)
st.markdown(intro)
st.warning(message)
st.markdown(steps)
