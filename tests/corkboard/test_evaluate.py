import json
import sys

import pytest

from corkboard.evaluate.registry import ABLATIONS, CHOSEN_FROM, MODEL_NAMES, build_model
from corkboard.evaluate.report import METRICS
from corkboard.evaluate.run import best_on_validation, evaluate


def test_evaluate_writes_the_documented_json_and_a_markdown_table(tmp_path):
    lines: list[str] = []
    out = tmp_path / "reports" / "r.json"
    report = evaluate("tiny", out, models=["popularity", "item_cooccurrence"], progress=lines.append)

    written = json.loads(out.read_text())
    assert written == json.loads(json.dumps(report))
    assert {"protocol", "results", "ablations", "validation", "seconds", "skipped"} <= set(written)
    assert written["protocol"]["dataset"] == "tiny" and written["protocol"]["dropped_users"] > 0
    assert set(written["results"]) == {"popularity", "item_cooccurrence"} and written["ablations"] == {}
    for name, metrics in written["results"].items():
        assert set(metrics) == set(METRICS) and all(0.0 <= value <= 1.0 for value in metrics.values())
        assert set(written["validation"][name]) == set(METRICS)
        assert set(written["seconds"][name]) == {"fit", "score"}
    assert written["configs"]["item_cooccurrence"].startswith("ItemCooccurrenceConfig(")
    assert any(line.startswith("popularity: fit") for line in lines)

    table = out.with_suffix(".md").read_text()
    assert "| model | recall@10 | recall@50 | recall@100 | ndcg@10 |" in table
    assert "| popularity |" in table and "| item_cooccurrence |" in table


def test_unknown_names_are_refused_and_every_issue_model_is_registered(tmp_path):
    with pytest.raises(ValueError, match="unknown models"):
        evaluate("tiny", tmp_path / "r.json", models=["nope"])
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate("large", tmp_path / "r.json")
    assert {"popularity", "item_cooccurrence", "co_engagement", "pinnersage", "pinsage", "pinnerformer"} <= set(
        MODEL_NAMES
    )
    assert len([name for name in MODEL_NAMES if name.startswith("pinnerformer_")]) == 6


def test_a_learned_model_that_cannot_be_imported_is_skipped_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "models.pinnerformer", None)  # importing it now raises ImportError
    report = evaluate("tiny", tmp_path / "r.json", models=["pinnerformer", "pinnerformer_next_action_small"])
    assert report["results"] == {} and report["ablations"] == {}
    assert set(report["skipped"]) == {"pinnerformer", "pinnerformer_next_action_small"}
    assert "## Skipped" in (tmp_path / "r.md").read_text()


def test_pinnerformer_entries_build_each_objective_and_size_without_training():
    module = pytest.importorskip("models.pinnerformer")
    for name in ABLATIONS:
        config = build_model(name, print).config
        objective, size = name.removeprefix("pinnerformer_").rsplit("_", 1)
        assert config.objective == objective and config.dim == module.SIZES[size]["dim"]
    assert CHOSEN_FROM["pinnerformer"] == tuple(ABLATIONS)  # the registry entry reuses the ablation runs


def test_a_chosen_entry_is_the_best_candidate_on_validation_and_costs_all_their_seconds():
    def run(validation_ndcg, test_ndcg, fit):
        return {
            "validation": {"ndcg@10": validation_ndcg},
            "test": {"ndcg@10": test_ndcg},
            "seconds": {"fit": fit, "score": 1.0},
            "config": "Config()",
        }

    chosen = best_on_validation({"a": run(0.1, 0.9, 2.0), "b": run(0.3, 0.2, 3.0), "c": "not available: x"})
    assert chosen["chosen"] == "b" and chosen["test"] == {"ndcg@10": 0.2}  # by validation, not test
    assert chosen["seconds"] == {"fit": 5.0, "score": 2.0} and chosen["config"] == "b: Config()"
    assert best_on_validation({"a": "not available: x"}) == "no candidate ran: not available: x"
