"""benchmarks/report.py: the README's headline table and the docs' benchmark pages come from
the results JSON, and the committed README is what the generator writes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _report():
    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_headline_is_generated():
    assert _report().main(["--check"]) == 0, "run: python benchmarks/report.py"


def test_docs_pages_cover_every_topic():
    report = _report()
    pages = report.docs_pages()
    assert {f"{topic}.md" for topic in report.topics()} <= set(pages)
    assert "reliability.inc.md" in pages and "index.md" in pages
    for topic in report.topics():
        assert pages[f"{topic}.md"].startswith(f"# {topic}\n")
        assert "|---|" in pages[f"{topic}.md"]  # at least one table, rendered from the JSON
    assert "| codec chunks mutated with the CRC recomputed |" in pages["reliability.inc.md"]


def test_markdown_table():
    assert _report().markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_downstream_verdicts_are_computed_from_the_cells():
    """A cell meets its target only when the coding reached the rate and its worst loss over
    every task metric (trained on raw and on decoded) is within the target."""
    _report()  # puts benchmarks/ on sys.path
    import report_tasks

    def row(rate, deltas, bpppb=None):
        return {"coding": "xgeo defaults", "bpppb_target": rate, "bpppb": bpppb or rate,
                "reached": abs((bpppb or rate) / rate - 1) <= 0.1, "delta_pp": deltas}

    data = {"seed": 0, "safe_pp": 0.5, "tasks": {"scene": {
        "task": "t1", "metrics": ["accuracy"], "raw": {"accuracy": 70.0}, "codings": [
            row(0.5, {"raw-trained, accuracy": -0.9, "decoded-trained, accuracy": -1.2}),
            row(1.0, {"raw-trained, accuracy": 0.3, "decoded-trained, accuracy": -0.4}),
            row(2.0, {"raw-trained, accuracy": 0.0, "decoded-trained, accuracy": 0.0}, 1.5)],
        "lowest_safe_rate": {"both": {"xgeo defaults": 1.0}}}}}
    lines = report_tasks.target_verdicts(data)
    assert len(lines) == 1
    assert "0.5 bpppb: worst loss +1.20 pp (target <= 1) **missed**" in lines[0]
    assert "1 bpppb: worst loss +0.40 pp (target <= 0.5) met" in lines[0]
    assert "2 bpppb: worst loss +0.00 pp (target <= 0.2) **missed**" in lines[0]  # 1.5 bpppb
    table = "\n".join(report_tasks.summary_tables(data))
    assert "| xgeo defaults | - | -1.20 | -0.40 | not reached (1.50) | 1 |" in table


def test_downstream_noise_floor_is_the_worst_control():
    """Every control row (one dither seed each) counts: the floor is the largest |delta|
    over all of them, and a missed cell within it says so."""
    _report()
    import report_tasks

    def control(seed, deltas):
        return {"coding": "control: raw +-1 DN dither", "setting": f"+-1 DN, seed {seed}",
                "bpppb": 16.0, "reached": True, "delta_pp": deltas}

    data = {"seed": 0, "safe_pp": 0.5, "tasks": {"scene": {
        "task": "t1", "metrics": ["accuracy"], "raw": {"accuracy": 70.0}, "codings": [
            control(0, {"raw-trained, accuracy": 0.1, "decoded-trained, accuracy": 0.3}),
            control(1, {"raw-trained, accuracy": 0.0, "decoded-trained, accuracy": -0.6}),
            {"coding": "xgeo defaults", "bpppb_target": 2.0, "bpppb": 2.0, "reached": True,
             "delta_pp": {"raw-trained, accuracy": 0.0, "decoded-trained, accuracy": -0.5}}],
        "lowest_safe_rate": {"both": {"xgeo defaults": 2.0}}}}}
    assert report_tasks.noise_floor(data["tasks"]["scene"]) == 0.6
    assert report_tasks.noise_floor({"codings": []}) is None
    table = "\n".join(report_tasks.summary_tables(data))
    assert "2 controls, the raw data moved by +-1 DN at random (one seed each), move them " \
           "by up to 0.60 pp" in table
    verdict = report_tasks.target_verdicts(data)[0]
    assert "2 bpppb: worst loss +0.50 pp (target <= 0.2) **missed** (over the target by " \
           "0.30 pp; noise floor 0.60 pp)" in verdict
    # with per-model paired deltas the worst metric's standard error is shown
    data["tasks"]["scene"]["codings"][-1]["delta_se_pp"] = {"raw-trained, accuracy": 0.01,
                                                             "decoded-trained, accuracy": 0.25}
    verdict = report_tasks.target_verdicts(data)[0]
    assert "2 bpppb: worst loss +0.50 ± 0.25 pp (target <= 0.2) **missed** (over the target " \
           "by 0.30 pp; noise floor 0.60 pp; standard error 0.25 pp)" in verdict
    data["tasks"]["scene"]["split"] = {"train": "t"}
    for r in data["tasks"]["scene"]["codings"]:
        r.update({"setting": r.get("setting", "bpppb=2"), "bpppb": 2.0, "psnr": 60.0})
    data.update(machine={"cpus": 2}, versions={})
    page = "\n".join(report_tasks.render_downstream(data))
    assert "| +0.00 ± 0.01 | -0.50 ± 0.25 |" in page


def test_downstream_which_error_lines_come_from_the_json():
    _report()
    import report_tasks

    data = {"tasks": {"segmentation": {"task": "seg", "which_error_hurts": {
        "raw-trained, miou": {"psnr": -0.16, "nrmse": 0.71, "prediction_changed_pct": 0.3},
        "decoded-trained, miou": {"psnr": 0.5}}}}}
    lines = report_tasks.which_error_lines(data)
    assert "- seg, raw-trained, miou: PSNR -0.16, NRMSE +0.71" in lines
    assert report_tasks.which_error_lines({"tasks": {}}) == []


def _stack_fixture(with_xgeo: bool = True) -> dict:
    """A small stack.json: two cases, one where xgeo meets the targets, one where it misses."""
    libs = ("xgeo", "odc-stac", "stackstac", "xgeo exact=True")

    def case(name, times, identical, exact, mem):
        results = {lib: {"min_s": t, "median_s": t * 1.1, "first_call_s": t * 3}
                   for lib, t in zip(libs, times, strict=True)}
        agree = {"odc-stac vs stackstac": {"identical_fraction": 1.0, "valid_mask_agreement": 1.0,
                                           "valid_in_both": 1000}}
        if with_xgeo:
            agree.update({f"xgeo vs {p}": {"identical_fraction": identical,
                                           "valid_mask_agreement": 0.99, "valid_in_both": 990,
                                           "identical_per_band": {"blue": identical, "sza": 1.0}}
                          for p in ("odc-stac", "stackstac")})
            agree.update({f"{lib} vs exact": {"identical_fraction": f}
                          for lib, f in zip(libs, exact, strict=True)})
        else:
            results["xgeo"] = {"error": "RuntimeError: no xgeo.stack"}
            del results["xgeo exact=True"]
        ratios = ({f"{p}/{x}": results[p]["min_s"] / results[x]["min_s"]
                   for p in ("odc-stac", "stackstac") for x in ("xgeo", "xgeo exact=True")}
                  if with_xgeo else {})
        return {"case": name, "key": name, "items": 20, "time_steps": 20, "bands": ["blue"],
                "grid": {"crs": "EPSG:32621", "shape": [758, 1003],
                         "transform": [60.0, 0.0, 694005.0, 0.0, -60.0, -2766615.0]},
                "grid_equal": {"xgeo": True, "odc-stac": True, "stackstac": False},
                "results": results, "ratios": ratios, "agreement": agree,
                "memory": {lib: {"peak_rss_bytes": m * 2**20, "compute_rss_bytes": m * 2**19}
                           for lib, m in zip(libs, mem, strict=True)},
                "notes": "3 interleaved repetitions"}
    graph_x = ({"call_min_s": 0.05, "call_and_graph_min_s": 0.06, "tasks": 80} if with_xgeo
               else {"error": "RuntimeError: no xgeo.stack"})
    return {"topic": "stack", "machine": {"cpus": 2}, "versions": {"odc-stac": "0.5.3"},
            "xgeo_stack_available": with_xgeo,
            "xgeo_stack_error": None if with_xgeo else "AttributeError: no stack",
            "how": {"quick": False}, "seconds": 100.0,
            "cases": [case("aligned", (0.2, 0.5, 0.6, 0.25), 1.0, (1.0, 1.0, 1.0, 1.0),
                           (300, 350, 400, 310)),
                      case("reprojected", (0.4, 0.3, 1.0, 0.5), 0.991,
                           (0.998, 0.99, 0.99, 0.9999), (200, 250, 260, 210))],
            "graph_build": {"case": "100 items x 4 bands", "items": 100,
                            "results": {"xgeo": graph_x, "odc-stac": {
                                "call_min_s": 0.2, "call_and_graph_min_s": 0.22, "tasks": 802},
                                "stackstac": {"call_min_s": 0.1, "call_and_graph_min_s": 0.18,
                                              "tasks": 1200}}}}


def test_stack_summary_and_verdicts_come_from_the_json():
    report = _report()  # puts benchmarks/ on sys.path
    import report_stack

    data = _stack_fixture()
    text = report_stack.stack_status(data)
    assert ("| aligned | 20 (20 steps) | 758x1003 EPSG:32621 60 m | 0.20 s | 0.50 s | 0.60 s | "
            "0.25 s | 2.50 / 3.00 | 2.00 / 2.40 | 100.00 % / 100.00 % / 100.00 % / 100.00 % | "
            "100.00 % / 100.00 % | 300 / 350 / 400 / 310 |") in text
    verdicts = "\n".join(report_stack.target_verdicts(data))
    # the identity target is exact=True against the exact pick, nothing else
    assert "from exact transforms" in verdicts
    assert "aligned 100.00 %;" in verdicts and "reprojected 99.99 % **missed**" in verdicts
    assert "reprojected xgeo 99.80 %; reprojected odc-stac 99.00 %" in verdicts
    assert "aligned, odc-stac/xgeo x2.50;" in verdicts
    assert "reprojected, odc-stac/xgeo x0.75 **missed**" in verdicts
    assert "reprojected, stackstac/xgeo x2.50;" in verdicts
    assert "reprojected, odc-stac/xgeo exact=True x0.60 **missed**" in verdicts
    assert "reprojected, stackstac/xgeo exact=True x2.00\n" in verdicts
    assert "100 items (target < 1 s): 0.060 s met" in verdicts
    assert "xgeo 0.060 s (80 tasks), odc-stac 0.220 s (802 tasks)" in text
    page = report.render_topic(data)
    assert page.startswith("### stack")
    assert "| stackstac | 0.60 s | 0.66 s | 1.80 s | **no** | 400 | 200 |  |" in page
    assert "| xgeo vs stackstac | 99.1000 % | blue 99.10 %, sza 100.00 % | 99.0000 % | 990 |" in page
    assert "| odc-stac vs stackstac | 100.0000 % | — | 100.0000 % | 1000 |" in page


def test_stack_summary_without_xgeo_says_the_peers_ran_alone():
    _report()
    import report_stack

    data = _stack_fixture(with_xgeo=False)
    text = report_stack.stack_status(data)
    assert "the peers ran alone" in text
    assert ("| aligned | 20 (20 steps) | 758x1003 EPSG:32621 60 m | error | 0.50 s | 0.60 s | — | "
            "— / — | — / — | — / — / — / — | — / — | 300 / 350 / 400 / 310 |") in text
    assert report_stack.target_verdicts(data) == [
        "- not measured: `xgeo.stack` was not in the measured tree (AttributeError: no stack); "
        "the peers ran alone."]
    assert "xgeo not measured, odc-stac 0.220 s" in text
    assert report_stack.stack_status(None).startswith("_No results yet")


def test_torchgeo_table_comes_from_the_json():
    _report()  # puts benchmarks/ on sys.path
    import report_torchgeo

    data = {"scene": {"file": "s.tif", "shape": [7, 9], "crs": "EPSG:1"}, "windows": 5,
            "size": 4, "stride": 2, "versions": {"torchgeo": "9.9"},
            "results": {"torchgeo": {"samples_per_s": 10.0, "samples_per_s_all": [5.0, 10.0],
                                     "speedup_vs_torchgeo": 1.0,
                                     "equal_to_torchgeo": {"image": True, "mask": True}},
                        "xgeo": {"samples_per_s": 1234.5, "samples_per_s_all": [1.0, 2.0],
                                 "speedup_vs_torchgeo": 123.45,
                                 "equal_to_torchgeo": {"image": True, "mask": False}}}}
    text = report_torchgeo.torchgeo_status(data)
    assert "| 1,234 | 123.5x | **no** |" in text and "| 10 | 1.0x | yes |" in text
    assert "best of 2" in text and "7x9" in text and "torchgeo 9.9" in text
    assert report_torchgeo.torchgeo_status(None).startswith("_No results yet")
