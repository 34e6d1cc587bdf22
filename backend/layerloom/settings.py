"""All settings in one place, read from LAYERLOOM_* environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAYERLOOM_", extra="ignore")

    # Limits on what one graph may ask for, checked before anything is allocated.
    max_params: int = Field(50_000_000, ge=1, description="Parameter budget of one model.")
    max_graph_nodes: int = Field(10_000, ge=1)
    max_graph_edges: int = Field(50_000, ge=1)
    max_tensor_elements: int = Field(50_000_000, ge=1, description="Largest per-sample activation a layer may produce.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
