"""Build the bundled demo cubes from the real data in ../shared/data.

    python scripts/make_demo_data.py [--shared ../shared/data]

Writes core/data/demo/romania_s2.zarr (all 140 dates, 6 bands + SCL at 10 m) and
core/data/demo/poland_s1.zarr (107 dates of VH at 20 m), using the same builders as
`cae cube build`. Re-run it only when the builders change; the stores are committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cae.cube.io import write_cube
from cae.plugins.manager import installed_modalities

DEMO = Path(__file__).resolve().parents[1] / "core" / "data" / "demo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    registry = installed_modalities()
    s2 = registry.spec("s2").build_cube([args.shared / "s2" / "romania_10m.nc", args.shared / "s2" / "romania_20m.nc"])
    s2.attrs["attribution"] = (
        "Contains modified Copernicus Sentinel data 2015-2021, via the nrt package "
        "(EU Joint Research Centre, EUPL-1.2)"
    )
    s1 = registry.spec("s1").build_cube([args.shared / "s1" / "poland_vh_d022"])
    s1.attrs["attribution"] = (
        "Contains modified Copernicus Sentinel data 2020-2022, processed by TU Wien / EODC; "
        "test data of the RQADeforestation.jl project (meggart/RQADeforestationTestData)"
    )
    for name, cube in (("romania_s2.zarr", s2), ("poland_s1.zarr", s1)):
        path = write_cube(cube, DEMO / name, overwrite=True, chunks={"time": -1, "y": -1, "x": -1})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
