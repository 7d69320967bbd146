"""One settings object for every entry point, read from ``CORKBOARD_*`` variables once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.api_keys import ApiKey, parse_api_keys


class Settings(BaseSettings):
    """Where corkboard keeps its data and how it reaches its services."""

    model_config = SettingsConfigDict(env_prefix="CORKBOARD_", extra="ignore")

    data_dir: Path = Field(Path(".corkboard"), description="Root of every generated artifact.")
    database_url: str | None = Field(
        None, description="Postgres with pgvector; unset means an embedded server under data_dir."
    )
    pg_shared_buffers: str = Field(
        "1GB",
        pattern=r"^[1-9][0-9]*(kB|MB|GB)$",
        description="The embedded Postgres's shared_buffers, set before it starts: room for the served HNSW "
        "partitions' pages (on large, 1GB took a page's searches from 4.9 to 1.7 ms against Postgres's "
        "128MB, docs/performance.md). An external database is sized by its operator.",
    )
    world: str = Field("demo", description="Default source: tiny, demo, large, ml100k or a folder under source_root.")
    source_root: Path | None = Field(
        None, description="World folders must lie under it (symlinks resolved); unset: the data dir."
    )
    drop_dir: Path | None = Field(
        None,
        description="A folder world under source_root whose new files the Dagster drop-folder sensor loads; "
        "unset: <source root>/drop.",
    )
    api_keys: Annotated[tuple[ApiKey, ...], NoDecode] = Field(
        (),
        description="name:scope+scope:sha256hex entries (corkboard api-key new), comma-separated; "
        "admin routes stay off while no key has the admin scope.",
    )
    trusted_gateway: bool | None = Field(
        None,
        description="Pages may be read without a key: a gateway in front authenticates callers. "
        "Unset: only with the embedded database (one machine).",
    )
    hnsw_ef_search: int = Field(
        60, ge=1, le=1000, description="pgvector's hnsw.ef_search for requests (iterative scans still return k rows): "
        "ANN recall@100 0.980 on demo and 0.983 on large at 60, as at 100 (docs/performance.md).",
    )
    max_body_bytes: int = Field(
        16_384, ge=0, description="Larger request bodies are refused with 413, by Content-Length or while streaming."
    )
    events_rate_per_s: float = Field(
        10.0, gt=0, description="POST /v1/events requests a second per API key (token bucket), past the burst."
    )
    events_burst: int = Field(20, ge=1, description="POST /v1/events requests an API key may send at once.")
    online_store: str = Field("sqlite", pattern="^(sqlite|postgres)$")
    seen_days: int = Field(7, ge=0, description="Do not show a pin again within this many days.")
    max_excluded_pins: int = Field(
        1000, ge=0, description="Per request, the user's most recent hidden, saved or just-seen pins kept off the page."
    )
    max_pins_per_creator: int = Field(
        2, ge=1, description="Pins of one creator in any 10 consecutive places of a page, so none crowds it."
    )
    pinsage_prior_weight: float = Field(
        3.0, ge=0, le=100,
        description="Weight of the PinSAGE cosine to the user's recent pins beside the pinner utility "
        "(models/similarity_prior.py); 0 leaves it out.",
    )
    two_tower_prior_weight: float = Field(
        1.5, ge=0, le=100,
        description="Weight of the two-tower cosine to the user tower's vector beside the pinner utility "
        "(models/similarity_prior.py); 0 leaves it out. Both at 0 rank by the ranker alone.",
    )
    source_timeout_ms: int = Field(150, ge=1, description="Budget of each database-backed candidate source.")
    database_deadline_ms: int = Field(
        1000, ge=1, description="Client-side deadline of each database step of a request, for a server that stops answering."
    )
    database_connect_timeout_s: int = Field(2, ge=1, description="Give up connecting after this long (libpq minimum 2).")
    database_connections: int = Field(
        10, ge=1, description="The request pool's connections, a thread each: more database steps at once are refused."
    )
    api_workers: int = Field(
        1, ge=1, description="Processes of corkboard serve sharing its port, each loading the serving state "
        "(about 250 MB more memory per worker on demo).",
    )
    ray_address: str | None = Field(
        None,
        description="Where the heavy steps run: unset, in the step's process; 'local', a Ray cluster started "
        "on this machine for the step (one for the whole run when steps run at once); an address "
        "(ray://head:10001), a running Ray cluster.",
    )
    ray_workers: int = Field(2, ge=1, description="Ray Train workers and Ray Data actors of a heavy step.")
    materialize_concurrency: int = Field(
        2, ge=1, description="Asset steps `corkboard materialize` runs at once, each in a process of its own "
        "with its share of the cores; 1 runs them one after another in its own process.",
    )
    training_gpus: int = Field(
        0, ge=0, description="GPUs each training step's pod asks for on Kubernetes (orchestration/step_pods.py).",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: Any) -> Any:
        return parse_api_keys(value) if isinstance(value, str) else value

    @property
    def prior_weights(self) -> dict[str, float]:
        """The page's similarity priors' weights by kind (models/similarity_prior.py)."""
        return {"pinsage": self.pinsage_prior_weight, "two_tower": self.two_tower_prior_weight}

    @property
    def open_reads(self) -> bool:
        """Whether pages may be read without a key (``trusted_gateway``, by default on one machine only)."""
        return self.database_url is None if self.trusted_gateway is None else self.trusted_gateway

    @property
    def drop_folder(self) -> Path:
        """Where a user drops the files of their world for the drop-folder sensor."""
        return self.drop_dir or (self.source_root or self.data_dir) / "drop"

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def source_dir(self) -> Path:
        return self.data_dir / "source"

    @property
    def feature_dir(self) -> Path:
        return self.data_dir / "features"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()
