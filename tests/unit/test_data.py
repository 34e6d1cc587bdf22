"""Tests for layerloom.data: the Dataset contract, built-ins, and the three upload loaders.

Uploaded files are real: CSVs and NPZs are written to tmp_path (or passed as bytes),
image zips are built in memory from PNGs generated with Pillow.
"""

from __future__ import annotations

import io
import json
import pickle
import stat
import time
import zipfile

import numpy as np
import pytest
from PIL import Image
from sklearn import datasets as skdata

from layerloom.data import (
    BUILTIN_DATASETS,
    Dataset,
    DatasetError,
    TargetSpec,
    load_builtin,
    load_csv,
    load_image_zip,
    load_npz,
)
from layerloom.data.dataset import MAX_PROBLEMS_PER_CODE, Problems


def codes(err: pytest.ExceptionInfo[DatasetError]) -> set[str]:
    return {p["code"] for p in err.value.problems}


def problem(err: pytest.ExceptionInfo[DatasetError], code: str) -> dict[str, str]:
    return next(p for p in err.value.problems if p["code"] == code)


def make_zip(entries: dict[str, bytes] | list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """An in-memory zip; entries may be ZipInfo objects to set attributes by hand."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items() if isinstance(entries, dict) else entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def assert_well_formed(err: pytest.ExceptionInfo[DatasetError]) -> None:
    for p in err.value.problems:
        assert set(p) == {"field", "code", "message"}
        assert p["field"] and p["code"] and p["message"]
    assert str(err.value) == "; ".join(p["message"] for p in err.value.problems)


# ==== Dataset ============================================================================


def small_splits(n_train=8, n_valid=4):
    rng = np.random.default_rng(0)
    return {
        "train": {"x": rng.normal(size=(n_train, 3)), "y": np.arange(n_train) % 2},
        "valid": {"x": rng.normal(size=(n_valid, 3)), "y": np.arange(n_valid) % 2},
    }


class TestDatasetFromArrays:
    def test_infers_kinds_and_normalises_dtypes(self):
        ds = Dataset.from_arrays("toy", small_splits())
        assert ds.kinds == {"x": "features", "y": "class_labels"}
        assert ds.splits["train"]["x"].dtype == np.float32
        assert ds.splits["train"]["y"].dtype == np.int64
        assert ds.class_names == {"y": ["0", "1"]}
        assert ds.array_names == ["x", "y"]
        assert ds.sample_shape("x") == (3,)
        assert ds.sample_shape("y") == ()
        assert ds.num_samples("train") == 8
        assert ds.num_samples("valid") == 4
        assert ds.num_samples("test") == 0

    def test_float_column_becomes_values_and_int_column_labels_are_squeezed(self):
        splits = {"train": {"x": np.ones((5, 2)), "t": np.linspace(0, 1, 5), "c": np.array([[0], [1], [2], [1], [0]])}}
        ds = Dataset.from_arrays("toy", splits)
        assert ds.kinds == {"x": "features", "t": "values", "c": "class_labels"}
        assert ds.sample_shape("t") == (1,)
        assert ds.splits["train"]["t"].dtype == np.float32
        assert ds.sample_shape("c") == ()
        assert ds.class_names["c"] == ["0", "1", "2"]

    def test_explicit_kinds_and_class_names(self):
        splits = {"train": {"img": np.zeros((4, 2, 2), dtype=np.uint8), "label": np.array([0.0, 1.0, 2.0, 1.0])}}
        ds = Dataset.from_arrays("toy", splits, class_names={"label": ["a", "b", "c"]}, kinds={"label": "class_labels"})
        assert ds.kinds == {"img": "features", "label": "class_labels"}
        assert ds.splits["train"]["img"].dtype == np.float32
        assert ds.splits["train"]["label"].tolist() == [0, 1, 2, 1]
        assert ds.num_classes("label") == 3

    def test_describe_is_json_able(self):
        ds = Dataset.from_arrays("toy", small_splits(), class_names={"y": ["no", "yes"]}, notes={"x": "raw"})
        described = json.loads(json.dumps(ds.describe()))
        assert described["name"] == "toy"
        assert described["sizes"] == {"train": 8, "valid": 4}
        x, y = described["arrays"]
        assert x == {
            "name": "x", "kind": "features", "shape": [3], "dtype": "float32",
            "num_classes": None, "class_names": None, "note": "raw",
        }  # fmt: skip
        assert y["kind"] == "class_labels" and y["shape"] == [] and y["dtype"] == "int64"
        assert y["num_classes"] == 2 and y["class_names"] == ["no", "yes"]

    @pytest.mark.parametrize(
        "splits, kwargs, code",
        [
            ({"train": {"x": np.ones((3, 2))}, "valid": {"z": np.ones((3, 2))}}, {}, "array_names_mismatch"),
            ({"train": {"x": np.ones((3, 2)), "y": np.zeros(4, dtype=int)}}, {}, "length_mismatch"),
            ({"train": {"x": np.ones((3, 2))}, "valid": {"x": np.ones((3, 5))}}, {}, "shape_mismatch"),
            ({"train": {"x": np.array([[1.0], [np.nan]])}}, {}, "non_finite"),
            ({"train": {"x": np.array([[1.0], [np.inf]])}}, {}, "non_finite"),
            ({"train": {"y": np.array([0, -1, 1])}}, {}, "label_out_of_range"),
            ({"train": {"y": np.array([0, 1, 2])}}, {"class_names": {"y": ["a", "b"]}}, "label_out_of_range"),
            ({"train": {"y": np.array([0, 1])}}, {"class_names": {"y": ["a", "a"]}}, "duplicate_class_names"),
            ({"train": {"x": np.ones(
                (2, 2),
            )}}, {"class_names": {"x": ["a"]}, "kinds": {"x": "features"}}, "class_names_not_labels"),
            ({"train": {"x": np.ones((2, 2))}}, {"kinds": {"x": "pixels"}}, "unknown_kind"),
            ({"train": {"x": np.ones((2, 2))}}, {"kinds": {"nope": "features"}}, "unknown_array"),
            ({"train": {"x": np.ones((2, 2))}}, {"class_names": {"nope": ["a"]}}, "unknown_array"),
            ({"training": {"x": np.ones((2, 2))}}, {}, "unknown_split"),
            ({"valid": {"x": np.ones((2, 2))}}, {}, "missing_train"),
            ({}, {}, "no_splits"),
            ({"train": {}}, {}, "no_arrays"),
            ({"train": {"x": np.ones((0, 2))}}, {}, "empty_split"),
            ({"train": {"x": np.array([{"a": 1}, None], dtype=object)}}, {}, "object_array"),
            ({"train": {"x": np.ones((2, 2), dtype=complex)}}, {}, "complex_array"),
            ({"train": {"x": np.array(["a", "b"])}}, {}, "unsupported_dtype"),
            ({"train": {"x": np.float64(3.0)}}, {}, "scalar_array"),
            ({"train": {"x": [[1, 2], [3]]}}, {}, "bad_array"),
            ({"train": {"": np.ones(2)}}, {}, "bad_array_name"),
            ({"train": {"y": np.eye(3, dtype=int)}}, {"kinds": {"y": "class_labels"}}, "label_shape"),
            ({"train": {"y": np.array([0.0, 0.5])}}, {"kinds": {"y": "class_labels"}}, "labels_not_integer"),
            ({"train": {"y": np.array([0, 20_000])}}, {}, "too_many_classes"),
        ],
    )
    def test_each_problem(self, splits, kwargs, code):
        with pytest.raises(DatasetError) as err:
            Dataset.from_arrays("bad", splits, **kwargs)
        assert code in codes(err)
        assert_well_formed(err)

    def test_reports_all_problems_at_once(self):
        splits = {
            "train": {"x": np.array([[1.0], [np.nan]]), "y": np.array([0, 5])},
            "test": {"x": np.ones((2, 4)), "y": np.array([0, 1])},
        }
        with pytest.raises(DatasetError) as err:
            Dataset.from_arrays("bad", splits, class_names={"y": ["a", "b"]})
        assert {"non_finite", "label_out_of_range", "shape_mismatch"} <= codes(err)

    def test_problem_names_the_split_and_array(self):
        splits = {"train": {"x": np.ones((2, 1))}, "valid": {"x": np.array([[np.nan], [1.0]])}}
        with pytest.raises(DatasetError) as err:
            Dataset.from_arrays("bad", splits)
        p = problem(err, "non_finite")
        assert p["field"] == "array:x" and "valid" in p["message"]

    def test_error_survives_pickling(self):
        with pytest.raises(DatasetError) as err:
            Dataset.from_arrays("bad", {"train": {"x": np.array([[np.nan]])}})
        copy = pickle.loads(pickle.dumps(err.value))
        assert copy.problems == err.value.problems and str(copy) == str(err.value)

    def test_queries_reject_unknown_names(self):
        ds = Dataset.from_arrays("toy", small_splits())
        with pytest.raises(DatasetError) as err:
            ds.sample_shape("z")
        assert codes(err) == {"unknown_array"} and "x, y" in str(err.value)
        with pytest.raises(DatasetError) as err:
            ds.num_samples("dev")
        assert codes(err) == {"unknown_split"}


class TestWithSplit:
    def labelled(self, n=200):
        x = np.arange(n, dtype=np.float32).reshape(n, 1)  # each sample's id, to track it
        y = np.array([0] * (n // 4) + [1] * (n - n // 4))  # imbalanced on purpose
        return Dataset.from_arrays("toy", {"train": {"x": x, "y": y}})

    @pytest.mark.parametrize("seed", range(4))
    def test_carves_disjoint_stratified_splits(self, seed):
        ds = self.labelled().with_split(valid_fraction=0.2, test_fraction=0.1, seed=seed)
        assert {s: ds.num_samples(s) for s in ("train", "valid", "test")} == {"train": 140, "valid": 40, "test": 20}
        ids = [set(ds.splits[s]["x"][:, 0].astype(int)) for s in ("train", "valid", "test")]
        assert set.union(*ids) == set(range(200)) and sum(map(len, ids)) == 200
        for split in ("train", "valid", "test"):
            assert ds.splits[split]["y"].mean() == pytest.approx(0.75, abs=0.01)
        assert list(ds.splits) == ["train", "valid", "test"]

    def test_is_deterministic_and_seeded(self):
        base = self.labelled()
        a = base.with_split(valid_fraction=0.2, seed=1)
        b = base.with_split(valid_fraction=0.2, seed=1)
        c = base.with_split(valid_fraction=0.2, seed=2)
        assert np.array_equal(a.splits["valid"]["x"], b.splits["valid"]["x"])
        assert not np.array_equal(a.splits["valid"]["x"], c.splits["valid"]["x"])
        assert "valid" not in base.splits  # the original is untouched

    def test_falls_back_to_random_when_a_class_is_too_small(self):
        x = np.zeros((10, 1))
        y = np.array([0] * 9 + [1])
        ds = Dataset.from_arrays("toy", {"train": {"x": x, "y": y}}).with_split(valid_fraction=0.3)
        assert ds.num_samples("valid") == 3 and ds.num_samples("train") == 7

    def test_regression_data_splits_randomly(self):
        ds = Dataset.from_arrays("toy", {"train": {"x": np.zeros((10, 1)), "t": np.arange(10.0)}})
        assert ds.with_split(test_fraction=0.5).num_samples("test") == 5

    @pytest.mark.parametrize(
        "kwargs, code",
        [
            ({"valid_fraction": -0.1}, "bad_fraction"),
            ({"valid_fraction": 1.0}, "bad_fraction"),
            ({"valid_fraction": 0.6, "test_fraction": 0.5}, "bad_fraction"),
            ({"valid_fraction": 0.001}, "split_too_small"),
        ],
    )
    def test_bad_fractions(self, kwargs, code):
        with pytest.raises(DatasetError) as err:
            self.labelled().with_split(**kwargs)
        assert code in codes(err)

    def test_refuses_to_overwrite_an_existing_split(self):
        ds = Dataset.from_arrays("toy", small_splits())
        with pytest.raises(DatasetError) as err:
            ds.with_split(valid_fraction=0.25)
        assert codes(err) == {"split_exists"}
        assert ds.with_split(test_fraction=0.25).num_samples("test") == 2


def test_problem_lists_are_capped_per_code_with_a_summary():
    problems = Problems()
    for i in range(MAX_PROBLEMS_PER_CODE + 5):
        problems.add(f"line:{i}", "ragged_row", f"line {i}")
    problems.add("file", "other", "other")
    listed = problems.as_list()
    assert len(listed) == MAX_PROBLEMS_PER_CODE + 2
    assert "5 more" in listed[-1]["message"] and listed[-1]["code"] == "ragged_row"


# ==== Built-ins ==========================================================================

# name -> (x sample shape, y kind, y sample shape, class names or None)
BUILTIN_EXPECTATIONS = {
    "digits": ((1, 8, 8), "class_labels", (), [str(i) for i in range(10)]),
    "iris": ((4,), "class_labels", (), ["setosa", "versicolor", "virginica"]),
    "wine": ((13,), "class_labels", (), ["class_0", "class_1", "class_2"]),
    "breast_cancer": ((30,), "class_labels", (), ["malignant", "benign"]),
    "diabetes": ((10,), "values", (1,), None),
    "random_classification": ((100,), "class_labels", (), [str(i) for i in range(10)]),
    "spirals": ((2,), "class_labels", (), ["0", "1"]),
    "sine": ((1,), "values", (1,), None),
}
BUILTIN_SIZES = {"digits": 1797, "iris": 150, "wine": 178, "breast_cancer": 569, "diabetes": 442,
                 "random_classification": 1000, "spirals": 1000, "sine": 1000}  # fmt: skip


def test_registry_lists_every_builtin_with_a_task():
    assert set(BUILTIN_DATASETS) == set(BUILTIN_EXPECTATIONS)
    for name, info in BUILTIN_DATASETS.items():
        assert info.name == name and info.description
        expected_task = "classification" if BUILTIN_EXPECTATIONS[name][3] else "regression"
        assert info.task == expected_task


@pytest.mark.parametrize("name", sorted(BUILTIN_EXPECTATIONS))
def test_builtin_shapes_dtypes_and_splits(name):
    x_shape, y_kind, y_shape, class_names = BUILTIN_EXPECTATIONS[name]
    start = time.perf_counter()
    ds = load_builtin(name)
    assert time.perf_counter() - start < 1.0
    assert ds.name == name and ds.array_names == ["x", "y"]
    assert ds.sample_shape("x") == x_shape and ds.sample_shape("y") == y_shape
    assert ds.kinds == {"x": "features", "y": y_kind}
    assert ds.class_names.get("y") == class_names
    for arrays in ds.splits.values():
        assert arrays["x"].dtype == np.float32
        assert arrays["y"].dtype == (np.int64 if class_names else np.float32)
    sizes = {s: ds.num_samples(s) for s in ("train", "valid", "test")}
    total = BUILTIN_SIZES[name]
    assert sum(sizes.values()) == total
    assert sizes["train"] / total == pytest.approx(0.70, abs=0.02)
    assert sizes["valid"] / total == pytest.approx(0.15, abs=0.02)
    json.dumps(ds.describe())


@pytest.mark.parametrize("name", ["digits", "diabetes", "spirals"])
def test_builtin_splits_are_deterministic_and_follow_the_seed(name):
    a, b, other = load_builtin(name), load_builtin(name), load_builtin(name, seed=1)
    for split in ("train", "valid", "test"):
        assert np.array_equal(a.splits[split]["x"], b.splits[split]["x"])
        assert np.array_equal(a.splits[split]["y"], b.splits[split]["y"])
    assert not np.array_equal(a.splits["test"]["x"], other.splits["test"]["x"])


@pytest.mark.parametrize("name", ["digits", "wine", "breast_cancer"])
def test_classification_builtins_are_stratified(name):
    ds = load_builtin(name)
    all_y = np.concatenate([ds.splits[s]["y"] for s in ds.splits])
    share = np.bincount(all_y) / len(all_y)
    for split, arrays in ds.splits.items():
        counts = np.bincount(arrays["y"], minlength=len(share))
        assert np.abs(counts - share * len(arrays["y"])).max() <= 1.5, split


def test_digits_are_scaled_images_matching_sklearn():
    ds = load_builtin("digits")
    x = np.concatenate([ds.splits[s]["x"] for s in ds.splits])
    assert x.min() == 0.0 and x.max() == 1.0
    original = skdata.load_digits().images / 16.0
    assert np.allclose(np.sort(x.reshape(len(x), -1).sum(1)), np.sort(original.reshape(len(original), -1).sum(1)), atol=1e-4)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "random_classification"])
def test_tabular_features_are_standardised_with_train_statistics(name):
    train_x = load_builtin(name).splits["train"]["x"]
    assert np.allclose(train_x.mean(axis=0), 0.0, atol=1e-4)
    assert np.allclose(train_x.std(axis=0), 1.0, atol=1e-3)


def test_diabetes_target_note_explains_the_scaling():
    ds = load_builtin("diabetes")
    note = ds.describe()["arrays"][1]["note"]
    assert "Standardized" in note
    assert ds.splits["train"]["y"].mean() == pytest.approx(0.0, abs=1e-4)
    # The note's statistics map predictions back to sklearn's raw targets.
    std, mean = (float(v.rstrip(".")) for v in note.split("raw = y * ")[1].split(" + "))
    raw = np.concatenate([ds.splits[s]["y"][:, 0] for s in ds.splits]) * std + mean
    assert np.allclose(np.sort(raw), np.sort(skdata.load_diabetes().target), atol=0.05)


def test_random_classification_is_learnable():
    # A nearest-class-mean classifier fit on train must beat chance (0.1) by far on test.
    ds = load_builtin("random_classification")
    train, test = ds.splits["train"], ds.splits["test"]
    centroids = np.stack([train["x"][train["y"] == k].mean(axis=0) for k in range(10)])
    predicted = ((test["x"][:, None, :] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)
    assert (predicted == test["y"]).mean() > 0.6


def test_spirals_and_sine_look_right():
    spirals = load_builtin("spirals")
    y = np.concatenate([spirals.splits[s]["y"] for s in spirals.splits])
    assert np.bincount(y).tolist() == [500, 500]
    sine = load_builtin("sine")
    x, t = sine.splits["train"]["x"][:, 0], sine.splits["train"]["y"][:, 0]
    assert x.min() >= -np.pi and x.max() <= np.pi
    assert np.std(t - np.sin(x)) == pytest.approx(0.1, abs=0.02)


def test_unknown_builtin_lists_valid_names():
    with pytest.raises(DatasetError) as err:
        load_builtin("mnist")
    assert codes(err) == {"unknown_dataset"}
    assert "digits" in str(err.value) and "sine" in str(err.value)


# ==== CSV ================================================================================

IRIS_LIKE = "sepal,petal,species\n1.0,2.0,setosa\n1.5,2.5,virginica\n0.5,,setosa\n"


def write(tmp_path, text: str | bytes, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def csv_error(source, **kwargs) -> pytest.ExceptionInfo[DatasetError]:
    with pytest.raises(DatasetError) as err:
        load_csv(source, **kwargs)
    assert_well_formed(err)
    return err


class TestCsvHappyPath:
    def test_default_columns_with_categorical_target(self, tmp_path):
        path = write(tmp_path, "a,b,label\n1,2,dog\n3,4,cat\n5,6,dog\n7,8,bird\n")
        ds = load_csv(path, name="pets")
        assert ds.name == "pets" and ds.array_names == ["x", "y"]
        assert ds.splits["train"]["x"].dtype == np.float32
        assert ds.splits["train"]["x"].tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]
        assert ds.class_names["y"] == ["bird", "cat", "dog"]
        assert ds.splits["train"]["y"].tolist() == [2, 1, 2, 0]
        assert ds.kinds == {"x": "features", "y": "class_labels"}

    def test_numeric_target_becomes_float_values(self, tmp_path):
        ds = load_csv(write(tmp_path, "a,b,price\n1,2,10.5\n3,4,-1e2\n"))
        assert ds.kinds["y"] == "values"
        assert ds.splits["train"]["y"].dtype == np.float32
        assert ds.splits["train"]["y"].tolist() == [[10.5], [-100.0]]

    def test_named_inputs_and_targets(self, tmp_path):
        text = "age,height,weight,grade,score\n30,1.8,80,2,0.5\n40,1.6,60,10,0.7\n50,1.7,70,2,0.9\n"
        ds = load_csv(
            write(tmp_path, text),
            inputs={"body": ["height", "weight"], "age": ["age"]},
            targets={"grade": TargetSpec("grade", "categorical"), "score": {"column": "score", "kind": "numeric"}},
        )
        assert ds.array_names == ["body", "age", "grade", "score"]
        assert ds.sample_shape("body") == (2,) and ds.sample_shape("age") == (1,)
        assert ds.class_names["grade"] == ["2", "10"]  # numeric class names sort by value
        assert ds.splits["train"]["grade"].tolist() == [0, 1, 0]
        assert ds.kinds["score"] == "values"

    def test_only_targets_given_uses_other_columns_as_x(self, tmp_path):
        ds = load_csv(write(tmp_path, "label,a,b\nyes,1,2\nno,3,4\n"), targets={"y": "label"})
        assert ds.splits["train"]["x"].tolist() == [[1, 2], [3, 4]]
        assert ds.class_names["y"] == ["no", "yes"]

    def test_split_column_with_aliases(self, tmp_path):
        text = "a,y,fold\n1,p,train\n2,q,train\n3,p,validation\n4,q,Val\n5,p,test\n6,q, TRAIN \n"
        ds = load_csv(write(tmp_path, text), split_column="fold")
        assert ds.splits["train"]["x"][:, 0].tolist() == [1, 2, 6]
        assert ds.splits["valid"]["x"][:, 0].tolist() == [3, 4]
        assert ds.splits["test"]["x"][:, 0].tolist() == [5]
        assert ds.sample_shape("x") == (1,)  # the split column is not a feature

    def test_bytes_source_bom_quotes_and_blank_lines(self):
        data = '\ufeff"first, name",val,y\n\n"1","2",a\n3,4,"b, c"\n'.encode()
        ds = load_csv(data)
        assert ds.class_names["y"] == ["a", "b, c"]
        assert ds.splits["train"]["x"].tolist() == [[1, 2], [3, 4]]

    def test_semicolon_delimiter(self):
        ds = load_csv(b"a;b;y\n1.5;2;u\n3;4;v\n", delimiter=";")
        assert ds.splits["train"]["x"].tolist() == [[1.5, 2], [3, 4]]


class TestCsvErrors:
    @pytest.mark.parametrize("data", [b"", b"  \n\n "])
    def test_empty_file(self, tmp_path, data):
        assert codes(csv_error(write(tmp_path, data))) == {"empty_file"}

    def test_missing_or_unreadable_file(self, tmp_path):
        assert codes(csv_error(tmp_path / "nope.csv")) == {"file_not_found"}
        assert codes(csv_error(tmp_path)) == {"file_unreadable"}  # a directory

    def test_not_utf8(self, tmp_path):
        err = csv_error(write(tmp_path, "a,b\n1,caf\xe9\n".encode("latin-1")))
        assert codes(err) == {"not_utf8"} and "line 2" in str(err.value)

    def test_binary_file(self):
        assert codes(csv_error(b"a,b\n\x00\x01,2\n")) == {"not_utf8"}

    def test_ragged_rows_name_their_lines(self):
        err = csv_error(b"a,b,y\n1,2,p\n1,2\n1,2,q\n1,2,3,4\n")
        assert codes(err) == {"ragged_row"}
        assert [p["field"] for p in err.value.problems] == ["line:3", "line:5"]

    def test_missing_header(self):
        assert "missing_header" in codes(csv_error(b"1,2,3\n4,5,6\n"))

    def test_duplicate_and_empty_column_names(self):
        err = csv_error(b"a,a,,y\n1,2,3,p\n")
        assert {"duplicate_column", "empty_column_name"} <= codes(err)
        assert "'a'" in problem(err, "duplicate_column")["message"]

    def test_unknown_columns_list_available_ones(self):
        err = csv_error(b"a,b,y\n1,2,p\n", inputs={"x": ["a", "nope"]}, targets={"t": "ghost"}, split_column="fold")
        unknown = [p for p in err.value.problems if p["code"] == "unknown_column"]
        assert {p["field"] for p in unknown} == {"inputs.x", "targets.t", "split_column"}
        assert "'a', 'b', 'y'" in unknown[0]["message"]

    def test_non_numeric_feature_names_column_and_line(self):
        err = csv_error(b"a,b,y\n1,2,p\n1,x,q\n1,yy,p\n")
        p = problem(err, "non_numeric_value")
        assert p["field"] == "column:b"
        assert "line 3: 'x'" in p["message"] and "line 4: 'yy'" in p["message"]

    def test_missing_values(self):
        err = csv_error(b"a,b,y\n1,,p\n1,NA,q\n,2,\n")
        assert codes(err) == {"missing_value"}
        assert {p["field"] for p in err.value.problems} == {"column:a", "column:b", "column:y"}
        by_field = {p["field"]: p["message"] for p in err.value.problems}
        assert "2 missing value(s) at line 2, 3" in by_field["column:b"]
        assert "line 4" in by_field["column:a"] and "line 4" in by_field["column:y"]

    def test_infinite_feature(self):
        assert codes(csv_error(b"a,y\ninf,1\n2,1\n")) == {"non_finite_value"}

    def test_reports_problems_from_several_columns_at_once(self):
        err = csv_error(b"a,b,c,y\n1,oops,,p\n2,3,4,q\n")
        assert {"non_numeric_value", "missing_value"} <= codes(err)

    def test_file_too_large(self, tmp_path):
        assert codes(csv_error(write(tmp_path, IRIS_LIKE), max_bytes=10)) == {"file_too_large"}
        assert codes(csv_error(IRIS_LIKE.encode(), max_bytes=10)) == {"file_too_large"}

    def test_too_many_rows(self):
        assert codes(csv_error(b"a,y\n1,p\n2,q\n3,p\n", max_rows=2)) == {"too_many_rows"}

    def test_too_many_columns(self):
        assert codes(csv_error(b"a,b,c,y\n1,2,3,p\n", max_columns=3)) == {"too_many_columns"}

    def test_no_rows(self):
        assert codes(csv_error(b"a,b,y\n")) == {"no_rows"}

    def test_too_few_columns(self):
        assert codes(csv_error(b"y\n1\n2\n")) == {"too_few_columns"}

    def test_single_class(self):
        err = csv_error(b"a,y\n1,cat\n2,cat\n")
        assert codes(err) == {"single_class"} and "'cat'" in str(err.value)

    def test_numeric_target_with_text(self):
        err = csv_error(b"a,y\n1,2.5\n2,big\n", targets={"y": TargetSpec("y", "numeric")})
        p = problem(err, "non_numeric_target")
        assert p["field"] == "column:y" and "line 3: 'big'" in p["message"]

    def test_bad_split_values(self):
        err = csv_error(b"a,y,s\n1,p,train\n2,q,holdout\n3,p,\n", split_column="s")
        p = problem(err, "bad_split_value")
        assert "'holdout'" in p["message"] and "line 4" in p["message"]

    def test_split_column_without_train_rows(self):
        assert "missing_train" in codes(csv_error(b"a,y,s\n1,p,test\n2,q,valid\n", split_column="s"))

    def test_bad_column_plans(self):
        err = csv_error(
            b"a,b,y,s\n1,2,p,train\n",
            inputs={"x": [], "y": ["a", "s"]},
            targets={"y": "b", "z": TargetSpec("y", "ordinal"), "w": 5},
            split_column="s",
        )
        assert {"empty_inputs", "split_column_used", "duplicate_array_name", "unknown_target_kind", "bad_target_spec"} <= codes(
            err,
        )

    def test_malformed_csv(self):
        huge_field = b"a,y\n1," + b"x" * 200_000 + b"\n"  # beyond the csv module's field limit
        assert codes(csv_error(huge_field)) == {"malformed_csv"}


# ==== NPZ ================================================================================


def npz_bytes(compressed=False, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def npz_member(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def npz_error(source, **kwargs) -> pytest.ExceptionInfo[DatasetError]:
    with pytest.raises(DatasetError) as err:
        load_npz(source, **kwargs)
    assert_well_formed(err)
    return err


class TestNpzHappyPath:
    def test_split_suffixes_from_a_file(self, tmp_path):
        rng = np.random.default_rng(0)
        path = tmp_path / "data.npz"
        np.savez(
            path,
            x_train=rng.normal(size=(10, 4)), y_train=np.arange(10) % 3,
            x_val=rng.normal(size=(4, 4)), y_val=np.array([0, 1, 2, 0]),
            x_test=rng.normal(size=(3, 4)), y_test=np.array([2, 1, 0]),
        )  # fmt: skip
        ds = load_npz(path)
        assert {s: ds.num_samples(s) for s in ("train", "valid", "test")} == {"train": 10, "valid": 4, "test": 3}
        assert ds.kinds == {"x": "features", "y": "class_labels"}
        assert ds.splits["valid"]["x"].dtype == np.float32 and ds.splits["valid"]["y"].dtype == np.int64
        assert ds.class_names["y"] == ["0", "1", "2"]

    def test_plain_names_go_to_train_and_prefix_form_works(self):
        ds = load_npz(npz_bytes(x=np.ones((5, 2)), y=np.array([0, 1, 0, 1, 1])))
        assert list(ds.splits) == ["train"] and ds.num_samples("train") == 5
        ds = load_npz(
            npz_bytes(train_x=np.ones((3, 2)), train_y=np.array([0, 1, 1]), test_x=np.ones((2, 2)), test_y=np.array([1, 0])),
        )
        assert ds.array_names == ["x", "y"] and ds.num_samples("test") == 2

    def test_keras_style_images_and_label_columns(self):
        images = np.random.default_rng(0).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
        ds = load_npz(npz_bytes(x_train=images, y_train=np.array([[0], [1], [2], [3], [4], [5]], dtype=np.uint8)))
        assert ds.kinds == {"x": "features", "y": "class_labels"}
        assert ds.sample_shape("x") == (28, 28) and ds.splits["train"]["x"].dtype == np.float32
        assert ds.sample_shape("y") == () and len(ds.class_names["y"]) == 6

    def test_float_vector_target_is_values(self):
        ds = load_npz(npz_bytes(x=np.ones((4, 2)), y=np.linspace(0, 1, 4)))
        assert ds.kinds["y"] == "values" and ds.sample_shape("y") == (1,)

    def test_selection_renaming_and_kind_override(self):
        data = npz_bytes(x_train=np.ones((4, 3)), y_train=np.ones((4, 1)), extra_train=np.zeros(4))
        ds = load_npz(data, arrays={"x": "features_in", "y": "target"}, kinds={"target": "values"}, name="mine")
        assert ds.name == "mine" and ds.array_names == ["features_in", "target"]
        assert ds.kinds["target"] == "values" and ds.sample_shape("target") == (1,)
        assert load_npz(data, arrays=["x"]).array_names == ["x"]


class TestNpzErrors:
    def test_not_an_npz(self):
        assert codes(npz_error(b"hello, not a zip")) == {"not_npz"}
        buffer = io.BytesIO()
        np.save(buffer, np.ones(3))
        err = npz_error(buffer.getvalue())
        assert codes(err) == {"not_npz"} and "single .npy" in str(err.value)

    def test_object_arrays_are_never_unpickled(self):
        data = npz_bytes(x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
        err = npz_error(data)
        assert codes(err) == {"object_array"} and problem(err, "object_array")["field"] == "array:x"

    def test_complex_and_string_arrays(self):
        err = npz_error(npz_bytes(x=np.ones((2, 2), dtype=complex), y=np.array(["a", "b"])))
        assert {"complex_array", "unsupported_dtype"} <= codes(err)

    def test_mismatched_lengths(self):
        assert "length_mismatch" in codes(npz_error(npz_bytes(x=np.ones((5, 2)), y=np.zeros(4, dtype=int))))

    def test_nan_and_inf(self):
        x = np.ones((3, 2))
        x[1, 1] = np.nan
        x[2, 0] = np.inf
        err = npz_error(npz_bytes(x=x, y=np.array([0, 1, 0])))
        assert codes(err) == {"non_finite"} and "2 NaN or infinite" in str(err.value)

    def test_negative_labels(self):
        assert "label_out_of_range" in codes(npz_error(npz_bytes(x=np.ones((2, 2)), y=np.array([0, -3]))))

    def test_file_too_large(self, tmp_path):
        path = tmp_path / "big.npz"
        np.savez(path, x=np.ones((100, 10)))
        assert codes(npz_error(path, max_bytes=1000)) == {"file_too_large"}

    def test_compressed_bomb_is_rejected_before_loading(self):
        data = npz_bytes(compressed=True, x=np.zeros((1000, 1000)))  # 8 MB of zeros in a few KB
        assert len(data) < 100_000
        assert codes(npz_error(data, max_bytes=1_000_000)) == {"too_large_uncompressed"}

    def test_too_many_members(self):
        data = npz_bytes(**{f"a{i}": np.ones(2) for i in range(5)})
        assert codes(npz_error(data, max_members=4)) == {"too_many_members"}

    def test_empty_archive(self):
        assert codes(npz_error(npz_bytes())) == {"no_arrays"}

    def test_unknown_selection_and_duplicates(self):
        data = npz_bytes(x_val=np.ones((2, 2)), x_valid=np.ones((2, 2)), x_train=np.ones((2, 2)), y_train=np.array([0, 1]))
        err = npz_error(data, arrays={"x": "a", "y": "a", "z": "b"})
        assert {"unknown_array", "duplicate_array"} <= codes(err)
        assert "x, y" in problem(err, "unknown_array")["message"]

    def test_forged_header_cannot_allocate_huge_arrays(self):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
        data = make_zip({"x.npy": header.getvalue() + bytes(64), "y.npy": npz_member(np.array([0]))})
        err = npz_error(data)
        assert codes(err) == {"bad_member"} and "claims shape" in str(err.value)

    def test_member_that_is_not_npy(self):
        data = make_zip({"x.npy": npz_member(np.ones((2, 2))), "notes.txt": b"hello"})
        err = npz_error(data)
        assert codes(err) == {"bad_member"} and problem(err, "bad_member")["field"] == "array:notes.txt"

    def test_corrupt_member(self):
        data = bytearray(npz_bytes(x=np.arange(100.0), y=np.arange(100) % 2))
        payload = data.index(b"\x93NUMPY")  # first member's .npy header inside the zip
        data[payload + 200 : payload + 260] = b"\xff" * 60  # flip stored bytes: the CRC no longer matches
        assert "bad_member" in codes(npz_error(bytes(data)))


# ==== Image zip ==========================================================================

CLASS_COLORS = {"cat": (255, 0, 0), "dog": (0, 0, 255), "owl": (0, 255, 0)}


def png(color=(255, 0, 0), size=(10, 6), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def image_tree(prefix="", valid_folder="valid", per_class=2) -> dict[str, bytes]:
    entries = {}
    for split, classes in (("train", CLASS_COLORS), (valid_folder, ["cat", "dog"]), ("test", ["owl"])):
        for cls in classes:
            for i in range(per_class):
                entries[f"{prefix}{split}/{cls}/{i}.png"] = png(CLASS_COLORS[cls])
    return entries


def zip_error(data: bytes, **kwargs) -> pytest.ExceptionInfo[DatasetError]:
    with pytest.raises(DatasetError) as err:
        load_image_zip(data, **kwargs)
    assert_well_formed(err)
    return err


class TestImageZipHappyPath:
    def test_wrapper_folder_with_train_valid_test(self, monkeypatch):
        # Nothing may be extracted to disk.
        monkeypatch.setattr(zipfile.ZipFile, "extract", lambda *a, **k: pytest.fail("extracted"))
        monkeypatch.setattr(zipfile.ZipFile, "extractall", lambda *a, **k: pytest.fail("extracted"))
        entries = image_tree(prefix="myset/", valid_folder="validation")
        entries["__MACOSX/myset/train/cat/._0.png"] = b"resource fork"
        entries["myset/train/.DS_Store"] = b"junk"
        entries["myset/train/dog/"] = b""  # directory entry
        entries["myset/Val/dog/9.png"] = png(CLASS_COLORS["dog"])  # a second alias, sorting apart
        ds = load_image_zip(make_zip(entries), image_size=(12, 20), name="pets")
        assert ds.name == "pets" and ds.class_names == {"y": ["cat", "dog", "owl"]}
        assert {s: ds.num_samples(s) for s in ("train", "valid", "test")} == {"train": 6, "valid": 5, "test": 2}
        x, y = ds.splits["train"]["x"], ds.splits["train"]["y"]
        assert x.shape == (6, 3, 12, 20) and x.dtype == np.float32 and y.dtype == np.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
        # Each image's colour matches its label in every split, so labels and pixels stay aligned.
        for arrays in ds.splits.values():
            for label, cls in enumerate(ds.class_names["y"]):
                expected = np.array(CLASS_COLORS[cls]) / 255.0
                chosen = arrays["x"][arrays["y"] == label]
                assert np.allclose(chosen, expected[None, :, None, None], atol=1e-6)
        assert ds.splits["test"]["y"].tolist() == [2, 2]

    def test_grayscale_and_mixed_source_modes(self):
        entries = {
            "train/a/rgba.png": png((10, 20, 30, 0), mode="RGBA"),
            "train/a/gray.png": png(128, mode="L"),
            "train/b/palette.png": png(3, mode="P"),
            "train/b/big.png": png((255, 255, 255), size=(300, 200)),
        }
        ds = load_image_zip(make_zip(entries), color_mode="grayscale", image_size=(8, 8))
        x = ds.splits["train"]["x"]
        assert x.shape == (4, 1, 8, 8)
        assert np.allclose(x[ds.splits["train"]["y"] == 1].max(), 1.0)
        assert list(ds.splits) == ["train"]

    def test_path_source_and_jpeg(self, tmp_path):
        buffer = io.BytesIO()
        Image.new("RGB", (9, 9), (0, 255, 0)).save(buffer, format="JPEG")
        path = tmp_path / "set.zip"
        path.write_bytes(make_zip({"train/x/1.jpg": buffer.getvalue(), "train/y/1.png": png()}))
        ds = load_image_zip(path, image_size=(4, 4))
        assert ds.num_samples("train") == 2 and ds.class_names["y"] == ["x", "y"]


class TestImageZipHostile:
    def test_parent_directory_escape(self):
        err = zip_error(make_zip({**image_tree(), "../evil.png": png(), "train/cat/../../evil2.png": png()}))
        assert codes(err) == {"unsafe_path"}
        assert {p["field"] for p in err.value.problems} == {"member:../evil.png", "member:train/cat/../../evil2.png"}

    def test_absolute_paths_and_backslashes(self):
        err = zip_error(
            make_zip({**image_tree(), "/etc/evil.png": png(), "C:/evil.png": png(), "train\\..\\evil.png": png()}),
        )
        assert codes(err) == {"unsafe_path"} and len(err.value.problems) == 3

    def test_symlink_entry(self):
        link = zipfile.ZipInfo("train/cat/link.png")
        link.create_system = 3  # unix
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        err = zip_error(make_zip([*image_tree().items(), (link, b"/etc/passwd")]))
        assert codes(err) == {"symlink_member"} and problem(err, "symlink_member")["field"] == "member:train/cat/link.png"

    def test_encrypted_member(self):
        data = bytearray(make_zip({"train/a/1.png": png(), "train/b/1.png": png()}))
        # zipfile cannot write encrypted entries: set the "encrypted" flag bit by hand.
        for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(signature)
            data[at + flag_offset] |= 0x1
        assert "encrypted_member" in codes(zip_error(bytes(data)))

    def test_zip_bomb_member(self):
        data = make_zip({**image_tree(), "train/cat/bomb.png": bytes(50 * 1024 * 1024)})
        assert len(data) < 1024 * 1024
        err = zip_error(data)
        assert codes(err) == {"compression_ratio"} and "bomb" in str(err.value)

    def test_total_uncompressed_size(self):
        assert codes(zip_error(make_zip(image_tree()), max_total_bytes=500)) == {"too_large_uncompressed"}

    def test_too_many_members(self):
        assert codes(zip_error(make_zip(image_tree()), max_members=5)) == {"too_many_members"}

    def test_file_too_large(self):
        assert codes(zip_error(make_zip(image_tree()), max_bytes=100)) == {"file_too_large"}

    def test_several_hostile_entries_reported_together(self):
        link = zipfile.ZipInfo("train/cat/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        err = zip_error(make_zip([*image_tree().items(), ("../evil.png", png()), (link, b"x")]))
        assert codes(err) == {"unsafe_path", "symlink_member"}

    def test_image_with_huge_dimensions(self):
        entries = {**image_tree(), "train/cat/huge.png": png(0, size=(2000, 1000), mode="L")}
        err = zip_error(make_zip(entries), max_image_pixels=1_000_000)
        assert codes(err) == {"image_too_large"} and problem(err, "image_too_large")["field"] == "member:train/cat/huge.png"

    def test_pillow_decompression_bomb_guard_is_reported(self, monkeypatch):
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10x6 passes, 100x100 trips Pillow
        for size in ((40, 40), (100, 100)):  # > limit warns, > 2x limit raises: both reported
            entries = {"train/a/1.png": png(), "train/b/1.png": png((0, 0, 0), size=size)}
            assert codes(zip_error(make_zip(entries))) == {"image_too_large"}

    def test_corrupt_and_non_image_members_are_named(self):
        entries = {**image_tree(), "train/cat/broken.png": png()[:40], "train/dog/notes.txt": b"hello"}
        err = zip_error(make_zip(entries))
        assert codes(err) == {"bad_image"}
        assert {p["field"] for p in err.value.problems} == {"member:train/cat/broken.png", "member:train/dog/notes.txt"}

    def test_not_a_zip(self):
        assert codes(zip_error(b"PNG? no, just bytes")) == {"not_a_zip"}

    def test_output_array_too_large_for_memory(self):
        err = zip_error(make_zip(image_tree()), image_size=(64, 64), max_output_bytes=100_000)
        assert codes(err) == {"output_too_large"} and problem(err, "output_too_large")["field"] == "image_size"

    def test_bad_options(self):
        err = zip_error(make_zip(image_tree()), image_size=(0, 5000), color_mode="cmyk")
        assert codes(err) == {"bad_option"} and len(err.value.problems) == 2


class TestImageZipLayout:
    def test_no_images(self):
        assert codes(zip_error(make_zip({"train/": b"", "__MACOSX/x": b"", ".hidden": b""}))) == {"no_images"}

    def test_missing_train(self):
        assert "missing_train" in codes(zip_error(make_zip({"test/a/1.png": png(), "test/b/1.png": png()})))

    def test_single_class(self):
        assert codes(zip_error(make_zip({"train/a/1.png": png(), "train/a/2.png": png()}))) == {"single_class"}

    def test_class_only_in_valid_or_test(self):
        entries = {**image_tree(), "valid/zebra/1.png": png(), "test/yak/1.png": png()}
        err = zip_error(make_zip(entries))
        assert codes(err) == {"unknown_class"}
        assert {p["field"] for p in err.value.problems} == {"folder:valid", "folder:test"}
        assert "'zebra'" in str(err.value)

    def test_misplaced_files_and_unknown_folders(self):
        strays = {"train/loose.png": png(), "train/cat/deep/1.png": png(), "extras/a/1.png": png(), "README.md": b"hi"}
        err = zip_error(make_zip({**image_tree(), **strays}))
        assert codes(err) == {"unexpected_member", "unexpected_folder"}
        misplaced = {p["field"] for p in err.value.problems if p["code"] == "unexpected_member"}
        assert misplaced == {"member:train/loose.png", "member:train/cat/deep/1.png", "member:README.md"}
        assert problem(err, "unexpected_folder")["field"] == "folder:extras"


class TestCsvInputShapes:
    """Flattened images in a CSV get their per-sample shape back (64 pixel columns as 1×8×8)."""

    CSV = ("a,b,c,d,label\n" + "\n".join(f"{i},{i + 1},{i + 2},{i + 3},{'cat' if i % 2 else 'dog'}" for i in range(6))).encode()

    def test_columns_fill_the_shape_row_major(self):
        ds = load_csv(self.CSV, inputs={"x": ["a", "b", "c", "d"]}, targets={"y": "label"}, input_shapes={"x": [1, 2, 2]})
        assert ds.sample_shape("x") == (1, 2, 2)
        assert ds.splits["train"]["x"][1].tolist() == [[[1, 2], [3, 4]]]

    def test_wrong_size_and_unknown_array_are_problems(self):
        with pytest.raises(DatasetError) as err:
            load_csv(self.CSV, inputs={"x": ["a", "b", "c", "d"]}, targets={"y": "label"},
                     input_shapes={"x": [3, 3], "z": [1]})
        assert sorted(p["code"] for p in err.value.problems) == ["shape_mismatch", "unknown_array"]
