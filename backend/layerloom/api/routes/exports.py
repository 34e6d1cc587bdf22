"""Exports of a finished job: ONNX, a plain-PyTorch zip (model.py + weights), a torch.export archive.

The file is made on first request (seconds: the ONNX export is checked with onnxruntime) and kept
in the job's run directory, so later downloads are immediate; deleting the job deletes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import FileResponse

from ...export import ExportError, ExportFormat, export_run
from ...jobs.runner import RUN_DIR
from ...jobs.supervisor import job_dir
from ...store.models import JobState
from ..deps import OwnedJob, SettingsDep
from ..errors import Conflict, Unprocessable, problem
from ..routing import make_router
from .jobs import _slug

router = make_router("jobs", errors=(401, 404, 409, 422))

DOWNLOAD_NAMES = {"onnx": "{slug}.onnx", "pytorch": "{slug}-pytorch.zip", "pt2": "{slug}.pt2"}
MEDIA_TYPES = {"onnx": "application/octet-stream", "pytorch": "application/zip", "pt2": "application/octet-stream"}


@router.get("/jobs/{job_id}/export", response_class=FileResponse)
def export_job(job: OwnedJob, settings: SettingsDep,
               format: Annotated[ExportFormat, Query(description="onnx, pytorch (a zip of model.py, "
                                                     "weights.safetensors, graph.json, README.md) or pt2.")] = "onnx",
               ) -> FileResponse:
    """The trained model in another format. 409 until the job has succeeded; 422 (with the reason)
    for a model that cannot be exported faithfully in that format."""
    if job.state != JobState.SUCCEEDED:
        raise Conflict(f"The job has not succeeded (it is {job.state}); only a finished job can be exported.")
    try:
        path = export_run(job_dir(settings.data_dir, job.id) / RUN_DIR, format)
    except ExportError as err:
        raise Unprocessable(f"This model cannot be exported as {format}.",
                            [problem("export", str(err), field="format")]) from None
    return FileResponse(path, media_type=MEDIA_TYPES[format], filename=DOWNLOAD_NAMES[format].format(slug=_slug(job)))
