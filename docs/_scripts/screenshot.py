"""Screenshots of built documentation pages with headless Chromium, to check that the site renders.

    sphinx-build -W --keep-going -b html docs docs/_build/html
    python docs/_scripts/screenshot.py docs/_build/html index methods/gserec

writes ``docs/_static/screenshots/index.png`` and ``methods_gserec.png``. It needs a
Chromium binary: Debian's ``chromium-headless-shell`` or ``chromium`` package
(``apt-get install chromium-headless-shell``), or any Chrome passed as ``--browser``.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "chrome")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "_static" / "screenshots"


def find_browser(explicit: str | None = None) -> str:
    for name in ((explicit,) if explicit else BROWSERS):
        path = shutil.which(name) or (name if name and Path(name).is_file() else None)
        if path:
            return path
    sys.exit(f"no Chromium found (looked for {', '.join((explicit,) if explicit else BROWSERS)}); "
             f"install Debian's chromium-headless-shell or pass --browser PATH")


def screenshot(browser: str, page: Path, out: Path, width: int, height: int, wait_ms: int = 8000) -> None:
    """One PNG of ``page`` at ``width x height`` CSS pixels (the top of the page), taken
    once scripts (search, math) have had ``wait_ms`` of virtual time."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: no state between runs
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               f"--virtual-time-budget={wait_ms}", f"--screenshot={out}", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not out.is_file():
        sys.exit(f"{browser} failed on {page} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built HTML folder, e.g. docs/_build/html")
    parser.add_argument("pages", nargs="+", help="page names without .html, e.g. index methods/gserec")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUT, help=f"folder of the PNGs (default: {DEFAULT_OUT})")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default: 1280)")
    parser.add_argument("--height", type=int, default=1000, help="window height in CSS pixels (default: 1000)")
    parser.add_argument("--wait-ms", type=int, default=8000,
                        help="virtual time given to the page's scripts before the shot (default: 8000)")
    parser.add_argument("--browser", default=None, help="Chromium or Chrome binary (default: the first found of "
                                                        + ", ".join(BROWSERS) + ")")
    args = parser.parse_args(argv)
    browser = find_browser(args.browser)
    for name in args.pages:
        page = args.html / f"{name.removesuffix('.html')}.html"
        if not page.is_file():
            sys.exit(f"no page {page}: build the docs first, or check the name")
        out = args.output / f"{name.removesuffix('.html').replace('/', '_')}.png"
        screenshot(browser, page, out, args.width, args.height, args.wait_ms)
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
