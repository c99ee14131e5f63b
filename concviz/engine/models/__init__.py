"""The model registry: name -> ModelInfo, in the order the UI cycles through them."""

from concviz.engine.models import (asyncio_model, dask_model, interpreters, pool, process_pool, processes, sequential,
                                   thread_pool, threads)
from concviz.engine.models.base import ModelInfo

MODELS: dict[str, ModelInfo] = {
    m.INFO.name: m.INFO
    for m in (sequential, threads, processes, pool, thread_pool, process_pool, asyncio_model, interpreters,
              dask_model)
}

__all__ = ["MODELS", "ModelInfo"]
