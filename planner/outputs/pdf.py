"""HTML pages to PDF by headless Chromium, driven by Playwright.

The borough pack is printed by the browser engine it is designed for (its print stylesheet,
repeated table headers and page-break rules are Chromium's), so the PDF is the page a reader
would print. The browser is the system Chromium (``$PLANNER_CHROMIUM``, else ``chromium``,
``chromium-browser`` or ``google-chrome`` on the PATH, else the one ``playwright install
chromium`` downloads). It is started without network: the page is self-contained, and any
request that would leave the machine is refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from planner.errors import PlannerError

__all__ = ["PdfUnavailable", "chromium_path", "html_to_pdf"]

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
_FIX = (
    "install Chromium (e.g. `apt-get install chromium`, or `python -m playwright install "
    "chromium`) or set PLANNER_CHROMIUM to its path; or leave out --pdf and print the HTML "
    "pack to PDF from any browser"
)


class PdfUnavailable(PlannerError, RuntimeError):
    """No PDF can be made here (no Playwright, no Chromium); the message says how to get one."""


def chromium_path() -> Path | None:
    """The Chromium to print with: ``$PLANNER_CHROMIUM``, else the first found on the PATH.

    None where there is none on the PATH (Playwright's own download may still exist).

    Raises
    ------
    PdfUnavailable
        ``$PLANNER_CHROMIUM`` names a file that does not exist.
    """
    named = os.environ.get("PLANNER_CHROMIUM")
    if named:
        if not Path(named).is_file():
            raise PdfUnavailable(
                f"PLANNER_CHROMIUM={named} is not a file: point it at the Chromium executable "
                f"(e.g. /usr/bin/chromium), or unset it. Fix: {_FIX}."
            )
        return Path(named)
    for name in _NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def html_to_pdf(page: str, path: Path, *, footer: str = "") -> Path:
    """Print the self-contained HTML *page* to the PDF *path* (A4, backgrounds printed).

    Parameters
    ----------
    page
        The HTML text (no external resources: requests leaving the machine are refused).
    path
        Where the PDF is written (the caller makes that atomic).
    footer
        Plain text printed at the foot of every page, before "page N of M".

    Raises
    ------
    PdfUnavailable
        Playwright is not installed, or no Chromium can be started; the message names the fix.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise PdfUnavailable(
            f"the PDF needs Playwright (pip install playwright) and Chromium. Fix: {_FIX}."
        ) from exc
    executable = chromium_path()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(executable) if executable else None, args=list(_FLAGS)
            )
            try:
                context = browser.new_context(offline=True, java_script_enabled=False)
                tab = context.new_page()
                tab.route("**/*", _refuse_remote)
                tab.set_content(page, wait_until="load")
                tab.emulate_media(media="print")
                tab.pdf(
                    path=str(path), format="A4", print_background=True,
                    prefer_css_page_size=True, display_header_footer=True,
                    header_template="<span></span>", footer_template=_footer(footer),
                    margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"},
                )  # fmt: skip
            finally:
                browser.close()
    except PlaywrightError as exc:
        where = executable or "Playwright's own Chromium"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PdfUnavailable(
            f"the PDF could not be printed: Chromium ({where}) did not start or print "
            f"({first}). Fix: {_FIX}."
        ) from exc
    return path


def _refuse_remote(route: object) -> None:
    request = route.request  # type: ignore[attr-defined]
    if request.url.startswith(("data:", "about:")):
        route.continue_()  # type: ignore[attr-defined]
    else:
        route.abort()  # type: ignore[attr-defined]


def _footer(footer: str) -> str:
    """Chromium's footer template: *footer* (escaped) and "page N of M"."""
    text = footer.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<div style="font: 7pt Arial, sans-serif; color: #444; width: 100%; '
        'padding: 0 12mm; display: flex; justify-content: space-between;">'
        f'<span>{text}</span><span>page <span class="pageNumber"></span> of '
        '<span class="totalPages"></span></span></div>'
    )
