"""Vector files opened by their declared type only, with GDAL's indirections switched off.

GDAL picks a driver from a file's content, not its name: a ``wards.geojson`` that holds an
``<OGRVRTDataSource>`` is opened as a VRT, which can read any file the server can read
(``CSV:/proc/self/cwd/.streamlit/secrets.toml``) or fetch an address (``/vsicurl/http://...``).
So every boundary file the planner opens, uploaded or configured, goes through three checks:

- :func:`declared_driver` names the one driver its type allows (``.geojson`` GeoJSON,
  ``.topojson`` TopoJSON, ``.json`` either by its top-level ``type``, ``.gpkg`` GeoPackage,
  ``.shp`` Shapefile); any other type is refused;
- :func:`check_magic` checks the first bytes are that format's, before GDAL sees the file;
- :func:`gdal_source` forces the driver where GDAL's syntax allows (``GeoJSON:path``).

:func:`harden_gdal`, run when this module is imported, also takes the indirections away from
the whole process: it deregisters GDAL's VRT, pipeline, external-program and network drivers,
removes its network virtual file systems (``/vsicurl/``, ``/vsis3/`` ...), turns off SQL
functions and virtual tables in GeoPackage views and triggers, and sets ``GDAL_SKIP`` for any
GDAL loaded later (a subprocess).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import re
from pathlib import Path
from typing import Final

import pyogrio

from planner.errors import DataError
from planner.ingest.sources.sniff import describe

__all__ = [
    "BOUNDARY_SUFFIXES",
    "INDIRECT_DRIVERS",
    "NETWORK_FILESYSTEMS",
    "check_magic",
    "declared_driver",
    "gdal_source",
    "harden_gdal",
]

logger = logging.getLogger(__name__)

BOUNDARY_SUFFIXES: Final = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON or TopoJSON",
    ".topojson": "TopoJSON",
    ".gpkg": "GPKG",
    ".shp": "ESRI Shapefile",
}
"""Boundary file types and the GDAL driver each is opened with (``.json``: by content)."""

INDIRECT_DRIVERS: Final = (
    *("OGR_VRT", "VRT", "GDALG", "GPSBabel", "ADBC", "OGR_PDS", "PDS4"),
    *("HTTP", "WFS", "OAPIF", "OGCAPI", "CSW", "EEDA", "Carto", "AmigoCloud"),
    *("Elasticsearch", "PLSCENES", "NGW", "WMS", "WMTS", "WCS", "DAAS", "PLMOSAIC"),
)
"""GDAL drivers that read other files or addresses named inside a file, or run programs."""

NETWORK_FILESYSTEMS: Final = (
    *(
        f"/{name}/"
        for base in ("vsicurl", "vsis3", "vsigs", "vsiaz", "vsioss", "vsiswift")
        for name in (base, f"{base}_streaming")
    ),
    *("/vsiadls/", "/vsiwebhdfs/", "/vsihdfs/"),
)
"""GDAL's virtual file systems that reach the network."""

_CONFIG: Final = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".planner-network-disabled",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "ALLOW_VIRTUAL_OGR_FROM_TRIGGER_AND_VIEW": "NO",
    "ALLOW_OGR_SQL_FUNCTIONS_FROM_TRIGGER_AND_VIEW": "NO",
    "OGR_SQLITE_LIST_VIRTUAL_OGR": "NO",
}
_PREFIXED = {"GeoJSON": "GeoJSON:", "TopoJSON": "TopoJSON:", "GPKG": "GPKG:"}
_TOPOLOGY = re.compile(rb'"type"\s*:\s*"Topology"')
_HEAD = 1 << 16
_SQLITE = b"SQLite format 3\x00"
_GPKG_IDS = (b"GPKG", b"GP10", b"GP11")
_SHP = b"\x00\x00\x27\x0a"


def declared_driver(path: Path) -> str:
    """The GDAL driver *path*'s type allows: ``"GeoJSON"``, ``"TopoJSON"``, ``"GPKG"``, ...

    Raises
    ------
    DataError
        The type is not a boundary file type (:data:`BOUNDARY_SUFFIXES`).
    """
    suffix = path.suffix.lower()
    if suffix not in BOUNDARY_SUFFIXES:
        raise DataError(
            f"{path}: a {suffix or 'file without a'} type is not a boundary file; expected "
            f"one of {', '.join(BOUNDARY_SUFFIXES)}. Convert it (e.g. ogr2ogr -f GeoJSON "
            "wards.geojson FILE) and point the dataset's wards path at it."
        )
    if suffix == ".json":
        return "TopoJSON" if _TOPOLOGY.search(_head(path)[:_HEAD]) else "GeoJSON"
    return BOUNDARY_SUFFIXES[suffix]


def check_magic(path: Path, driver: str) -> None:
    """Check *path* starts the way its declared format does, before GDAL opens it.

    Raises
    ------
    DataError
        The first bytes are another format's (XML such as a GDAL VRT, a zip, SQLite that is
        not a GeoPackage, ...); the message names what was found, never the bytes themselves.
    """
    head = _head(path)
    if driver in ("GeoJSON", "TopoJSON"):
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if text.startswith(b"{"):
            return
        found = _found(head, text, "JSON")
    elif driver == "GPKG":
        if head.startswith(_SQLITE) and head[68:72] in _GPKG_IDS:
            return
        found = (
            "an SQLite database that is not a GeoPackage"
            if head.startswith(_SQLITE)
            else _found(head, head, "GeoPackage")
        )
    elif driver == "ESRI Shapefile":
        if head.startswith(_SHP):
            return
        found = _found(head, head, "shapefile")
    else:  # pragma: no cover - declared_driver names only the drivers above
        raise DataError(f"{path}: no boundary reader for the {driver} driver")
    raise DataError(
        f"{path}: declared {driver} by its type ({path.suffix}), but its content is {found}; "
        f"only {driver} content is read from a {path.suffix} file. Export the boundaries as "
        f"{driver} and try again."
    )


def gdal_source(path: Path, driver: str) -> str:
    """The name to give GDAL so that it opens *path* with *driver* only, where it can."""
    return _PREFIXED.get(driver, "") + str(path)


def harden_gdal() -> dict[str, list[str]]:
    """Switch off GDAL's VRT, network and external-program readers for this process.

    Safe to call more than once. Returns what was removed (``drivers``, ``filesystems``) and
    what could not be (``still_registered``: logged as a warning; the declared-driver checks
    still hold for the planner's own reads).
    """
    skip = os.environ.get("GDAL_SKIP", "").split()
    os.environ["GDAL_SKIP"] = " ".join(dict.fromkeys([*skip, *INDIRECT_DRIVERS]))
    os.environ.setdefault("SPATIALITE_SECURITY", "strict")
    pyogrio.set_gdal_config_options({**_CONFIG, "GDAL_SKIP": os.environ["GDAL_SKIP"]})
    drivers: list[str] = []
    filesystems: list[str] = []
    lib = _libgdal()
    if lib is not None:
        for name in INDIRECT_DRIVERS:
            handle = lib.GDALGetDriverByName(name.encode())
            if handle:
                lib.GDALDeregisterDriver(handle)
                drivers.append(name)
        if hasattr(lib, "VSIRemovePluginHandler"):
            for prefix in NETWORK_FILESYSTEMS:
                if lib.VSIRemovePluginHandler(prefix.encode()) == 0:
                    filesystems.append(prefix)
    left = sorted(set(INDIRECT_DRIVERS) & set(pyogrio.list_drivers()))
    if left:
        logger.warning("GDAL drivers still registered (declared-driver checks apply): %s", left)
    return {"drivers": drivers, "filesystems": filesystems, "still_registered": left}


# --- private steps -----------------------------------------------------------------------


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD)
    except OSError as exc:
        raise DataError(
            f"{path}: cannot be read ({exc.strerror or type(exc).__name__}); check the file "
            "exists and can be read"
        ) from None


def _found(head: bytes, text: bytes, what: str) -> str:
    if text.startswith(b"<"):
        return "XML (for example a GDAL VRT file, which can point at other files and addresses)"
    named = describe(head, what=what)
    return named[0] if named else f"not {what}"


def _libgdal() -> ctypes.CDLL | None:
    """The GDAL library pyogrio has loaded (the same copy, so changes reach its reads)."""
    candidates: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            candidates += [ln.split()[-1] for ln in maps if "libgdal" in ln and "/" in ln]
    except OSError:
        pass
    here = Path(pyogrio.__file__).parent
    for pattern in ("../pyogrio.libs/*gdal*", ".dylibs/*gdal*", "../pyogrio.libs/gdal*.dll"):
        candidates += sorted(glob.glob(str(here / pattern)))
    for name in dict.fromkeys(candidates):
        if (lib := _opened(name)) is not None:
            return lib
    # last, the system's search (it runs ldconfig, gcc and ld: tens of milliseconds at every
    # start, so only when pyogrio's own copy was not found)
    found = ctypes.util.find_library("gdal")
    return _opened(found) if found else None


def _opened(name: str) -> ctypes.CDLL | None:
    """The GDAL library at *name*, its functions typed; None if it is not one."""
    try:
        lib = ctypes.CDLL(name)
        lib.GDALGetDriverByName.restype = ctypes.c_void_p
        lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
        lib.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
        if hasattr(lib, "VSIRemovePluginHandler"):
            lib.VSIRemovePluginHandler.argtypes = [ctypes.c_char_p]
            lib.VSIRemovePluginHandler.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):
        return None


harden_gdal()
