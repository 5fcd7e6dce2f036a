"""Fill a page section from a template whose ``{{TABLES args}}`` markers are replaced by
``clardrec_tables.py args``'s output, so the tables on the page are the runs' JSON and
the prose around them is kept in one file:

    python docs/_scripts/compose_tables.py docs/_scripts/clardrec_synthetic.tpl.md docs/methods/clardrec.md \\
        --start "## The synthetic worlds" --end "## beauty-search"

The page's text from the line beginning with ``--start`` up to (not including) the line
beginning with ``--end`` is replaced by the filled template; the rest of the page is left as it is. The page is
written atomically.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

TABLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clardrec_tables.py")


def fill(template: str) -> str:
    def run(match: re.Match) -> str:
        out = subprocess.run([sys.executable, TABLES, *match.group(1).split()], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"clardrec_tables.py {match.group(1)} failed:\n{out.stderr}")
        return out.stdout.strip()

    return re.sub(r"\{\{TABLES (.*?)\}\}", run, template)


def _line_starting(page: str, heading: str, name: str) -> int:
    """Offset of the first line that begins with ``heading`` (a heading may carry a status after it)."""
    match = re.search(rf"^{re.escape(heading)}", page, flags=re.M)
    if match is None:
        raise SystemExit(f"{name}: no line beginning with '{heading}'")
    return match.start()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("template")
    p.add_argument("page")
    p.add_argument("--start", required=True, help="the heading the section begins with")
    p.add_argument("--end", required=True, help="the heading after the section")
    args = p.parse_args(argv)
    with open(args.template) as f:
        text = fill(f.read()).strip()
    with open(args.page) as f:
        page = f.read()
    start, end = _line_starting(page, args.start, args.page), _line_starting(page, args.end, args.page)
    if not text.startswith(args.start):
        raise SystemExit(f"{args.template} must begin with the heading '{args.start}'")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(args.page)), suffix=".md")
    with os.fdopen(fd, "w") as f:
        f.write(page[:start] + text + "\n\n" + page[end:])
    os.replace(tmp, args.page)


if __name__ == "__main__":
    main()
