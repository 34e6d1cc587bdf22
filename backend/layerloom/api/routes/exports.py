"""Exports of a finished job: ONNX, a plain-PyTorch zip (model.py + weights), a torch.export archive.

The file is made on first request (seconds: the ONNX export is checked with onnxruntime) from the
run's manifest and weights (api/run_files.py) and stored under the job's run folder in storage
(``jobs/<id>/run/exports/``), so later downloads are served from there at once, by any API
process; deleting the job deletes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi import Response
from fastapi.responses import FileResponse

from ...export import EXPORTS_DIR, FILE_NAMES, ExportError, ExportFormat, export_run
from ...jobs.runner import RUN_DIR
from ...jobs.supervisor import job_key
from ...storage import StorageError, StorageNotFound
from ...store.models import JobState
from ..deps import OwnedJob, SettingsDep, StorageDep
from ..downloads import stored_file_response
from ..errors import Conflict, NotFound, ServiceUnavailable, Unprocessable, problem
from ..run_files import trained_run_dir
from ..routing import make_router
from .jobs import _slug

router = make_router("jobs", errors=(401, 404, 409, 422, 503))

DOWNLOAD_NAMES = {"onnx": "{slug}.onnx", "pytorch": "{slug}-pytorch.zip", "pt2": "{slug}.pt2"}
MEDIA_TYPES = {"onnx": "application/octet-stream", "pytorch": "application/zip", "pt2": "application/octet-stream"}


@router.get("/jobs/{job_id}/export", response_class=FileResponse)
def export_job(job: OwnedJob, settings: SettingsDep, storage: StorageDep,
               format: Annotated[ExportFormat, Query(description="onnx, pytorch (a zip of model.py, "
                                                     "weights.safetensors, graph.json, README.md) or pt2.")] = "onnx",
               ) -> Response:
    """The trained model in another format. 409 until the job has succeeded; 422 (with the reason)
    for a model that cannot be exported faithfully in that format."""
    if job.state != JobState.SUCCEEDED:
        raise Conflict(f"The job has not succeeded (it is {job.state}); only a finished job can be exported.")
    key = job_key(job.id, RUN_DIR, EXPORTS_DIR, FILE_NAMES[format])
    try:
        if storage.stat(key) is None:
            path = export_run(trained_run_dir(settings, job.id), format)
            storage.put(key, path)  # a no-op with local storage: it was written in place
    except ExportError as err:
        raise Unprocessable(f"This model cannot be exported as {format}.",
                            [problem("export", str(err), field="format")]) from None
    except StorageNotFound:
        raise NotFound("The job's trained model is missing from storage.") from None
    except StorageError as exc:
        raise ServiceUnavailable(f"The export could not be made or stored; try again. {exc}") from exc
    return stored_file_response(settings, storage, key, DOWNLOAD_NAMES[format].format(slug=_slug(job)),
                                f"{format} export", media_type=MEDIA_TYPES[format])
