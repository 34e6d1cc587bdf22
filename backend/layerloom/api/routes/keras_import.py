"""Keras import: ``POST /api/graphs/import`` turns an uploaded ``.keras`` archive or ``model.to_json()``
document into a graph and, when the archive has weights, stores them for a job's ``init_weights``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ...keras_import import KerasImportError, import_keras
from ...store import datasets as files
from ...storage import StorageError, cache_from_settings, storage_from_settings
from ...store.imported_weights import save_weights, weights_file
from ..deps import CurrentUser, SettingsDep
from ..errors import NotFound, ServiceUnavailable, Unprocessable
from ..routing import make_router
from ..uploads import FILE_FIELD, receive_upload

router = make_router("graphs", errors=(400, 401, 404, 413, 415, 422, 503))

IMPORT_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": [FILE_FIELD],
            "properties": {FILE_FIELD: {"type": "string", "format": "binary",
                                        "description": "A Keras 3 .keras archive, or the JSON of model.to_json()."}},
        }}},
    },
}


class KerasImported(BaseModel):
    graph: dict[str, Any] = Field(..., description="The Layerloom graph document.")
    weights_id: str | None = Field(None, description="The imported weights (only for a .keras archive); pass it as "
                                                     "init_weights when submitting a job.")
    warnings: list[str] = Field(default_factory=list, description="What was changed or left out on the way.")


@router.post("/graphs/import", response_model=KerasImported, openapi_extra=IMPORT_FORM_SCHEMA)
async def import_keras_model(request: Request, user: CurrentUser, settings: SettingsDep) -> KerasImported:
    """Import a Keras model. Nothing in the file is executed or unpickled: the config is read as JSON
    and the weights as HDF5 arrays. Layers Layerloom cannot express are a 422 listing each one (its
    name, class and config key, with the closest Layerloom construct)."""
    tmp_dir = files.uploads_tmp_dir(settings.data_dir)
    async with receive_upload(request, tmp_dir, max_file_bytes=settings.max_upload_bytes) as upload:
        data = upload.path.read_bytes()
    return await run_in_threadpool(_import, data, settings, user.id)


def _import(data: bytes, settings, owner_id: str) -> KerasImported:
    try:
        result = import_keras(data)
    except KerasImportError as err:
        raise Unprocessable("The Keras model cannot be imported; see errors.",
                            [p.to_json() for p in err.problems]) from None
    try:
        weights_id = save_weights(storage_from_settings(settings), files.uploads_tmp_dir(settings.data_dir), owner_id,
                                  result.state_dict) if result.state_dict else None
    except StorageError as exc:
        raise ServiceUnavailable(f"The imported weights could not be stored; try again. {exc}") from exc
    return KerasImported(graph=result.graph, weights_id=weights_id, warnings=result.warnings)


@router.get("/graphs/import/weights/{weights_id}", response_class=FileResponse)
def download_imported_weights(weights_id: str, user: CurrentUser, settings: SettingsDep) -> FileResponse:
    """The imported weights as a safetensors file (keys as in the built module's state_dict)."""
    try:
        path = weights_file(cache_from_settings(settings), user.id, weights_id)
    except StorageError as exc:
        raise ServiceUnavailable(f"The imported weights could not be read; try again. {exc}") from exc
    if path is None:
        raise NotFound(f"No imported weights {weights_id!r}.")
    return FileResponse(path, media_type="application/octet-stream", filename="weights.safetensors")
