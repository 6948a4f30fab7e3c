#!/usr/bin/env python3
"""Check that every Parquet file of an alphalab catalog is readable by a standard tool (pyarrow).

Usage (pyarrow comes with nautilus_trader in the bench venv):

    target/nt-venv/bin/python scripts/check_parquet.py CATALOG_DIR

e.g. after `alphalab import ... --catalog data/catalog`:

    target/nt-venv/bin/python scripts/check_parquet.py data/catalog

Reads each `*.parquet` under CATALOG_DIR completely (every row group and column is decoded) and
prints one line per file: its path relative to CATALOG_DIR, rows, columns and column names, then a
summary. Exit code 0 when every file reads, 1 when any file fails or there is no Parquet file at
all, 2 on bad usage or a missing pyarrow.
"""

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        print(f"pyarrow is not installed for {sys.executable}: {e}", file=sys.stderr)
        return 2
    root = Path(argv[1])
    if not root.is_dir():
        print(f"{root}: not a directory", file=sys.stderr)
        return 1
    files = sorted(root.rglob("*.parquet"))
    if not files:
        print(f"{root}: no .parquet files", file=sys.stderr)
        return 1
    failed = 0
    total_rows = 0
    for path in files:
        rel = path.relative_to(root)
        try:
            table = pq.read_table(path)
        except Exception as e:  # any reader error is a failed check, reported per file
            failed += 1
            print(f"FAIL {rel}: {type(e).__name__}: {e}")
            continue
        total_rows += table.num_rows
        names = ",".join(table.column_names)
        print(f"ok   {rel}: rows={table.num_rows} columns={table.num_columns} [{names}]")
    print(f"{len(files)} files, {len(files) - failed} readable, {failed} failed, {total_rows} rows")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
