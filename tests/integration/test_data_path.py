"""The data path through the API (issue 14 §3), on real uploads and jobs trained in this process:

- a CSV's small-cardinality whole-number label column is read as classes, and the upload says so and
  why; PATCH target_kinds switches it to numeric and back, deriving the arrays again;
- rename: validation names the field; built-ins and other people's datasets are refused;
- sample previews are stratified by class;
- deleting a dataset that a finished job used keeps the job readable (state, events, weights,
  results, JSON predictions); deleting one a queued job uses is a 409;
- standardize: a job trained with it predicts from raw feature values exactly what training saw.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sqlalchemy import update

from served_app import TwoUserApp
from layerloom.graph import analyze, build_model
from layerloom.jobs.runner import RUN_DIR, write_results
from layerloom.jobs.supervisor import job_dir
from layerloom.store.datasets import open_stored_dataset
from layerloom.store.models import Dataset, DatasetKind, Job, JobState
from layerloom.train import Trainer
from layerloom.train.artifacts import read_manifest


def wine_csv(with_split: bool = False) -> bytes:
    """sklearn's wine data (178 rows, 13 features, sorted by class) with a `label` column 0/1/2."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*wine.feature_names, *(["split"] if with_split else []), "label"])
    for i, (row, label) in enumerate(zip(wine.data, wine.target)):
        writer.writerow([*row, *(["test" if i % 4 == 0 else "train"] if with_split else []), int(label)])
    return out.getvalue().encode()


def mlp(input_id: str = "features", output_id: str = "species") -> dict[str, Any]:
    return {"format": "layerloom.graph", "version": 1, "name": "wine-mlp",
            "nodes": [{"id": input_id, "type": "Input", "params": {"shape": [13]}},
                      {"id": "d1", "type": "Dense", "params": {"units": 16, "activation": "relu"}},
                      {"id": "d2", "type": "Dense", "params": {"units": 3, "activation": "softmax"}},
                      {"id": output_id, "type": "Output",
                       "params": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}}],
            "edges": [{"source": input_id, "target": "d1"}, {"source": "d1", "target": "d2"},
                      {"source": "d2", "target": output_id}]}


class Served(TwoUserApp):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, "data-path.db")

    def upload(self, name: str, data: bytes, options: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.alice.post("/api/datasets", files={"file": (name, data)},
                                   data={"options": json.dumps(options or {})})
        assert response.status_code == 201, response.text
        return response.json()

    def submit(self, graph: dict[str, Any], dataset_id: str, config: dict[str, Any]) -> str:
        submitted = self.alice.post("/api/jobs", json={"graph": graph, "dataset": dataset_id, "config": config})
        assert submitted.status_code == 201, submitted.text
        return submitted.json()["id"]

    def train(self, job_id: str) -> Trainer:
        """Train a submitted job here, as its runner would, and record it as the supervisor does."""
        job = self.alice.get(f"/api/jobs/{job_id}").json()
        graph = self.alice.get(f"/api/jobs/{job_id}/graph").json()
        run_dir = job_dir(self.data_dir, job_id) / RUN_DIR
        with self.app.state.sessionmaker() as session:
            row = session.get(Dataset, job["dataset"])
            dataset = open_stored_dataset(DatasetKind(row.kind), self.data_dir / row.storage_path, row.options,
                                          name=row.name, max_bytes=1 << 30)
            config = {**job["config"], "mapping": job.get("mapping") or {}}
            trainer = Trainer(graph, dataset, config, out_dir=run_dir)
            result = trainer.run()
            assert result.status == "succeeded"
            write_results(run_dir, result.model, trainer.run_graph, trainer.training_dataset, trainer.config)
            self.record_success(session, job_id, run_dir, final_metrics=result.metrics)
        return trainer


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("data-path"))
    yield served
    served.app.state.engine.dispose()


def arrays_of(dataset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in dataset["description"]["arrays"]}


# ---- categorical detection and the switch ---------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"inputs": None, "targets": {"y": {"column": "label", "kind": "auto"}}}],
                         ids=["defaults", "as-the-editor-sends"])
def test_a_wine_label_column_is_read_as_classes_and_says_why(served: Served, options) -> None:
    options = {k: v for k, v in options.items() if v is not None}
    dataset = served.upload("wine.csv", wine_csv(), options)
    y = arrays_of(dataset)["y"]
    assert (y["kind"], y["num_classes"], y["class_names"], y["dtype"]) == ("class_labels", 3, ["0", "1", "2"], "int64")
    assert y["target"] == {"column": "label", "kind": "categorical", "requested": "auto", "switch_to": "numeric",
                           "auto_kind": "categorical",
                           "reason": "'label' holds 3 distinct whole numbers (0, 1, 2) and is named like a label"}


def test_the_one_click_switch_derives_the_arrays_again_and_back(served: Served) -> None:
    dataset = served.upload("wine.csv", wine_csv())
    dataset_id = dataset["id"]
    numeric = served.alice.patch(f"/api/datasets/{dataset_id}", json={"target_kinds": {"y": "numeric"}})
    assert numeric.status_code == 200, numeric.text
    y = arrays_of(numeric.json())["y"]
    assert (y["kind"], y["shape"], y["dtype"], y["num_classes"]) == ("values", [1], "float32", None)
    assert y["target"]["requested"] == "numeric" and y["target"]["switch_to"] == "categorical"
    samples = served.alice.get(f"/api/datasets/{dataset_id}/samples", params={"n": 3}).json()
    assert samples["stratified"] is False and samples["samples"][0]["y"]["kind"] == "values"  # the arrays changed
    assert served.alice.get(f"/api/datasets/{dataset_id}").json()["options"]["targets"] == {
        "y": {"column": "label", "kind": "numeric"}}
    # A job on the switched dataset sees a regression target: the head is told so, in terms of classes.
    refused = served.alice.post("/api/jobs/check", json={"graph": mlp(), "dataset": dataset_id})
    assert refused.status_code == 422 and "sparse_categorical_crossentropy" in refused.text

    back = served.alice.patch(f"/api/datasets/{dataset_id}", json={"target_kinds": {"y": "categorical"}})
    assert back.status_code == 200
    assert arrays_of(back.json())["y"]["kind"] == "class_labels"
    assert arrays_of(back.json())["y"]["target"]["reason"] == "chosen at upload"
    detected = served.alice.patch(f"/api/datasets/{dataset_id}", json={"target_kinds": {"y": "auto"}}).json()
    assert arrays_of(detected)["y"]["target"]["requested"] == "auto"
    assert "named like a label" in arrays_of(detected)["y"]["target"]["reason"]
    assert served.alice.post("/api/jobs/check", json={"graph": mlp(), "dataset": dataset_id}).status_code == 204


def test_detection_rules_by_name_position_and_cardinality() -> None:
    from layerloom.data import load_csv

    rows = "\n".join(f"{i % 7},{i % 3},{i * 0.5},{i % 5}" for i in range(60))
    data = load_csv(f"a,b,c,score\n{rows}\n".encode(), targets={"a": "a", "c": "c", "score": "score"},
                    inputs={"x": ["b"]})
    # 'a': 7 whole numbers but neither named like a label nor last; 'c' has halves; 'score' is last.
    assert data.kinds["a"] == "values" and "neither named like a label nor last" in data.targets["a"]["reason"]
    assert data.targets["a"]["switch_to"] == "categorical"
    assert data.kinds["c"] == "values" and data.targets["c"]["switch_to"] is None
    assert data.kinds["score"] == "class_labels" and data.targets["score"]["reason"].endswith("is the last column")
    many = "\n".join(f"{i},{i % 30}" for i in range(100))
    assert load_csv(f"f,label\n{many}\n".encode()).kinds["y"] == "values"  # 30 distinct: too many for labels
    text = load_csv(b"f,kind\n1,cat\n2,dog\n")
    assert text.targets["y"]["reason"] == "'kind' holds text values" and text.targets["y"]["switch_to"] is None


def test_switch_refusals_name_the_field(served: Served) -> None:
    dataset_id = served.upload("wine.csv", wine_csv())["id"]
    unknown = served.alice.patch(f"/api/datasets/{dataset_id}", json={"target_kinds": {"x": "numeric"}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "target_kinds.x"
    bad_kind = served.alice.patch(f"/api/datasets/{dataset_id}", json={"target_kinds": {"y": "ordinal"}})
    assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["field"].startswith("body.target_kinds")
    npz = io.BytesIO()
    np.savez(npz, x=np.zeros((4, 2), np.float32), y=np.arange(4) % 2)
    npz_id = served.upload("d.npz", npz.getvalue())["id"]
    not_csv = served.alice.patch(f"/api/datasets/{npz_id}", json={"target_kinds": {"y": "numeric"}})
    assert not_csv.status_code == 422 and not_csv.json()["errors"][0]["field"] == "target_kinds"


# ---- rename ------------------------------------------------------------------------------------


def test_rename_and_its_validation(served: Served) -> None:
    dataset_id = served.upload("wine.csv", wine_csv())["id"]
    renamed = served.alice.patch(f"/api/datasets/{dataset_id}", json={"name": "  wine, cleaned  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "wine, cleaned"
    assert served.alice.get(f"/api/datasets/{dataset_id}").json()["description"]["name"] == "wine, cleaned"
    for bad in ("", "   ", "x" * 201, 5):
        response = served.alice.patch(f"/api/datasets/{dataset_id}", json={"name": bad})
        assert response.status_code == 422, bad
        assert [e["field"] for e in response.json()["errors"]] == ["body.name"], response.text
    assert served.alice.patch(f"/api/datasets/{dataset_id}", json={}).json()["errors"][0]["field"] == "name"
    assert served.alice.patch(f"/api/datasets/{dataset_id}", json={"nmae": "x"}).status_code == 422
    assert served.alice.patch("/api/datasets/iris", json={"name": "mine"}).status_code == 409
    assert served.bob.patch(f"/api/datasets/{dataset_id}", json={"name": "bob's"}).status_code == 404
    assert served.alice.get(f"/api/datasets/{dataset_id}").json()["name"] == "wine, cleaned"


# ---- previews -----------------------------------------------------------------------------------


def test_samples_are_stratified_by_class(served: Served) -> None:
    dataset_id = served.upload("wine.csv", wine_csv())["id"]  # the file is sorted by class
    body = served.alice.get(f"/api/datasets/{dataset_id}/samples", params={"n": 7}).json()
    assert body["stratified"] is True
    assert [s["y"]["class"] for s in body["samples"]] == ["0", "1", "2", "0", "1", "2", "0"]
    assert len(set(body["indices"])) == 7 and body["indices"][0] == 0 and body["indices"][-1] > 0
    # Each class's picks are spread over its rows (class 0 is rows 0..58 of the file).
    class0 = [i for i, s in zip(body["indices"], body["samples"]) if s["y"]["class"] == "0"]
    assert class0 == [0, 29, 58]


def test_a_preview_without_labels_is_the_first_rows() -> None:
    from layerloom.data import Dataset

    data = Dataset.from_arrays("v", {"train": {"x": np.zeros((10, 2), np.float32), "y": np.arange(10.0)}})
    assert data.preview_indices("train", 4) == [0, 1, 2, 3]
    labels = Dataset.from_arrays("l", {"train": {"x": np.zeros((5, 1), np.float32), "y": np.array([0, 0, 0, 0, 1])}})
    assert labels.preview_indices("train", 5) == [0, 4, 1, 2, 3]  # the rare class comes second, not last


# ---- training: auto-mapping, standardization, delete -------------------------------------------


@pytest.fixture(scope="module")
def standardized_job(served: Served) -> tuple[str, str, Trainer]:
    dataset_id = served.upload("wine.csv", wine_csv(with_split=True), {"split_column": "split"})["id"]
    # Node ids `features` and `species` match no array: fit(x, y) maps them to x and y.
    job_id = served.submit(mlp(), dataset_id, {"epochs": 30, "batch_size": 16, "standardize": True, "seed": 0})
    return job_id, dataset_id, served.train(job_id)


def test_a_standardized_job_predicts_from_raw_values_what_training_saw(served: Served, standardized_job) -> None:
    job_id, _, trainer = standardized_job
    metrics = served.alice.get(f"/api/jobs/{job_id}").json()["final_metrics"]
    assert metrics["test_species/accuracy"] >= 0.9, metrics  # wine is easy once standardized
    manifest = read_manifest(job_dir(served.data_dir, job_id) / RUN_DIR)
    entry = manifest["standardization"]["features"]
    assert manifest["data_mapping"] == {"features": "x", "species": "y"}
    train_x = trainer.training_dataset.splits["train"]["x"].astype(np.float64)
    np.testing.assert_allclose(entry["mean"], train_x.mean(0), rtol=1e-12)  # the train split only (not test)
    assert len(train_x) == 133

    from sklearn.datasets import load_wine

    raw = load_wine().data[1::4][:12]  # raw feature values, as a user types them
    response = served.alice.post(f"/api/jobs/{job_id}/predict", json={"inputs": {"features": raw.tolist()}})
    assert response.status_code == 200, response.text
    plain = build_model(analyze(mlp()))
    plain.load_state_dict(trainer.model.state_dict())
    with torch.no_grad():
        seen = (raw - np.array(entry["mean"])) / np.array(entry["std"])
        expected = plain.eval()({"features": torch.tensor(seen, dtype=torch.float32)})["species"].numpy()
    np.testing.assert_allclose(np.array(response.json()["outputs"]["species"]), expected, atol=1e-5)


def test_deleting_a_dataset_keeps_the_jobs_that_used_it_readable(served: Served, standardized_job) -> None:
    job_id, dataset_id, _ = standardized_job
    queued = served.submit(mlp(), dataset_id, {"epochs": 1})
    assert served.alice.delete(f"/api/datasets/{dataset_id}").status_code == 409  # a queued job uses it
    assert served.alice.post(f"/api/jobs/{queued}/cancel").status_code in (200, 202)
    with served.app.state.sessionmaker() as session:  # no worker here to honour the cancel
        session.execute(update(Job).where(Job.id == queued).values(state=JobState.CANCELLED))
        session.commit()
    assert served.alice.delete(f"/api/datasets/{dataset_id}").status_code == 204
    assert served.alice.get(f"/api/datasets/{dataset_id}").status_code == 404
    job = served.alice.get(f"/api/jobs/{job_id}")
    assert job.status_code == 200 and job.json()["dataset"] == "(deleted)" and job.json()["state"] == "succeeded"
    assert served.alice.get(f"/api/jobs/{job_id}/events").status_code == 200
    assert served.alice.get(f"/api/jobs/{job_id}/weights").status_code == 200
    results = served.alice.get(f"/api/jobs/{job_id}/results")
    assert results.status_code == 200 and results.json()["split"] == "test"
    # The results' samples are class by class too (the test rows are sorted by class).
    assert {s["heads"]["species"]["true"] for s in results.json()["samples"]} == {"0", "1", "2"}
    predicted = served.alice.post(f"/api/jobs/{job_id}/predict", json={"inputs": {"features": [13.0] * 13}})
    assert predicted.status_code == 200 and predicted.json()["classes"]["species"]["top"] in ("0", "1", "2")
