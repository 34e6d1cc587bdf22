"""Predictions with a finished job's model: JSON inputs (one sample or a batch), or a file: an image
for an image model, or a CSV with the dataset's columns (answered with a CSV of predictions).

Models are loaded once and kept in ``app.state.predictors`` (bounded by count and bytes, see
``layerloom.predict.PredictorCache``); deleting a job drops its model.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ...predict import Predictor, PredictorCache, PredictError, csv_header
from ...settings import Settings
from ...store.models import Dataset, DatasetKind, Job, JobState
from ..deps import OwnedJob, SessionDep, SettingsDep
from ...storage import StorageError, StorageNotFound
from ..errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unprocessable, problem
from ..run_files import trained_run_dir
from ..routing import make_router
from ..uploads import FILE_FIELD, receive_upload
from .datasets import stored_dataset_file

router = make_router("jobs", errors=(400, 401, 404, 409, 413, 415, 422, 503))

MAX_PREDICT_FILE_BYTES = 20 * 1024 * 1024


class PredictRequest(BaseModel):
    inputs: dict[str, Any] = Field(..., description="Input id -> one sample (the Input's shape) or a batch (nested lists).")


PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": PredictRequest.model_json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object", "required": [FILE_FIELD],
                "properties": {FILE_FIELD: {"type": "string", "format": "binary", "description": (
                    "An image (for a model with one image input) or a CSV with the dataset's input columns "
                    "(answered as text/csv, one row of predictions per row).")}},
            }},
        },
    },
}


def predictor_cache(request: Request) -> PredictorCache:
    cache = getattr(request.app.state, "predictors", None)
    if cache is None:
        settings = request.app.state.settings
        cache = request.app.state.predictors = PredictorCache(max_models=settings.predict_cache_models,
                                                              max_bytes=settings.predict_cache_bytes)
    return cache


def evict_predictor(app: Any, job_id: str) -> None:
    """Drop a job's loaded model (called when the job is deleted)."""
    cache = getattr(app.state, "predictors", None)
    if cache is not None:
        cache.evict(job_id)


@router.post("/jobs/{job_id}/predict", openapi_extra=PREDICT_BODY)
async def predict(job: OwnedJob, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Run the trained model. JSON ``{"inputs": {...}}`` -> ``{"outputs": {head: values}, "classes":
    {head: {top, probability, probabilities}}}`` (classes for classification heads only). A bad,
    missing or wrongly typed input is a 422 naming it."""
    if job.state != JobState.SUCCEEDED:
        raise Conflict(f"The job has not succeeded (it is {job.state}); only a finished job can predict.")
    job_id = job.id
    cache = predictor_cache(request)
    predictor = cache.peek(job_id)  # a warm model costs no thread hop
    if predictor is None:
        try:
            predictor = await run_in_threadpool(cache.get, job_id, lambda: Predictor(trained_run_dir(settings, job_id)))
        except StorageNotFound:
            raise NotFound("The job's trained model is missing from storage.") from None
        except StorageError as exc:
            raise ServiceUnavailable(f"The job's model could not be read from storage; try again. {exc}") from exc
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            return await _predict_file(request, job, session, settings, predictor)
        try:
            body = PredictRequest.model_validate(await request.json())
        except json.JSONDecodeError as err:
            raise BadRequest(f"The body is not valid JSON: {err}") from None
        except ValueError:
            message = 'Send {"inputs": {"<input id>": values}}.'
            raise Unprocessable(message, [problem("missing", message, field="inputs")]) from None
        return JSONResponse(await run_in_threadpool(predictor.predict, body.inputs))
    except PredictError as err:
        names = ", ".join(sorted({p["node"] for p in err.problems if p.get("node")}))
        raise Unprocessable(f"The inputs do not fit the model{f' ({names})' if names else ''}.", err.problems) from None


async def _predict_file(request: Request, job: Job, session: Session, settings: Settings, predictor: Predictor) -> Response:
    tmp_dir = settings.data_dir / "tmp"
    async with receive_upload(request, tmp_dir, max_file_bytes=MAX_PREDICT_FILE_BYTES) as upload:
        data = upload.path.read_bytes()
        filename = upload.filename
    dataset = session.get(Dataset, job.dataset_id) if job.dataset_id else None
    options = dataset.options if dataset else {}
    is_csv = filename.lower().endswith(".csv") or (dataset is not None and dataset.kind == DatasetKind.CSV
                                                   and not _looks_like_image(data))
    if is_csv:
        header = csv_header(stored_dataset_file(settings, dataset), options.get("delimiter", ",")) if dataset else None
        arrays = await run_in_threadpool(predictor.csv_inputs, data, options, header)
        missing = [n for n in predictor.analysis.input_ids if n not in arrays]
        if missing:
            raise PredictError([{"code": "missing", "node": n, "field": f"inputs.{n}",
                                 "message": f"The CSV gives no columns for input {n!r}."} for n in missing])
        outputs = await run_in_threadpool(predictor.run, arrays)
        return Response(predictor.predictions_csv(outputs), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="predictions.csv"'})
    image_options = options if dataset is not None and dataset.kind == DatasetKind.IMAGES else {}
    arrays = await run_in_threadpool(predictor.image_input, data, filename, image_options)
    return JSONResponse(predictor.describe(await run_in_threadpool(predictor.run, arrays), single=True))


def _looks_like_image(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[:6] in (b"GIF87a", b"GIF89a")
