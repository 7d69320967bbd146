"""The pin-board graph that random walks and PinSAGE neighbourhoods run on."""


import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, asset

from models.pin_board_graph import GRAPH_KIND, build_pin_board_graph
from orchestration.assets import PINSAGE_PATH
from orchestration.assets.ingest import catalogue
from orchestration.resources import ArtifactStore, Database


@asset(
    group_name="graph",
    deps=[catalogue],
    op_tags=PINSAGE_PATH,
    description="Bipartite pin-board graph as memory-mappable CSR arrays, a version served with the run's models.",
)
def pin_board_graph(context: AssetExecutionContext, database: Database, artifacts: ArtifactStore) -> MaterializeResult:
    pins = database.read_table("pins", ("pin_id",))
    boards = database.read_table("boards", ("board_id",))
    edges = database.read_table("board_pins", ("board_id", "pin_id"))
    graph = build_pin_board_graph(
        pins["pin_id"].to_numpy(), boards["board_id"].to_numpy(),
        edges["pin_id"].to_numpy(), edges["board_id"].to_numpy(),
    )
    path = graph.save(artifacts.new_path(GRAPH_KIND, ""))
    pin_degree, board_degree = np.diff(graph.pin_indptr), np.diff(graph.board_indptr)
    shape = {"pins": len(graph.pin_ids), "boards": len(graph.board_ids), "edges": graph.edges}
    published = artifacts.publish(GRAPH_KIND, path, shape, run_id=context.run.run_id)
    context.log.info(f"graph v{published.version}: {shape['pins']} pins, {shape['boards']} boards, {graph.edges} edges")
    return MaterializeResult(
        metadata={
            **published.metadata(),
            **shape,
            "pins_without_boards": int((pin_degree == 0).sum()),
            "board_degree_p50": float(np.median(board_degree)) if len(board_degree) else 0.0,
            "board_degree_max": int(board_degree.max()) if len(board_degree) else 0,
        }
    )
