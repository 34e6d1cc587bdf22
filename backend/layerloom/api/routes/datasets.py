"""Datasets: the built-ins (id = name, e.g. ``iris``) and the user's uploads (id = UUID).

An upload streams to a temporary file under ``data_dir`` (api/uploads.py), is parsed by the data
layer with the options given, and only then is moved to ``datasets/<id>/`` under a server-chosen
name, published to storage (store/dataset_storage.py) and recorded. A file that does not parse, or
that storage does not take, leaves nothing behind. Reads go through this machine's storage cache.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ...data import BUILTIN_DATASETS, DatasetError
from ...data.folders import data_roots
from ...settings import Settings
from ...storage import StorageError, StorageNotFound, cache_from_settings, storage_from_settings
from ...store import datasets as files
from ...store.dataset_storage import delete_dataset_files, local_dataset_file, publish_dataset
from ...store.canonical import NotStorable, canonical_json
from ...store.models import ACTIVE_JOB_STATES, UPLOAD_KINDS, Dataset, DatasetKind, Job, User, new_id
from ..deps import CurrentUser, Paging, SessionDep, SettingsDep, load_owned, load_visible_dataset, visible_datasets
from ..errors import Conflict, NotFound, ServiceUnavailable, Unprocessable, pydantic_problems, problem
from ..routing import make_router
from ..schemas import DatasetPublic, Name, Page, WholeNumber
from ..uploads import FILE_FIELD, Quota, Upload, receive_upload
from .. import quota_checks

router = make_router("datasets", errors=(400, 401, 404, 409, 413, 415, 422, 429, 503))

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
def list_datasets(user: CurrentUser, session: SessionDep, settings: SettingsDep, paging: Paging) -> Page[DatasetPublic]:
    """The built-in datasets first, then the user's uploads, newest first."""
    builtins = [_builtin(name, settings.storage_cache_dir) for name in BUILTIN_DATASETS]
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
    kept: problems with it are a 422 listing each one; a file over the size limit or the user's
    storage quota is a 413 (refused while it streams in), one over the dataset-count quota a 429."""
    storage = await run_in_threadpool(quota_checks.check_new_dataset, session, settings, user)
    quota = None if storage is None else Quota(storage[0] - storage[1],
                                               lambda: quota_checks.storage_refusal(*storage))
    tmp_dir = files.uploads_tmp_dir(settings.data_dir)
    async with receive_upload(request, tmp_dir, max_file_bytes=settings.max_upload_bytes, quota=quota) as upload:
        kind, name, options = _read_form(upload)
        # Parsing decodes images and reads whole files: off the event loop.
        return await run_in_threadpool(_store_upload, session, settings, user, upload, kind, name, options)


@router.get("/datasets/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> DatasetPublic:
    """A dataset's arrays (names, kinds, shapes, classes) and split sizes."""
    if dataset_id in BUILTIN_DATASETS:
        return _builtin(dataset_id, settings.storage_cache_dir)
    return DatasetPublic.model_validate(load_visible_dataset(session, dataset_id, user))


@router.get("/datasets/{dataset_id}/samples")
def get_samples(dataset_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                split: Literal["train", "valid", "test"] = "train",
                n: Annotated[int, WholeNumber, Query(ge=1, le=64)] = 8) -> dict[str, Any]:
    """``n`` samples of a split, as the data panel shows them: every array of each sample (images as
    PNG data URLs, other values as numbers) and class names for labels. With class labels the samples
    are stratified (the classes take turns, each spread over the split), else the first ``n``;
    ``indices`` are the samples' rows in the split."""
    from ...train.results import sample_view

    if dataset_id in BUILTIN_DATASETS:
        data = files.open_builtin(dataset_id, files.builtin_cache_dir(settings.storage_cache_dir))
    else:
        row = load_visible_dataset(session, dataset_id, user)
        try:
            data = files.open_stored_dataset(DatasetKind(row.kind), stored_dataset_file(settings, row), row.options,
                                             name=row.name, max_bytes=settings.max_upload_bytes,
                                             roots=data_roots(settings.data_roots))
        except DatasetError as err:
            raise Unprocessable("The dataset can no longer be read.", err.problems) from None
    if data.num_samples(split) == 0:
        raise NotFound(f"The dataset has no {split!r} split.")
    arrays = data.splits[split]
    samples = []
    indices = data.preview_indices(split, n)
    for i in indices:
        sample = {}
        for name, values in arrays.items():
            if data.kinds.get(name) == "class_labels":
                label = int(values[i])
                sample[name] = {"kind": "label", "value": label, "class": data.class_names.get(name, [str(label)] * (label + 1))[label]}
            else:
                sample[name] = sample_view(values[i])
        samples.append(sample)
    stratified = any(kind == "class_labels" for kind in data.kinds.values())
    return {"split": split, "size": data.num_samples(split), "stratified": stratified, "indices": indices,
            "samples": samples}


TargetKindName = Literal["auto", "categorical", "numeric"]


class DatasetUpdate(BaseModel):
    """What PATCH changes: the name, and for a CSV the kind of target arrays (re-parsing the file)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="1 to 200 characters, not blank.")
    target_kinds: dict[Annotated[str, Field(min_length=1, max_length=100)], TargetKindName] | None = Field(
        None, max_length=100,
        description="CSV only: target array -> categorical | numeric | auto; the arrays are derived again.")


@router.patch("/datasets/{dataset_id}", response_model=DatasetPublic)
def update_dataset(dataset_id: str, body: DatasetUpdate, user: CurrentUser, session: SessionDep,
                   settings: SettingsDep) -> DatasetPublic:
    """Rename an upload, or switch a CSV target between categorical and numeric (the one-click switch
    of the upload's detection): the file is parsed again with the new kind and its arrays replaced.
    Jobs that already trained on it keep their own copy of what they saw (manifest and results)."""
    if dataset_id in BUILTIN_DATASETS:
        raise Conflict(f"{dataset_id!r} is a built-in dataset; only uploads can be changed.")
    dataset = load_owned(session, Dataset, dataset_id, user)
    if body.name is None and body.target_kinds is None:
        message = "Nothing to change: send name and/or target_kinds."
        raise Unprocessable(message, [problem("missing", message, field="name")])
    if body.target_kinds:
        options = _switched_options(dataset, body.target_kinds)
        in_use = _active_job(session, dataset.id)
        if in_use is not None:
            raise Conflict(f"Job {in_use!r} is training on this dataset; wait for it to finish before changing its arrays.")
        try:
            parsed = files.load_dataset_file(DatasetKind(dataset.kind), settings.data_dir / dataset.storage_path,
                                             options, name=body.name or dataset.name, max_bytes=settings.max_upload_bytes)
        except DatasetError as err:
            raise Unprocessable("The file cannot be read with those target kinds; see errors.", err.problems) from None
        files.save_arrays(parsed, (settings.data_dir / dataset.storage_path).parent, replace=True)
        dataset.options, dataset.description = options, parsed.describe()
    if body.name is not None:
        dataset.name = body.name
        dataset.description = {**dataset.description, "name": body.name}
    session.commit()
    return DatasetPublic.model_validate(dataset)


def _switched_options(dataset: Dataset, kinds: dict[str, str]) -> dict[str, Any]:
    """The CSV options with the given target arrays' kinds changed, every target spelled out."""
    if dataset.kind != DatasetKind.CSV:
        message = f"target_kinds applies to CSV uploads; this dataset is {dataset.kind}."
        raise Unprocessable(message, [problem("not_csv", message, field="target_kinds")])
    decided = {a["name"]: a["target"] for a in dataset.description.get("arrays", []) if a.get("target")}
    unknown = [name for name in kinds if name not in decided]
    if unknown:
        raise Unprocessable("target_kinds names arrays that are not CSV targets.", [
            problem("unknown_target", f"{name!r} is not a target array of this dataset (targets: "
                    f"{', '.join(decided) or 'none'}).", field=f"target_kinds.{name}") for name in unknown])
    targets = {name: {"column": info["column"], "kind": kinds.get(name, info["requested"])}
               for name, info in decided.items()}
    return files.parse_options(DatasetKind.CSV, {**dataset.options, "targets": targets})


def _active_job(session: Session, dataset_id: str) -> str | None:
    return session.scalar(select(Job.id).where(Job.dataset_id == dataset_id,
                                               Job.state.in_(ACTIVE_JOB_STATES)).limit(1))


@router.delete("/datasets/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> None:
    """Delete an upload and its file; refused while a job that uses it is queued or running. Finished
    jobs that used it stay readable: their ``dataset_id`` becomes null, and their history, results,
    weights, exports and JSON predictions come from the job's own files (its manifest keeps the
    dataset's description)."""
    if dataset_id in BUILTIN_DATASETS:
        raise Conflict(f"{dataset_id!r} is a built-in dataset; only uploads can be deleted.")
    dataset = load_owned(session, Dataset, dataset_id, user)
    in_use = _active_job(session, dataset.id)
    if in_use is not None:
        raise Conflict(f"Job {in_use!r} uses this dataset; cancel it or wait for it to finish first.")
    try:  # the stored objects first: a storage outage keeps the dataset listed, so the delete can be retried
        delete_dataset_files(storage_from_settings(settings), cache_from_settings(settings), settings.data_dir,
                             dataset.id)
    except StorageError as exc:
        raise ServiceUnavailable(f"The dataset's files could not be deleted; try again. {exc}") from exc
    session.delete(dataset)
    session.commit()


def stored_dataset_file(settings: Settings, row: Dataset):
    """This machine's copy of an upload's file (its folder synced from storage): 404 when storage
    lost it, 503 on a storage outage."""
    try:
        return local_dataset_file(cache_from_settings(settings), row.id, row.storage_path)
    except StorageNotFound:
        raise NotFound(f"The files of dataset {row.name!r} are missing from storage.") from None
    except StorageError as exc:
        raise ServiceUnavailable(f"The dataset {row.name!r} could not be read from storage; try again. {exc}") from exc


@cache
def _builtin(name: str, storage_cache_dir: Path) -> DatasetPublic:
    """Built-ins never change while the process runs; describing one maps this machine's copy."""
    info = BUILTIN_DATASETS[name]
    described = files.open_builtin(name, files.builtin_cache_dir(storage_cache_dir)).describe()
    return DatasetPublic(id=name, name=name, kind=DatasetKind.BUILTIN, summary=info.description, task=info.task,
                         description=described)


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
    storage = storage_from_settings(settings)
    try:
        os.replace(upload.path, target)
        files.save_parsed(parsed, index, target.parent)
        del parsed  # its buffers; what follows reads nothing more of it
        publish_dataset(storage, cache_from_settings(settings), target.parent, dataset_id)
        session.add(dataset)
        session.commit()
    except BaseException as exc:
        shutil.rmtree(target.parent, ignore_errors=True)
        try:
            delete_dataset_files(storage, cache_from_settings(settings), settings.data_dir, dataset_id)
        except StorageError:
            pass  # half-published objects of an unrecorded id: nothing refers to them
        if isinstance(exc, StorageError):
            raise ServiceUnavailable(f"The dataset could not be stored; try again. {exc}") from exc
        raise
    return DatasetPublic.model_validate(dataset)
