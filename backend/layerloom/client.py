"""A synchronous Python client for the Layerloom API.

    from layerloom.client import Client, ApiError

    client = Client("http://127.0.0.1:8000", token=None)      # token: for servers in token mode
    dataset = client.datasets.upload("houses.csv", targets={"y": "price"})
    job = client.jobs.submit(graph, dataset["id"], config={"epochs": 20})
    for event in job.events():                                # live, reconnecting, each event once
        print(event["type"], event.get("metrics"))
    job.wait()
    job.download("safetensors", "weights.safetensors")
    job.export("onnx", "model.onnx")
    job.predict({"x": [[0.1, 0.2, 0.3]]})

Every error answer of the API raises ``ApiError``, whose ``problems`` are the API's
``{code, node, field, message}`` entries. It needs ``httpx`` and ``websockets`` and nothing of the
server: the module imports no other part of Layerloom.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

__all__ = ["ApiError", "Client", "Job", "Problem"]

TERMINAL_STATES = ("succeeded", "failed", "cancelled")
WeightsFormat = Literal["safetensors", "pt"]
ExportFormat = Literal["onnx", "pytorch", "pt2"]


@dataclass(frozen=True)
class Problem:
    """One problem the API reported: what (``code``, ``message``) and where (``node``, ``field``)."""

    code: str
    message: str
    node: str | None = None
    field: str | None = None


class ApiError(Exception):
    """The API answered with an error (or could not be reached: ``status`` 0)."""

    def __init__(self, status: int, detail: str, problems: list[Problem] | None = None) -> None:
        self.status, self.detail = status, detail
        self.problems = problems or []
        listed = "".join(f"\n- {p.node or p.field or ''}{': ' if p.node or p.field else ''}{p.message}"
                         for p in self.problems if p.message != detail)
        super().__init__(f"{status}: {detail}{listed}" if status else detail)

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
        except ValueError:
            return cls(response.status_code, response.text[:500] or response.reason_phrase)
        problems = [Problem(code=str(e.get("code", "")), message=str(e.get("message", "")), node=e.get("node"),
                            field=e.get("field")) for e in body.get("errors", []) if isinstance(e, dict)]
        return cls(response.status_code, str(body.get("detail", response.reason_phrase)), problems)


class Client:
    """The API at ``url`` (e.g. ``http://127.0.0.1:8000``), with a bearer ``token`` in token mode."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        # The client header lets uploads through a local-mode server's cross-site check (api/security.py).
        headers = {"X-Layerloom-Client": "python", **({"Authorization": f"Bearer {token}"} if token else {})}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self.graphs = Graphs(self)
        self.datasets = Datasets(self)
        self.jobs = Jobs(self)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; an error status raises ``ApiError``."""
        try:
            response = self.http.request(method, f"/api{path}", **kwargs)
        except httpx.HTTPError as err:
            raise ApiError(0, f"Cannot reach {self.url}: {err}") from None
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Graphs:
    def __init__(self, client: Client) -> None:
        self._client = client

    def validate(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The compiler's analysis: ``ok``, ``errors``, ``warnings``, shapes and totals. A graph with
        errors is an answer (``ok`` false), not an exception."""
        return self._client.json("POST", "/graphs/validate", json=document)

    def save(self, document: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
        """Save as a new graph (version 1); returns ``{graph, version, check}``."""
        return self._client.json("POST", "/graphs", json={"document": document, **({"name": name} if name else {})})

    def get(self, graph_id: str) -> dict[str, Any]:
        """The graph with its latest version's document."""
        return self._client.json("GET", f"/graphs/{graph_id}")


class Datasets:
    def __init__(self, client: Client) -> None:
        self._client = client

    def upload(self, path: str | os.PathLike[str], *, kind: str | None = None, name: str | None = None,
               **options: Any) -> dict[str, Any]:
        """Upload a .csv, .npz or image-folder .zip. ``options`` are the kind's parse options, e.g.
        ``targets={"y": "price"}`` for a CSV or ``image_size=[28, 28], color_mode="grayscale"``."""
        path = Path(path)
        form = {"options": json.dumps(options)}
        if kind:
            form["kind"] = kind
        if name:
            form["name"] = name
        with path.open("rb") as fh:
            return self._client.json("POST", "/datasets", files={"file": (path.name, fh)}, data=form)

    def get(self, dataset_id: str) -> dict[str, Any]:
        return self._client.json("GET", f"/datasets/{dataset_id}")


class Jobs:
    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(self, graph: Mapping[str, Any] | str, dataset: str, config: Mapping[str, Any] | None = None,
               mapping: Mapping[str, str] | None = None) -> Job:
        """Queue a training job: ``graph`` is a document or a saved graph's id; ``dataset`` a built-in
        name or an upload's id."""
        body: dict[str, Any] = {"dataset": dataset, "config": dict(config or {}), "mapping": dict(mapping or {})}
        body["graph_id" if isinstance(graph, str) else "graph"] = graph
        return Job(self._client, self._client.json("POST", "/jobs", json=body))

    def get(self, job_id: str) -> Job:
        return Job(self._client, self._client.json("GET", f"/jobs/{job_id}"))


class Job:
    """A training job. ``info`` is the API's latest answer about it (``refresh()`` asks again)."""

    def __init__(self, client: Client, info: dict[str, Any]) -> None:
        self._client = client
        self.info = info

    @property
    def id(self) -> str:
        return self.info["id"]

    @property
    def state(self) -> str:
        return self.info["state"]

    def refresh(self) -> Job:
        self.info = self._client.json("GET", f"/jobs/{self.id}")
        return self

    def events(self, after: int = 0, *, reconnect_for: float = 60.0) -> Iterator[dict[str, Any]]:
        """Every event of the job's log with seq > ``after``, live, until the job ends. A dropped
        connection is reopened with ``after=`` the last seq seen (retrying for up to
        ``reconnect_for`` seconds), so no event is lost or repeated."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake
        from websockets.sync.client import connect

        last = after
        ws_url = self._client.url.replace("http", "ws", 1) + f"/api/jobs/{self.id}/events"
        headers = {"Authorization": f"Bearer {self._client.token}"} if self._client.token else None
        down_since: float | None = None
        while True:
            try:
                with connect(f"{ws_url}?after={last}", additional_headers=headers, open_timeout=10) as socket:
                    down_since = None
                    for message in socket:
                        event = json.loads(message)
                        seq = event.get("seq")
                        if seq is None or seq <= last:  # state notices, and anything already yielded
                            continue
                        last = seq
                        yield event
                    if socket.close_code == 1000:
                        return  # the server's "job ended and everything was sent"
                    # 1001 / 1012 (server going away or restarting): iteration ended quietly; reconnect
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError):
                pass  # dropped (1006) or refused while the server restarts: reconnect
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since > reconnect_for:
                raise ApiError(0, f"Lost the event stream of job {self.id} and could not reconnect "
                                  f"within {reconnect_for:.0f} s (last event seq {last}).")
            time.sleep(0.5)

    def wait(self, timeout: float | None = None, poll: float = 1.0) -> Job:
        """Block until the job has ended; returns it (check ``state``). Raises TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.refresh().state not in TERMINAL_STATES:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Job {self.id} is still {self.state} after {timeout} s.")
            time.sleep(poll)
        return self

    def download(self, format: WeightsFormat = "safetensors", path: str | os.PathLike[str] | None = None) -> Path:
        """Save the trained weights (safetensors or pt) to ``path``."""
        response = self._client.request("GET", f"/jobs/{self.id}/weights", params={"format": format})
        return _save(response, path or f"{self.id}.{format}")

    def export(self, format: ExportFormat = "onnx", path: str | os.PathLike[str] | None = None) -> Path:
        """Save the model as ONNX, a PyTorch source zip or a torch.export archive to ``path``."""
        response = self._client.request("GET", f"/jobs/{self.id}/export", params={"format": format})
        suffix = {"onnx": "onnx", "pytorch": "zip", "pt2": "pt2"}[format]
        return _save(response, path or f"{self.id}.{suffix}")

    def predict(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``{input id: one sample or a batch}`` -> ``{"outputs": {...}, "classes": {...}}``; numpy
        arrays are accepted."""
        plain = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in inputs.items()}
        return self._client.json("POST", f"/jobs/{self.id}/predict", json={"inputs": plain})

    def cancel(self) -> Job:
        self.info = self._client.json("POST", f"/jobs/{self.id}/cancel")
        return self

    def __repr__(self) -> str:
        return f"Job({self.id!r}, state={self.info.get('state')!r})"


def _save(response: httpx.Response, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(response.content)
    tmp.replace(target)
    return target
