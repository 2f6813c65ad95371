"""Markdown for the downstream task results: ``downstream.json`` (issue #20).

Used by ``benchmarks/report.py`` for the docs' topic page (every coding, every metric) and the
README's summary between ``<!-- downstream:start -->`` and ``<!-- downstream:end -->``. Every
number comes from the JSON; the verdicts on the targets are computed from the same numbers.
"""

from __future__ import annotations

from report_table import markdown_table

# the targets for the default coding: the largest loss (pp) allowed at each rate, per
# task (scene classification: accuracy and macro-F1; segmentation: mIoU), train-on-raw and
# train-on-decoded alike
TARGETS = {"scene": {0.5: 1.0, 1.0: 0.5, 2.0: 0.2},
           "segmentation": {0.5: 1.0, 1.0: 1.0, 2.0: 0.2}}
DEFAULT = "xgeo defaults"
SHOWN = (0.25, 0.5, 1.0, 2.0)


def _rows(task: dict, family: str) -> dict[float, dict]:
    return {r["bpppb_target"]: r for r in task["codings"]
            if r["coding"] == family and "bpppb_target" in r}


def worst_loss(row: dict) -> float:
    """The largest loss (pp, positive = worse than raw) over a row's task metrics."""
    return max(-v for v in row["delta_pp"].values()) + 0.0  # no "-0.00"


def worst_se(row: dict) -> float | None:
    """The standard error (pp) of the row's worst loss: of the paired per-model deltas
    (None where the JSON predates it)."""
    se = row.get("delta_se_pp")
    if not se:
        return None
    key = max(row["delta_pp"], key=lambda k: -row["delta_pp"][k])
    return se.get(key)


def _controls(task: dict) -> list[dict]:
    return [r for r in task["codings"] if r["coding"].startswith("control")]


def noise_floor(task: dict) -> float | None:
    """The largest |delta| (pp) any control coding gives (raw data +-1 DN, one dither seed
    each): what the task's metrics move by when nothing a task should notice changes
    (None: no control row)."""
    deltas = [abs(v) for r in _controls(task) for v in r["delta_pp"].values()]
    return max(deltas) if deltas else None


def _families(task: dict) -> list[str]:
    return list(dict.fromkeys(r["coding"] for r in task["codings"] if "bpppb_target" in r))


def target_verdicts(data: dict) -> list[str]:
    """One line per trained task: the default coding's cells against the issue's targets."""
    lines = []
    for key, limits in TARGETS.items():
        task = data.get("tasks", {}).get(key)
        if not task:
            continue
        rows = _rows(task, DEFAULT)
        noise = noise_floor(task)
        cells = []
        for rate, limit in limits.items():
            r = rows.get(rate)
            if r is None:
                cells.append(f"{rate:g} bpppb not run")
                continue
            loss, se = worst_loss(r), worst_se(r)
            ok = r["reached"] and loss <= limit
            why = []  # a reached, missed cell: how far, against what the cell can resolve
            if not ok and r["reached"]:
                why.append(f"over the target by {loss - limit:.2f} pp")
                if noise is not None:
                    why.append(f"noise floor {noise:.2f} pp")
                if se is not None:
                    why.append(f"standard error {se:.2f} pp")
            cells.append(f"{rate:g} bpppb: worst loss {loss:+.2f}"
                         + ("" if se is None else f" ± {se:.2f}")
                         + f" pp (target <= {limit:g}) " + ("met" if ok else "**missed**")
                         + (f" ({'; '.join(why)})" if why else ""))
        lines.append(f"- {task['task']}: " + "; ".join(cells))
    return lines


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    if not row["reached"]:
        return f"not reached ({row['bpppb']:.2f})"
    return f"{-worst_loss(row):+.2f}"


def summary_tables(data: dict) -> list[str]:
    """Per trained task: the worst delta (pp) of each coding family at each rate, and the
    lowest safe rate; for the NDVI product, the share of pixels whose date changes."""
    out = []
    for key in ("scene", "segmentation"):
        task = data.get("tasks", {}).get(key)
        if not task:
            continue
        raw = ", ".join(f"{k} {v:.2f}" for k, v in task["raw"].items())
        safe = task.get("lowest_safe_rate", {}).get("both", {})
        rows = [[fam, *(_cell(_rows(task, fam).get(rate)) for rate in SHOWN),
                 f"{safe[fam]:g}" if safe.get(fam) is not None else "none"]
                for fam in _families(task)]
        noise = noise_floor(task)
        n = len(_controls(task))
        floor = ("" if noise is None else
                 f" {'A control' if n == 1 else f'{n} controls'}, the raw data moved by +-1 DN "
                 f"at random{'' if n == 1 else ' (one seed each)'}, "
                 f"move{'s' if n == 1 else ''} them by up to {noise:.2f} pp: the noise floor "
                 "of these cells.")
        if any("delta_se_pp" in r for r in task["codings"]):
            floor += (" A cell is the mean of paired deltas, model k on decoded data against "
                      "model k on raw data; the verdicts below give its standard error.")
        train = task.get("decoded_trained_noise_pp")
        if train:
            floor += (f" Trained on decoded data, each cell is the mean of {task['models']} "
                      "models, whose spread on raw data gives the delta a training noise of "
                      + ", ".join(f"{v:.2f} pp ({k})" for k, v in train.items()) + ".")
        out += [f"**{task['task']}** (raw: {raw}; cells: the worst delta over "
                f"{', '.join(task['metrics'])}, trained on raw and on decoded, in pp).{floor}",
                "", *markdown_table(["coding", *(f"{r:g} bpppb" for r in SHOWN),
                                     f"lowest rate within {data['safe_pp']:g} pp"], rows), ""]
    task = data.get("tasks", {}).get("ndvi")
    if task:
        controls = _controls(task)
        rows = []
        if controls:  # the worst control: a floor, not a draw
            date = max(r["date_changed_pct"] for r in controls)
            mae = max(r["max_mae"] for r in controls)
            label = controls[0]["coding"] + ("" if len(controls) == 1
                                             else f" (worst of {len(controls)} seeds)")
            rows.append([label, *([f"{date:.1f} % / {mae:.4f}"] * len(SHOWN))])
        for fam in _families(task):
            got = _rows(task, fam)
            rows.append([fam, *(("-" if got.get(r) is None else
                                 f"{got[r]['date_changed_pct']:.1f} % / {got[r]['max_mae']:.4f}")
                                for r in SHOWN)])
        out += [f"**{task['task']}** (cells: pixels whose date of maximum changes / mean abs "
                "error of the maximum)", "",
                *markdown_table(["coding", *(f"{r:g} bpppb" for r in SHOWN)], rows), ""]
    return out


def which_error_lines(data: dict) -> list[str]:
    """Per trained task, how well each error measure ranks the codings like the task's loss
    (raw-trained, the first metric): the measure a user can trust for a rate choice."""
    names = {"psnr": "PSNR", "psnr_band_min": "min band PSNR", "nrmse": "NRMSE",
             "spectral_angle_deg": "spectral angle", "ndvi_mae": "NDVI error",
             "max_error": "max error"}
    out = []
    for key in ("scene", "segmentation"):
        task = data.get("tasks", {}).get(key)
        hurts = (task or {}).get("which_error_hurts", {})
        loss = next((k for k in hurts if k.startswith("raw-trained")), None)
        if loss is None:
            continue
        rhos = ", ".join(f"{names[m]} {v:+.2f}" for m, v in hurts[loss].items() if m in names)
        out.append(f"- {task['task']}, {loss}: {rhos}")
    if not out:
        return []
    return ["Which error measure ranks the codings of one rate like the task's loss (Spearman "
            "rho, mean over the rates; 1: the same order; NRMSE on the dates the model sees):",
            "", *out, ""]


def downstream_status(data: dict | None) -> str:
    """The README's downstream summary, or a line saying the benchmark has not run."""
    if not data:
        return "_No results yet: run `python benchmarks/compare/downstream.py`._"
    return "\n".join([
        "_Generated by `python benchmarks/report.py` from `benchmarks/results/downstream.json` "
        f"(seed {data['seed']}, one run; the docs' downstream page has every metric)._", "",
        *summary_tables(data), *which_error_lines(data), "Targets for the default coding:", "",
        *target_verdicts(data)])


def _delta(row: dict, key: str) -> str:
    """A delta (pp) with its standard error where the JSON has one."""
    se = row.get("delta_se_pp", {}).get(key)
    return f"{row['delta_pp'][key]:+.2f}" + ("" if se is None else f" ± {se:.2f}")


def render_downstream(data: dict) -> list[str]:
    """Every coding of every task: rate, PSNR, per-band PSNR, spectral angle, NDVI error and
    the task metrics (for the docs' topic page)."""
    lines = [f"Seed {data['seed']}; {data.get('seconds', 0):.0f} s on {data['machine']['cpus']} "
             "cores; versions: " + ", ".join(f"{k} {v}" for k, v in data["versions"].items()),
             ""]
    for task in data.get("tasks", {}).values():
        split = "; ".join(f"{k}: {v}" for k, v in task["split"].items())
        lines += [f"## {task['task']}", "", f"Split: {split}.", ""]
        if "raw" in task:
            lines += ["Raw: " + ", ".join(f"{k} {v:.2f}" for k, v in task["raw"].items()), ""]
        keys = list(task["codings"][0].get("delta_pp", {}))
        extra = ["max_mae", "date_changed_pct", "median_mae"] if not keys else []
        header = ["coding", "setting", "bpppb", "PSNR dB", "min band PSNR", "NRMSE", "angle deg",
                  "NDVI MAE", *keys, *extra]
        rows = []
        for r in task["codings"]:
            def f(k: str, fmt: str = "{:.2f}", r: dict = r) -> str:
                return "-" if r.get(k) is None else fmt.format(r[k])
            rows.append([r["coding"], r["setting"] + ("" if r["reached"] else " (not reached)"),
                         f("bpppb", "{:.3f}"), f("psnr"), f("psnr_band_min"),
                         f("nrmse", "{:.4f}"),
                         f("spectral_angle_deg"), f("ndvi_mae", "{:.4f}"),
                         *(_delta(r, k) for k in keys),
                         *(f(k, "{:.4f}") for k in extra)])
        lines += markdown_table(header, rows) + [""]
        hurts = task.get("which_error_hurts")
        if hurts:
            lines += ["Which error ranks the codings like the task loss at equal rate (mean "
                      "Spearman rho over the rate targets):", ""]
            lines += [f"- {k}: " + ", ".join(f"{m} {v:+.2f}" for m, v in v.items())
                      for k, v in hurts.items()] + [""]
    return lines
