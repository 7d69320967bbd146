"""The visual CNN over the pins' procedural images, and every pin's visual vector."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from models.visual import VisualConfig, fit_pin_visuals
from orchestration.assets import PINSAGE_PATH
from orchestration.assets.ingest import catalogue
from orchestration.ray_cluster import RayCluster
from orchestration.resources import ArtifactStore, Database
from orchestration.training_metadata import training_metadata

VISUAL_KIND = "pin_visual"


@asset(
    group_name="embeddings",
    deps=[catalogue],
    op_tags=PINSAGE_PATH,
    description="A small CNN over pin images (topic, near-duplicate and colour/pattern heads); every pin's visual vector.",
)
def pin_visual_embeddings(
    context: AssetExecutionContext, database: Database, artifacts: ArtifactStore, ray: RayCluster
) -> MaterializeResult:
    pins = database.read_table("pins", ("pin_id", "category", "image_signature"))
    if pins.empty:
        context.log.warning("no pins in the catalogue: nothing to render")
        return MaterializeResult(metadata={"skipped": "the catalogue has no pins"})
    fit = fit_pin_visuals(
        pins,
        VisualConfig(),
        on_epoch=lambda epoch, loss, score: context.log.info(f"epoch {epoch}: loss {loss:.4f}, validation {score:.4f}"),
        map_rows=ray.map_rows,  # every pin's vector on Ray Data actors when CORKBOARD_RAY_ADDRESS is set
    )
    path = artifacts.new_path(VISUAL_KIND, ".safetensors")
    fit.artifact.save(path)
    published = artifacts.publish(VISUAL_KIND, path, fit.metrics, run_id=context.run.run_id)
    context.log.info(f"visual v{published.version}: {len(pins)} pins embedded, held-out figures {fit.metrics}")
    notes = {}
    if fit.metrics["duplicate_queries"] == 0:
        notes["duplicate_note"] = "no two held-out pins share an image signature: near-duplicate retrieval not measured"
    return MaterializeResult(
        metadata={
            **published.metadata(),
            "pins": len(pins),
            **fit.split_sizes,
            **{name: round(seconds, 2) for name, seconds in fit.seconds.items()},
            **notes,
            **training_metadata(fit.history, "visual CNN", fit.metrics),
        }
    )
