"""The pin-board graph that random walks and PinSAGE neighbourhoods run on."""


import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from models.pin_board_graph import build_pin_board_graph
from orchestration.assets.ingest import catalogue
from orchestration.resources import ArtifactStore, Database


@asset(group_name="graph", deps=[catalogue], description="Bipartite pin-board graph as memory-mappable CSR arrays, swapped in atomically.")
def pin_board_graph(context: AssetExecutionContext, database: Database, artifacts: ArtifactStore) -> MaterializeResult:
    pins = database.read_table("pins", ("pin_id",))
    boards = database.read_table("boards", ("board_id",))
    edges = database.read_table("board_pins", ("board_id", "pin_id"))
    graph = build_pin_board_graph(
        pins["pin_id"].to_numpy(), boards["board_id"].to_numpy(),
        edges["pin_id"].to_numpy(), edges["board_id"].to_numpy(),
    )
    path = graph.save(artifacts.path_for("graph", "pin_board"))
    pin_degree, board_degree = np.diff(graph.pin_indptr), np.diff(graph.board_indptr)
    context.log.info(f"graph: {len(graph.pin_ids)} pins, {len(graph.board_ids)} boards, {graph.edges} edges")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "pins": len(graph.pin_ids),
            "boards": len(graph.board_ids),
            "edges": graph.edges,
            "pins_without_boards": int((pin_degree == 0).sum()),
            "board_degree_p50": float(np.median(board_degree)) if len(board_degree) else 0.0,
            "board_degree_max": int(board_degree.max()) if len(board_degree) else 0,
        }
    )
