"""GPP at flux towers from 90-day windows of daily inputs (DESIGN 7).

Per site, each input set (the embedding's footprint features, the footprint's band means,
NDVI/NIRv, the ERA-Interim meteorology, and the features together with the meteorology, the
set a user would try next) is laid on consecutive days (`cae.evaluation.gpp.windows`, which
never lets a window see past its target day); a target is a day with observed GPP on which
every compared input set has a complete window, so all models are scored on the same days.
Each input set feeds its own transformer head (`cae.evaluation.gpp.head`); a climatology (mean
training GPP by day of year) is the floor every model should clear.

Splits: `temporal` trains on targets in the train years and tests on the test years;
`leave-one-site-out` tests each site with a head trained on the other sites only. Heads
train on the window of every training day, and stop early on the last days of each
training site (a temporal tail: a random split would validate on the neighbours of
training days, which are nearly the same windows). Inputs and GPP are standardised with
statistics of the training targets of each fold only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cae.errors import InputError
from cae.evaluation.gpp.features import BANDS, FEATURES, INDICES
from cae.evaluation.gpp.flux import METEO_VARIABLES, FluxSite, read_site, read_sites
from cae.evaluation.gpp.head import HEAD_PRESETS, HeadPreset, fit_head, predict_head
from cae.evaluation.indices import BAND_ALIASES, NIR_BAND, RED_BAND
from cae.evaluation.gpp.metrics import scores_by_site
from cae.evaluation.gpp.windows import DailySeries, JoinedSeries

METEO = "meteo"
FEATURES_METEO = f"{FEATURES}+{METEO}"
CLIMATOLOGY = "climatology"
#: Input sets in the order models are reported.
INPUT_SETS = (FEATURES, BANDS, INDICES, METEO, FEATURES_METEO)
#: Input sets made of others, offered wherever a site has all their parts.
JOINED = {FEATURES_METEO: (FEATURES, METEO)}
DESCRIPTIONS = {
    FEATURES: "transformer head on the per-date features",
    BANDS: "transformer head on the footprint's mean band reflectances",
    INDICES: "transformer head on NDVI and NIRv",
    METEO: "transformer head on ERA-Interim meteorology only",
    FEATURES_METEO: "transformer head on the per-date features and the ERA-Interim meteorology",
    CLIMATOLOGY: "mean training GPP by day of year (+-15 days)",
}
TEMPORAL, LEAVE_ONE_SITE_OUT = "temporal", "leave-one-site-out"
SPLITS = (TEMPORAL, LEAVE_ONE_SITE_OUT)
UNITS = "g C m-2 d-1"


@dataclass(frozen=True)
class GppConfig:
    """How the GPP evaluation windows, splits and trains; the defaults are the paper's."""

    window_days: int = 90
    #: A window of per-date inputs needs an observation at most this many days before its
    #: target; daily meteorology must be observed on the target day itself.
    max_staleness_days: int = 60
    train_years: tuple[int, int] = (2017, 2019)
    test_years: tuple[int, int] = (2020, 2020)
    splits: tuple[str, ...] = SPLITS
    #: Input sets to compare; None: every set all sites have.
    inputs: tuple[str, ...] | None = None
    head: HeadPreset = HEAD_PRESETS["paper"]
    #: Part of each training site's target days, its last, that early stopping checks on.
    validation_fraction: float = 0.2
    #: Most of those windows checked (evenly spread), so a check costs little beside training.
    validation_windows: int = 512
    climatology_half_width: int = 15
    seed: int = 42
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SiteData:
    """One site's daily GPP, its input sets on the same days, and its usable target days."""

    site: str
    days: pd.DatetimeIndex
    gpp: np.ndarray
    series: dict[str, DailySeries | JoinedSeries]
    targets: np.ndarray


@dataclass
class GppResult:
    """Predictions of every model on every test target, and the scores and folds behind them."""

    config: GppConfig
    sites: list[str]
    skipped: dict[str, str]
    inputs: dict[str, list[str]]
    models: list[str]
    predictions: pd.DataFrame
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    site_inputs: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)


class Windows:
    """Standardised windows of one input set for rows (site, target day) of a fold.

    Records which sites it served, so a report can show what a head was trained on.
    """

    def __init__(self, data: list[SiteData], name: str, rows: Rows, length: int) -> None:
        self.data, self.name, self.rows, self.length = data, name, rows, length
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.served: set[str] = set()

    @property
    def n_inputs(self) -> int:
        return len(self.data[0].series[self.name].columns)

    def raw(self, rows: np.ndarray, length: int) -> np.ndarray:
        out = np.empty((len(rows), length, self.n_inputs))
        sites, targets = self.rows.sites[rows], self.rows.targets[rows]
        for site in np.unique(sites):
            chosen = sites == site
            out[chosen] = self.data[site].series[self.name].windows(targets[chosen], length)
            self.served.add(self.data[site].site)
        return out

    def fit_scaling(self) -> None:
        """Mean and spread of each input over these rows' target days (the training rows)."""
        last = self.raw(np.arange(len(self.rows)), 1)[:, 0]
        self.mean, std = last.mean(0), last.std(0)
        self.std = np.where(std > 0, std, 1.0)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return ((self.raw(rows, self.length) - self.mean) / self.std).astype(np.float32)

    def like(self, rows: Rows) -> Windows:
        """Windows of other rows scaled like these (held-out rows: no statistics of their own)."""
        other = Windows(self.data, self.name, rows, self.length)
        other.mean, other.std = self.mean, self.std
        return other


def _site_data(
    flux: FluxSite, sets: dict[str, pd.DataFrame], names: tuple[str, ...], config: GppConfig
) -> SiteData:
    days = flux.days.index
    parts, complete = {}, np.isfinite(flux.gpp.to_numpy())
    for part in dict.fromkeys(part for name in names for part in JOINED.get(name, (name,))):
        observations = flux.days[list(METEO_VARIABLES)] if part == METEO else sets[part]
        parts[part] = DailySeries.of(observations, days)
        staleness = 0 if part == METEO else config.max_staleness_days
        complete &= parts[part].complete(config.window_days, staleness)
    series = {name: JoinedSeries(tuple(parts[part] for part in JOINED[name])) if name in JOINED else parts[name]
              for name in names}
    return SiteData(flux.site, days, flux.gpp.to_numpy(), series, np.flatnonzero(complete))


def _available(flux: FluxSite, sets: dict[str, pd.DataFrame]) -> set[str]:
    found = set(sets)
    if all(column in flux.days.columns for column in METEO_VARIABLES):
        found.add(METEO)
    found |= {name for name, parts in JOINED.items() if found.issuperset(parts)}
    return found


def _overlap(flux: FluxSite, sets: dict[str, pd.DataFrame], names: tuple[str, ...]) -> str:
    gpp = flux.gpp.dropna().index
    spans = [f"GPP {gpp[0].date()}..{gpp[-1].date()}" if len(gpp) else "no GPP observation"]
    for name in names:
        if name in sets:
            observed = sets[name].dropna().index
            spans.append(f"{name} {observed[0].date()}..{observed[-1].date()}" if len(observed) else f"no {name}")
    return ", ".join(spans)


def load_sites(
    flux_dir: Path,
    site_inputs: dict[str, dict[str, pd.DataFrame]],
    config: GppConfig,
    sites: list[str] | None = None,
) -> tuple[list[SiteData], tuple[str, ...], dict[str, str]]:
    """Read the sites, choose the input sets and find each site's target days.

    With features (or a list of sites) every named site must have targets; otherwise all
    sites of the flux folder are tried and those without any are skipped with the reason.
    """
    listed = read_sites(flux_dir)
    named = bool(site_inputs) or bool(sites)
    if site_inputs:
        chosen = sorted(site_inputs)
        if sites:
            missing = [site for site in sites if site not in site_inputs]
            if missing:
                raise InputError(f"no features were given for site(s) {', '.join(missing)}")
            chosen = sorted(sites)
    else:
        chosen = sorted(sites) if sites else sorted(listed.index)
    fluxes = {site: read_site(flux_dir, site, listed) for site in chosen}
    available = set.intersection(*(_available(fluxes[site], site_inputs.get(site, {})) for site in chosen))
    if config.inputs is None:
        names = tuple(name for name in INPUT_SETS if name in available)
    else:
        unknown = [name for name in config.inputs if name not in available]
        if unknown:
            needs = (f" ({INDICES} needs red and NIR columns: one of {', '.join(BAND_ALIASES[RED_BAND])} "
                     f"and one of {', '.join(BAND_ALIASES[NIR_BAND])})") if INDICES in unknown else ""
            raise InputError(
                f"input set(s) {', '.join(unknown)} are not available for every site; available: "
                f"{', '.join(name for name in INPUT_SETS if name in available) or 'none'}{needs}"
            )
        names = tuple(config.inputs)
    if not names:
        raise InputError("no input set to feed the GPP head: give --features, or a flux folder with meteorology")
    data, skipped = [], {}
    for site in chosen:
        item = _site_data(fluxes[site], site_inputs.get(site, {}), names, config)
        if len(item.targets):
            data.append(item)
            continue
        reason = (
            f"no day has observed GPP and a complete {config.window_days}-day window of {', '.join(names)} "
            f"({_overlap(fluxes[site], site_inputs.get(site, {}), names)})"
        )
        if named:
            raise InputError(f"site {site}: {reason}")
        skipped[site] = reason
    if not data:
        raise InputError("no site has a usable target day: " + "; ".join(f"{s}: {r}" for s, r in skipped.items()))
    return data, names, skipped


def climatology(data: list[SiteData], train: Rows, half_width: int) -> Callable[[Rows], np.ndarray]:
    """Mean GPP by day of year (+-`half_width` days, wrapping the year) of the training rows.

    Returns predict(test rows): each site's own climatology where it has training days,
    else (and on days of year it lacks) the climatology of all training sites.
    """
    kernel = np.ones(2 * half_width + 1)

    def smooth(values: np.ndarray) -> np.ndarray:
        return np.convolve(np.concatenate([values[-half_width:], values, values[:half_width]]), kernel, "valid")

    def mean_by_day_of_year(rows: Rows) -> np.ndarray:
        totals, counts = np.zeros(366), np.zeros(366)
        np.add.at(totals, rows.day_of_year(data), rows.gpp(data))
        np.add.at(counts, rows.day_of_year(data), 1)
        totals, counts = smooth(totals), smooth(counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, totals / counts, np.nan)

    pooled = mean_by_day_of_year(train)
    own = {}
    for site in np.unique(train.sites):
        mean = mean_by_day_of_year(train.where(train.sites == site))
        own[site] = np.where(np.isfinite(mean), mean, pooled)

    def predict(test: Rows) -> np.ndarray:
        return test.per_site(lambda site, positions: own.get(site, pooled)[data[site].days[positions].day_of_year.to_numpy() - 1])

    return predict


@dataclass(frozen=True)
class Rows:
    """Target days of a fold: parallel arrays of site indices (into the site list) and day positions."""

    sites: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def where(self, chosen: np.ndarray) -> Rows:
        return Rows(self.sites[chosen], self.targets[chosen])

    def per_site(self, value: Callable[[int, np.ndarray], Any], dtype: Any = np.float64) -> np.ndarray:
        """`value(site, day positions)` of every row, computed site by site."""
        out = np.empty(len(self), dtype=dtype)
        for site in np.unique(self.sites):
            chosen = self.sites == site
            out[chosen] = value(site, self.targets[chosen])
        return out

    def gpp(self, data: list[SiteData]) -> np.ndarray:
        return self.per_site(lambda site, positions: data[site].gpp[positions])

    def dates(self, data: list[SiteData]) -> np.ndarray:
        return self.per_site(lambda site, positions: data[site].days[positions], "datetime64[ns]")

    def day_of_year(self, data: list[SiteData]) -> np.ndarray:
        return self.per_site(lambda site, positions: data[site].days[positions].day_of_year.to_numpy() - 1, np.int64)


@dataclass(frozen=True)
class Fold:
    name: str
    train: Rows
    test: Rows


def folds(data: list[SiteData], split: str, config: GppConfig) -> list[Fold]:
    """The folds of `split` over all target days of `data`."""
    everything = Rows(
        np.concatenate([np.full(len(item.targets), index) for index, item in enumerate(data)]),
        np.concatenate([item.targets for item in data]),
    )
    years = everything.dates(data).astype("datetime64[Y]").astype(int) + 1970
    if split == TEMPORAL:
        (first, last), (test_first, test_last) = config.train_years, config.test_years
        train, test = (years >= first) & (years <= last), (years >= test_first) & (years <= test_last)
        if not train.any() or not test.any():
            raise InputError(
                f"the temporal split needs targets in {first}-{last} and in {test_first}-{test_last}; "
                f"the sites have targets in {', '.join(map(str, sorted(set(years.tolist()))))}"
            )
        return [Fold(f"train {first}-{last}, test {test_first}-{test_last}", everything.where(train), everything.where(test))]
    if split == LEAVE_ONE_SITE_OUT:
        if len(data) < 2:
            raise InputError("leave-one-site-out needs at least two sites with usable targets")
        return [
            Fold(f"test {item.site}", everything.where(everything.sites != index), everything.where(everything.sites == index))
            for index, item in enumerate(data)
        ]
    raise InputError(f"unknown split {split!r}; use {' or '.join(SPLITS)}")


def validation_tail(data: list[SiteData], train: Rows, config: GppConfig) -> np.ndarray:
    """(len(train),) whether a training row is among the last `validation_fraction` of its
    site's training days: the rows early stopping checks on.

    The tail, not a random pick: a window overlaps its neighbours' by all but a day, so a
    random split would check on copies of the training windows. Every site keeps its first
    days for training.
    """
    def last_days(site: int, positions: np.ndarray) -> np.ndarray:
        rank = np.argsort(np.argsort(positions))
        return rank >= len(positions) - math.floor(config.validation_fraction * len(positions))

    return train.per_site(last_days, bool)


def _spread(rows: Rows, most: int) -> Rows:
    """At most `most` of `rows`, evenly spread over them."""
    return rows if len(rows) <= most else rows.where(np.linspace(0, len(rows) - 1, most).round().astype(int))


def run_fold(
    data: list[SiteData], fold: Fold, names: tuple[str, ...], config: GppConfig, device: str, trained: Callable[[str], None]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every model's predictions on the fold's test rows, and a record of what it trained on.

    Heads train on the window of every training row but the validation tail (see
    `validation_tail`), which decides when they stop; the climatology on all training
    rows. `trained(name)` is called after each head.
    """
    tail = validation_tail(data, fold.train, config)
    fit, check = fold.train.where(~tail), _spread(fold.train.where(tail), config.validation_windows)
    gpp = fit.gpp(data)
    gpp_mean, gpp_std = gpp.mean(), gpp.std() or 1.0
    predicted, served, heads = {}, set(), {}
    for name in names:
        train = Windows(data, name, fit, config.window_days)
        train.fit_scaling()
        validation = (train.like(check), (check.gpp(data) - gpp_mean) / gpp_std) if len(check) else None
        head, training = fit_head(
            train, (gpp - gpp_mean) / gpp_std, train.n_inputs, config.window_days, config.head,
            validation=validation, seed=config.seed, device=device,
        )
        served |= train.served
        heads[name] = {**training.to_dict(), "train_windows": len(fit), "validation_windows": len(check)}
        predicted[name] = predict_head(head, train.like(fold.test), len(fold.test), device) * gpp_std + gpp_mean
        trained(name)
    predicted[CLIMATOLOGY] = climatology(data, fold.train, config.climatology_half_width)(fold.test)
    frame = pd.DataFrame({
        "site": np.array([item.site for item in data])[fold.test.sites],
        "date": fold.test.dates(data),
        "observed": fold.test.gpp(data),
        **predicted,
    })
    record = {
        "name": fold.name,
        "test_sites": sorted({data[site].site for site in np.unique(fold.test.sites)}),
        "trained_on": sorted(served),
        "train_period": [str(day)[:10] for day in (fold.train.dates(data).min(), fold.train.dates(data).max())],
        "train_windows": len(fold.train),
        "test_windows": len(fold.test),
        "heads": heads,
    }
    return frame, record


def evaluate_gpp(
    flux_dir: Path,
    site_inputs: dict[str, dict[str, pd.DataFrame]],
    config: GppConfig = GppConfig(),
    sites: list[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> GppResult:
    """Train and score every model on every fold of the configured splits.

    `site_inputs`: per-date input sets by site (`cae.evaluation.gpp.features.site_inputs`);
    empty for the meteorology-only comparison on all flux sites. `progress(label, done,
    total)` counts trained heads.
    """
    from cae.training.device import resolve_device

    device = resolve_device(config.device)
    if config.head.steps < 1:
        raise InputError(f"a head needs at least 1 training step (--steps), not {config.head.steps}")
    if config.window_days < 2 or not 0 <= config.validation_fraction < 1:
        raise InputError("the window must be at least 2 days and the validation part a fraction in [0, 1)")
    data, names, skipped = load_sites(flux_dir, site_inputs, config, sites)
    split_folds = {split: folds(data, split, config) for split in config.splits}
    total = sum(len(items) for items in split_folds.values()) * len(names)
    done = 0
    models = [*names, CLIMATOLOGY]
    frames, splits = [], {}
    for split, items in split_folds.items():
        split_frames, records = [], []
        for fold in items:
            def trained(name: str, fold_name: str = fold.name) -> None:
                nonlocal done
                done += 1
                if progress:
                    progress(f"{split}: {fold_name} ({name})", done, total)

            frame, record = run_fold(data, fold, names, config, device, trained)
            split_frames.append(frame.assign(split=split))
            records.append(record)
        rows = pd.concat(split_frames, ignore_index=True)
        splits[split] = {"folds": records, "scores": {model: scores_by_site(rows, model) for model in models}}
        frames.append(rows)
    predictions = pd.concat(frames, ignore_index=True)[["split", "site", "date", "observed", *models]]
    inputs = {name: list(data[0].series[name].columns) for name in names}
    return GppResult(config, [item.site for item in data], skipped, inputs, models, predictions, splits, site_inputs)
