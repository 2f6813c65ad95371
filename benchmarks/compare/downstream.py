"""Downstream parity: is a model trained or run on decoded data as good as on raw data?

Writes ``benchmarks/results/downstream.json``. Three real tasks on ``../shared/data``, each with
a fixed split and seed (``SEED``); every number is deterministic for a given seed on one
machine (two runs give the same numbers). Between hosts, torch's CPU kernels may take other
code paths: two sessions of the same VM type with the same package versions gave the same
codings and scene cells, and segmentation cells up to 0.1 pp apart (one decoded-trained
cell of a peer 1 pp).

1. **Scene classification** (nrt S2 L2A, 140 dates x 100 x 100, B2 B3 B4 B8 uint16, nodata 0):
   per-pixel SCL class from the four bands + NDVI, scikit-learn
   ``HistGradientBoostingClassifier``; temporal split: three seeded draws from the first 100
   dates train three models, ``N_TEST`` pixels of the last 40 dates test (the same pixels for
   every coding). Each draw takes up to ``N_PER_CLASS`` pixels of every class (class-balanced,
   as land-cover training sets are drawn): a draw in proportion to the classes gave water
   (SCL 6) about 100 training pixels, and its F1 then moved by 3-8 pp when the raw data were
   dithered by +-1 DN, which moved macro-F1 by up to 0.9 pp, more than the targets at high
   rates. Accuracy and macro-F1 (over the classes present in the test labels), the mean of
   the three models: boosted trees jump with their input, so one model trained on decoded data
   differs from one trained on raw data by more than the coding does at high rates (the
   spread over models on raw data is recorded, and the noise of a decoded-trained delta
   derived from it).
2. **Land-cover segmentation** (eo-learn S2 L1C, 5 dates x 13 bands x 101 x 100 float32; its
   ``lulc`` raster): the three cloud-free dates stacked (39 channels), standardised with the
   training chips' statistics; a three-layer CNN (torch, CPU) trained on 20 x 20 chips of the
   top-left 100 x 100 pixels, chips grouped into 40 x 40 blocks and whole blocks assigned to
   train or test (seeded), so neighbouring chips never straddle the split; mIoU over the
   classes present in the test labels (``lulc`` 0 = no data is ignored), the mean of five
   networks (seeds 0-4).
3. **NDVI product** (eo-learn, 68 dates, cloud-masked: ``cloud_mask`` pixels are NaN, as a user
   stores them with ``mask=``): per pixel and calendar year (2016, 2017) the maximum NDVI and
   its date, and the median; mean abs error of each and the fraction of pixels whose date of
   maximum changes. The cloud mask is applied again to every decoding (the peers fill
   masked pixels; xgeo restores them as NaN and counts the mask in its bytes).

Codings (the whole cube coded, every byte counted, one core; ``defaults.py``/``peers.py`` code):

* three controls: the raw data dithered by +-1 DN with seeds 0, 1 and 2 (``CONTROLS``); the
  largest delta any of them gives is a task's noise floor (one dither is a single draw of it);
* ``xgeo defaults``: what ``to_zarr(codec="hevc", bpppb=r)`` writes (``"auto"`` tools) at 0.1,
  0.25, 0.5, 1 and 2 bpppb, and with ``psnr=`` targets instead of a rate;
* ``xgeo, band_weights = 1 / the model's std`` (segmentation only, the task whose model
  standardises its inputs): the defaults given per-band ``band_weights``, 1 / each band's std
  over the raw training chips, as a user passes their model's normalisation statistics;
* the xarrayvideo method (``peers.py``'s re-implementation: 12-bit min-max, 3 bands per 4:4:4
  x265 stream, whole series one video) and JPEG 2000 (``peers.py``: per frame and band, 16-bit
  codes), each rate-matched to the same targets by a search on its quality knob (CRF, level):
  the cell holds the coding whose rate came closest (``bpppb`` recorded; a cell more than 10 %
  off its target is reported as not reached).

Reported per coding: rate and the errors ``xgeo.metrics.compare`` gives (PSNR, per-band PSNR
with each band's own peak, spectral angle, NDVI error), and the task metric trained on raw /
tested on decoded and trained on decoded / tested on decoded with the delta to raw in
percentage points; per task and coding family, the lowest rate whose losses are all within
``SAFE_PP``. Across the codings of a task, the rank correlation between the task's loss and
each error measure says which error hurts.

Run: ``.venv/bin/python benchmarks/compare/downstream.py`` (``--quick``: three rates, no psnr=
targets; ``--only TASK``: one task; ``--out PATH``: write elsewhere, e.g. to check that a
second run gives the same numbers). Needs the ``bench`` extra (scikit-learn) and torch (the
CPU wheel: ``pip install torch==2.13.0``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
from _progress import sweep  # this folder is sys.path[0] when run as a script
from defaults import xgeo_coded
from peers import image_codec, xarrayvideo_method
from rd import DATA, versions

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "downstream.json"
SEED = 0
RATES = (0.1, 0.25, 0.5, 1.0, 2.0)
PSNRS = (40.0, 45.0, 50.0)
SAFE_PP = 0.5
N_PER_CLASS = 3_000  # training pixels per class and model (fewer where a class has fewer)
N_TEST = 100_000  # test pixels, the same for every coding
# (name, knob range, does the rate rise with the knob?)
PREVIOUS = "xgeo, range weights (before)"
GIVEN = "xgeo, band_weights = 1 / the model's std"
CONTROL = "control: raw +-1 DN dither"
CONTROLS = 3  # dithers with different seeds: the largest delta any of them gives is the floor
PEERS = {"xarrayvideo method": ((0.0, 45.0), False), "jpeg2000": ((10.0, 90.0), True)}


# ------------------------------------------------------------------------------- data
def nrt_cube() -> dict:
    import netCDF4

    with netCDF4.Dataset(DATA / "nrt" / "sentinel2_cube_subset_romania_10m.nc") as ds:
        ds.set_auto_maskandscale(False)
        x = np.stack([np.asarray(ds[v][:]) for v in ("B2", "B3", "B4", "B8")], 1)
        scl = np.asarray(ds["SCL"][:]).astype(np.int64)
    x = x.astype(np.uint16)
    return {"x": x, "valid": x != 0, "nodata": 0, "labels": scl, "red_nir": (2, 3)}


def lulc_cube() -> dict:
    import netCDF4

    with netCDF4.Dataset(DATA / "eo-learn" / "s2_eopatch.nc") as ds:
        ds.set_auto_maskandscale(False)
        r = np.asarray(ds["reflectance"][:]).astype(np.float32)
        lulc = np.asarray(ds["lulc"][:]).astype(np.int64)
        cover = np.asarray(ds["cloud_coverage"][:])
    return {"x": r, "valid": np.isfinite(r), "nodata": None, "labels": lulc,
            "dates": np.flatnonzero(cover < 0.05), "red_nir": (3, 7)}


def ndvi_cube() -> dict:
    import netCDF4

    with netCDF4.Dataset(DATA / "eo-learn" / "s2_eopatch_ndvi_clouds_68t.nc") as ds:
        ds.set_auto_maskandscale(True)
        v = np.ma.filled(ds["ndvi"][:].astype(np.float32), np.nan)
        cloud = np.asarray(ds["cloud_mask"][:]) == 1
        t = ds["time"]
        dates = netCDF4.num2date(t[:], t.units, only_use_cftime_datetimes=False)
    x = np.where(cloud, np.float32(np.nan), v)[:, None]
    return {"x": x, "valid": np.isfinite(x), "nodata": None,
            "years": np.array([d.year for d in dates]), "red_nir": None}


# ----------------------------------------------------------------------------- tasks
class SceneTask:
    """Task 1: per-pixel SCL classes, temporal split, gradient boosting."""

    name = "scene classification (nrt S2 L2A, SCL, gradient boosting)"
    metrics = ("accuracy", "macro_f1")
    models = 3  # training draws: gradient boosting jumps with its input, the mean steadies it

    def __init__(self, cube: dict) -> None:
        t = cube["x"].shape[0]
        ok = cube["valid"].all(axis=1) & (cube["labels"] > 0)
        rng = np.random.default_rng(SEED)
        train = np.flatnonzero(ok & (np.arange(t) < 100)[:, None, None])
        test = np.flatnonzero(ok & (np.arange(t) >= 100)[:, None, None])
        lab = cube["labels"].ravel()
        by_class = [train[lab[train] == c] for c in np.unique(lab[train])]
        self.train_idx = [np.sort(np.concatenate([
            rng.choice(pool, size=min(N_PER_CLASS, pool.size), replace=False)
            for pool in by_class])) for _ in range(self.models)]
        self.test_idx = np.sort(rng.choice(test, size=min(N_TEST, test.size), replace=False))
        self.y_train = [lab[i] for i in self.train_idx]
        self.y_test = lab[self.test_idx]
        self.classes = np.unique(self.y_test)
        self.split = {"train": f"dates 0-99: {self.models} draws of up to {N_PER_CLASS} "
                               f"pixels per class ({self.train_idx[0].size} of the "
                               f"{train.size} valid pixels, seed {SEED}), one model each",
                      "test": f"dates 100-139: {self.test_idx.size} of the {test.size} "
                              "valid pixels (the same for every coding)",
                      "metric": f"mean over the {self.models} models"}

    @staticmethod
    def _pixels(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The four bands + NDVI of the flat (time, y, x) pixels ``idx``."""
        t, b, h, w = x.shape
        ti, yx = np.divmod(idx, h * w)
        f = x.reshape(t, b, h * w)[ti, :, yx].astype(np.float32)  # (n, 4)
        red, nir = f[:, 2], f[:, 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi = np.where(nir + red > 0, (nir - red) / (nir + red), 0.0)
        return np.concatenate([f, ndvi[:, None].astype(np.float32)], axis=1)

    def fit(self, x: np.ndarray) -> list:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return [HistGradientBoostingClassifier(max_iter=60, random_state=SEED + k,
                                               early_stopping=False)
                .fit(self._pixels(x, idx), y)
                for k, (idx, y) in enumerate(zip(self.train_idx, self.y_train, strict=True))]

    def score(self, models: list, x: np.ndarray) -> tuple[list[dict], np.ndarray]:
        """Each model's metrics, and the first model's predictions."""
        from sklearn.metrics import accuracy_score, f1_score

        feats = self._pixels(x, self.test_idx)
        runs, first = [], None
        for m in models:
            pred = m.predict(feats)
            first = pred if first is None else first
            runs.append({"accuracy": 100 * accuracy_score(self.y_test, pred),
                         "macro_f1": 100 * f1_score(self.y_test, pred, labels=self.classes,
                                                    average="macro", zero_division=0)})
        return runs, first


def _mean_std(runs: list[dict]) -> tuple[dict, dict]:
    keys = runs[0]
    return ({k: float(np.mean([r[k] for r in runs])) for k in keys},
            {k: float(np.std([r[k] for r in runs])) for k in keys})


class SegmentationTask:
    """Task 2: lulc from three cloud-free dates, small CNN, spatially blocked split."""

    name = "land-cover segmentation (eo-learn S2 L1C, lulc, CNN)"
    metrics = ("miou",)
    chip, block, steps, nets = 20, 40, 250, 5

    def __init__(self, cube: dict) -> None:
        self.dates = cube["dates"]
        lab = cube["labels"][:100, :100]
        c = self.chip
        self.origins = [(i, j) for i in range(0, 100, c) for j in range(0, 100, c)]
        blocks = sorted({(i // self.block, j // self.block) for i, j in self.origins})
        rng = np.random.default_rng(SEED)
        test_blocks = {blocks[k] for k in rng.choice(len(blocks), size=3, replace=False)}
        self.is_test = np.array([(i // self.block, j // self.block) in test_blocks
                                 for i, j in self.origins])
        self.labels = np.stack([lab[i:i + c, j:j + c] for i, j in self.origins])
        classes = np.unique(lab[lab > 0])
        self.lut = np.full(lab.max() + 1, -1)
        self.lut[classes] = np.arange(classes.size)
        self.classes = classes
        self.test_classes = np.unique(self.labels[self.is_test][self.labels[self.is_test] > 0])
        self.split = {"chips": f"{len(self.origins)} chips of {c}x{c}, blocks of "
                      f"{self.block}x{self.block}, 3 of {len(blocks)} blocks test (seed {SEED})",
                      "train_chips": int((~self.is_test).sum()),
                      "test_chips": int(self.is_test.sum()),
                      "dates": [int(d) for d in self.dates],
                      "networks": f"mean mIoU of {self.nets} networks (seeds {SEED}.."
                                  f"{SEED + self.nets - 1}), {self.steps} Adam steps each"}

    def _chips(self, x: np.ndarray) -> np.ndarray:
        a = x[self.dates].reshape(-1, *x.shape[2:])[:, :100, :100]  # (dates*bands, H, W)
        c = self.chip
        return np.stack([a[:, i:i + c, j:j + c] for i, j in self.origins]).astype(np.float32)

    def band_weights(self, x: np.ndarray) -> list[float]:
        """1 / each band's std over the raw training chips (its dates pooled): the scale the
        networks' standardisation divides the band by, as a user would pass it
        (``band_weights=``) from the normalisation statistics of their model."""
        chips = self._chips(x)[~self.is_test]  # (n, dates * bands, c, c)
        b = x.shape[1]
        per_band = chips.reshape(chips.shape[0], len(self.dates), b, -1).transpose(2, 0, 1, 3)
        return [float(v) for v in 1.0 / per_band.reshape(b, -1).astype(np.float64).std(axis=1)]

    def fit(self, x: np.ndarray):
        """``NETS`` networks from seeds SEED, SEED + 1, ...: the metric is their mean, so one
        lucky or unlucky initialisation does not decide a cell."""
        import torch

        torch.use_deterministic_algorithms(True)
        chips = self._chips(x)[~self.is_test]
        mean = chips.mean(axis=(0, 2, 3), keepdims=True)
        std = chips.std(axis=(0, 2, 3), keepdims=True) + 1e-6
        xs = torch.from_numpy((chips - mean) / std)
        ys = torch.from_numpy(self.lut[self.labels[~self.is_test]])
        nets = []
        for k in range(self.nets):
            torch.manual_seed(SEED + k)
            net = torch.nn.Sequential(
                torch.nn.Conv2d(chips.shape[1], 32, 3, padding=1), torch.nn.ReLU(),
                torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
                torch.nn.Conv2d(32, len(self.classes), 1))
            opt = torch.optim.Adam(net.parameters(), lr=3e-3)
            loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-1)
            for _ in range(self.steps):
                opt.zero_grad()
                loss_fn(net(xs), ys).backward()
                opt.step()
            nets.append(net)
        return nets, mean, std

    def score(self, model, x: np.ndarray) -> tuple[list[dict], np.ndarray]:
        """Each network's mIoU, and the first one's predictions."""
        import torch

        nets, mean, std = model
        chips = torch.from_numpy((self._chips(x)[self.is_test] - mean) / std)
        truth = self.labels[self.is_test]
        keep = truth > 0
        runs, first = [], None
        for net in nets:
            with torch.no_grad():
                pred = self.classes[net(chips).argmax(1).numpy()]
            first = pred[keep] if first is None else first
            ious = [((pred == c) & keep & (truth == c)).sum()
                    / max((((pred == c) & keep) | (truth == c)).sum(), 1)
                    for c in self.test_classes]
            runs.append({"miou": 100 * float(np.mean(ious))})
        return runs, first


class NdviProductTask:
    """Task 3: per-pixel yearly maximum NDVI, its date, and the median (cloud-masked)."""

    name = "NDVI product (eo-learn 68 dates, cloud-masked: yearly max, its date, median)"
    metrics = ("max_mae", "date_changed_pct", "median_mae")
    years = (2016, 2017)

    def __init__(self, cube: dict) -> None:
        self.year_of = cube["years"]
        self.split = {"years": list(self.years), "mask": "cloud_mask pixels are NaN"}

    def product(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        out = []
        for y in self.years:
            v = x[self.year_of == y, 0].astype(np.float64)
            seen = np.isfinite(v).any(axis=0)
            filled = np.where(np.isfinite(v), v, -np.inf)
            with np.errstate(all="ignore"):
                med = np.nanmedian(np.where(seen, v, 0.0), axis=0)
            out.append((filled.max(axis=0), filled.argmax(axis=0), med, seen))
        return out

    def compare(self, raw: list, dec: list) -> dict:
        mx, dt, md, n = 0.0, 0, 0.0, 0
        for (m0, d0, e0, s), (m1, d1, e1, _) in zip(raw, dec, strict=True):
            mx += np.abs(m1 - m0)[s].sum()
            md += np.abs(e1 - e0)[s].sum()
            dt += int((d1 != d0)[s].sum())
            n += int(s.sum())
        return {"max_mae": mx / n, "date_changed_pct": 100 * dt / n, "median_mae": md / n}


# --------------------------------------------------------------------------- codings
def errors(cube: dict, nbytes: int, dec: np.ndarray) -> dict:
    """Rate and the error measures of one coding: :func:`xgeo.metrics.compare`, the check
    users run (PSNR whole and per band with each band's own peak, spectral angle over pixels
    valid in every band, NDVI mean absolute error), and ``nrmse``, the RMSE of the bands
    standardised by their std, on the dates the task's model sees (segmentation: the
    cloud-free ones, whose std its normalisation divides by; the whole cube otherwise)."""
    from xgeo.metrics import compare

    x, valid = cube["x"], cube["valid"]
    red, nir = cube["red_nir"] or (None, None)
    c = compare(x, dec, band_dim=1, mask=~valid, red=red, nir=nir)
    out = {"bpppb": nbytes * 8 / x.size, "psnr": c["psnr"], "max_error": c["max_error"]}
    seen = cube.get("dates", slice(None))
    out["nrmse"] = (c if "dates" not in cube else
                    compare(x[seen], dec[seen], band_dim=1, mask=~valid[seen]))["nrmse"]
    if x.shape[1] > 1:
        out["psnr_per_band"] = list(c["psnr_per_band"].values())
        out["psnr_band_min"] = min(out["psnr_per_band"])
        out["spectral_angle_deg"] = c["spectral_angle"]
    if c["ndvi_mae"] is not None:
        out["ndvi_mae"] = c["ndvi_mae"]
    return out


def xgeo_default(cube: dict, **target) -> tuple[int, np.ndarray]:
    n, dec, _ = xgeo_coded(cube["x"], cube["nodata"], True, **target)
    return n, dec


def peer(name: str, knob: float):
    if name == "xarrayvideo method":
        return lambda c: xarrayvideo_method(c["x"], c["valid"], c["nodata"], knob)[:2]
    return lambda c: image_codec(name, knob)(c["x"], c["valid"], c["nodata"])[:2]


def rate_matched(cube: dict, name: str, target: float, memo: dict) -> tuple[float, int, np.ndarray]:
    """The peer's coding whose rate comes closest to ``target``: bisection on its knob with
    log-rate interpolation, at most 7 encodes per target (encodes shared across targets)."""
    (lo, hi), rising = PEERS[name]

    def run(k: float):
        k = round(k, 2)
        if k not in memo:
            n, dec = peer(name, k)(cube)
            memo[k] = (n * 8 / cube["x"].size, n, dec)
        return memo[k][0]

    def err(k):
        return math.log(run(k) / target) * (1 if rising else -1)

    a, b = lo, hi
    ea, eb = err(a), err(b)
    for _ in range(5):
        if ea > 0 or eb < 0:  # the target is outside the knob's range: keep the nearest
            break
        k = a + (b - a) * (-ea) / (eb - ea) if eb != ea else (a + b) / 2
        k = min(max(k, a + 0.02 * (b - a)), b - 0.02 * (b - a))
        ek = err(k)
        if abs(ek) < math.log(1.03):
            break
        a, ea, b, eb = (k, ek, b, eb) if ek < 0 else (a, ea, k, ek)
    best = min(memo, key=lambda k: abs(math.log(memo[k][0] / target)))
    return best, memo[best][1], memo[best][2]


def dithered(cube: dict, seed: int) -> np.ndarray:
    """A control: every valid value moved by -1, 0 or +1 DN at random (``seed``), one DN
    being 1 for integers and 1e-4 for the float cubes (reflectance and NDVI in DN / 10000).
    No task should care; what the controls move the metrics by is their noise floor."""
    x, valid = cube["x"], cube["valid"]
    step = np.random.default_rng(seed).integers(-1, 2, size=x.shape)
    if x.dtype.kind in "iu":
        moved = np.clip(x.astype(np.int64) + step, 1, np.iinfo(x.dtype).max).astype(x.dtype)
    else:
        moved = (x + step * 1e-4).astype(x.dtype)
    return np.where(valid, moved, x)


def codings(cube: dict, quick: bool, weights: list[float] | None = None):
    """Yield (family, label, knob record, bytes, decoded) for every coding of ``cube``
    (with ``weights``, also the defaults given those per-band ``band_weights``)."""
    rates = RATES[1::2] if quick else RATES
    for k in range(CONTROLS):
        yield CONTROL, f"+-1 DN, seed {SEED + k}", {}, cube["x"].nbytes, dithered(cube, SEED + k)
    for r in sweep(rates, "xgeo defaults"):
        n, dec = xgeo_default(cube, bpppb=r)
        yield "xgeo defaults", f"bpppb={r}", {"bpppb_target": r}, n, dec
    for r in sweep(rates, "xgeo with range weights"):
        n, dec = xgeo_default(cube, bpppb=r, band_weights="range")
        yield PREVIOUS, f"bpppb={r}", {"bpppb_target": r}, n, dec
    for r in sweep(rates if weights is not None else (), "xgeo with the model's weights"):
        n, dec = xgeo_default(cube, bpppb=r, band_weights=weights)
        yield GIVEN, f"bpppb={r}", {"bpppb_target": r}, n, dec
    for p in () if quick else PSNRS:
        n, dec = xgeo_default(cube, psnr=p)
        yield "xgeo defaults, psnr=", f"psnr={p}", {"psnr_target": p}, n, dec
    for name in PEERS:
        memo: dict = {}
        for r in sweep(rates, name):
            k, n, dec = rate_matched(cube, name, r, memo)
            yield name, f"bpppb={r}", {"bpppb_target": r, "knob": k}, n, dec


# ------------------------------------------------------------------------------ runs
def run_trained(task, cube: dict, quick: bool) -> dict:
    t0 = time.perf_counter()
    raw_model = task.fit(cube["x"])
    raw_runs, raw_pred = task.score(raw_model, cube["x"])
    raw, spread = _mean_std(raw_runs)
    fit_s = time.perf_counter() - t0
    n_models = len(raw_runs)
    # a decoded-trained delta compares two means of n_models fits: its training noise
    noise = {m: math.sqrt(2 / n_models) * v for m, v in spread.items()}
    rows = []
    weights = task.band_weights(cube["x"]) if hasattr(task, "band_weights") else None
    for family, label, knob, n, dec in codings(cube, quick, weights):
        row = {"coding": family, "setting": label, **knob, **errors(cube, n, dec)}
        row["reached"] = reached(row)
        on_raw, pred = task.score(raw_model, dec)
        on_dec = task.score(task.fit(dec), dec)[0]
        row["train_raw_test_decoded"] = _mean_std(on_raw)[0]
        row["train_decoded_test_decoded"] = _mean_std(on_dec)[0]
        row["prediction_changed_pct"] = 100 * float(np.mean(pred != raw_pred))
        # model k against model k on raw data (the same seed and draw): the mean of these
        # paired deltas is the cell, their standard error its uncertainty
        paired = {f"{k}, {m}": [r[m] - r0[m] for r, r0 in zip(runs, raw_runs, strict=True)]
                  for k, runs in (("raw-trained", on_raw), ("decoded-trained", on_dec))
                  for m in task.metrics}
        row["delta_pp"] = {k: float(np.mean(v)) for k, v in paired.items()}
        row["delta_se_pp"] = {k: float(np.std(v, ddof=1) / math.sqrt(len(v)))
                              for k, v in paired.items()}
        rows.append(row)
        print(f"  {family:<22} {label:<11} {row['bpppb']:.3f} bpppb {row['psnr']:.2f} dB  "
              + "  ".join(f"{k} {v:+.2f}" for k, v in row["delta_pp"].items()), flush=True)
    return {"raw": raw, "models": n_models, "raw_spread_over_models": spread,
            "decoded_trained_noise_pp": noise, "fit_seconds": fit_s, "codings": rows}


def run_product(task, cube: dict, quick: bool) -> dict:
    raw = task.product(cube["x"])
    rows = []
    for family, label, knob, n, dec in codings(cube, quick):
        # the cloud mask applied to every decoding: xgeo restores NaN exactly (its mask bits
        # are in its bytes); the peers fill masked pixels, and a user would mask them again
        masked = np.where(cube["valid"], dec, np.float32(np.nan))
        row = {"coding": family, "setting": label, **knob, **errors(cube, n, dec),
               **task.compare(raw, task.product(masked))}
        row["reached"] = reached(row)
        rows.append(row)
        print(f"  {family:<22} {label:<11} {row['bpppb']:.3f} bpppb {row['psnr']:.2f} dB  "
              f"max {row['max_mae']:.4f} date {row['date_changed_pct']:.2f} % "
              f"median {row['median_mae']:.4f}", flush=True)
    return {"codings": rows}


def reached(row: dict) -> bool:
    """A rate-target cell counts only when the coding landed within 10 % of the target."""
    t = row.get("bpppb_target")
    return t is None or abs(row["bpppb"] / t - 1) <= 0.1


def lowest_safe(rows: list[dict], keys: list[str], limit: float) -> dict:
    """Per coding family, the lowest rate target whose every loss in ``keys`` is <= limit
    (and every higher target too, so a lucky low rate does not count)."""
    out = {}
    for fam in dict.fromkeys(r["coding"] for r in rows if "bpppb_target" in r):
        pts = sorted((r["bpppb_target"], r["reached"]
                      and all(-r["delta_pp"][k] <= limit for k in keys))
                     for r in rows if r["coding"] == fam and "bpppb_target" in r)
        safe = None
        for rate, ok in reversed(pts):
            if not ok:
                break
            safe = rate
        out[fam] = safe
    return out


def which_error_hurts(rows: list[dict], loss_key: str) -> dict:
    """At equal rate, which error measure ranks the codings like the task's loss does:
    Spearman's rank correlation across the codings of one rate target (all families),
    averaged over the targets (1: the measure orders the codings as the loss does)."""
    from scipy.stats import spearmanr

    measures = ("psnr", "psnr_band_min", "spectral_angle_deg", "ndvi_mae", "max_error", "nrmse",
                "prediction_changed_pct")
    out = {}
    for m in measures:
        rhos = []
        for rate in sorted({r["bpppb_target"] for r in rows if "bpppb_target" in r}):
            same = [r for r in rows if r.get("bpppb_target") == rate and r["reached"]
                    and r.get(m) is not None]
            if len(same) < 3:
                continue
            vals = [-r[m] if m.startswith("psnr") else r[m] for r in same]  # larger = worse
            rho = spearmanr(vals, [-r["delta_pp"][loss_key] for r in same]).statistic
            if math.isfinite(rho):
                rhos.append(float(rho))
        if rhos:
            out[m] = float(np.mean(rhos))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="three rates, no psnr= targets")
    ap.add_argument("--only", choices=("scene", "segmentation", "ndvi"))
    ap.add_argument("--out", type=Path, default=OUT, help="where to write the JSON")
    args = ap.parse_args()
    out = args.out
    import torch

    torch.set_num_threads(2)
    report = {"topic": "downstream", "date": time.strftime("%Y-%m-%d"), "seed": SEED,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "versions": versions() | {k: _version(k) for k in ("scikit-learn", "torch")},
              "targets_bpppb": list(RATES), "psnr_targets": list(PSNRS), "safe_pp": SAFE_PP,
              "quick": args.quick, "tasks": {}}
    if out.exists() and args.only:
        report["tasks"] = json.loads(out.read_text()).get("tasks", {})
    t_all = time.perf_counter()
    jobs = {"scene": (SceneTask, nrt_cube), "segmentation": (SegmentationTask, lulc_cube),
            "ndvi": (NdviProductTask, ndvi_cube)}
    for key, (kind, load) in jobs.items():
        if args.only and key != args.only:
            continue
        t0 = time.perf_counter()
        cube = load()
        task = kind(cube)
        print("==", task.name, flush=True)
        if key == "ndvi":
            res = run_product(task, cube, args.quick)
        else:
            res = run_trained(task, cube, args.quick)
            keys = list(res["codings"][0]["delta_pp"])
            res["lowest_safe_rate"] = {
                "raw-trained": lowest_safe(res["codings"], [k for k in keys
                                                             if k.startswith("raw")], SAFE_PP),
                "both": lowest_safe(res["codings"], keys, SAFE_PP)}
            res["which_error_hurts"] = {k: which_error_hurts(res["codings"], k) for k in keys}
        report["tasks"][key] = {"task": task.name, "split": task.split,
                                "metrics": list(task.metrics), **res,
                                "seconds": time.perf_counter() - t0}
        out.write_text(json.dumps(report, indent=1, default=float))
    report["seconds"] = time.perf_counter() - t_all
    out.write_text(json.dumps(report, indent=1, default=float))
    print(f"done in {report['seconds']:.0f} s")


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    main()
