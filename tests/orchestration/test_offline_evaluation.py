"""The evaluation table reaches Dagster as a materialization of the external offline_evaluation asset."""

from dagster import AssetsDefinition, DagsterInstance

from corkboard.evaluate.report import markdown_report
from corkboard.evaluate.run import evaluate
from orchestration.assets.offline_evaluation import offline_evaluation, record_evaluation
from orchestration.definitions import defs


def test_an_evaluation_run_is_recorded_with_its_table_and_figures(tmp_path):
    out = tmp_path / "r.json"
    report = evaluate("tiny", out, models=["popularity"], progress=lambda line: None)
    with DagsterInstance.ephemeral() as instance:
        record_evaluation(instance, report, markdown_report(report), out)
        event = instance.get_latest_materialization_event(offline_evaluation.key)
    metadata = event.asset_materialization.metadata
    assert "| popularity |" in metadata["table"].value
    assert metadata["dataset"].value == "tiny" and metadata["report"].value == str(out)
    assert metadata["popularity/recall@10"].value == report["results"]["popularity"]["recall@10"]


def test_the_asset_is_defined_but_never_materialized_by_corkboard_materialize():
    assert offline_evaluation in defs.assets
    materializable = [a for a in defs.assets if isinstance(a, AssetsDefinition)]  # what materialize_world runs
    assert all(offline_evaluation.key not in a.keys for a in materializable)
