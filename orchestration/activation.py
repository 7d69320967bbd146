"""Serving sets: the versions a run published start serving together once the run has succeeded.

Assets publish their versions inactive, tagged with the run's id (``ArtifactStore.publish``). For
runs launched from the UI, a schedule or a sensor, this sensor activates each succeeded run's set
in one transaction; ``corkboard materialize`` runs in process, outside the daemon's view, and
activates its runs itself (``corkboard.materialize.materialize_and_activate``). A failed run
activates nothing: its versions never serve, and pruning removes them.
"""

from __future__ import annotations

from dagster import DagsterRunStatus, DefaultSensorStatus, RunStatusSensorContext, SkipReason, run_status_sensor

from orchestration.resources import ArtifactStore


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    name="activate_serving_set",
    default_status=DefaultSensorStatus.RUNNING,
    description="Makes the versions a succeeded run published the serving ones, together, then prunes their kinds.",
)
def activate_serving_set(context: RunStatusSensorContext, artifacts: ArtifactStore) -> SkipReason | None:
    activated = artifacts.activate_run(context.dagster_run.run_id)
    if not activated.versions:
        return SkipReason(f"run {context.dagster_run.run_id} published no version not yet activated")
    context.log.info(f"run {context.dagster_run.run_id}: {activated.describe()}")
    return None
