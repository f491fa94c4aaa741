"""Outputs: what people read and download.

- :mod:`~planner.outputs.views`: tables and figures for the app's pages (no Streamlit);
- :mod:`~planner.outputs.mapping`: folium maps;
- :mod:`~planner.outputs.export`: CSV, Excel, GeoJSON and GeoPackage with manifests;
- :mod:`~planner.outputs.pack`: the printable borough pack.
"""
