"""Quick tables as plain JSON, for checking that a change leaves every number bit-identical.

    python benchmarks/investigations/quick_tables.py OUT_DIR [--drop-config KEY ...]

runs each command of ``COMMANDS`` (``--quick --json --figures none``, one fresh store) and writes
its JSON with what changes from run to run removed (wall times, run ids, absolute paths),
keys sorted. Run it on two commits and ``diff -r`` the folders; ``--drop-config`` leaves out
config params one of them lacks (issue 14 added ``metrics``). Every float is written with
``repr`` precision, so equal files mean equal numbers to the last bit.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

COMMANDS = [
    ["run", "gaussians8"],
    ["run", "gaussians8", "--protocol", "reproducibility"],
    ["run", "digits"],
    ["run", "digits", "--protocol", "reproducibility"],
    ["run", "gaussians8", "--ensemble"],
    ["run", "digits5", "--protocol", "continual", "--seeds", "2"],
    ["run", "table6_n_rosetta_points_sequential_gaussians8"],
    ["run", "table5_n_rosetta_points_reproducibility_digits"],
    ["tune", "gaussians8"],
]
VOLATILE = ("wall_time_s", "parent_run_id", "plugins_dir")


def clean(value, drop: tuple[str, ...]):
    if isinstance(value, dict):
        return {k: clean(v, drop) for k, v in value.items() if k not in VOLATILE + drop}
    if isinstance(value, list):
        return [clean(v, drop) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--drop-config", nargs="*", default=[])
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repo = Path(__file__).resolve().parents[2]
    with tempfile.TemporaryDirectory() as store:
        for command in COMMANDS:
            extra = ["--figures", "none"] if command[0] == "run" else []
            result = subprocess.run(
                [sys.executable, "-m", "rosetta_cl.cli", *command, "--quick", "--json", *extra,
                 "--tracking-uri", f"sqlite:///{store}/mlflow.db"],
                cwd=repo, capture_output=True, text=True, check=True)
            data = clean(json.loads(result.stdout), tuple(args.drop_config))
            name = "_".join(Path(c).stem if c.endswith(".toml") else c for c in command)
            (out / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            print(name, flush=True)


if __name__ == "__main__":
    main()
