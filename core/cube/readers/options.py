"""What the user tells a reader that the files do not say themselves."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ReadOptions:
    """`cae cube build`'s reader options; None means "read it from the source"."""

    #: Band names in the order of a multi-band file (`--bands B02,B03,B04,B08`), or the band
    #: of single-band files, or the names of a dataset's `band` coordinate.
    bands: tuple[str, ...] | None = None
    #: A regular expression finding each file's date in its name: its `date` group, or `year`,
    #: `month` and `day` groups, or its first group.
    date_pattern: str | None = None
    #: value = stored x scale + offset, overriding what the source declares.
    scale: float | None = None
    offset: float | None = None
    #: The bands' unit where the source does not say it (Sentinel-1: `dB` or `linear`).
    units: str | None = None

    def given(self) -> list[str]:
        """The options set, as their command-line names."""
        return [f"--{field.name.replace('_', '-')}" for field in fields(self) if getattr(self, field.name) is not None]
