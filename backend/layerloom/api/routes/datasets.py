"""Datasets: the built-ins (id = name, e.g. ``iris``) and the user's uploads (id = UUID).

An upload streams to a temporary file under ``data_dir`` (api/uploads.py), is parsed by the data
layer with the options given, and only then is moved to ``datasets/<id>/`` under a server-chosen
name and recorded. A file that does not parse leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cache
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ...data import BUILTIN_DATASETS, DatasetError, load_builtin
from ...settings import Settings
from ...store import datasets as files
from ...store.canonical import NotStorable, canonical_json
from ...store.models import ACTIVE_JOB_STATES, UPLOAD_KINDS, Dataset, DatasetKind, Job, User, new_id
from ..deps import CurrentUser, Paging, SessionDep, SettingsDep, load_owned, load_visible_dataset, visible_datasets
from ..errors import Conflict, NotFound, Unprocessable, pydantic_problems, problem
from ..routing import make_router
from ..schemas import DatasetPublic, Name, Page, WholeNumber
from ..uploads import FILE_FIELD, Upload, receive_upload

router = make_router("datasets", errors=(400, 401, 404, 409, 413, 415, 422))

_names = TypeAdapter(Name)

UPLOAD_FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": [FILE_FIELD],
            "properties": {
                FILE_FIELD: {"type": "string", "format": "binary",
                             "description": "A .csv, a .npz, or a .zip of train|valid|test/<class>/<image> folders."},
                "kind": {"type": "string", "enum": [k.value for k in UPLOAD_KINDS],
                         "description": "Defaults from the file's extension (.csv, .npz, .zip = images)."},
                "name": {"type": "string", "maxLength": 200, "description": "Defaults to the file's name."},
                "options": {"type": "string", "description": (
                    "JSON object. csv: {inputs: {array: [columns]}, targets: {array: column | {column, kind}}, "
                    "split_column, delimiter}; npz: {arrays: [names] | {name: new_name}, kinds: {array: kind}}; "
                    "images: {image_size: [height, width], color_mode: rgb | grayscale}.")},
            },
        }}},
    },
}


@router.get("/datasets", response_model=Page[DatasetPublic])
def list_datasets(user: CurrentUser, session: SessionDep, paging: Paging) -> Page[DatasetPublic]:
    """The built-in datasets first, then the user's uploads, newest first."""
    builtins = [_builtin(name) for name in BUILTIN_DATASETS]
    page = builtins[paging.offset:paging.offset + paging.limit]
    uploads = visible_datasets(user)
    wanted = paging.limit - len(page)
    if wanted > 0:
        rows = session.scalars(uploads.order_by(Dataset.created_at.desc(), Dataset.id)
                               .offset(max(0, paging.offset - len(builtins))).limit(wanted)).all()
        page += [DatasetPublic.model_validate(row) for row in rows]
    count = len(builtins) + (session.scalar(select(func.count()).select_from(uploads.subquery())) or 0)
    return Page(data=page, count=count)


@router.post("/datasets", status_code=201, response_model=DatasetPublic, openapi_extra=UPLOAD_FORM_SCHEMA)
async def upload_dataset(request: Request, user: CurrentUser, session: SessionDep,
                         settings: SettingsDep) -> DatasetPublic:
    """Upload a CSV, NPZ or image-folder zip (multipart form). The file is parsed before anything is
    kept: problems with it are a 422 listing each one; a file over the size limit is a 413."""
    tmp_dir = files.uploads_tmp_dir(settings.data_dir)
    async with receive_upload(request, tmp_dir, max_file_bytes=settings.max_upload_bytes) as upload:
        kind, name, options = _read_form(upload)
        # Parsing decodes images and reads whole files: off the event loop.
        return await run_in_threadpool(_store_upload, session, settings, user, upload, kind, name, options)


@router.get("/datasets/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset_id: str, user: CurrentUser, session: SessionDep) -> DatasetPublic:
    """A dataset's arrays (names, kinds, shapes, classes) and split sizes."""
    if dataset_id in BUILTIN_DATASETS:
        return _builtin(dataset_id)
    return DatasetPublic.model_validate(load_visible_dataset(session, dataset_id, user))


@router.get("/datasets/{dataset_id}/samples")
def get_samples(dataset_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                split: Literal["train", "valid", "test"] = "train",
                n: Annotated[int, WholeNumber, Query(ge=1, le=64)] = 8) -> dict[str, Any]:
    """The first ``n`` samples of a split, as the data panel shows them: every array of each sample
    (images as PNG data URLs, other values as numbers) and class names for labels."""
    from ...train.results import sample_view

    if dataset_id in BUILTIN_DATASETS:
        data = load_builtin(dataset_id)
    else:
        row = load_visible_dataset(session, dataset_id, user)
        try:
            data = files.open_stored_dataset(DatasetKind(row.kind), settings.data_dir / row.storage_path, row.options,
                                             name=row.name, max_bytes=settings.max_upload_bytes)
        except DatasetError as err:
            raise Unprocessable("The dataset can no longer be read.", err.problems) from None
    if data.num_samples(split) == 0:
        raise NotFound(f"The dataset has no {split!r} split.")
    arrays = data.splits[split]
    samples = []
    for i in range(min(n, data.num_samples(split))):
        sample = {}
        for name, values in arrays.items():
            if data.kinds.get(name) == "class_labels":
                label = int(values[i])
                sample[name] = {"kind": "label", "value": label, "class": data.class_names.get(name, [str(label)] * (label + 1))[label]}
            else:
                sample[name] = sample_view(values[i])
        samples.append(sample)
    return {"split": split, "size": data.num_samples(split), "samples": samples}


@router.delete("/datasets/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> None:
    """Delete an upload and its file; refused while a job that uses it is queued or running."""
    if dataset_id in BUILTIN_DATASETS:
        raise Conflict(f"{dataset_id!r} is a built-in dataset; only uploads can be deleted.")
    dataset = load_owned(session, Dataset, dataset_id, user)
    in_use = session.scalar(select(Job.id).where(Job.dataset_id == dataset.id,
                                                 Job.state.in_(ACTIVE_JOB_STATES)).limit(1))
    if in_use is not None:
        raise Conflict(f"Job {in_use!r} uses this dataset; cancel it or wait for it to finish first.")
    session.delete(dataset)
    session.commit()
    shutil.rmtree(files.dataset_dir(settings.data_dir, dataset.id), ignore_errors=True)


@cache
def _builtin(name: str) -> DatasetPublic:
    """Built-ins never change while the process runs; describing one loads it (up to ~50 ms)."""
    info = BUILTIN_DATASETS[name]
    return DatasetPublic(id=name, name=name, kind=DatasetKind.BUILTIN, summary=info.description, task=info.task,
                         description=load_builtin(name).describe())


def _read_form(upload: Upload) -> tuple[DatasetKind, str, dict[str, Any]]:
    """The form's kind, name and options, validated; 422 naming each bad field."""
    fields = upload.fields
    unknown = set(fields) - {"kind", "name", "options"}
    if unknown:
        raise Unprocessable("The form has unknown fields.", [
            problem("unknown_field", f"Unknown form field {f!r}; use kind, name and options.", field=f)
            for f in sorted(unknown)])
    filename = PurePosixPath(upload.filename.replace("\\", "/")).name
    kind = _kind(fields.get("kind"), filename)
    try:
        name = _names.validate_python(fields.get("name") or PurePosixPath(filename).stem or "upload")
    except ValidationError as err:
        raise Unprocessable("The dataset name is not valid.", pydantic_problems(err.errors(), prefix="name")) from None
    try:
        raw = json.loads(fields.get("options") or "{}", parse_constant=_not_json)
    except ValueError as err:
        message = f"The options field is not valid JSON: {err}."
        raise Unprocessable(message, [problem("json_invalid", message, field="options")]) from None
    if not isinstance(raw, dict):
        message = "The options field must be a JSON object."
        raise Unprocessable(message, [problem("type_error", message, field="options")])
    try:
        options = files.parse_options(kind, raw)
    except ValidationError as err:
        raise Unprocessable(f"The options are not valid for a {kind} dataset.",
                            pydantic_problems(err.errors(), prefix="options")) from None
    return kind, name, options


def _kind(given: str | None, filename: str) -> DatasetKind:
    if given is None:
        guessed = files.EXTENSION_KINDS.get(PurePosixPath(filename).suffix.lower())
        if guessed is None:
            message = "Say which kind of file this is: kind = csv, npz or images."
            raise Unprocessable(message, [problem("missing", message, field="kind")])
        return guessed
    if given not in UPLOAD_KINDS:
        message = f"kind must be one of {', '.join(UPLOAD_KINDS)}, got {given!r}."
        raise Unprocessable(message, [problem("enum", message, field="kind")])
    return DatasetKind(given)


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _store_upload(session: Session, settings: Settings, user: User, upload: Upload, kind: DatasetKind, name: str,
                  options: dict[str, Any]) -> DatasetPublic:
    try:
        parsed, index = files.parse_upload(kind, upload.path, options, name=name, max_bytes=settings.max_upload_bytes)
    except DatasetError as err:
        raise Unprocessable(f"The file cannot be used as a {kind} dataset; see errors.", err.problems) from None
    description = parsed.describe()
    try:
        canonical_json(description, field=FILE_FIELD)
    except NotStorable as err:
        raise Unprocessable(f"The dataset cannot be stored: {err}",
                            [problem("not_storable", str(err), field=err.field)]) from None

    dataset_id = new_id()
    dataset = Dataset(id=dataset_id, owner_id=user.id, name=name, kind=kind, description=description,
                      storage_path=files.stored_path(dataset_id, kind), size_bytes=upload.size,
                      sha256=upload.sha256, options=options)
    target = settings.data_dir / dataset.storage_path
    target.parent.mkdir(parents=True)
    try:
        os.replace(upload.path, target)
        files.save_parsed(parsed, index, target.parent)
        del parsed  # its buffers; what follows reads nothing more of it
        session.add(dataset)
        session.commit()
    except BaseException:
        shutil.rmtree(target.parent, ignore_errors=True)
        raise
    return DatasetPublic.model_validate(dataset)
