import json
import sys
from pathlib import Path

import pytest

import models.leave_last_out as leave_last_out
from corkboard.evaluate.grids import settings
from corkboard.evaluate.registry import ABLATIONS, MODELS, entry
from corkboard.evaluate.report import METRICS
from corkboard.evaluate.run import evaluate
from corkboard.evaluate.tune import tune
from corkboard.evaluate.tuned import read_tuned, record_tuned

QUICK = ["popularity", "item_cooccurrence"]


def test_evaluate_writes_the_documented_json_and_a_markdown_table(tmp_path):
    lines: list[str] = []
    out = tmp_path / "reports" / "r.json"
    report = evaluate("tiny", out, models=QUICK, tuned_folder=tmp_path / "none", progress=lines.append)

    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(report))
    sections = {"protocol", "seeds", "results", "std", "ablations", "validation", "seconds", "settings", "skipped"}
    assert sections <= set(written)
    assert written["protocol"]["dataset"] == "tiny" and written["protocol"]["dropped_users"] > 0
    assert set(written["results"]) == set(QUICK) and written["ablations"] == {} and written["seeds"] == [0]
    for name, metrics in written["results"].items():
        assert set(metrics) == set(METRICS) and all(0.0 <= value <= 1.0 for value in metrics.values())
        assert set(written["std"][name]) == set(METRICS) and set(written["std"][name].values()) == {0.0}
        assert set(written["validation"][name]) == set(METRICS)
        assert set(written["seconds"][name]) == {"fit", "score"}
    assert written["configs"]["item_cooccurrence"].startswith("ItemCooccurrenceConfig(")
    assert written["settings"]["item_cooccurrence"]["chosen_by"].startswith("validation, in this run")
    assert written["settings"]["popularity"] == {"setting": {}, "chosen_by": "its only setting"}
    assert any(line.startswith("popularity (seed 0): fit") for line in lines)

    table = out.with_suffix(".md").read_text()
    assert "| model | recall@10 | recall@50 | recall@100 | ndcg@10 |" in table
    assert "| popularity |" in table and "| item_cooccurrence |" in table and " ± " in table


def test_unknown_names_and_bad_seeds_are_refused_and_every_issue_model_is_registered(tmp_path):
    with pytest.raises(ValueError, match="unknown models"):
        evaluate("tiny", tmp_path / "r.json", models=["nope"])
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate("large", tmp_path / "r.json")
    with pytest.raises(ValueError, match="distinct"):
        evaluate("tiny", tmp_path / "r.json", models=QUICK, seeds=[1, 1])
    baselines = {"popularity", "item_cooccurrence", "ease", "sasrec", "gru4rec", "bert4rec"}
    assert baselines | {"co_engagement", "pinnersage", "pinsage", "two_tower", "pinnerformer", "pinnerformer_ease"} <= set(MODELS)
    assert len(ABLATIONS) == 6 and all(name.startswith("pinnerformer_") for name in ABLATIONS)
    for name in ("sasrec", "gru4rec", "bert4rec"):
        assert len(settings(entry(name).grid)) >= 8, name  # the issue: at least 8 points for the neural ones


def test_a_learned_model_that_cannot_be_imported_is_skipped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "models.pinnerformer", None)  # importing it now raises ImportError
    report = evaluate("tiny", tmp_path / "r.json", models=["pinnerformer_next_action_small"])
    assert report["results"] == {} and report["ablations"] == {}
    assert set(report["skipped"]) == {"pinnerformer_next_action_small"}
    assert "## Skipped" in (tmp_path / "r.md").read_text()


def test_pinnerformer_entries_build_each_objective_and_size_without_training():
    module = pytest.importorskip("models.pinnerformer")
    for name, registered in ABLATIONS.items():
        config = registered.build(name, settings(registered.grid)[0], 3, print).config
        objective, size = name.removeprefix("pinnerformer_").rsplit("_", 1)
        assert config.objective == objective and config.dim == module.SIZES[size]["dim"] and config.seed == 3


def test_tuning_chooses_on_validation_only_and_evaluate_trains_at_the_choice(tmp_path, monkeypatch):
    stages: list[str] = []
    real = leave_last_out.evaluate_recommender

    def recording(model, split, stage, *args, **kwargs):
        stages.append(stage)
        return real(model, split, stage, *args, **kwargs)

    monkeypatch.setattr("corkboard.evaluate.tune.evaluate_recommender", recording)
    chosen = tune("tiny", models=["item_cooccurrence"], folder=tmp_path, progress=lambda line: None)
    assert set(stages) == {"validation"}  # tuning never scores a test item
    candidates = chosen["item_cooccurrence"]["candidates"]
    assert len(candidates) == len(settings(entry("item_cooccurrence").grid))
    best = max(candidate["validation"]["ndcg@10"] for candidate in candidates)
    assert chosen["item_cooccurrence"]["validation"]["ndcg@10"] == best
    assert read_tuned("tiny", tmp_path) == json.loads(json.dumps(chosen))

    report = evaluate("tiny", tmp_path / "r.json", models=["item_cooccurrence"], tuned_folder=tmp_path)
    assert report["settings"]["item_cooccurrence"] == {
        "setting": chosen["item_cooccurrence"]["setting"],
        "chosen_by": "tuned (tiny.json)",
    }
    assert report["validation"]["item_cooccurrence"]["ndcg@10"] == best


def test_a_stopped_tune_keeps_what_it_measured_and_a_rerun_fits_only_the_rest(tmp_path, monkeypatch):
    grid = settings(entry("item_cooccurrence").grid)
    fitted: list[int] = []
    real = leave_last_out.evaluate_recommender

    def stopping_after_two(model, split, stage, *args, **kwargs):
        fitted.append(1)
        if len(fitted) > 2:
            raise KeyboardInterrupt  # the run is stopped while the third setting is scored
        return real(model, split, stage, *args, **kwargs)

    monkeypatch.setattr("corkboard.evaluate.tune.evaluate_recommender", stopping_after_two)
    with pytest.raises(KeyboardInterrupt):
        tune("tiny", models=["item_cooccurrence"], folder=tmp_path, progress=lambda line: None)
    partial = read_tuned("tiny", tmp_path)["item_cooccurrence"]
    assert [candidate["setting"] for candidate in partial["candidates"]] == grid[:2]
    assert partial["complete"] is False
    report = evaluate("tiny", tmp_path / "r.json", models=["item_cooccurrence"], tuned_folder=tmp_path)
    assert report["settings"]["item_cooccurrence"]["chosen_by"].endswith(f"the best of 2 of {len(grid)} settings)")

    scored: list[int] = []

    def counting(model, split, stage, *args, **kwargs):
        scored.append(1)
        return real(model, split, stage, *args, **kwargs)

    monkeypatch.setattr("corkboard.evaluate.tune.evaluate_recommender", counting)
    resumed = tune("tiny", models=["item_cooccurrence"], folder=tmp_path, progress=lambda line: None)
    assert len(scored) == len(grid) - 2
    whole = resumed["item_cooccurrence"]
    assert whole["complete"] is True and [candidate["setting"] for candidate in whole["candidates"]] == grid
    assert whole["candidates"][:2] == partial["candidates"]  # measured once, kept as measured
    fresh = tune("tiny", models=["item_cooccurrence"], folder=tmp_path / "fresh", progress=lambda line: None)
    assert (whole["setting"], whole["validation"]) == (fresh["item_cooccurrence"]["setting"], fresh["item_cooccurrence"]["validation"])


def test_seeds_give_a_mean_and_spread_and_the_same_seed_the_same_numbers(tmp_path):
    setting = {"hidden": 16, "dropout": 0.1, "lr": 3e-3, "max_len": 20, "epochs": 3, "patience": 10}
    models = ["sasrec", "gru4rec"]
    for name in models:
        record_tuned("tiny", name, {"setting": setting}, tmp_path)
    first = evaluate("tiny", tmp_path / "a.json", models=models, seeds=[0, 1], tuned_folder=tmp_path)
    again = evaluate("tiny", tmp_path / "b.json", models=models, seeds=[0, 1], tuned_folder=tmp_path)

    assert first["seeds"] == [0, 1]
    for name in models:
        assert first["per_seed"][name] == again["per_seed"][name]  # deterministic under a seed
        assert first["per_seed"][name][0] != first["per_seed"][name][1]  # ... and the seed matters
        assert first["std"][name]["ndcg@10"] > 0.0
    assert all(1 <= epoch <= 3 for epoch in first["epochs"]["sasrec"])  # the kept epoch of each seed
    assert [len(curve) for curve in first["curves"]["sasrec"]] == [3, 3]
    assert Path(tmp_path / "a_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![validation ndcg@10 per epoch](a_curves.png)" in (tmp_path / "a.md").read_text()
