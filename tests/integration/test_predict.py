"""Predictions and exports through the API, on jobs trained for real in the test (in this process,
on data uploaded through the API; the worker's part, marking the job succeeded and recording its
files, is done here as the supervisor does it).

- a JSON batch and a CSV upload give the numbers of the downloaded weights run locally;
- an image upload on the digits CNN gives the right class for held-out digits;
- a bad shape, a missing input or a wrong dtype is a 422 naming the input; someone else's job is a 404;
- the loaded model is cached and dropped when the job is deleted;
- exports download (pytorch zip) or are refused clearly.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from served_app import TwoUserApp
from layerloom.graph import compile_graph
from layerloom.jobs.runner import RUN_DIR
from layerloom.jobs.supervisor import job_dir
from layerloom.store.datasets import load_dataset_file
from layerloom.store.models import Dataset, DatasetKind
from layerloom.train import train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPECIES = ["setosa", "versicolor", "virginica"]


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


class Served(TwoUserApp):
    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, "predict.db")

    def upload(self, name: str, data: bytes, options: dict[str, Any]) -> str:
        response = self.alice.post("/api/datasets", files={"file": (name, data)}, data={"options": json.dumps(options)})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def finished_job(self, graph: dict[str, Any], dataset_id: str, config: dict[str, Any]) -> str:
        """Submit through the API, train in this process, record the result as the supervisor does."""
        submitted = self.alice.post("/api/jobs", json={"graph": graph, "dataset": dataset_id, "config": config})
        assert submitted.status_code == 201, submitted.text
        job_id = submitted.json()["id"]
        run_dir = job_dir(self.data_dir, job_id) / RUN_DIR
        with self.app.state.sessionmaker() as session:
            row = session.get(Dataset, dataset_id)
            dataset = load_dataset_file(DatasetKind(row.kind), self.data_dir / row.storage_path, row.options,
                                        name=row.name, max_bytes=1 << 30)
            result = train(graph, dataset, config, out_dir=run_dir)
            assert result.status == "succeeded"
            self.record_success(session, job_id, run_dir)
        return job_id

    def local_model(self, job_id: str, graph: dict[str, Any]) -> torch.nn.Module:
        """The job's weights as a user gets them: downloaded, loaded into a model built locally."""
        weights = self.alice.get(f"/api/jobs/{job_id}/weights")
        assert weights.status_code == 200
        model = compile_graph(graph)
        model.load_state_dict(safetensors.torch.load(weights.content))
        return model.eval()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served(tmp_path_factory.mktemp("predict"))
    yield served
    served.app.state.engine.dispose()


def flower_rows(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    x = rng.normal(0, 0.6, (n, 4)) + labels[:, None] * np.array([1.5, -1.0, 2.0, 0.5])
    return x.round(4), [SPECIES[i] for i in labels]


def flower_csv(x: np.ndarray, species: list[str] | None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", *(["species"] if species else [])])
    for i, row in enumerate(x):
        writer.writerow([*row, *([species[i]] if species else [])])
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def tabular_job(served: Served) -> tuple[str, dict[str, Any]]:
    x, species = flower_rows(300, seed=0)
    dataset_id = served.upload("flowers.csv", flower_csv(x, species), {})
    graph = example("iris_mlp")
    return served.finished_job(graph, dataset_id, {"epochs": 5, "batch_size": 32, "seed": 1}), graph


def test_json_batch_gives_the_downloaded_models_numbers(served: Served, tabular_job) -> None:
    job_id, graph = tabular_job
    x, _ = flower_rows(7, seed=5)
    response = served.alice.post(f"/api/jobs/{job_id}/predict", json={"inputs": {"x": x.tolist()}})
    assert response.status_code == 200, response.text
    body = response.json()
    with torch.no_grad():
        expected = served.local_model(job_id, graph)({"x": torch.tensor(x, dtype=torch.float32)})["y"].numpy()
    np.testing.assert_allclose(np.array(body["outputs"]["y"]), expected, atol=1e-6)
    classes = body["classes"]["y"]
    assert len(classes) == 7
    assert [c["top"] for c in classes] == [SPECIES[i] for i in expected.argmax(1)]
    assert set(classes[0]["probabilities"]) == set(SPECIES)
    assert classes[0]["probability"] == pytest.approx(expected[0].max(), abs=1e-6)


def test_one_row_gives_one_answer(served: Served, tabular_job) -> None:
    job_id, _ = tabular_job
    body = served.alice.post(f"/api/jobs/{job_id}/predict", json={"inputs": {"x": [0.1, 0.2, 0.3, 0.4]}}).json()
    assert len(body["outputs"]["y"]) == 3 and isinstance(body["outputs"]["y"][0], float)
    assert body["classes"]["y"]["top"] in SPECIES


def test_csv_upload_gives_the_same_numbers_as_json(served: Served, tabular_job) -> None:
    job_id, graph = tabular_job
    x, species = flower_rows(9, seed=8)
    for with_target in (True, False):  # the target column may be there or not
        response = served.alice.post(f"/api/jobs/{job_id}/predict",
                                     files={"file": ("new.csv", flower_csv(x, species if with_target else None))})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 9
        with torch.no_grad():
            expected = served.local_model(job_id, graph)({"x": torch.tensor(x, dtype=torch.float32)})["y"].numpy()
        got = np.array([[float(r[f"y:{s}"]) for s in SPECIES] for r in rows])
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert [r["y"] for r in rows] == [SPECIES[i] for i in expected.argmax(1)]


@pytest.mark.parametrize(("inputs", "code"), [
    ({}, "missing"),
    ({"x": [[1.0, 2.0, 3.0]]}, "shape"),
    ({"x": [["a", "b", "c", "d"]]}, "dtype"),
    ({"x": [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0]]}, "ragged"),
])
def test_bad_inputs_are_422_naming_the_input(served: Served, tabular_job, inputs, code) -> None:
    job_id, _ = tabular_job
    response = served.alice.post(f"/api/jobs/{job_id}/predict", json={"inputs": inputs})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [(e["code"], e["node"], e["field"]) for e in errors] == [(code, "x", "inputs.x")]
    assert "'x'" in errors[0]["message"]


def test_an_unknown_input_is_named(served: Served, tabular_job) -> None:
    job_id, _ = tabular_job
    response = served.alice.post(f"/api/jobs/{job_id}/predict", json={"inputs": {"x": [0, 0, 0, 0], "z": [1]}})
    assert response.status_code == 422
    assert [e["node"] for e in response.json()["errors"]] == ["z"]


def test_someone_elses_job_is_404(served: Served, tabular_job) -> None:
    job_id, _ = tabular_job
    assert served.bob.post(f"/api/jobs/{job_id}/predict", json={"inputs": {"x": [0, 0, 0, 0]}}).status_code == 404
    assert served.bob.get(f"/api/jobs/{job_id}/export", params={"format": "pytorch"}).status_code == 404


def test_a_job_that_has_not_finished_cannot_predict_or_export(served: Served) -> None:
    queued = served.alice.post("/api/jobs", json={"graph": example("seed_mlp"), "dataset": "random_classification"}).json()
    assert served.alice.post(f"/api/jobs/{queued['id']}/predict", json={"inputs": {}}).status_code == 409
    assert served.alice.get(f"/api/jobs/{queued['id']}/export").status_code == 409


def test_pytorch_export_downloads_and_bad_formats_are_refused(served: Served, tabular_job) -> None:
    job_id, graph = tabular_job
    response = served.alice.get(f"/api/jobs/{job_id}/export", params={"format": "pytorch"})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert json.loads(archive.read("graph.json")) == graph
        assert "class IrisMlp(nn.Module)" in archive.read("model.py").decode()
    assert served.alice.get(f"/api/jobs/{job_id}/export", params={"format": "keras"}).status_code == 422


def test_the_model_is_cached_and_dropped_when_the_job_is_deleted(served: Served) -> None:
    x, species = flower_rows(120, seed=3)
    dataset_id = served.upload("small.csv", flower_csv(x, species), {})
    job_id = served.finished_job(example("iris_mlp"), dataset_id, {"epochs": 1})
    assert served.alice.post(f"/api/jobs/{job_id}/predict", json={"inputs": {"x": [0, 0, 0, 0]}}).status_code == 200
    cache = served.app.state.predictors
    assert job_id in cache
    first = cache.get(job_id, lambda: pytest.fail("a cached model was loaded again"))
    assert served.alice.delete(f"/api/jobs/{job_id}").status_code == 204
    assert job_id not in cache and first is not None


def digits_zip(images: np.ndarray, labels: np.ndarray, split: str, buffer: zipfile.ZipFile, start: int = 0) -> None:
    for i, (image, label) in enumerate(zip(images, labels)):
        png = io.BytesIO()
        Image.fromarray((image * 255 / 16).astype(np.uint8), mode="L").save(png, format="PNG")
        buffer.writestr(f"{split}/{label}/{start + i}.png", png.getvalue())


@pytest.mark.slow
def test_an_image_upload_on_the_digits_cnn_gives_the_right_class(served: Served) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images, digits.target
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        digits_zip(images[:1200], labels[:1200], "train", archive)
        digits_zip(images[1200:1300], labels[1200:1300], "valid", archive, start=1200)
    dataset_id = served.upload("digits.zip", data.getvalue(), {"image_size": [8, 8], "color_mode": "grayscale"})
    job_id = served.finished_job(example("digits_cnn"), dataset_id, {"epochs": 8, "batch_size": 32, "seed": 0})
    correct = 0
    held_out = range(1400, 1420)
    for i in held_out:
        png = io.BytesIO()
        Image.fromarray((images[i] * 255 / 16).astype(np.uint8), mode="L").resize((32, 32)).save(png, format="PNG")
        response = served.alice.post(f"/api/jobs/{job_id}/predict", files={"file": (f"{i}.png", png.getvalue())})
        assert response.status_code == 200, response.text
        correct += response.json()["classes"]["y"]["top"] == str(labels[i])
    assert correct >= 17, f"{correct} of {len(held_out)} held-out digits classified right"
    broken = served.alice.post(f"/api/jobs/{job_id}/predict", files={"file": ("x.png", b"\x89PNG\r\n\x1a\nnot an image")})
    assert broken.status_code == 422 and "x.png" in broken.json()["errors"][0]["message"]
