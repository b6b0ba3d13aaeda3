#!/usr/bin/env python
"""Regenerate popular-<ecosystem>.txt from a registry popularity table (see docs/checks/typosquatting.md).

    python scanning/analyzers/data/build_popular.py pypi TABLE.tsv [--top 3000]
    python scanning/analyzers/data/build_popular.py npm TABLE.tsv [--top 3000]

TABLE.tsv is tab-separated with a header line. For PyPI it needs the columns `name`
and `rank_among_15000_most_downloaded` (ranked download statistics); for npm the
columns `name` and `downloads_a_month`. Names are written normalised (PEP 503 for
PyPI, lower case for npm), most popular first, one per line, under a comment header.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ecosystem", choices=["pypi", "npm"])
    parser.add_argument("table")
    parser.add_argument("--top", type=int, default=3000)
    args = parser.parse_args()
    csv.field_size_limit(10_000_000)
    rows: list[tuple[float, str]] = []
    with open(args.table, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            name = (row.get("name") or "").strip()
            if not name:
                continue
            if args.ecosystem == "pypi":
                rank = row.get("rank_among_15000_most_downloaded") or ""
                if rank.isdigit():
                    rows.append((float(rank), re.sub(r"[-_.]+", "-", name).lower()))
            else:
                downloads = row.get("downloads_a_month") or ""
                if downloads.isdigit():
                    rows.append((-float(downloads), name.lower()))
    rows.sort()
    names = list(dict.fromkeys(name for _, name in rows))[: args.top]
    out = HERE / f"popular-{args.ecosystem}.txt"
    header = (f"# Most popular {args.ecosystem} packages ({len(names)}), most popular first.\n"
              f"# Generated {datetime.now(UTC):%Y-%m-%d} by build_popular.py from registry download statistics.\n")
    out.write_text(header + "\n".join(names) + "\n", encoding="utf-8")
    print(f"wrote {len(names)} names to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
